"""MoViNet through ExecuTorch: the whole-clip program of a base model, and the
streaming program of a stream model, fed frame by frame in the real runtime."""

import json

import pytest
import torch

from mobilevid.errors import MobilevidError
from mobilevid.export import ExportConfig, export, plan
from mobilevid.export.stream import feed_clip, state_from_meta
from mobilevid.export.verify import load_pte, verify

SMALL = dict(frames=8, size=64)


@pytest.fixture(scope="module")
def stream_ckpt(tmp_path_factory, randomized):
    """A MoViNet-A0-Stream with live branches (the reference init zeroes ReZero,
    so a seeded model would be all skip paths), saved as a checkpoint."""
    path = tmp_path_factory.mktemp("mv") / "a0s.pt"
    torch.save(randomized("movinet-a0-stream", num_classes=400).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def stream_fp32(stream_ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("mvs")
    return export(ExportConfig(variant="movinet-a0-stream", checkpoint=stream_ckpt, output=out,
                               **SMALL))  # fmt: skip


def test_stream_program_is_one_xnnpack_delegate(stream_fp32):
    d = stream_fp32.delegation
    assert d["portable_nodes"] == 0 and d["delegated_subgraphs"] == 1
    assert d["delegated_ops"]["aten_convolution_default"] > 0
    assert d["delegated_ops"]["aten_cat_default"] == 11  # one per causal buffer


def test_sidecar_describes_the_state(stream_fp32):
    meta = json.loads(stream_fp32.sidecar.read_text())
    s = meta["stream"]
    assert meta["input"]["shape"] == [1, 3, 1, 64, 64] and meta["input"]["frames"] == 8
    assert s["step_frames"] == 1 and s["clip_frames"] == 8
    assert s["inputs"][0] == "frames" and s["outputs"][0] == "logits"
    assert s["inputs"][1:] == s["outputs"][1:] == [x["name"] for x in s["state"]]
    assert len(s["state"]) == 28 and all(x["init"] == "zeros" for x in s["state"])
    assert s["state"][-1] == {"name": "frames_seen", "shape": [1, 1], "dtype": "float32",
                              "init": "zeros", "what": "how many frames have been fed"}  # fmt: skip


def test_frame_by_frame_through_the_pte_equals_the_whole_clip(stream_fp32):
    report = verify(stream_fp32.path, n_random=1)
    assert report.passed, report.checks
    # 12 real clips and 1 random, each after the last frame and half way
    assert len(report.checks) == 26 and any(c.name.endswith("@4") for c in report.checks)
    assert max(c.max_abs for c in report.checks) <= 1e-4


def test_every_step_matches_the_causal_model_on_the_frames_so_far(stream_fp32, stream_ckpt):
    from mobilevid.export.source import build, source_from_sidecar

    meta = stream_fp32.metadata
    model = build(source_from_sidecar(meta, stream_ckpt)).module
    run = load_pte(stream_fp32.path, meta["stream"])
    x = torch.rand(1, 3, 8, 64, 64)
    seen = {}
    with torch.no_grad():
        run(x, lambda n, y: seen.__setitem__(n, y))
        for n, y in seen.items():
            torch.testing.assert_close(y, model(x[:, :, :n]), rtol=0, atol=1e-4)
    assert sorted(seen) == list(range(1, 9))


def test_a_wrong_state_gives_a_wrong_answer(stream_fp32):
    """The state matters: the same frames from a non-zero state differ."""
    meta = stream_fp32.metadata
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(stream_fp32.path)).load_method("forward")
    x = torch.rand(1, 3, 8, 64, 64)
    zero = state_from_meta(meta)
    a = feed_clip(method.execute, x, zero, 1)
    b = feed_clip(method.execute, x, [s + 0.5 for s in zero], 1)
    assert (a - b).abs().max() > 1e-2


def test_int8_stream_is_close_on_every_real_clip(stream_ckpt, tmp_path):
    r = export(ExportConfig(variant="movinet-a0-stream", checkpoint=stream_ckpt, quantize="int8",
                            calibration_clips=4, output=tmp_path, **SMALL))  # fmt: skip
    assert r.delegation["portable_nodes"] == 0
    report = verify(r.path, n_random=0)
    assert report.passed and min(c.cosine for c in report.checks) >= 0.99


def test_step_frames_two(stream_ckpt, tmp_path):
    r = export(ExportConfig(variant="movinet-a0-stream", checkpoint=stream_ckpt, step_frames=2,
                            output=tmp_path, **SMALL))  # fmt: skip
    assert r.metadata["input"]["shape"] == [1, 3, 2, 64, 64]
    assert r.delegation["portable_nodes"] == 0
    report = verify(r.path, n_random=0, real=True)
    assert report.passed and max(c.max_abs for c in report.checks) <= 1e-4


def test_base_movinet_exports_as_a_clip_program(tmp_path, randomized):
    torch.save(randomized("movinet-a0", num_classes=400).state_dict(), tmp_path / "a0.pt")
    r = export(ExportConfig(variant="movinet-a0", checkpoint=tmp_path / "a0.pt", output=tmp_path,
                            **SMALL))  # fmt: skip
    assert "stream" not in r.metadata and r.metadata["input"]["shape"] == [1, 3, 8, 64, 64]
    assert r.delegation["portable_nodes"] == 0 and r.delegation["delegated_subgraphs"] == 1
    report = verify(r.path, n_random=0)
    assert report.passed and max(c.max_abs for c in report.checks) <= 1e-4


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        (dict(variant="movinet-a0", step_frames=2), "for stream models"),
        (dict(variant="movinet-a0-stream", step_frames=3, frames=8), "does not divide"),
        (dict(variant="movinet-a0-stream", step_frames=0), "must be positive"),
    ],
)
def test_step_frames_is_checked_before_any_work(cfg, match, tmp_path):
    with pytest.raises(MobilevidError, match=match):
        plan(ExportConfig(output=tmp_path, **cfg))


def test_coreml_stream_package_carries_the_same_state(stream_ckpt, tmp_path):
    """The .mlpackage has one input and one output per state tensor, at the
    sidecar's shapes (numerics need macOS: verify says so)."""
    r = export(ExportConfig(variant="movinet-a0-stream", target="coreml", checkpoint=stream_ckpt,
                            output=tmp_path, **SMALL))  # fmt: skip
    report = verify(r.path)
    assert report.interface["checks"]["state inputs and outputs"] is True
    assert report.passed and report.interface["input_shape"] == [1, 3, 1, 64, 64]


def test_predict_feeds_a_streaming_pte_frame_by_frame(stream_fp32, stream_ckpt):
    """`predict`/`evaluate --artifact` take a streaming .pte like a clip one."""
    from mobilevid.export.source import build, source_from_sidecar
    from mobilevid.inference import load_predictor

    pred = load_predictor(artifact=stream_fp32.path)
    model = build(source_from_sidecar(stream_fp32.metadata, stream_ckpt)).module
    x = torch.rand(2, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(pred.run(x), model(x), rtol=0, atol=1e-4)

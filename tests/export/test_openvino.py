"""The Xeon path with real OpenVINO: IR export round trips (fp32 run in f32,
int8 with the attention in float), ExecuTorch's OpenVINO delegate, and the
errors a user meets without the extra or with a model a backend cannot take."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
import torch

from mobilevid.errors import MobilevidError
from mobilevid.export import ExportConfig, export
from mobilevid.export.verify import verify

if importlib.util.find_spec("openvino") is None or importlib.util.find_spec("nncf") is None:
    pytest.skip(
        "openvino/nncf not installed (pip install 'mobilevid[peers]'; make test installs it)",
        allow_module_level=True,
    )

SMALL = dict(frames=8, size=64)


@pytest.fixture(scope="module")
def ir_fp32(tmp_path_factory):
    out = tmp_path_factory.mktemp("ov")
    return export(ExportConfig(variant="560m", target="openvino", output=out, **SMALL))


@pytest.fixture(scope="module")
def ir_int8(tmp_path_factory):
    out = tmp_path_factory.mktemp("ov8")
    return export(
        ExportConfig(variant="560m", target="openvino", quantize="int8", output=out, **SMALL)
    )


def test_fp32_ir_round_trip(ir_fp32):
    xml = ir_fp32.path
    assert xml.name == "vmf-560m_openvino_fp32.xml" and xml.with_suffix(".bin").is_file()
    assert not [p for p in xml.parent.iterdir() if p.name.startswith(".")]  # no temp left
    meta = json.loads(ir_fp32.sidecar.read_text())
    assert meta["target"] == "openvino" and meta["backend"] == "openvino"
    assert meta["runtime"] == {"INFERENCE_PRECISION_HINT": "f32"}
    assert meta["weights_file"] == "vmf-560m_openvino_fp32.bin"
    assert meta["input"]["shape"] == [1, 3, 8, 64, 64]
    assert ir_fp32.size_bytes > xml.with_suffix(".bin").stat().st_size  # .xml + .bin
    assert ir_fp32.delegation["fake_quantize"] == 0
    # the sidecar's keys also travel inside the IR
    import openvino as ov

    m = ov.Core().read_model(str(xml))
    assert json.loads(m.get_rt_info(["mobilevid", "meta"]).astype(str))["model"] == "vmf-560m"
    report = verify(xml)
    assert report.runtime == "openvino" and report.passed
    assert max(c.max_abs for c in report.checks) <= 1e-4  # f32 pinned, not bf16


def test_bf16_ir_is_the_fp32_graph_verified_at_bf16(tmp_path):
    from mobilevid.export.openvino import has_bf16

    r = export(ExportConfig(variant="560m", target="openvino", quantize="bf16", output=tmp_path,
                            **SMALL))  # fmt: skip
    meta = json.loads(r.sidecar.read_text())
    assert r.path.name == "vmf-560m_openvino_bf16.xml"
    assert meta["runtime"] == {"INFERENCE_PRECISION_HINT": "bf16"}
    assert r.delegation["fake_quantize"] == 0
    assert any("no bf16" in n for n in r.notes) == (not has_bf16())
    report = verify(r.path)
    assert report.passed and min(c.cosine for c in report.checks) >= 0.999


def test_int8_ir_keeps_attention_float_and_passes_verify(ir_int8):
    d = ir_int8.delegation
    assert d["fake_quantize"] > 0 and d["conv_matmul_int8"] > d["conv_matmul_float"] > 0
    report = verify(ir_int8.path, n_random=0)
    assert report.passed and len(report.checks) == 12
    assert min(c.cosine for c in report.checks) >= 0.99


def test_ignored_patterns_match_the_converted_attention():
    from mobilevid.export.openvino import convert
    from mobilevid.models import create_model
    from mobilevid.quantize.openvino import KEEP_FLOAT, ignored_patterns

    m = create_model("vmf-560m").eval()
    patterns = ignored_patterns(m)
    n_attention = sum(isinstance(x, KEEP_FLOAT) for x in m.modules())
    assert len(patterns) == n_attention > 0
    names = [op.get_friendly_name() for op in convert(m, (1, 3, 8, 64, 64)).get_ops()]
    for p in patterns:
        assert any(re.fullmatch(p, n) for n in names), p
    assert ignored_patterns(create_model("x3d-s")) == []  # no attention, nothing kept float


def test_renamed_operations_refuse_to_quantize_attention():
    """If OpenVINO's names stop matching, int8 must fail, not quantize attention."""
    import openvino as ov

    from mobilevid.export.openvino import convert
    from mobilevid.models import create_model
    from mobilevid.quantize.openvino import ptq

    m = create_model("vmf-560m").eval()
    ovm = convert(m, (1, 3, 8, 64, 64))
    for op in ovm.get_ops():
        op.set_friendly_name("renamed_" + op.get_friendly_name().replace("__module.", ""))
    assert isinstance(ovm, ov.Model)
    with pytest.raises(MobilevidError, match="no operation matches"):
        ptq(ovm, m, [torch.randn(1, 3, 8, 64, 64)])


def test_a_tampered_bin_fails_verify(ir_fp32, tmp_path):
    import shutil

    xml = tmp_path / ir_fp32.path.name
    for src in (ir_fp32.path, ir_fp32.path.with_suffix(".bin"), ir_fp32.sidecar):
        shutil.copy(src, tmp_path / src.name)
    b = bytearray(xml.with_suffix(".bin").read_bytes())
    b[len(b) // 2 : len(b) // 2 + 4096] = bytes(4096)  # zero a run of weights
    xml.with_suffix(".bin").write_bytes(bytes(b))
    # the sidecar's sha256 covers the .bin: refused before any numerics
    with pytest.raises(MobilevidError, match="does not belong to"):
        verify(xml, n_random=1, real=False)
    xml.with_suffix(".bin").unlink()
    with pytest.raises(MobilevidError, match=r"\.bin"):
        verify(xml)


@pytest.mark.slow
def test_executorch_openvino_pte(ov_pte):
    r = ov_pte
    assert r.path.name == "vmf-560m_openvino_fp32.pte"
    assert r.delegation["delegated_subgraphs"] == 1 and r.delegation["portable_nodes"] == 0
    meta = json.loads(r.sidecar.read_text())
    assert meta["backend"] == "openvino" and meta["openvino"]["device"] == "CPU"
    report = verify(r.path)
    assert report.passed  # bf16 on AMX CPUs: checked by cosine, f32 elsewhere
    assert min(c.cosine for c in report.checks) >= 0.999


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        (dict(variant="vit-s", target="openvino", quantize="int8"), "not available for the ViT"),
        (dict(target="executorch", backend="openvino", quantize="int8"), "int8"),
        (dict(target="openvino", backend="xnnpack"), "backend"),
        (dict(target="openvino", quantize="fp16"), "fp16"),
        (dict(target="executorch", quantize="bf16"), "bf16"),
    ],
)
def test_backends_refuse_what_they_cannot_take(kw, needle, tmp_path):
    cfg = ExportConfig(**{"variant": "560m", "output": tmp_path, **SMALL, **kw})
    with pytest.raises(MobilevidError, match=needle) as e:
        export(cfg)
    assert "\n" not in str(e.value)
    assert not list(tmp_path.iterdir())


def test_missing_extra_is_one_line_with_the_fix(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "openvino" else real(n, *a)
    )
    for kw in (dict(target="openvino"), dict(target="executorch", backend="openvino")):
        with pytest.raises(MobilevidError, match=r"openvino.*not installed.*mobilevid\[peers\]"):
            export(ExportConfig(variant="560m", output=tmp_path, **SMALL, **kw))
    from mobilevid.bench import runtimes

    assert "mobilevid[peers]" in runtimes.available("openvino-int8")

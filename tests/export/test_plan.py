"""Validation before heavy work: every mistake is caught in milliseconds."""

from pathlib import Path

import pytest
import torch

from mobilevid.errors import MobilevidError
from mobilevid.export import ExportConfig, plan
from mobilevid.models import create_model


def test_defaults_and_naming(tmp_path):
    p = plan(ExportConfig(variant="560m", output=tmp_path))
    assert p.output == tmp_path / "vmf-560m_xnnpack_fp32.pte"
    assert p.input_shape == (1, 3, 64, 172, 172) and p.num_classes == 400
    assert len(p.labels) == 400 and p.labels[0] == "abseiling"
    c = plan(ExportConfig(variant="1g", target="coreml", output=tmp_path / "new"))
    assert c.output == tmp_path / "new" / "vmf-1g_coreml_fp16.mlpackage"
    assert plan(ExportConfig(frames=8, size=32, output=tmp_path)).input_shape == (1, 3, 8, 32, 32)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        (dict(variant="vmf-3g"), "unknown model"),
        (dict(target="tflite"), "unknown target 'tflite'"),
        (dict(quantize="int4"), "not available for executorch"),
        (dict(target="coreml", quantize="int8", ios_target="iOS16"), "iOS17, iOS18"),
        (dict(output=Path("x.onnx")), "must end in .pte"),
        (dict(calibration=[Path("/no/such/dir")]), "not found"),
        (dict(checkpoint=Path("/no/such.pt")), "no such checkpoint"),
        (dict(frames=0), "--frames must be positive"),
        (dict(frames=4, size=32), "does not fit vmf-560m"),
    ],
)
def test_bad_requests(kw, needle):
    with pytest.raises(MobilevidError, match=needle):
        plan(ExportConfig(**kw))


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "m.pte"
    out.write_bytes(b"old")
    with pytest.raises(MobilevidError, match="--force"):
        plan(ExportConfig(output=out))
    assert plan(ExportConfig(output=out, force=True)).output == out


def test_checkpoint_meta_sets_classes_and_guards_variant(tmp_path):
    m = create_model("vmf-560m", num_classes=3)
    torch.save(
        {"model": m.state_dict(), "variant": "vmf-560m", "num_classes": 3}, tmp_path / "c.pt"
    )
    p = plan(ExportConfig(checkpoint=tmp_path / "c.pt", output=tmp_path))
    assert p.num_classes == 3 and p.labels == ["class_0", "class_1", "class_2"]
    with pytest.raises(MobilevidError, match="--variant vmf-560m"):
        plan(ExportConfig(variant="1g", checkpoint=tmp_path / "c.pt", output=tmp_path))


def test_backends_are_registered_per_target():
    from mobilevid.export import find_backend, list_backends

    assert {(b.target, b.name) for b in list_backends()} >= {
        ("executorch", "xnnpack"),
        ("coreml", "coreml"),
        ("executorch", "openvino"),
        ("openvino", "openvino"),
    }
    assert find_backend("executorch").name == "xnnpack"  # a target's default
    assert find_backend("openvino").name == "openvino"
    with pytest.raises(MobilevidError, match="unknown backend 'coreml' for --target executorch"):
        plan(ExportConfig(backend="coreml"))


def test_backend_rules_live_in_the_backend(tmp_path):
    """int8 of a ViT is XNNPACK's rule and int4's iOS 18 is Core ML's: the
    generic plan() holds neither (each backend's check() does)."""
    import inspect

    from mobilevid import export as E

    src = inspect.getsource(E.plan)
    assert "family" not in src and "iOS" not in src and "int4" not in src
    with pytest.raises(MobilevidError, match="ViT family"):
        plan(ExportConfig(variant="vit-s", quantize="int8", output=tmp_path))
    with pytest.raises(MobilevidError, match="iOS 18"):
        plan(ExportConfig(target="coreml", quantize="int4", output=tmp_path))


def test_a_new_backend_is_one_class_and_one_registration(tmp_path, monkeypatch):
    """The protocol docs/export.md describes, end to end: a backend that writes
    a real TorchScript file is found by --target, planned, exported, and
    described by the same result record and sidecar as the built-in ones."""
    from mobilevid.checkpoint import atomic_write
    from mobilevid.export import backends, export
    from mobilevid.export.artifact import read_sidecar
    from mobilevid.export.backends import Backend, BackendOutput, register_backend

    monkeypatch.setattr(backends, "_BACKENDS", dict(backends._BACKENDS))

    @register_backend
    class TorchScript(Backend):
        target = "torchscript"
        name = "jit"
        ext = ".ts"
        precisions = ("fp32",)

        def check(self, plan):
            if plan.source.info.family != "vmf":
                raise MobilevidError("torchscript: VMF only")

        def export(self, model, plan, meta, steps):
            ts = torch.jit.trace(model.module, torch.zeros(plan.input_shape))
            atomic_write(plan.output, lambda tmp: ts.save(str(tmp)))
            return BackendOutput(notes=["traced"])

    with pytest.raises(MobilevidError, match="VMF only"):
        plan(ExportConfig(variant="x3d-s", target="torchscript", output=tmp_path))
    r = export(ExportConfig(target="torchscript", frames=8, size=32, output=tmp_path))
    assert r.path == tmp_path / "vmf-560m_jit_fp32.ts" and r.notes == ["traced"]
    assert r.size_bytes == r.path.stat().st_size and set(r.timings) == {"build", "jit", "sidecar"}
    meta = read_sidecar(r.path)
    assert (meta["target"], meta["backend"], meta["quantize"]) == ("torchscript", "jit", "fp32")
    x = torch.randn(1, 3, 8, 32, 32)
    torch.testing.assert_close(torch.jit.load(str(r.path))(x), r_model(x), rtol=0, atol=1e-5)


def r_model(x):
    """The seeded model the export above was made from (seed 0)."""
    from mobilevid.export import build, resolve_source

    return build(resolve_source("vmf-560m", frames=8, size=32)).module(x)


def test_export_takes_a_plan_and_reads_the_checkpoint_once(tmp_path, monkeypatch):
    from mobilevid import checkpoint as C
    from mobilevid.export import export

    m = create_model("vmf-560m", num_classes=3)
    torch.save(
        {"model": m.state_dict(), "variant": "vmf-560m", "num_classes": 3}, tmp_path / "c.pt"
    )
    p = plan(ExportConfig(checkpoint=tmp_path / "c.pt", frames=8, size=32, output=tmp_path))
    calls = []
    monkeypatch.setattr(C, "_load", lambda path: calls.append(path))  # no second read
    r = export(p)
    assert calls == [] and r.metadata["num_classes"] == 3 and r.delegation["portable_nodes"] == 0

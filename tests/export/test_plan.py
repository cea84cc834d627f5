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

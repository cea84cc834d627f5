"""Real coremltools: write .mlpackage files, read them back, check the interface."""

import json
import platform

import coremltools as ct
import pytest

from mobilevid.export import ExportConfig, export
from mobilevid.export.coreml import METADATA_KEYS
from mobilevid.export.verify import verify

SMALL = dict(variant="560m", target="coreml", frames=8, size=64)


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    out = tmp_path_factory.mktemp("cml")
    got = {
        q: export(ExportConfig(quantize=q, output=out, **SMALL)) for q in ("fp32", "fp16", "int8")
    }
    got["int4"] = export(ExportConfig(quantize="int4", ios_target="iOS18", output=out, **SMALL))
    return got


def test_interface_reads_back(packages):
    r = packages["fp16"]
    assert r.path.name == "vmf-560m_coreml_fp16.mlpackage" and r.path.is_dir()
    spec = ct.utils.load_spec(str(r.path))
    (inp,), (out,) = spec.description.input, spec.description.output
    assert inp.name == "video" and list(inp.type.multiArrayType.shape) == [1, 3, 8, 64, 64]
    f32 = ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    assert inp.type.multiArrayType.dataType == f32 and out.type.multiArrayType.dataType == f32
    assert out.name == "logits" and list(out.type.multiArrayType.shape) == [1, 400]
    md = spec.description.metadata.userDefined
    assert all(k in md for k in METADATA_KEYS)
    assert json.loads(md["mobilevid.labels"])[:2] == ["abseiling", "air drumming"]
    assert json.loads(md["mobilevid.input"])["mean"] == [0.45, 0.45, 0.45]
    assert spec.WhichOneof("Type") == "mlProgram"


def test_int8_weights_shrink_the_package(packages):
    fp32, fp16, int8 = (packages[q].size_bytes for q in ("fp32", "fp16", "int8"))
    assert int8 <= 0.30 * fp32
    assert int8 <= 0.56 * fp16  # 8-bit vs 16-bit weights, plus per-channel scales


def test_int4_weights_are_a_quarter_of_fp16(packages):
    fp16, int4 = packages["fp16"].size_bytes, packages["int4"].size_bytes
    assert int4 <= 0.30 * fp16
    spec = ct.utils.load_spec(str(packages["int4"].path))
    assert spec.specificationVersion >= 9  # iOS 18: per-block int4 weights
    ops = {op.type for f in spec.mlProgram.functions.values()
           for b in f.block_specializations.values() for op in b.operations}  # fmt: skip
    assert "constexpr_blockwise_shift_scale" in ops, ops


def test_int4_needs_ios18():
    from mobilevid.errors import MobilevidError

    with pytest.raises(MobilevidError, match="iOS 18"):
        export(ExportConfig(quantize="int4", **SMALL))


def test_verify_validates_interface(packages):
    report = verify(packages["int8"].path)
    assert report.interface["checks"] and all(report.interface["checks"].values())
    if platform.system() != "Darwin":
        assert report.runtime is None and "macOS" in report.notes[0]
        assert report.passed and not report.checks

"""Quantization-aware fine-tuning to the two targets, at a tiny input: the
checkpoint converts to a real int8 .pte that runs in the ExecuTorch runtime and
agrees with the fake-quant model it was trained as, and to an .mlpackage whose
weights are int8."""

import pytest
import torch

from mobilevid.checkpoint import load_checkpoint
from mobilevid.errors import MobilevidError
from mobilevid.export import ExportConfig, build, export, plan, resolve_source
from mobilevid.export.verify import load_pte
from mobilevid.models import create_model
from mobilevid.train import TrainConfig, train

pytestmark = pytest.mark.slow
TINY = dict(variant="vmf-560m", frames=8, size=32, workers=0, batch_size=4, epochs=1)


@pytest.fixture(scope="module")
def xnnpack_qat(tmp_path_factory):
    out = tmp_path_factory.mktemp("qat")
    return train(
        TrainConfig(**TINY, train="synthetic:8", val="synthetic:4", qat="xnnpack", out=out)
    )


def test_xnnpack_qat_exports_an_int8_pte_that_matches_its_fake_quant_model(xnnpack_qat, tmp_path):
    ck = load_checkpoint(xnnpack_qat.best)
    assert ck.meta["qat"] == "xnnpack"
    r = export(ExportConfig(variant="560m", checkpoint=xnnpack_qat.best, output=tmp_path))
    assert r.path.name == "vmf-560m_xnnpack_int8.pte"  # int8 is implied by the checkpoint
    assert r.metadata["qat"] == "xnnpack" and r.metadata["input"]["shape"] == [1, 3, 8, 32, 32]
    assert r.delegation["portable_nodes"] == 0
    ref = build(resolve_source("vmf-560m", xnnpack_qat.best)).module  # the fake-quant graph
    run = load_pte(r.path)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        x = torch.randn(1, 3, 8, 32, 32, generator=g)
        a, b = ref(x).flatten(), run(x).flatten()
        cos = torch.nn.functional.cosine_similarity(a, b, dim=0)
        assert cos > 0.995, float(cos)


def test_qat_checkpoint_goes_to_its_own_target_only(xnnpack_qat, tmp_path):
    for bad in (dict(target="coreml"), dict(quantize="fp32")):
        with pytest.raises(
            MobilevidError,
            match="--qat xnnpack: export it with --target executorch --backend xnnpack",
        ):
            plan(ExportConfig(variant="560m", checkpoint=xnnpack_qat.best, output=tmp_path, **bad))


def test_coreml_qat_exports_int8_weights(tmp_path):
    import coremltools as ct

    r = train(TrainConfig(**TINY, train="synthetic:4", val=None, qat="coreml", out=tmp_path / "q"))
    assert load_checkpoint(r.best).meta["qat"] == "coreml"
    res = export(ExportConfig(variant="560m", target="coreml", checkpoint=r.best, output=tmp_path))
    assert res.metadata["quantize"] == "int8" and res.metadata["qat"] == "coreml"
    m = ct.models.MLModel(str(res.path), skip_model_load=True)
    ops = str(m.get_spec().mlProgram)
    assert "constexpr_affine_dequantize" in ops or "constexpr_blockwise_shift_scale" in ops
    params = sum(p.numel() for p in create_model("vmf-560m", num_classes=8).parameters())
    assert res.size_bytes < 0.6 * 2 * params  # int8 weights: well under an fp16 copy

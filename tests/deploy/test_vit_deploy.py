"""ViT-S, STA and TSNet in deployable form: the same function as the eager
model, the same kept tokens, and a .pte the ExecuTorch runtime runs, at small
shapes (a reduced width and depth; the full-size numbers are in docs/vit.md)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mobilevid.deploy import DeployViT, is_deployable, to_deployable
from mobilevid.deploy.vit import DeployAttention
from mobilevid.errors import MobilevidError
from mobilevid.models import create_model
from mobilevid.models.vit import Attention, Mlp

# width 96, 2 heads, 3 blocks: STA prunes after every block; TSNet selects in 1-2
SMALL = dict(dim=96, heads=2, depth=3, init_scale=1.0)
CASES = {
    "vit-s": ({}, (1, 3, 4, 32, 48)),
    # 8 frames -> 4 slices of 16 tokens; r = 4 leaves 48 / 40 / 36 tokens
    "vit-s-sta": ({"r": 4}, (1, 3, 8, 64, 64)),
    "vit-s-tsnet": ({"keep": 0.5, "select_from": 1}, (1, 3, 4, 32, 48)),
}


def _model(name: str, **kw) -> nn.Module:
    """Small model with every parameter away from its init (LayerNorm affines,
    q/v biases, TSNet's zero-initialised dropped-token linears), so the
    conversion of each really is exercised."""
    m = create_model(name, num_classes=10, **{**SMALL, **CASES[name][0], **kw}).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if p.ndim == 1 or "linear_" in n:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return m


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("batch", [1, 2])
def test_deployable_matches_eager(name: str, batch: int) -> None:
    m = _model(name)
    d = to_deployable(m)
    assert isinstance(d, DeployViT) and is_deployable(d) and to_deployable(d) is d
    assert not any(isinstance(x, nn.Conv3d | nn.LayerNorm) for x in d.modules())
    x = torch.randn(batch, *CASES[name][1][1:])
    with torch.no_grad():
        ref = m(x)
        torch.testing.assert_close(d(x), ref, rtol=1e-5, atol=1e-5)
    assert ref.abs().max() > 0.1  # logits big enough for the tolerance to mean something


def test_learned_position_table_and_other_clip_sizes() -> None:
    m = _model("vit-s", learnable_pos_embed=True, frames=4, img_size=32)
    with torch.no_grad():
        m.pos_embed.normal_()
        d = to_deployable(m)
        x = torch.randn(1, 3, 4, 32, 32)
        torch.testing.assert_close(d(x), m(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(MobilevidError, match="learned position embeddings"):
        d(torch.randn(1, 3, 4, 48, 48))
    with pytest.raises(MobilevidError, match="does not tile"):
        d(torch.randn(1, 3, 3, 32, 32))


def test_sta_keeps_the_eager_models_tokens_in_its_order() -> None:
    m = _model("vit-s-sta")
    d = to_deployable(m)
    picked: list[torch.Tensor] = []
    d.select.register_forward_hook(lambda mod, args, out: picked.append(out))
    x = torch.randn(CASES["vit-s-sta"][1])
    with torch.no_grad():
        ref = m.kept_tokens(x)
        d(x)
    ids = torch.arange(64)[None]
    for idx, want, n in zip(picked, ref, (48, 40, 36), strict=True):
        ids = ids.gather(1, idx)
        assert ids.shape == (1, n)
        assert torch.equal(ids, want)  # same tokens, same order (the next A/B split sees it)


def _token_counts(model: nn.Module, kinds: tuple[type, ...]) -> list[int]:
    counts: list[int] = []
    for mod in model.modules():
        if isinstance(mod, kinds):
            mod.register_forward_hook(lambda _m, args, _o: counts.append(args[0].shape[1]))
    return counts


def test_tsnet_sublayers_see_round_gamma_n_tokens() -> None:
    m = _model("vit-s-tsnet")
    d = to_deployable(m)
    eager, deploy = _token_counts(m, (Attention, Mlp)), _token_counts(d, (DeployAttention, Mlp))
    with torch.no_grad():
        m(torch.randn(CASES["vit-s-tsnet"][1]))
        d(torch.randn(CASES["vit-s-tsnet"][1]))
    n = 2 * 2 * 3  # 4x32x48 -> 2x2x3 tokens; keep 0.5 -> 6 in blocks 1-2
    assert deploy == eager == [n] * 2 + [6] * 4


def test_random_tsnet_selection_has_no_deployable_form() -> None:
    with pytest.raises(MobilevidError, match="training baseline"):
        to_deployable(_model("vit-s-tsnet", selection="random"))


# What may stay on portable kernels: token selection and tiny per-group scores.
# Never the ops that carry the MACs.
HEAVY = ("linear", "addmm", "mm", "bmm", "convolution", "softmax", "gelu", "layer_norm")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from mobilevid.export import ExportConfig, export

    out = tmp_path_factory.mktemp("vit")
    results = {}
    for name, (overrides, shape) in CASES.items():
        _, _, t, h, w = shape
        results[name] = export(
            ExportConfig(
                variant=name,
                target="executorch",
                frames=t,
                size=max(h, w),  # the export input is square
                output=out,
                overrides={**SMALL, **overrides},
            )
        )
    return results


@pytest.mark.parametrize("name", list(CASES))
def test_pte_runs_in_the_runtime_and_matches_eager(exported, name: str) -> None:
    from mobilevid.export.verify import verify

    r = exported[name]
    assert r.metadata["overrides"] == {**SMALL, **CASES[name][0]}
    # the eager model is rebuilt from the sidecar; STA also on the real sample clips
    report = verify(r.path, real=name == "vit-s-sta", n_random=2)
    assert report.runtime == "executorch" and report.passed
    assert len(report.checks) == (14 if name == "vit-s-sta" else 2)
    assert max(c.max_abs for c in report.checks) <= 1e-4


def test_delegation(exported) -> None:
    dense, sta, tsnet = (exported[n].delegation for n in CASES)
    assert dense["portable_nodes"] == 0 and dense["delegated_subgraphs"] == 1
    assert set(tsnet["portable_ops"]) == {"aten_topk_default", "aten_index_select_default"}
    assert tsnet["portable_ops"]["aten_topk_default"] == 2 * 2  # one per sub-layer, blocks 1-2
    for d in (sta, tsnet):
        heavy = [op for op in d["portable_ops"] if any(f"aten_{h}_" in op for h in HEAVY)]
        assert not heavy, d["portable_ops"]
    # per stage: one bipartite topk for the first group, one per later group (4/2/1 groups)
    assert sta["portable_ops"]["aten_topk_default"] == 4 + 2 + 1


def test_vit_int8_export_is_a_one_line_error() -> None:
    from mobilevid.export import ExportConfig, plan

    with pytest.raises(MobilevidError, match="use --quantize fp32"):
        plan(ExportConfig(variant="vit-s-sta", quantize="int8"))


def test_bench_times_each_model_at_its_own_clip() -> None:
    from mobilevid.bench import BenchConfig
    from mobilevid.bench.host import subjects

    subs = subjects(BenchConfig(variants=["vit-s", "vit-s-sta", "560m", "x3d-s"]))
    assert [s.shape[2] for s in subs] == [16, 16, 64, 64]  # Table 12: 64 frames, X3D-S too
    assert subjects(BenchConfig(variants=["vit-s"], frames=8))[0].shape[2] == 8

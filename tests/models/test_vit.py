"""ViT-S (VideoMAE), STA and TSNet: layout, the papers' algorithms, checkpoints,
export and the counts of the issue.

Everything runs at small clips (a few hundred tokens at most) except the
``slow`` count tests, which count at the paper's 16x224² because that is what
the figures describe.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from mobilevid.counting import ProfileRow, count
from mobilevid.errors import MobilevidError
from mobilevid.models import create_model, list_models, model_info
from mobilevid.models.tsnet import TSNET_TABLES
from mobilevid.models.vit import (
    PRUNING,
    STAVisionTransformer,
    TSNetBlock,
    TSNetVisionTransformer,
    VisionTransformer,
    load_videomae_checkpoint,
    sinusoid_table,
    usage_loss,
)

MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None, None]
STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None, None]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _dense_twin(model: VisionTransformer) -> VisionTransformer:
    """A plain ViT-S holding ``model``'s backbone weights."""
    dense = create_model("vit-s").eval()
    dense.load_state_dict(model.state_dict(), strict=False)
    return dense


# --------------------------------------------------------------------------- ViT-S
def test_videomae_layout_and_names() -> None:
    sd = create_model("vit-s").state_dict()
    assert sd["patch_embed.proj.weight"].shape == (384, 3, 2, 16, 16)
    assert sd["blocks.0.attn.qkv.weight"].shape == (1152, 384)
    assert "blocks.0.attn.qkv.bias" not in sd
    assert sd["blocks.11.attn.q_bias"].shape == sd["blocks.11.attn.v_bias"].shape == (384,)
    assert sd["blocks.3.mlp.fc1.weight"].shape == (1536, 384)
    assert {"fc_norm.weight", "head.weight", "head.bias"} <= set(sd)
    assert not any("pos_embed" in k or k.startswith("norm.") for k in sd)
    assert len([k for k in sd if k.startswith("blocks.")]) == 12 * 13
    model = create_model("vit-s")
    assert model.fc_norm.eps == model.blocks[0].norm1.eps == 1e-6
    assert sum(p.numel() for p in model.parameters()) == 22_033_936


def test_sinusoid_table_is_videomaes() -> None:
    """VideoMAE's ``get_sinusoid_encoding_table``, written as it is there."""

    def angles(pos: int, d: int) -> list[float]:
        return [pos / np.power(10000, 2 * (j // 2) / d) for j in range(d)]

    n, d = 1568, 384
    ref = np.array([angles(p, d) for p in range(n)])
    ref[:, 0::2] = np.sin(ref[:, 0::2])
    ref[:, 1::2] = np.cos(ref[:, 1::2])
    assert torch.equal(sinusoid_table(n, d), torch.FloatTensor(ref).unsqueeze(0))
    assert torch.equal(create_model("vit-s").pos_embed, sinusoid_table(n, d))


@pytest.mark.parametrize("name", ["vit-s", "vit-s-sta", "vit-s-tsnet"])
def test_forward_backward_small(name: str) -> None:
    kw = {"r": 4} if name == "vit-s-sta" else {}
    model = create_model(name, num_classes=7, **kw).train()
    out = model(torch.randn(2, 3, 16, 64, 64))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    loss = out.logsumexp(-1).sum() + getattr(model, "aux_loss", lambda: 0)()
    loss.backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]


def test_registry_and_input_spec() -> None:
    assert {"vit-s", "vit-s-sta", "vit-s-tsnet"} <= set(list_models(family="vit"))
    spec = model_info("vit-s").input
    assert spec.shape() == (1, 3, 16, 224, 224) and spec.frame_stride == 4
    assert spec.mean == (0.485, 0.456, 0.406) and spec.std == (0.229, 0.224, 0.225)
    paper = model_info("vit-s").paper
    assert (paper.params_m, paper.gmacs, paper.top1) == (22.0, 57.0, 79.0)
    assert isinstance(create_model("vit-s-sta"), STAVisionTransformer)
    assert create_model("vit-s-sta").cfg.r == 64
    tsnet = create_model("vit-s-tsnet")
    assert isinstance(tsnet, TSNetVisionTransformer) and tsnet.cfg.keep == 0.5
    assert [isinstance(b, TSNetBlock) for b in tsnet.blocks] == [False] * 4 + [True] * 8


@pytest.mark.parametrize(
    ("name", "overrides"),
    [("vit-s", {"r": 16}), ("vit-s", {"keep": 0.5}), ("vit-s-sta", {"r": -1}),
     ("vit-s-tsnet", {"keep": 0.0}), ("vit-s-tsnet", {"keep": 1.5}),
     ("vit-s-tsnet", {"selection": "topk"}), ("vit-s-tsnet", {"tau": 0.0}),
     ("vit-s-tsnet", {"select_from": 12}), ("vit-s", {"heads": 5})],
)  # fmt: skip
def test_bad_options_are_user_errors(name: str, overrides: dict) -> None:
    with pytest.raises(MobilevidError):
        create_model(name, **overrides)


def test_bad_clips_are_user_errors() -> None:
    model = create_model("vit-s").eval()
    for shape in [(1, 3, 5, 32, 32), (1, 3, 4, 30, 32), (1, 4, 4, 32, 32), (3, 4, 32, 32)]:
        with pytest.raises(MobilevidError):
            model(torch.randn(shape))
    learned = create_model("vit-s", learnable_pos_embed=True, frames=4, img_size=32)
    with pytest.raises(MobilevidError, match="learned position"):
        learned(torch.randn(1, 3, 8, 32, 32))


# --------------------------------------------------------------------------- STA
def _authors_sta(model: VisionTransformer, x: Tensor, r: int) -> Tensor:
    """STA as the authors' ``model_vit.py`` runs it (``merge`` after blocks 0, 4, 8
    with T = 8, 4, 2 and the second stage walked backwards), transcribed step by
    step on a 16-frame clip: the reference our implementation must equal."""

    def tome_drop(x: Tensor, m: Tensor) -> tuple[Tensor, Tensor]:
        node_max = (m[:, ::2] @ m[:, 1::2].transpose(-1, -2)).max(dim=-1)[0]
        edge = node_max.argsort(dim=-1, descending=False)[..., None]
        cat = torch.cat([x, m], dim=-1)
        src, dst = cat[:, ::2], cat[:, 1::2]
        src = src.gather(1, edge.expand(-1, -1, src.shape[-1]))
        ult = torch.cat([dst, src], dim=1)
        return ult[..., : -m.shape[-1]], ult[..., -m.shape[-1] :]

    def merge(x: Tensor, metric: Tensor, T: int, backwards: bool) -> Tensor:
        B, N, C = x.shape
        perm = list(range(T))[::-1] if backwards else list(range(T))
        x = x.reshape(B, T, N // T, C)
        metric = metric.reshape(B, T, N // T, -1)
        metric = metric / metric.norm(dim=-1, keepdim=True)
        n, dm = x.shape[2], metric.shape[-1]
        caam = x.abs().sum(-1)
        lo, hi = caam.min(dim=-1, keepdim=True)[0], caam.max(dim=-1, keepdim=True)[0]
        caam = (caam - lo) / (hi - lo)
        x0, m0 = tome_drop(x[:, perm[0]], metric[:, perm[0]])
        final = [x0[:, :-r]]
        i_t = s_agg = torch.empty(0)  # set at t = 1
        for t in range(1, T):
            if t == 1:
                m_t = (metric[:, perm[t]] @ m0.transpose(-1, -2)).softmax(dim=1)
                s_agg = m_t.sum(dim=-1, keepdim=True)
            else:
                prev = metric[:, perm[t - 1]].gather(1, i_t.repeat(1, 1, dm))
                m_t = (metric[:, perm[t]] @ prev.transpose(-1, -2)).softmax(dim=1)
                s_agg = m_t @ s_agg
            s = s_agg[..., 0] * (1 - caam[:, perm[t]])
            i_t = s.topk(k=n - r, dim=1, largest=False)[1][..., None]
            x_t = x[:, perm[t]].gather(1, i_t.repeat(1, 1, C))
            s_agg = s_agg.gather(1, i_t)
            s_agg = s_agg / s_agg.sum(dim=1, keepdim=True)
            final = [x_t, *final] if backwards else [*final, x_t]
        return torch.cat(final, dim=1)

    h = model.embed(x)
    for i, blk in enumerate(model.blocks):
        h, k = blk.forward_with_keys(h)
        if i in (0, 4, 8):
            h = merge(h, k.mean(1), {0: 8, 4: 4, 8: 2}[i], backwards=i == 4)
    return model.head(model.fc_norm(h.mean(1)))


@pytest.mark.parametrize(("r", "shape"), [(1, (1, 3, 16, 64, 64)), (8, (1, 3, 16, 64, 64)),
                                          (12, (2, 3, 16, 96, 96))])  # fmt: skip
@torch.no_grad()
def test_sta_equals_the_authors_algorithm(r: int, shape: tuple[int, ...]) -> None:
    model = create_model("vit-s-sta", r=r).eval()
    x = torch.randn(shape)
    assert torch.equal(model(x), _authors_sta(model, x, r))


@torch.no_grad()
def test_sta_r0_is_the_dense_model_exactly() -> None:
    sta = create_model("vit-s-sta", r=0).eval()
    x = torch.randn(2, 3, 8, 48, 64)
    assert torch.equal(sta(x), _dense_twin(sta)(x))
    assert sta.kept_tokens(x) == []


def test_sta_static_token_counts() -> None:
    """16 tokens per slice: 128 -> 128-8r -> 128-12r -> 128-14r, as 1568 at 224²."""
    r = 4
    kept = create_model("vit-s-sta", r=r).eval().kept_tokens(torch.randn(2, 3, 16, 64, 64))
    assert [k.shape for k in kept] == [(2, 128 - 8 * r), (2, 128 - 12 * r), (2, 128 - 14 * r)]
    assert all(len(set(row.tolist())) == row.numel() for k in kept for row in k)


def test_sta_rejects_clips_too_small_for_r() -> None:
    with pytest.raises(MobilevidError, match="r=64"):
        create_model("vit-s-sta", r=64)(torch.randn(1, 3, 16, 64, 64))
    with pytest.raises(MobilevidError, match="multiple of 8 frames"):
        create_model("vit-s-sta", r=1)(torch.randn(1, 3, 4, 64, 64))


def _moving_square(frames: int = 16, size: int = 96, patch: int = 16) -> tuple[Tensor, list[int]]:
    """A flat grey static background and a white 16x16 square that moves one patch
    to the right every tubelet (2 frames). Returns the normalised clip and the
    t-major indices of the square's tokens (one per temporal slice)."""
    s = size // patch
    x = torch.full((3, frames, size, size), 0.3)
    tokens = []
    for f in range(frames):
        t, row, col = f // 2, 2, (f // 2) % s
        x[:, f, row * patch : (row + 1) * patch, col * patch : (col + 1) * patch] = 1.0
        tokens.append(t * s * s + row * s + col)
    return ((x - MEAN) / STD)[None], sorted(set(tokens))


def test_sta_prunes_static_background_before_a_moving_object() -> None:
    """r = 12 of every 36-token slice, then of every group: a third of the clip goes
    at the first stage. The moving square's 8 tokens are new at every slice (and
    bright), so STA must keep all of them through all three stages while it prunes
    the repeated background. Random pruning keeps them all with p < 1%, and the
    opposite ranking drops them first."""
    model = create_model("vit-s-sta", r=12).eval()
    clip, square = _moving_square()
    kept = model.kept_tokens(clip)
    assert [k.shape[1] for k in kept] == [288 - 8 * 12, 288 - 12 * 12, 288 - 14 * 12]
    for k in kept:
        assert set(square) <= set(k[0].tolist())
    pruned = set(range(288)) - set(kept[0][0].tolist())
    assert len(pruned) == 96 and not pruned & set(square)


# --------------------------------------------------------------------------- TSNet
def test_usage_loss() -> None:
    m = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    assert usage_loss(m, 0.5).item() == pytest.approx(10 * (0.0 + 0.25) / 2)
    assert usage_loss(m, 0.5, weight=1.0).item() == pytest.approx(0.125)


def test_masked_attention_equals_attention_on_kept_tokens() -> None:
    """Training's masked attention and inference's split compute the same thing for
    the kept tokens: A_ij = exp(R_ij)·M_j / Σ_k exp(R_ik)·M_k."""
    attn = create_model("vit-s-tsnet").blocks[4].attn
    h = torch.randn(2, 10, 384)
    keep = torch.tensor([0, 2, 3, 7, 9])
    mask = torch.zeros(2, 10)
    mask[:, keep] = 1.0
    masked = attn(h, mask)[0][:, keep]
    torch.testing.assert_close(masked, attn(h[:, keep])[0], rtol=1e-4, atol=1e-5)


def _mean_usage(model: TSNetVisionTransformer, x: Tensor, draws: int = 8) -> float:
    """Fraction of tokens kept in training mode, averaged over Gumbel draws."""
    used = []
    with torch.no_grad():
        for _ in range(draws):
            model(x)
            used.append(model.usage().mean().item())
    return float(np.mean(used))


def test_tsnet_training_moves_kept_fraction_toward_target() -> None:
    """A few AdamW steps of cross-entropy + λ·(mean(M) − γ)², with TSNet's param
    groups, pull the fraction of kept tokens from ~0.5 (fresh selectors) to γ.
    ViT-Ti width (192) keeps the optimizer steps cheap; the mechanism is the same."""
    gamma = 0.2
    model = create_model("vit-s-tsnet", num_classes=5, keep=gamma, dim=192, heads=3).train()
    x, y = torch.randn(4, 3, 4, 32, 32), torch.randint(0, 5, (4,))
    before = _mean_usage(model, x)
    opt = torch.optim.AdamW(model.param_groups(lr=3e-3))
    for _ in range(15):
        loss = F.cross_entropy(model(x), y) + model.aux_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = _mean_usage(model, x)
    assert 0.35 < before < 0.65
    assert abs(after - gamma) < 0.08 < abs(before - gamma)


def test_tsnet_param_groups() -> None:
    model = create_model("vit-s-tsnet")
    groups = model.param_groups(lr=1e-4)
    assert [g["name"] for g in groups] == ["tsnet", "backbone"]
    assert groups[0]["lr"] == 1e-4 and groups[1]["lr"] == pytest.approx(1e-6)
    new, old = groups[0]["params"], groups[1]["params"]
    assert len(new) == 8 * 8  # 8 blocks x (2 selectors + 2 linears) x (weight, bias)
    assert len(new) + len(old) == len(list(model.parameters()))
    assert {id(p) for p in new}.isdisjoint(id(p) for p in old)
    assert sum(p.numel() for p in new) == 8 * 2 * (385 + 384 * 385)


def _token_counts(model: TSNetVisionTransformer, x: Tensor) -> list[tuple[int, int]]:
    """(tokens into attention, tokens into the dropped-token linear) per TSNet block."""
    seen: list[int] = []
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[1]))
        for blk in model.tsnet_blocks()
        for m in (blk.attn, blk.linear_attn, blk.mlp, blk.linear_mlp)
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return list(zip(seen[0::2], seen[1::2], strict=True))


@pytest.mark.parametrize("keep", [0.8, 0.5, 0.3, 0.05])
@pytest.mark.parametrize("selection", ["learned", "random"])
def test_tsnet_inference_keeps_exactly_round_gamma_n(keep: float, selection: str) -> None:
    model = create_model("vit-s-tsnet", keep=keep, selection=selection).eval()
    n = 2 * 4 * 5  # T' x H' x W'
    k = max(1, round(keep * n))
    counts = _token_counts(model, torch.randn(2, 3, 4, 64, 80))
    assert counts == [(k, n - k)] * 16  # 8 blocks x (attention, FFN)


@torch.no_grad()
def test_tsnet_split_scatters_back_to_positions() -> None:
    """Inference = kept tokens through the sub-layer, the rest through the linear,
    each written back to its own position: recompute one block by hand."""
    blk = create_model("vit-s-tsnet", keep=0.5).eval().blocks[6]
    for lin in (blk.linear_attn, blk.linear_mlp):
        torch.nn.init.normal_(lin.weight, std=0.05)
    x = torch.randn(1, 12, 384)
    h = blk.norm1(x)
    top = blk.select_attn(h)[0, :, 0].topk(6).indices
    y = x + blk.linear_attn(h)
    y[:, top] = x[:, top] + blk.attn(h[:, top])[0]
    h = blk.norm2(y)
    top = blk.select_mlp(h)[0, :, 0].topk(6).indices
    z = y + blk.linear_mlp(h)
    z[:, top] = y[:, top] + blk.mlp(h[:, top])
    torch.testing.assert_close(blk(x), z, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("train", [False, True])
def test_tsnet_keep_1_is_the_dense_model_exactly(train: bool) -> None:
    model = create_model("vit-s-tsnet", keep=1.0).train(train)
    dense = _dense_twin(model).train(train)
    x = torch.randn(2, 3, 4, 48, 48)
    assert torch.equal(model(x), dense(x))
    assert model.usage() is None and model.aux_loss().item() == 0.0


def test_tsnet_random_baseline() -> None:
    """Table 1's random selection: the same counts, tokens drawn at random, the
    selectors unused (also in training, so no usage loss)."""
    model = create_model("vit-s-tsnet", selection="random").eval()
    x = torch.randn(1, 3, 4, 64, 64)
    torch.manual_seed(1)
    a = model(x)
    for blk in model.tsnet_blocks():
        torch.nn.init.normal_(blk.select_attn.weight, std=1.0)
    torch.manual_seed(1)
    assert torch.equal(model(x), a)  # selectors play no part
    assert not torch.equal(model(x), a)  # another draw, other tokens
    model.train()(x)
    assert model.usage() is None and model.aux_loss().item() == 0.0


# --------------------------------------------------------------------------- export
FORBIDDEN = ("nonzero", "masked_select", "masked_fill", "index_put", "aten.index.", "aten.item")


@pytest.mark.parametrize(
    ("name", "overrides", "shape"),
    [("vit-s", {}, (1, 3, 4, 32, 32)),
     ("vit-s-tsnet", {"keep": 0.5}, (1, 3, 4, 32, 32)),
     # r = 64 needs >= 128 tokens per slice: a 128x256 clip, 8 frames (4/2/1 groups)
     ("vit-s-sta", {"r": 64}, (1, 3, 8, 128, 256))],
)  # fmt: skip
def test_torch_export_static_graph(name: str, overrides: dict, shape: tuple[int, ...]) -> None:
    model = create_model(name, **overrides).eval()
    x = torch.randn(shape)
    ep = torch.export.export(model, (x,))
    targets = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert not [t for t in targets if any(f in t for f in FORBIDDEN)], targets
    assert "aten.scaled_dot_product_attention.default" not in targets
    with torch.no_grad():
        torch.testing.assert_close(ep.module()(x), model(x), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- checkpoints
def _small_vit(**kw) -> VisionTransformer:
    return create_model("vit-s", depth=2, **kw).eval()


def test_load_deepspeed_module_checkpoint(tmp_path) -> None:
    src = _small_vit()
    path = tmp_path / "vit_s_k400_ft.pth"
    torch.save({"module": src.state_dict(), "epoch": 149, "ds_version": "0.6.5"}, path)
    dst = _small_vit()
    load_videomae_checkpoint(dst, path)
    x = torch.randn(1, 3, 4, 32, 32)
    assert torch.equal(dst(x), src(x))


def test_load_model_wrapper_with_args_prefixes_and_foreign_pos_embed(tmp_path) -> None:
    """``{"model": ..., "args": Namespace}`` as VideoMAE's save_model writes it, DDP
    and encoder prefixes, and a fixed pos_embed stored for an 8-frame grid: the
    table is VideoMAE's sinusoid, so it is dropped and ours (16 frames) is used."""
    src = _small_vit()
    sd = {f"module.encoder.{k}": v for k, v in src.state_dict().items()}
    sd["module.encoder.pos_embed"] = sinusoid_table(4 * 196, 384)
    ckpt = {
        "model": sd,
        "optimizer": {"state": {}, "param_groups": []},
        "epoch": 30,
        "args": argparse.Namespace(model="vit_small_patch16_224", num_frames=8),
    }
    path = tmp_path / "checkpoint-best.pth"
    torch.save(ckpt, path)
    dst = _small_vit()
    load_videomae_checkpoint(dst, path)
    x = torch.randn(1, 3, 16, 64, 64)
    assert torch.equal(dst(x), src(x))


def test_fused_qkv_bias_is_split(tmp_path) -> None:
    src = _small_vit()
    with torch.no_grad():
        for blk in src.blocks:
            blk.attn.q_bias.normal_()
            blk.attn.v_bias.normal_()
    sd = src.state_dict()
    for i in range(2):
        q, v = sd.pop(f"blocks.{i}.attn.q_bias"), sd.pop(f"blocks.{i}.attn.v_bias")
        sd[f"blocks.{i}.attn.qkv.bias"] = torch.cat([q, torch.zeros_like(q), v])
    torch.save({"module": sd}, tmp_path / "fused.pth")
    dst = _small_vit()
    load_videomae_checkpoint(dst, tmp_path / "fused.pth")
    assert torch.equal(dst.blocks[1].attn.v_bias, src.blocks[1].attn.v_bias)
    sd["blocks.0.attn.qkv.bias"][400] = 1.0  # a key bias VideoMAE cannot represent
    torch.save({"module": sd}, tmp_path / "bad.pth")
    with pytest.raises(MobilevidError, match="key bias"):
        load_videomae_checkpoint(dst, tmp_path / "bad.pth")


def test_learned_pos_embed_is_resized_in_time_and_space(tmp_path) -> None:
    src = _small_vit()
    sd = src.state_dict()
    # learned, stored for 8 frames at 112² (4 x 7 x 7 tokens); per channel constant
    # in space, linear in time: resizing must keep space flat and time monotone
    ramp = torch.linspace(-1, 1, 4)[:, None, None, None] * torch.randn(384)
    sd["pos_embed"] = ramp.expand(4, 7, 7, 384).reshape(1, 196, 384)
    torch.save({"module": sd}, tmp_path / "learned.pth")

    with pytest.raises(MobilevidError, match="learnable_pos_embed=True"):
        load_videomae_checkpoint(_small_vit(), tmp_path / "learned.pth")

    dst = _small_vit(learnable_pos_embed=True, frames=16, img_size=64)  # 8 x 4 x 4 tokens
    load_videomae_checkpoint(dst, tmp_path / "learned.pth")
    pos = dst.pos_embed.detach().reshape(8, 4, 4, 384)
    torch.testing.assert_close(pos, pos[:, :1, :1].expand_as(pos))
    torch.testing.assert_close(pos[0, 0, 0], ramp[0, 0, 0])  # the ends are kept
    torch.testing.assert_close(pos[-1, 0, 0], ramp[-1, 0, 0])
    assert "pos_embed" in dst.state_dict()


@pytest.mark.parametrize("damage", ["extra", "missing", "head", "not_torch"])
def test_bad_checkpoints_are_one_line_errors(tmp_path, damage: str) -> None:
    sd = _small_vit().state_dict()
    if damage == "extra":
        sd["blocks.0.attn.relative_position_bias_table"] = torch.zeros(3)
    elif damage == "missing":
        del sd["fc_norm.weight"]
    elif damage == "head":
        sd["head.weight"], sd["head.bias"] = torch.zeros(174, 384), torch.zeros(174)
    path = tmp_path / "ckpt.pth"
    if damage == "not_torch":
        path.write_text("not a checkpoint")
    else:
        torch.save({"module": sd}, path)
    with pytest.raises(MobilevidError) as e:
        load_videomae_checkpoint(_small_vit(), path)
    assert "\n" not in str(e.value)
    if damage == "head":
        assert "num_classes" in str(e.value)


def test_tsnet_loads_a_dense_videomae_checkpoint(tmp_path) -> None:
    """Selectors are new: a VideoMAE checkpoint fills the backbone, the selectors
    keep their init, and with keep = 1 the result is the checkpoint's model."""
    src = create_model("vit-s").eval()
    torch.save({"module": src.state_dict()}, tmp_path / "dense.pth")
    tsnet = create_model("vit-s-tsnet", keep=1.0).eval()
    select = tsnet.blocks[4].select_attn.weight.clone()
    load_videomae_checkpoint(tsnet, tmp_path / "dense.pth")
    x = torch.randn(1, 3, 4, 32, 32)
    assert torch.equal(tsnet(x), src(x))
    assert torch.equal(tsnet.blocks[4].select_attn.weight, select)


# --------------------------------------------------------------------------- profile
def test_pruning_rows() -> None:
    sta = [a for a in PRUNING if a.model == "vit-s-sta"]
    assert [dict(a.overrides)["r"] for a in sta] == [16, 32, 48, 64, 80, 96]
    assert [a.paper_gmacs for a in sta] == [49.1, 41.7, 35.0, 28.8, 23.1, 18.0]
    tsnet = [a for a in PRUNING if a.model == "vit-s-tsnet"]
    assert [dict(a.overrides)["keep"] for a in tsnet] == [0.8, 0.5, 0.3]
    assert PRUNING[0].model == "vit-s" and PRUNING[0].paper_gmacs == 57.0


def test_profile_cli_pruning_flag(monkeypatch) -> None:
    """``mobilevid profile --pruning`` counts every PRUNING row (counting stubbed:
    the real counts are the slow tests below)."""
    from typer.testing import CliRunner

    import mobilevid.counting
    from mobilevid.cli import app

    def fake(name, paper_gmacs=None, paper_top1=None, label=None, **overrides):
        return ProfileRow(name, "vit", (1, 3, 16, 224, 224), 1, 1.0, None, paper_gmacs,
                          None, None, paper_top1, overrides or None, label)  # fmt: skip

    monkeypatch.setattr(mobilevid.counting, "profile", fake)
    res = CliRunner().invoke(app, ["profile", "--pruning", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["label"] for r in rows][:3] == ["ViT-S: dense", "STA: r=16", "STA: r=32"]
    vit = [r for r in rows if r["views"] == 1]  # then TSNet's tables (tests/models/test_tsnet.py)
    assert vit[-1]["overrides"] == {"keep": 0.3} and rows[4]["paper_gmacs"] == 28.8
    assert len(rows) - len(vit) == len(TSNET_TABLES)


# ----------------------------------------------------------------- full-shape counts
def _count_with_tokens(model: VisionTransformer) -> tuple[float, float, list[int]]:
    """GMACs, params (M) and the tokens entering blocks 1, 5, 9 at 16x224²."""
    seen: list[int] = []
    hooks = [
        model.blocks[i].register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[1]))
        for i in (1, 5, 9)
    ]
    try:
        c = count(model, (1, 3, 16, 224, 224))
    finally:
        for h in hooks:
            h.remove()
    return c.gmacs, c.params_m, seen


@pytest.mark.slow
def test_vit_s_counts_match_the_paper() -> None:
    gmacs, params, tokens = _count_with_tokens(create_model("vit-s"))
    assert params == pytest.approx(22.0, rel=0.02)
    assert gmacs == pytest.approx(57.0, rel=0.03)
    assert tokens == [1568] * 3


@pytest.mark.slow
@pytest.mark.parametrize(("r", "paper"), [(16, 49.1), (32, 41.7), (48, 35.0), (64, 28.8),
                                          (80, 23.1), (96, 18.0)])  # fmt: skip
def test_sta_counts_match_the_schedule(r: int, paper: float) -> None:
    gmacs, params, tokens = _count_with_tokens(create_model("vit-s-sta", r=r))
    assert gmacs == pytest.approx(paper, rel=0.03)
    assert params == pytest.approx(22.0, rel=0.02)
    assert tokens == [1568 - 8 * r, 1568 - 12 * r, 1568 - 14 * r]


@pytest.mark.slow
def test_tsnet_counts_fall_with_keep() -> None:
    dense, _, _ = _count_with_tokens(create_model("vit-s"))
    g = {k: _count_with_tokens(create_model("vit-s-tsnet", keep=k))[0] for k in (1.0, 0.8, 0.5)}
    assert g[1.0] == pytest.approx(dense, rel=1e-6)
    assert dense > g[0.8] > g[0.5] > 0.5 * dense

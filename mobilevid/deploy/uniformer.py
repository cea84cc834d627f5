"""UniFormer-S (dense or with TSNet) in frames-major form, for ExecuTorch.

Activations are (B*T, C, H, W) maps as in ``ops.py``: every Conv3d (patch
embeddings, the DPE, the local MHRA's 5x5x5 depthwise and 1x1x1 convs) is
2-D work, each BatchNorm is folded into the conv after it (the local MHRA's
norms precede a 1x1x1 conv) or into the head (the final norm commutes with
the mean), LayerNorm is ``LinearLayerNorm``, attention is 3-D ``bmm`` with the
scale folded into the q weights.

TSNet's inference split per branch: score -> ``topk`` over all tokens (a
descending sort; the portable kernels have no sort) -> one row
``index_select`` -> attention/FFN on the first k rows, the linear on the rest
-> ``cat`` -> the inverse permutation (``topk`` of the order, ascending) and one
more ``index_select`` puts every token back at its place, which the next
block's DPE convolution needs. ``policy=shared`` reuses the MSA's order for the
FFN. Only the sorts and the row copies run outside XNNPACK.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mobilevid.deploy.ops import FramesConv, LinearLayerNorm, clip_to_frames, temporal_mean
from mobilevid.deploy.vit import DeployAttention as ViTAttention
from mobilevid.deploy.vit import _linear, _take
from mobilevid.errors import MobilevidError
from mobilevid.models.uniformer import CBlock, PatchEmbed, SABlock, UniFormer

__all__ = ["DeployUniFormer", "copy_selectors", "tsnet_split"]


def _bn_affine(bn: nn.modules.batchnorm._BatchNorm) -> tuple[Tensor, Tensor]:
    s = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    return s, bn.bias.detach() - bn.running_mean * s


def _fold_bn_before(conv: nn.Conv3d, bn: nn.BatchNorm3d) -> nn.Conv3d:
    """conv(bn(x)) for a 1x1x1 conv as one conv: W·diag(s), b + W·t."""
    s, t = _bn_affine(bn)
    out = copy.deepcopy(conv)
    w = conv.weight.detach()
    out.weight.data.copy_(w * s.view(1, -1, 1, 1, 1))
    b = conv.bias.detach() if conv.bias is not None else torch.zeros(w.shape[0])
    out.bias = nn.Parameter(b + w.flatten(1) @ t)
    return out


class FramesLayerNorm(nn.Module):
    """LayerNorm over the channels of a (B*T, C, H, W) map."""

    def __init__(self, ln: nn.LayerNorm):
        super().__init__()
        self.ln = LinearLayerNorm(ln)

    def forward(self, x: Tensor) -> Tensor:
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FramesEmbed(nn.Module):
    def __init__(self, pe: PatchEmbed):
        super().__init__()
        self.proj = FramesConv(pe.proj)
        self.norm = FramesLayerNorm(pe.norm)

    def forward(self, x: Tensor, batch: int) -> Tensor:
        return self.norm(self.proj(x, batch))


class FramesCBlock(nn.Module):
    def __init__(self, blk: CBlock):
        super().__init__()
        self.pos_embed = FramesConv(blk.pos_embed)
        self.conv1 = FramesConv(_fold_bn_before(blk.conv1, blk.norm1))
        self.attn = FramesConv(blk.attn)
        self.conv2 = FramesConv(blk.conv2)
        self.fc1 = FramesConv(_fold_bn_before(blk.mlp.fc1, blk.norm2))
        self.fc2 = FramesConv(blk.mlp.fc2)

    def forward(self, x: Tensor, batch: int) -> Tensor:
        x = x + self.pos_embed(x, batch)
        x = x + self.conv2(self.attn(self.conv1(x, batch), batch), batch)
        return x + self.fc2(F.gelu(self.fc1(x, batch)), batch)


class DeployAttention(ViTAttention):
    """UniFormer's fused qkv (with biases) as the ViT form's separate q/k/v
    linears, the scale folded into q; the same bmm forward."""

    def __init__(self, a: nn.Module):
        nn.Module.__init__(self)
        w = a.qkv.weight.detach()
        b = a.qkv.bias.detach() if a.qkv.bias is not None else torch.zeros(w.shape[0])
        c = w.shape[1]
        self.heads = a.heads
        scale = (c // a.heads) ** -0.5
        self.q = _linear(w[:c] * scale, b[:c] * scale)
        self.k = _linear(w[c : 2 * c], b[c : 2 * c])
        self.v = _linear(w[2 * c :], b[2 * c :])
        self.proj = copy.deepcopy(a.proj).requires_grad_(False)


def copy_selectors(dst: nn.Module, src: nn.Module) -> None:
    """A TSNet block's (MSA, FFN) ratios and whichever selectors and dropped-token
    linears it has (a dense block: ratios 1, none)."""
    dst.ratios = getattr(src, "ratios", (1.0, 1.0))
    for name in ("select_attn", "select_mlp", "linear_attn", "linear_mlp"):
        if hasattr(src, name):
            setattr(dst, name, copy.deepcopy(getattr(src, name)).requires_grad_(False))


def _take_rows(x: Tensor, idx: Tensor) -> Tensor:
    """x (G, N, C), idx (G, M) -> (G, M, C) as one row ``index_select`` over the
    flattened rows (a ``gather`` would need the index expanded to (G, M, C))."""
    g, n, c = x.shape
    offsets = torch.tensor(np.arange(g).reshape(g, 1) * n)  # a trace-time constant
    return x.reshape(g * n, c).index_select(0, (idx + offsets).reshape(-1)).reshape(g, -1, c)


def tsnet_split(h: Tensor, k: int, order: Tensor, layer, linear: nn.Module,
                windowed: bool = False) -> Tensor:  # fmt: skip
    """TSNet's inference split of tokens h (G, N, C) by ``order`` (descending
    score; (N,) at G = 1 or (G, N)): ``layer`` on the first k, ``linear`` on the
    rest, every token back at its place. ``windowed``: G groups (windows) each
    sorted on its own, and ``layer(tokens, kept positions)``."""
    n = h.shape[1]
    take = _take_rows if windowed else _take
    hs = take(h, order)
    kept = layer(hs[:, :k], order[:, :k]) if windowed else layer(hs[:, :k])
    out = torch.cat([kept, linear(hs[:, k:])], dim=1)
    inverse = order.topk(n, dim=-1, largest=False).indices  # argsort of a permutation
    return take(out, inverse)


class FramesSABlock(nn.Module):
    """Global MHRA on tokens; with TSNet selectors when the source has them."""

    def __init__(self, blk: SABlock):
        super().__init__()
        self.pos_embed = FramesConv(blk.pos_embed)
        self.norm1 = LinearLayerNorm(blk.norm1)
        self.attn = DeployAttention(blk.attn)
        self.norm2 = LinearLayerNorm(blk.norm2)
        self.mlp = copy.deepcopy(blk.mlp).requires_grad_(False)
        copy_selectors(self, blk)

    def _branch(self, which: str, h: Tensor, order: Tensor | None) -> tuple[Tensor, Tensor | None]:
        r = self.ratios[0 if which == "attn" else 1]
        layer = self.attn if which == "attn" else self.mlp
        if r >= 1.0:
            return layer(h), order
        b, n, _ = h.shape
        k = max(1, round(r * n))  # the eager model's static k
        select = getattr(self, f"select_{which}", None)
        if select is not None:  # else policy=shared: the MSA's order
            # descending, as argsort; 1-D at batch 1, so no reshape of the index
            order = select(h).reshape(n if b == 1 else (b, n)).topk(n, dim=-1).indices
        return tsnet_split(h, k, order, layer, getattr(self, f"linear_{which}")), order

    def forward(self, x: Tensor, batch: int) -> Tensor:
        x = x + self.pos_embed(x, batch)
        bt, c, hh, ww = x.shape
        t = bt // batch
        z = x.reshape(batch, t, c, hh * ww).permute(0, 1, 3, 2).reshape(batch, t * hh * ww, c)
        a, order = self._branch("attn", self.norm1(z), None)
        z = z + a
        z = z + self._branch("mlp", self.norm2(z), order)[0]
        return z.reshape(batch, t, hh * ww, c).permute(0, 1, 3, 2).reshape(bt, c, hh, ww)


class DeployUniFormer(nn.Module):
    """Same function as the source UniFormer (or TSNet UniFormer) on (B, 3, T, H, W)
    clips, from ops XNNPACK takes plus TSNet's sorts and row copies."""

    def __init__(self, model: UniFormer):
        super().__init__()
        model = copy.deepcopy(model).eval()
        if getattr(model.cfg, "selection", "learned") != "learned":
            raise MobilevidError(
                f"TSNet selection={model.cfg.selection!r} is a training baseline (random "
                "tokens per call); only selection='learned' has a deployable form"
            )
        self.embeds = nn.ModuleList()
        self.stages = nn.ModuleList()
        for embed, blocks in model.stages():
            self.embeds.append(FramesEmbed(embed))
            self.stages.append(nn.ModuleList(
                FramesCBlock(b) if isinstance(b, CBlock) else FramesSABlock(b) for b in blocks
            ))  # fmt: skip
        s, t = _bn_affine(model.norm)  # head(mean(bn(x))) = head(s·mean(x) + t)
        w = model.head.weight.detach()
        self.head = _linear(w * s, model.head.bias.detach() + w @ t)

    def forward(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        x = clip_to_frames(x)
        for embed, blocks in zip(self.embeds, self.stages, strict=True):
            x = embed(x, b)
            for blk in blocks:
                x = blk(x, b)
        x = x.mean(dim=(2, 3), keepdim=True).reshape(x.shape[:2])  # (B*T, C)
        return self.head(temporal_mean(x, b))

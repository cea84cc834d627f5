"""Video Swin-T (dense or with TSNet) in a form XNNPACK runs, for ExecuTorch.

Activations stay a (B, D, H, W, C) channels-last map. What changes, and why:

- the 2x4x4 patch embedding (kernel = stride) is a Conv2d over tubelets
  (``PatchConv``), LayerNorm is ``LinearLayerNorm`` (XNNPACK has neither);
- the window partition and merge are reshapes and two permutes of at most 5
  dims (XNNPACK's limit is 6; the eager form permutes 8), the cyclic shift is a
  ``cat`` of two slices per axis, the 2x2 patch merging one 5-D permute (no
  strided slices, which XNNPACK lacks);
- the relative position bias is a constant (heads, N, N), and a shifted block's
  region mask a constant (windows, N, N), both computed once at trace time;
- attention is 3-D ``bmm`` over windows·heads with the scale folded into q.

TSNet selects per window: ``topk`` over each window's N scores, a row
``index_select``, attention among the first k with the bias and mask of the kept
pairs, the linear on the rest, ``cat``, and the inverse permutation. A pair's
relative index is code_i − code_j + offset (code linear in the position's t, y,
x), one subtraction, then a bias-table lookup; its mask is −100·min(1,
(id_i − id_j)²) from per-window region ids, elementwise. The FFN selects over
the clip as UniFormer's does. What runs outside XNNPACK: the sorts, the row
copies and the bias-table lookup, with the int64 index work around them.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mobilevid.deploy.ops import LinearLayerNorm, temporal_mean
from mobilevid.deploy.uniformer import DeployAttention as QKVAttention
from mobilevid.deploy.uniformer import copy_selectors, tsnet_split
from mobilevid.deploy.vit import PatchConv
from mobilevid.errors import MobilevidError
from mobilevid.models.swin import (
    PatchMerging,
    SwinBlock3D,
    VideoSwin,
    WindowAttention3D,
    _fit,
    region_ids,
    shift_mask_np,
)

__all__ = ["DeploySwin"]


def _roll(x: Tensor, shifts: tuple[int, ...]) -> Tensor:
    """torch.roll over dims 1-3 of (B, D, H, W, C) as slices and a cat per axis."""
    for dim, s in zip((1, 2, 3), shifts, strict=True):
        n = x.shape[dim]
        s %= n
        if s:
            x = torch.cat([x.narrow(dim, n - s, s), x.narrow(dim, 0, n - s)], dim=dim)
    return x


def _partition(x: Tensor, w: tuple[int, int, int]) -> Tensor:
    """(B, D, H, W, C) -> (B·nW, N, C) in the eager order, with permutes of <= 5 dims."""
    b, d, h, wd, c = x.shape
    nd, nh, nw = d // w[0], h // w[1], wd // w[2]
    x = x.reshape(b * nd, w[0], nh, w[1], wd * c).permute(0, 2, 1, 3, 4)
    x = x.reshape(b * nd * nh, w[0] * w[1], nw, w[2] * c).permute(0, 2, 1, 3)
    return x.reshape(b * nd * nh * nw, w[0] * w[1] * w[2], c)


def _merge(x: Tensor, w: tuple[int, int, int], b: int, d: int, h: int, wd: int) -> Tensor:
    """The inverse of :func:`_partition`."""
    c = x.shape[-1]
    nd, nh, nw = d // w[0], h // w[1], wd // w[2]
    x = x.reshape(b * nd * nh, nw, w[0] * w[1], w[2] * c).permute(0, 2, 1, 3)
    x = x.reshape(b * nd, nh, w[0], w[1], wd * c).permute(0, 2, 1, 3, 4)
    return x.reshape(b, d, h, wd, c)


class DeployWindowAttention(QKVAttention):
    """The fused qkv split as UniFormer's form does it, plus the window's bias."""

    def __init__(self, a: WindowAttention3D, window: tuple[int, int, int]):
        super().__init__(a)
        index = a.relative_position_index
        n = index.shape[0]
        table = a.relative_position_bias_table.detach()
        self.register_buffer("table", table.clone(), persistent=False)  # (offsets, heads)
        rel = table[index.reshape(-1)].reshape(n, n, -1).permute(2, 0, 1).contiguous()
        self.register_buffer("rel", rel, persistent=False)  # (heads, N, N)
        # index[i, j] = code[i] - code[j] + offset, with code linear in the (t, y, x)
        # of a window position: TSNet's kept pairs need only their codes
        wd, wh, ww = window
        t, y, xx = torch.meshgrid(
            torch.arange(wd), torch.arange(wh), torch.arange(ww), indexing="ij"
        )
        code = (t * (2 * wh - 1) + y) * (2 * ww - 1) + xx
        self.register_buffer("code", code.reshape(-1).float(), persistent=False)  # (N,)
        self.offset = float(((wd - 1) * (2 * wh - 1) + (wh - 1)) * (2 * ww - 1) + (ww - 1))

    def forward(self, x: Tensor, windows: int, mask: Tensor | None, kept: Tensor | None = None,
                ids: Tensor | None = None) -> Tensor:  # fmt: skip
        """x (B·nW, n, C). Dense: ``mask`` (nW, 1, N, N) or None. TSNet: ``kept``
        (B·nW, n) positions in the window and ``ids`` (nW, N') region ids or None."""
        bw, n, c = x.shape
        nh, hd = self.heads, c // self.heads
        q = self.q(x).reshape(bw, n, nh, hd).transpose(1, 2).reshape(bw * nh, n, hd)
        kt = self.k(x).reshape(bw, n, nh, hd).permute(0, 2, 3, 1).reshape(bw * nh, hd, n)
        v = self.v(x).reshape(bw, n, nh, hd).transpose(1, 2).reshape(bw * nh, n, hd)
        attn = torch.bmm(q, kt)
        if kept is None:  # a window shrunk to the map takes the table's first n positions
            rel = self.rel if n == self.rel.shape[-1] else self.rel[:, :n, :n]
            attn = attn.reshape(bw, nh, n, n) + rel
            if mask is not None:  # (B, nW, heads, N, N) + (nW, 1, N, N)
                attn = attn.reshape(bw // windows, windows, nh, n, n) + mask
        else:
            own = self.code.index_select(0, kept.reshape(-1)).reshape(bw, n)
            idx = own.unsqueeze(2) - own.unsqueeze(1) + self.offset  # (B·nW, k, k), exact
            bias = self.table.index_select(0, idx.reshape(-1).long()).reshape(bw, n, n, nh)
            attn = attn.reshape(bw, nh, n, n) + bias.permute(0, 3, 1, 2)
            if ids is not None:
                own = ids.repeat(bw // windows, 1).gather(1, kept)  # (B·nW, k)
                diff = own.unsqueeze(2) - own.unsqueeze(1)
                attn = attn + (-100.0 * (diff * diff).clamp(max=1.0)).unsqueeze(1)
        attn = attn.reshape(bw * nh, n, n).softmax(dim=-1)
        out = torch.bmm(attn, v).reshape(bw, nh, n, hd).transpose(1, 2).reshape(bw, n, c)
        return self.proj(out)


class DeploySwinBlock(nn.Module):
    def __init__(self, blk: SwinBlock3D):
        super().__init__()
        self.window, self.shift = blk.window, blk.shift
        self.norm1 = LinearLayerNorm(blk.norm1)
        self.attn = DeployWindowAttention(blk.attn, blk.window)
        self.norm2 = LinearLayerNorm(blk.norm2)
        self.mlp = copy.deepcopy(blk.mlp).requires_grad_(False)
        copy_selectors(self, blk)

    def _attend(self, x: Tensor) -> Tensor:
        b, d, h, wd, _ = x.shape
        w, sh = _fit((d, h, wd), self.window, self.shift)
        x = self.norm1(x)
        pads = [(k - s % k) % k for s, k in zip((d, h, wd), w, strict=True)]
        if any(pads):
            x = F.pad(x, (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
        size = (d + pads[0], h + pads[1], wd + pads[2])
        windows = math.prod(s // k for s, k in zip(size, w, strict=True))
        if any(sh):
            x = _roll(x, tuple(-s for s in sh))
        xw = _partition(x, w)
        n = xw.shape[1]
        if self.ratios[0] >= 1.0:  # trace-time constants: no ops for the mask at run time
            mask = (
                torch.tensor(shift_mask_np(size, w, sh)[:, None].copy()) if any(sh) else None
            )  # copy: no 0 stride
            yw = self.attn(xw, windows, mask)
        else:
            ids = torch.tensor(region_ids(size, w, sh)) if any(sh) else None

            def layer(t: Tensor, kept: Tensor) -> Tensor:
                return self.attn(t, windows, None, kept, ids)

            k = max(1, round(self.ratios[0] * n))
            order = self.select_attn(xw).reshape(-1, n).topk(n, dim=-1).indices  # per window
            yw = tsnet_split(xw, k, order, layer, self.linear_attn, windowed=True)
        y = _merge(yw, w, b, *size)
        if any(sh):
            y = _roll(y, sh)
        if any(pads):
            y = y[:, :d, :h, :wd]
        return y

    def _ffn(self, x: Tensor) -> Tensor:
        if self.ratios[1] >= 1.0:
            return self.mlp(self.norm2(x))
        b, d, h, wd, c = x.shape
        z = self.norm2(x).reshape(b, d * h * wd, c)
        n = z.shape[1]
        k = max(1, round(self.ratios[1] * n))
        order = self.select_mlp(z).reshape(n if b == 1 else (b, n)).topk(n, dim=-1).indices
        return tsnet_split(z, k, order, self.mlp, self.linear_mlp).reshape(b, d, h, wd, c)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self._attend(x)
        return x + self._ffn(x)


class DeployPatchMerging(nn.Module):
    def __init__(self, pm: PatchMerging):
        super().__init__()
        self.norm = LinearLayerNorm(pm.norm)
        self.reduction = copy.deepcopy(pm.reduction).requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        b, d, h, w, c = x.shape
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
            h, w = h + h % 2, w + w % 2
        # [i, a, j, b, c] = x[2i + a, 2j + b, c]; the eager cat order is (b, a, c)
        x = x.reshape(b * d * h // 2, 2, w // 2, 2, c).permute(0, 2, 3, 1, 4)
        return self.reduction(self.norm(x.reshape(b, d, h // 2, w // 2, 4 * c)))


class DeploySwin(nn.Module):
    """Same function as the source Video Swin (or TSNet Video Swin) on (B, 3, T,
    H, W) clips, from ops XNNPACK takes plus TSNet's sorts and gathers."""

    def __init__(self, model: VideoSwin):
        super().__init__()
        model = copy.deepcopy(model).eval()
        if getattr(model.cfg, "selection", "learned") != "learned":
            raise MobilevidError(
                f"TSNet selection={model.cfg.selection!r} is a training baseline (random "
                "tokens per call); only selection='learned' has a deployable form"
            )
        self.patch = model.patch_embed.patch
        self.embed = PatchConv(model.patch_embed.proj)
        self.embed_norm = LinearLayerNorm(model.patch_embed.norm)
        self.blocks = nn.ModuleList()
        for layer in model.layers:
            self.blocks.extend(DeploySwinBlock(b) for b in layer.blocks)
            if layer.downsample is not None:
                self.blocks.append(DeployPatchMerging(layer.downsample))
        self.norm = LinearLayerNorm(model.norm)
        self.head = copy.deepcopy(model.head).requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        b, _, t, h, w = x.shape
        pt, ph, pw = ((k - s % k) % k for s, k in zip((t, h, w), self.patch, strict=True))
        if pt or ph or pw:
            x = F.pad(x, (0, pw, 0, ph, 0, pt))
        grid = ((t + pt) // self.patch[0], (h + ph) // self.patch[1], (w + pw) // self.patch[2])
        x = self.embed_norm(self.embed(x))  # (B, T'·H'·W', C), t-major
        x = x.reshape(b, *grid, x.shape[-1])
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        n, c = math.prod(x.shape[1:4]), x.shape[-1]
        return self.head(temporal_mean(x.reshape(b * n, c), b))

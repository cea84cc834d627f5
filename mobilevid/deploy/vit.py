"""VideoMAE ViT, STA and TSNet in a form XNNPACK runs, for ExecuTorch.

Built from a :class:`~mobilevid.models.vit.VisionTransformer` (or its STA/TSNet
subclasses) with the same weights; same function up to float rounding. What
changes, and why:

- tubelet embedding: the (2, 16, 16) Conv3d with equal stride is a Conv2d on 6
  channels, the two frames of a tubelet stacked in channels (XNNPACK has no 3D
  convolution);
- LayerNorm as linears + rsqrt (``LinearLayerNorm``: XNNPACK has no LayerNorm);
  sums over channels (L1 norm, squared norm) as linears with a constant row;
- attention as 3-D ``bmm`` per (batch·head) with the q scale folded into the
  q weights, the keys produced already transposed; the token mean as a 4-D
  global average pool;
- token selection keeps every tensor op in XNNPACK except what has no XNNPACK
  kernel: ``topk`` (the portable kernels have no sort, so argsort is topk over
  all tokens), ``index_select`` (row copies) and, for STA's tiny per-group
  scores, ``amax``/``amin``;
- TSNet does not scatter tokens back: attention and the MLP are permutation
  equivariant and the head averages over tokens, so the block keeps the
  permuted order (kept tokens first). This saves a second sort and a second
  full-width gather per branch, and the kept set and its order are the eager
  model's (descending score), so the numbers are the same.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mobilevid.deploy.ops import LinearLayerNorm, temporal_mean
from mobilevid.errors import MobilevidError
from mobilevid.models.vit import (
    Attention,
    Block,
    STAVisionTransformer,
    TSNetBlock,
    TSNetVisionTransformer,
    VisionTransformer,
    position_table,
    sta_prune_blocks,
    sta_schedule,
    token_grid,
)

__all__ = ["DeployViT"]


def _take(x: Tensor, idx: Tensor) -> Tensor:
    """x (B, N, C), idx (B, M) -> (B, M, C); a 1-D idx (M,) means batch 1.
    Batch 1 (the exported case) is one ``index_select`` of whole rows;
    ``gather`` would need an index expanded to the full (M, C) shape first."""
    if idx.ndim == 1:
        return x.index_select(1, idx)
    if x.shape[0] == 1:
        return x.index_select(1, idx.reshape(-1))
    return x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def _linear(weight: Tensor, bias: Tensor | None) -> nn.Linear:
    out = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    out.weight.data.copy_(weight)
    if bias is not None:
        out.bias.data.copy_(bias)
    return out.requires_grad_(False)


def _row_sum(x: Tensor, ones: Tensor) -> Tensor:
    """Sum over the last dim as a linear with a constant row of ones (XNNPACK
    has no sum): (..., C) -> (..., 1)."""
    return F.linear(x, ones)


class PatchConv(nn.Module):
    """The (tubelet, p, p) Conv3d with stride (tubelet, p, p) as a Conv2d over
    tubelets: (B, 3, T, H, W) -> (B, T'·H'·W', C) tokens, t-major as VideoMAE."""

    def __init__(self, conv: nn.Conv3d):
        super().__init__()
        c_out, c_in, kt, kh, kw = conv.weight.shape
        self.kt = kt
        self.conv = nn.Conv2d(c_in * kt, c_out, (kh, kw), (kh, kw)).requires_grad_(False)
        self.conv.weight.data.copy_(conv.weight.detach().reshape(c_out, c_in * kt, kh, kw))
        self.conv.bias.data.copy_(conv.bias.detach())

    def forward(self, x: Tensor) -> Tensor:
        b, c, t, h, w = x.shape
        tt = t // self.kt
        # (B, 3, T', kt·H·W) -> (B, T', 3, kt·H·W) -> (B·T', 3·kt, H, W): channel c·kt + i
        x = x.reshape(b, c, tt, self.kt * h * w).permute(0, 2, 1, 3)
        x = self.conv(x.reshape(b * tt, c * self.kt, h, w))  # (B·T', C, H', W')
        d = x.shape[1]
        return x.reshape(b, tt, d, -1).permute(0, 1, 3, 2).reshape(b, -1, d)


class DeployAttention(nn.Module):
    """Separate q/k/v linears (VideoMAE's q_bias/v_bias folded in, the scale
    folded into q), 3-D bmm over (batch·heads). ``keys=True`` also returns the
    keys averaged over heads (STA's metric) from one more small linear."""

    def __init__(self, a: Attention, mean_keys: bool = False):
        super().__init__()
        w = a.qkv.weight.detach()
        c = w.shape[1]
        self.heads = a.heads
        self.q = _linear(w[:c] * a.scale, a.q_bias.detach() * a.scale)
        self.k = _linear(w[c : 2 * c], None)
        self.v = _linear(w[2 * c :], a.v_bias.detach())
        self.proj = copy.deepcopy(a.proj).requires_grad_(False)
        if mean_keys:  # mean over heads of k = h @ (mean over heads of W_k)ᵀ
            hd = c // a.heads
            self.k_mean = _linear(w[c : 2 * c].reshape(a.heads, hd, c).mean(0), None)

    def forward(self, h: Tensor) -> Tensor:
        b, n, c = h.shape
        nh, hd = self.heads, c // self.heads
        q = self.q(h).reshape(b, n, nh, hd).transpose(1, 2).reshape(b * nh, n, hd)
        kt = self.k(h).reshape(b, n, nh, hd).permute(0, 2, 3, 1).reshape(b * nh, hd, n)
        v = self.v(h).reshape(b, n, nh, hd).transpose(1, 2).reshape(b * nh, n, hd)
        attn = torch.bmm(q, kt).softmax(dim=-1)  # (B·h, N, N)
        out = torch.bmm(attn, v).reshape(b, nh, n, hd).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


class DeployBlock(nn.Module):
    def __init__(self, blk: Block, mean_keys: bool = False):
        super().__init__()
        self.norm1 = LinearLayerNorm(blk.norm1)
        self.attn = DeployAttention(blk.attn, mean_keys)
        self.norm2 = LinearLayerNorm(blk.norm2)
        self.mlp = copy.deepcopy(blk.mlp).requires_grad_(False)

    def forward_with_keys(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.norm1(x)
        x = x + self.attn(h)
        return x + self.mlp(self.norm2(x)), self.attn.k_mean(h)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DeployTSNetBlock(DeployBlock):
    """TSNet's inference split, staying in the permuted order (see the module
    docstring): per branch, score -> topk over all tokens (= a descending
    sort) -> one row gather of x and h -> sub-layer on the first k, linear on
    the rest -> cat."""

    def __init__(self, blk: TSNetBlock):
        super().__init__(blk)
        self.keep = blk.cfg.keep
        for name in ("select_attn", "select_mlp", "linear_attn", "linear_mlp"):
            setattr(self, name, copy.deepcopy(getattr(blk, name)).requires_grad_(False))

    def _branch(self, x: Tensor, norm: nn.Module, select: nn.Module, layer, linear) -> Tensor:
        b, n, _ = x.shape
        k = max(1, round(self.keep * n))  # the eager model's static k
        h = norm(x)
        # descending, as argsort; 1-D at batch 1, so no reshape of the index
        order = select(h).reshape(n if b == 1 else (b, n)).topk(n, dim=-1).indices
        x, h = _take(x, order), _take(h, order)
        return torch.cat([x[:, :k] + layer(h[:, :k]), x[:, k:] + linear(h[:, k:])], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        if self.keep >= 1.0:
            return super().forward(x)
        x = self._branch(x, self.norm1, self.select_attn, self.attn, self.linear_attn)
        return self._branch(x, self.norm2, self.select_mlp, self.mlp, self.linear_mlp)


class STASelect(nn.Module):
    """``sta_keep_indices`` for the runtime: argsort as topk (the portable
    kernels have no sort), gather as row ``index_select``, F.normalize and the
    L1 norm over channels as linears (no norm kernel; the (N, C) sums stay in
    XNNPACK), the later groups' softmax over current tokens as a last-dim
    softmax of the transposed similarity. What stays portable (topk, row
    copies, per-group min/max and sums) works on one group's scores at a time,
    apart from the final row gather of the kept tokens."""

    def __init__(self, dim: int, key_dim: int, r: int):
        super().__init__()
        self.r = r
        self.register_buffer("ones_x", torch.ones(1, dim))
        self.register_buffer("ones_k", torch.ones(1, key_dim))

    def _bipartite(self, metric: Tensor) -> Tensor:
        """(B, n, Ck) -> (B, n) permutation: B tokens, then A by rising redundancy."""
        b, n, _ = metric.shape
        a, bb = metric[:, ::2], metric[:, 1::2]
        redundancy = torch.bmm(a, bb.transpose(1, 2)).amax(dim=-1)  # (B, ceil(n/2))
        na = redundancy.shape[1]
        a_order = 2 * redundancy.topk(na, dim=-1, largest=False).indices  # rising, as argsort
        b_pos = torch.arange(1, n, 2, device=metric.device).reshape(1, -1)
        return torch.cat([b_pos.expand(b, -1) if b > 1 else b_pos, a_order], dim=1)

    def forward(self, x: Tensor, keys: Tensor, groups: int, reverse: bool) -> Tensor:
        b, N, _ = x.shape
        n, r = N // groups, self.r
        norm = torch.sqrt(_row_sum(keys * keys, self.ones_k)).clamp_min(1e-12)
        metric = (keys / norm).reshape(b, groups, n, -1)  # F.normalize
        sem = _row_sum(x.abs(), self.ones_x).reshape(b, groups, n)
        lo, hi = sem.amin(dim=-1, keepdim=True), sem.amax(dim=-1, keepdim=True)
        sem = (sem - lo) / (hi - lo).clamp_min(1e-6)

        order = list(range(groups))[::-1] if reverse else list(range(groups))
        g0 = metric[:, order[0]]
        perm = self._bipartite(g0)
        kept = {order[0]: perm[:, : n - r]}
        prev, s_agg = _take(g0, perm), None  # (B, n_prev, Ck); s_agg (B, 1, n_prev)
        for g in order[1:]:
            cur = metric[:, g]
            # m_tᵀ: softmax over the current tokens, which are the last dim here
            m_t = torch.bmm(prev, cur.transpose(1, 2)).softmax(dim=-1)  # (B, n_prev, n)
            # s_agg (B, 1, n): the sum over prev, then m_t @ s_agg, as row-vector products
            s_agg = m_t.sum(dim=1, keepdim=True) if s_agg is None else torch.bmm(s_agg, m_t)
            score = s_agg.reshape(b, n) * (1 - sem[:, g])
            idx = score.topk(n - r, dim=1, largest=False).indices  # (B, n - r)
            s_agg = _take(s_agg.reshape(b, n, 1), idx).reshape(b, 1, n - r)
            s_agg = s_agg / s_agg.sum(dim=-1, keepdim=True)
            prev = _take(cur, idx)
            kept[g] = idx
        return torch.cat([kept[g] + g * n for g in range(groups)], dim=1)


class DeployViT(nn.Module):
    """Same function as the source ViT / STA / TSNet model on (B, 3, T, H, W)
    clips, from ops XNNPACK takes (see the module docstring). Inference only."""

    def __init__(self, model: VisionTransformer):
        super().__init__()
        model = copy.deepcopy(model).eval()
        cfg = model.cfg
        if isinstance(model, TSNetVisionTransformer) and cfg.selection != "learned":
            raise MobilevidError(
                f"TSNet selection={cfg.selection!r} is a training baseline (random tokens "
                "per call); only selection='learned' has a deployable form"
            )
        self.cfg = cfg
        self.patch_embed = PatchConv(model.patch_embed.proj)
        if cfg.learnable_pos_embed:
            self.pos_embed = nn.Parameter(model.pos_embed.detach().clone(), requires_grad=False)
        else:
            self.register_buffer("pos_embed", model.pos_embed.clone(), persistent=False)
        sta = isinstance(model, STAVisionTransformer) and cfg.r > 0
        # the blocks STA prunes after: they also hand out the mean keys
        self.prune_at = set(sta_prune_blocks(cfg.depth)) if sta else set()
        self.blocks = nn.ModuleList(
            DeployTSNetBlock(b) if isinstance(b, TSNetBlock) else DeployBlock(b, i in self.prune_at)
            for i, b in enumerate(model.blocks)
        )
        self.select = STASelect(cfg.dim, cfg.dim // cfg.heads, cfg.r) if sta else None
        self.fc_norm = LinearLayerNorm(model.fc_norm)
        self.head = copy.deepcopy(model.head).requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        grid = token_grid(self.cfg, x.shape)
        plan = sta_schedule(self.cfg, grid[0], math.prod(grid)) if self.select else {}
        x = self.patch_embed(x)
        x = x + position_table(self.cfg, self.pos_embed, x.shape[1]).to(x)
        for i, blk in enumerate(self.blocks):
            if i not in plan:
                x = blk(x)
                continue
            x, keys = blk.forward_with_keys(x)
            x = _take(x, self.select(x, keys, *plan[i]))
        b, n, c = x.shape
        x = temporal_mean(x.reshape(b * n, c), b)  # (B, C): a 4-D global average pool
        return self.head(self.fc_norm(x))

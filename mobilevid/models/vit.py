"""VideoMAE ViT-S/16 and two ways to run it on fewer tokens: STA and TSNet.

- Backbone: Tong et al., "VideoMAE: Masked Autoencoders are Data-Efficient
  Learners for Self-Supervised Video Pre-Training", NeurIPS 2022. Layout and
  parameter names follow VideoMAE's ``modeling_finetune.py`` one to one, so its
  fine-tuned checkpoints load without renaming (``load_videomae_checkpoint``).
- STA: Ding et al., "Prune Spatio-temporal Tokens by Semantic-aware Temporal
  Accumulation", ICCV 2023. Training-free: after blocks 0, depth//3, 2·depth//3
  the tokens of each temporal group are scored by temporal redundancy times
  (1 − semantic importance) and the ``r`` highest scores are dropped, as the
  authors' ``model_vit.py`` does it (``sta_keep_indices``).
- TSNet: Wang et al., "TSNet: Token Sparsification for Efficient Video
  Transformer", Appl. Sci. 2023. Learned: per block, one selector for attention
  and one for the FFN; kept tokens take the sub-layer, dropped tokens a
  Linear(dim, dim). Gumbel-softmax masks (masked attention) in training, a static
  top-k split at inference.

Every inference path has static shapes: token counts follow from ``r``/``keep``
and the input shape alone, attention is explicit matmuls + softmax (counted by
``mobilevid.count`` and lowered as plain ops), and pruning is ``topk``/``argsort``
followed by ``gather`` — no boolean masks, no ``nonzero``. See docs/vit.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mobilevid.checkpoint import load_checkpoint, load_strict
from mobilevid.errors import MobilevidError
from mobilevid.models._init import init_transformer
from mobilevid.models._registry import PaperFigures, register_model
from mobilevid.models.mobile_former import Ablation
from mobilevid.spec import InputSpec

__all__ = [
    "position_table",
    "sta_prune_blocks",
    "sta_schedule",
    "token_grid",
    "PRUNING",
    "STAConfig",
    "STAVisionTransformer",
    "TSNetBlock",
    "TSNetConfig",
    "TSNetVisionTransformer",
    "ViTConfig",
    "VisionTransformer",
    "load_videomae_checkpoint",
    "sinusoid_table",
    "sta_keep_indices",
    "usage_loss",
    "vit_s",
    "vit_s_sta",
    "vit_s_tsnet",
]


# --------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class ViTConfig:
    """VideoMAE ViT hyper-parameters. ``frames``/``img_size`` only fix the grid the
    position table is built for (VideoMAE's ``all_frames``/``img_size``); other
    clip sizes work with the fixed sinusoid (see :func:`position_table`)."""

    dim: int = 384
    depth: int = 12
    heads: int = 6
    mlp_ratio: float = 4.0
    patch: int = 16
    tubelet: int = 2
    frames: int = 16
    img_size: int = 224
    learnable_pos_embed: bool = False  # VideoMAE's fine-tuned ViT-S uses the fixed sinusoid
    init_scale: float = 0.001  # VideoMAE fine-tuning scales the fresh head by this

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise MobilevidError(f"dim {self.dim} is not divisible by heads {self.heads}")


@dataclass(frozen=True)
class STAConfig(ViTConfig):
    """``r``: tokens removed per temporal group at every pruning stage (0 = dense)."""

    r: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.r, int) or self.r < 0:
            raise MobilevidError(f"STA r must be an integer >= 0, got {self.r!r}")
        if self.r and self.depth < 3:
            raise MobilevidError("STA prunes after blocks 0, depth//3, 2·depth//3: depth >= 3")


TSNET_SELECTIONS = ("learned", "random")


@dataclass(frozen=True)
class TSNetConfig(ViTConfig):
    """``keep``: the target ratio γ of tokens each selector keeps; ``select_from``:
    the first block with selectors (blocks ``select_from..depth-1`` get them);
    ``selection="random"`` is Table 1's baseline (same counts, random tokens)."""

    keep: float = 0.5
    select_from: int = 4
    selection: str = "learned"
    tau: float = 1.0  # Gumbel-softmax temperature
    hard: bool = True  # straight-through 0/1 masks in training, as the inference split
    usage_weight: float = 10.0  # λ of the usage loss

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.keep <= 1.0:
            raise MobilevidError(f"TSNet keep must be in (0, 1], got {self.keep}")
        if not 0 <= self.select_from < self.depth:
            raise MobilevidError(
                f"select_from must be in [0, {self.depth}), got {self.select_from}"
            )
        if self.selection not in TSNET_SELECTIONS:
            raise MobilevidError(
                f"selection must be one of {', '.join(TSNET_SELECTIONS)}, got {self.selection!r}"
            )
        if self.tau <= 0:
            raise MobilevidError(f"Gumbel temperature tau must be > 0, got {self.tau}")


# --------------------------------------------------------------------------- blocks
@lru_cache(maxsize=8)
def _sinusoid_np(n_position: int, dim: int) -> np.ndarray:
    angle = np.arange(n_position)[:, None] / np.power(10000, 2 * (np.arange(dim) // 2) / dim)
    angle[:, 0::2] = np.sin(angle[:, 0::2])  # dim 2i
    angle[:, 1::2] = np.cos(angle[:, 1::2])  # dim 2i+1
    out = angle.astype(np.float32)[None].copy()  # (1, N, dim); the copy: no 0 stride for ExecuTorch
    out.flags.writeable = False
    return out


def sinusoid_table(n_position: int, dim: int) -> Tensor:
    """VideoMAE's ``get_sinusoid_encoding_table``: a 1D table over the flattened
    (t, h, w) token index, computed in float64 numpy and stored as float32, so it
    is bit-identical to the one VideoMAE adds. (1, N, dim)."""
    return torch.tensor(_sinusoid_np(n_position, dim))


class PatchEmbed(nn.Module):
    """Tubelet embedding: a (tubelet, patch, patch) Conv3d with the same stride."""

    def __init__(self, dim: int, patch: int, tubelet: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(3, dim, (tubelet, patch, patch), stride=(tubelet, patch, patch))

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, T'·H'·W', C), t-major


class Attention(nn.Module):
    """Multi-head self-attention as explicit matmuls (counted, and lowered as plain
    ops). VideoMAE's bias layout: ``qkv`` has no bias, ``q_bias``/``v_bias`` are
    separate and the key bias is zero.

    ``mask`` (B, N) is TSNet's training-time key mask: A_ij = exp(R_ij)·M_j /
    Σ_k exp(R_ik)·M_k, i.e. softmax, times M_j, renormalised. Returns the output
    and the keys (B, heads, N, head_dim), which STA uses as its similarity metric.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        B, N, C = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).reshape(B, N, 3, self.heads, C // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, head_dim)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, heads, N, N)
        if mask is not None:
            attn = attn * mask[:, None, None, :]
            attn = attn / (attn.sum(dim=-1, keepdim=True) + 1e-6)
        out = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(out), k


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


def _norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=1e-6)


class Block(nn.Module):
    """Pre-norm transformer block. ``forward_with_keys`` also hands out the
    attention keys, which exist anyway, so STA needs no second pass."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = _norm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = _norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward_with_keys(self, x: Tensor) -> tuple[Tensor, Tensor]:
        a, k = self.attn(self.norm1(x))
        x = x + a
        return x + self.mlp(self.norm2(x)), k

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_keys(x)[0]


def _gather_tokens(x: Tensor, idx: Tensor) -> Tensor:
    """x (B, N, C), idx (B, M) -> (B, M, C)."""
    return x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


# --------------------------------------------------------------------------- model
def token_grid(cfg: ViTConfig, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Token grid (T', H', W') of a clip of ``shape`` (B, 3, T, H, W)."""
    if len(shape) != 5 or shape[1] != 3:
        raise MobilevidError(f"expected a clip (B, 3, T, H, W), got {tuple(shape)}")
    t, h, w = shape[2:]
    if t % cfg.tubelet or h % cfg.patch or w % cfg.patch:
        raise MobilevidError(
            f"clip {t}x{h}x{w} does not tile into {cfg.tubelet}x{cfg.patch}x{cfg.patch} tubelets"
        )
    return t // cfg.tubelet, h // cfg.patch, w // cfg.patch


def position_table(cfg: ViTConfig, pos_embed: Tensor, n: int) -> Tensor:
    """Position embeddings for ``n`` tokens. The fixed table for another clip size
    is the sinusoid over its own ``n`` positions, i.e. what VideoMAE builds for
    that input; a learned table only fits the grid it was trained for."""
    if n == pos_embed.shape[1]:
        return pos_embed
    if cfg.learnable_pos_embed:
        raise MobilevidError(
            f"learned position embeddings hold {pos_embed.shape[1]} tokens, the clip "
            f"gives {n}; build the model with frames/img_size of the clip"
        )
    return sinusoid_table(n, cfg.dim)


def sta_prune_blocks(depth: int) -> tuple[int, int, int]:
    """The blocks STA prunes after: the first, and the starts of the second and
    last thirds of the network."""
    return 0, depth // 3, 2 * depth // 3


def sta_schedule(cfg: STAConfig, t: int, n: int) -> dict[int, tuple[int, bool]]:
    """{block index: (groups, reverse)} for a clip with T' = t slices and n
    tokens: T' groups first, then T'/2 in reverse order, then T'/4; raises if
    the clip is too small for ``r``."""
    r = cfg.r
    if r == 0:
        return {}
    if t % 4:
        raise MobilevidError(
            f"STA halves {t} temporal slices twice; use a clip with a multiple of "
            f"{4 * cfg.tubelet} frames"
        )
    first, second, third = sta_prune_blocks(cfg.depth)
    plan = {first: (t, False), second: (t // 2, True), third: (t // 4, False)}
    for stage, (groups, _) in enumerate(plan.values()):
        per_group = n // groups
        if r > per_group // 2:
            raise MobilevidError(
                f"STA r={r} prunes more than half of a group's {per_group} tokens at "
                f"stage {stage + 1}; use a smaller r or a larger clip"
            )
        n -= groups * r
    return plan


class VisionTransformer(nn.Module):
    """VideoMAE ViT: (B, 3, T, H, W) clip -> (B, num_classes) logits.

    No CLS token: the head reads the mean of all tokens after ``fc_norm``
    (VideoMAE's ``use_mean_pooling``). The fixed sinusoid table is a
    non-persistent buffer, so it never appears in a state_dict (as in VideoMAE).
    """

    def __init__(self, cfg: ViTConfig, num_classes: int = 400) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg.dim, cfg.patch, cfg.tubelet)
        grid = token_grid(cfg, (1, 3, cfg.frames, cfg.img_size, cfg.img_size))
        table = sinusoid_table(math.prod(grid), cfg.dim)
        if cfg.learnable_pos_embed:
            self.pos_embed = nn.Parameter(table)
        else:
            self.register_buffer("pos_embed", table, persistent=False)
        self.blocks = nn.ModuleList(self._make_block(i) for i in range(cfg.depth))
        self.fc_norm = _norm(cfg.dim)
        self.head = nn.Linear(cfg.dim, num_classes)
        self._init_weights()

    def _make_block(self, i: int) -> nn.Module:
        return Block(self.cfg.dim, self.cfg.heads, self.cfg.mlp_ratio)

    def _init_weights(self) -> None:
        """VideoMAE's fine-tuning init: truncated normal (std .02) linears with zero
        bias, LayerNorm 1/0, the Conv3d left at PyTorch's default, and the fresh head
        scaled by ``init_scale`` so the pretrained features start with small logits."""
        self.apply(init_transformer)
        with torch.no_grad():
            self.head.weight.mul_(self.cfg.init_scale)
            self.head.bias.mul_(self.cfg.init_scale)

    def grid(self, x: Tensor) -> tuple[int, int, int]:
        """Token grid (T', H', W') of a clip (B, 3, T, H, W)."""
        return token_grid(self.cfg, x.shape)

    def pos_table(self, n: int) -> Tensor:
        return position_table(self.cfg, self.pos_embed, n)

    def embed(self, x: Tensor) -> Tensor:
        self.grid(x)  # validates the clip
        x = self.patch_embed(x)  # (B, N, C)
        return x + self.pos_table(x.shape[1]).to(x)

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.embed(x)
        for blk in self.blocks:
            x = blk(x)
        return self.fc_norm(x.mean(1))  # (B, C)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))


# --------------------------------------------------------------------------- STA
def _bipartite_order(metric: Tensor) -> Tensor:
    """STA's first group, ToMe-style: alternate tokens into A (even) and B (odd); an
    A token's redundancy is its best cosine similarity to any B token. Returns a
    permutation (B, n) in the authors' order: all B tokens, then the A tokens from
    least to most redundant, so dropping the last ``r`` drops the most redundant."""
    b, n, _ = metric.shape
    redundancy = (metric[:, ::2] @ metric[:, 1::2].transpose(1, 2)).amax(dim=-1)  # (B, ceil(n/2))
    a_order = 2 * redundancy.argsort(dim=-1)  # positions of A tokens, least redundant first
    b_pos = torch.arange(1, n, 2, device=metric.device).expand(b, -1)
    return torch.cat([b_pos, a_order], dim=1)


def sta_keep_indices(x: Tensor, keys: Tensor, groups: int, r: int, reverse: bool = False) -> Tensor:
    """Indices (B, N - groups·r) of the tokens STA keeps, grouped in temporal order.

    x: (B, N, C) block output; keys: (B, N, Ck) the block's keys averaged over heads.
    The N tokens form ``groups`` consecutive temporal groups of n = N/groups tokens.
    - semantic importance: L1 norm of each token, min-max normalised in its group;
    - group 0 (in processing order): bipartite redundancy, drop the r most redundant;
    - group t >= 1: m_t = softmax over the current tokens of (cur · prevᵀ); the
      accumulated redundancy is s_agg = Σ_j m_t at t = 1 (prev: all of group 0),
      then s_agg = m_t @ s_agg (prev: its kept tokens); keep the n - r lowest
      s_agg·(1 - semantic) and renormalise s_agg over them to sum 1.
    ``reverse`` walks the groups from last to first (the authors' second stage).
    """
    b, N, _ = x.shape
    n = N // groups
    metric = F.normalize(keys, dim=-1).view(b, groups, n, -1)
    sem = x.abs().sum(dim=-1).view(b, groups, n)
    lo, hi = sem.amin(dim=-1, keepdim=True), sem.amax(dim=-1, keepdim=True)
    sem = (sem - lo) / (hi - lo).clamp_min(1e-6)  # the clamp only matters for a flat group

    order = list(range(groups))[::-1] if reverse else list(range(groups))
    perm = _bipartite_order(metric[:, order[0]])
    kept = {order[0]: perm[:, : n - r]}
    # t = 1 compares with all of group 0; taken in the authors' order, so every sum
    # below runs in the same order as theirs and the kept sets agree bit for bit
    prev, s_agg = _gather_tokens(metric[:, order[0]], perm), None
    for g in order[1:]:
        cur = metric[:, g]  # (B, n, Ck)
        m_t = (cur @ prev.transpose(1, 2)).softmax(dim=1)  # (B, n, n_prev), over current tokens
        s_agg = m_t.sum(dim=-1) if s_agg is None else (m_t @ s_agg.unsqueeze(-1)).squeeze(-1)
        score = s_agg * (1 - sem[:, g])  # high = redundant and unimportant
        idx = score.topk(n - r, dim=1, largest=False).indices  # (B, n - r)
        s_agg = s_agg.gather(1, idx)
        s_agg = s_agg / s_agg.sum(dim=1, keepdim=True)
        prev = _gather_tokens(cur, idx)
        kept[g] = idx
    return torch.cat([kept[g] + g * n for g in range(groups)], dim=1)


class STAVisionTransformer(VisionTransformer):
    """ViT-S with STA pruning after blocks 0, depth//3 and 2·depth//3.

    The temporal groups are the T' tubelet slices at the first stage, then pairs
    (T'/2 groups), then quadruples (T'/4): 8/4/2 for a 16-frame clip, as the authors
    hard-code. Each stage removes ``r`` tokens per group, so for 16x224²
    1568 -> 1568-8r -> 1568-12r -> 1568-14r tokens: all static. r = 0 runs the
    dense model's exact ops.
    """

    cfg: STAConfig

    def schedule(self, t: int, n: int) -> dict[int, tuple[int, bool]]:
        return sta_schedule(self.cfg, t, n)

    def _tokens(self, x: Tensor, trace: bool = False) -> tuple[Tensor, list[Tensor]]:
        grid = self.grid(x)
        plan = self.schedule(grid[0], math.prod(grid))
        x = self.embed(x)
        ids = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1) if trace else None
        kept: list[Tensor] = []
        for i, blk in enumerate(self.blocks):
            if i not in plan:
                x = blk(x)
                continue
            x, k = blk.forward_with_keys(x)
            groups, reverse = plan[i]
            idx = sta_keep_indices(x, k.mean(dim=1), groups, self.cfg.r, reverse)
            x = _gather_tokens(x, idx)
            if ids is not None:
                ids = ids.gather(1, idx)
                kept.append(ids)
        return x, kept

    def forward_features(self, x: Tensor) -> Tensor:
        return self.fc_norm(self._tokens(x)[0].mean(1))

    @torch.no_grad()
    def kept_tokens(self, x: Tensor) -> list[Tensor]:
        """Original (t-major) indices of the tokens alive after each pruning stage,
        one (B, N_stage) tensor per stage: for tests and visualisation."""
        return self._tokens(x, trace=True)[1]


# --------------------------------------------------------------------------- TSNet
def usage_loss(masks: Tensor, keep: float, weight: float = 10.0) -> Tensor:
    """TSNet's L_γ = λ·(mean(M) − γ)²: ``masks`` (B, K) are every selector's
    decisions for every token of a clip; the mean is per clip, the loss averaged
    over the batch."""
    return weight * (masks.mean(dim=1) - keep).square().mean()


SubLayer = Callable[[Tensor, Tensor | None], Tensor]


class TSNetBlock(Block):
    """A block whose attention and FFN each see only the tokens their own selector
    keeps (separate policies, TSNet Table 3); dropped tokens get a Linear(dim, dim)
    instead. Both branches stay residual: x + [sub-layer(h)·M + linear(h)·(1 − M)]
    with h the pre-norm output, which the selector also reads.

    The dropped-token linears start at zero, so a dropped token initially just
    skips the sub-layer: fine-tuning starts from the pretrained function of the
    kept tokens instead of from noise on the dropped ones.
    """

    def __init__(self, cfg: TSNetConfig) -> None:
        super().__init__(cfg.dim, cfg.heads, cfg.mlp_ratio)
        self.cfg = cfg
        self.select_attn = nn.Linear(cfg.dim, 1)
        self.select_mlp = nn.Linear(cfg.dim, 1)
        self.linear_attn = nn.Linear(cfg.dim, cfg.dim)
        self.linear_mlp = nn.Linear(cfg.dim, cfg.dim)
        self.masks: tuple[Tensor, ...] = ()  # the last training forward's (B, N) masks

    def zero_init(self) -> None:
        for lin in (self.linear_attn, self.linear_mlp):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def _mask(self, score: Tensor) -> Tensor:
        """Gumbel-softmax over {keep, drop} with P(keep) = sigmoid(score): (B, N)."""
        logp = torch.stack([F.logsigmoid(score), F.logsigmoid(-score)], dim=-1)
        return F.gumbel_softmax(logp, tau=self.cfg.tau, hard=self.cfg.hard)[..., 0]

    def _branch(self, h: Tensor, select: nn.Linear, layer: SubLayer, linear: nn.Linear) -> Tensor:
        """The residual update of one sub-layer (attention or FFN) for h (B, N, C)."""
        if self.training and self.cfg.selection == "learned":
            m = self._mask(select(h).squeeze(-1))  # (B, N)
            self.masks = (*self.masks, m)
            return layer(h, m) * m.unsqueeze(-1) + linear(h) * (1 - m.unsqueeze(-1))
        b, n, _ = h.shape
        k = max(1, round(self.cfg.keep * n))  # static: depends on the shape only
        if self.cfg.selection == "random":
            score = torch.rand(b, n, device=h.device)
        else:
            score = select(h).squeeze(-1)  # sigmoid is monotone: rank the logits
        order = score.argsort(dim=1, descending=True)  # (B, N), kept tokens first
        h = _gather_tokens(h, order)
        out = torch.cat([layer(h[:, :k], None), linear(h[:, k:])], dim=1)
        return _gather_tokens(out, order.argsort(dim=1))  # back to the original positions

    def _attn(self, h: Tensor, mask: Tensor | None) -> Tensor:
        return self.attn(h, mask)[0]

    def _mlp(self, h: Tensor, mask: Tensor | None) -> Tensor:
        return self.mlp(h)  # per token: the mask acts on the output only

    def forward(self, x: Tensor) -> Tensor:
        self.masks = ()
        if self.cfg.keep >= 1.0:
            return super().forward(x)
        x = x + self._branch(self.norm1(x), self.select_attn, self._attn, self.linear_attn)
        return x + self._branch(self.norm2(x), self.select_mlp, self._mlp, self.linear_mlp)


class TSNetVisionTransformer(VisionTransformer):
    """ViT-S with TSNet selectors in blocks ``select_from..depth-1``.

    Training contract (what a generic loop needs): ``param_groups(lr)`` for the
    optimizer (selectors and dropped-token linears at lr, the backbone at 0.01×),
    and ``aux_loss()`` after each forward, added to the cross-entropy. keep = 1.0
    is the dense model exactly: the selectors are then bypassed.
    """

    cfg: TSNetConfig

    def _make_block(self, i: int) -> nn.Module:
        return TSNetBlock(self.cfg) if i >= self.cfg.select_from else super()._make_block(i)

    def _init_weights(self) -> None:
        super()._init_weights()
        for blk in self.tsnet_blocks():
            blk.zero_init()

    def tsnet_blocks(self) -> Iterator[TSNetBlock]:
        return (b for b in self.blocks if isinstance(b, TSNetBlock))

    def _masks(self) -> Tensor | None:
        """Every selector's masks of the last training forward, (B, K), or None."""
        masks = [m for blk in self.tsnet_blocks() for m in blk.masks]
        return torch.cat(masks, dim=1) if masks else None

    def usage(self) -> Tensor | None:
        """Per clip, the fraction of tokens kept over all selectors of the last
        training forward (B,), or None outside learned training."""
        masks = self._masks()
        return None if masks is None else masks.mean(dim=1)

    def aux_loss(self) -> Tensor:
        """λ·(mean(M) − γ)² for the last forward; 0 when nothing was selected."""
        masks = self._masks()
        if masks is None:
            return self.head.bias.new_zeros(())
        return usage_loss(masks, self.cfg.keep, self.cfg.usage_weight)

    def selector_parameters(self) -> list[nn.Parameter]:
        """TSNet's new parameters: selectors and the dropped-token linears."""
        return [p for n, p in self.named_parameters() if _is_tsnet_param(n)]

    def backbone_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not _is_tsnet_param(n)]

    def param_groups(self, lr: float = 1e-4, backbone_lr_scale: float = 0.01) -> list[dict]:
        """Optimizer groups as in TSNet §4.2: the new modules at ``lr`` (1e-4), the
        pretrained backbone at ``backbone_lr_scale``·lr."""
        return [
            {"name": "tsnet", "params": self.selector_parameters(), "lr": lr},
            {
                "name": "backbone",
                "params": self.backbone_parameters(),
                "lr": lr * backbone_lr_scale,
            },
        ]


def _is_tsnet_param(name: str) -> bool:
    return any(f".{m}." in name for m in ("select_attn", "select_mlp", "linear_attn", "linear_mlp"))


# --------------------------------------------------------------------------- checkpoints
_PREFIXES = ("module.", "model.", "backbone.", "encoder.")


def _strip(key: str) -> str:
    while key.startswith(_PREFIXES):
        key = key.split(".", 1)[1]
    return key


def _source_grid(n: int, target: tuple[int, int, int]) -> tuple[int, int, int]:
    """The (T', H', W') grid of a stored table of ``n`` tokens. Preference: the
    target's T' with square frames (VideoMAE's own assumption), then the target's
    frame grid, then the square-framed grid closest to the target's T'/H' aspect."""
    t, h, w = target
    grids = [
        (t0, s, s)
        for t0 in range(1, n + 1)
        if n % t0 == 0 and (s := math.isqrt(n // t0)) ** 2 == n // t0
    ]
    if n % (h * w) == 0:
        grids.append((n // (h * w), h, w))

    def rank(g: tuple[int, int, int]) -> tuple[bool, bool, float]:
        return g[0] != t, g[1:] != (h, w), abs(math.log(g[0] * h / (g[1] * t)))

    return min(grids, key=rank)  # never empty: (n, 1, 1) is a square-framed grid


def _resize_pos_embed(pos: Tensor, target: tuple[int, int, int]) -> Tensor:
    """(1, N_src, C) -> (1, T'·H'·W', C): bicubic over each frame's grid (as
    VideoMAE fine-tuning does), then linear along time."""
    t0, h0, w0 = _source_grid(pos.shape[1], target)
    t, h, w = target
    c = pos.shape[-1]
    x = pos.float().reshape(t0, h0, w0, c).permute(0, 3, 1, 2)  # (T0, C, H0, W0)
    if (h0, w0) != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)
    x = x.permute(1, 2, 3, 0).reshape(1, c * h * w, t0)  # time last
    if t0 != t:
        x = F.interpolate(x, size=t, mode="linear", align_corners=False)
    return x.reshape(c, h, w, t).permute(3, 1, 2, 0).reshape(1, t * h * w, c).to(pos.dtype)


def load_videomae_checkpoint(model: VisionTransformer, path: str | Path) -> None:
    """Load a VideoMAE fine-tuned checkpoint (``{"module": sd}`` from DeepSpeed or
    ``{"model": sd, "args": Namespace, ...}``) into ``model``, strictly.

    Keys lose ``module.``/``model.``/``backbone.``/``encoder.`` prefixes; a fused
    ``attn.qkv.bias`` is split into ``q_bias``/``v_bias``. A stored ``pos_embed``
    that is the fixed sinusoid is dropped (the model builds its own for its grid,
    as VideoMAE does); any other table is resized to the model's grid (temporal
    and spatial) and needs ``learnable_pos_embed=True``. TSNet models may omit their
    selector/linear keys (fresh selectors on a pretrained backbone).
    """
    with torch.serialization.safe_globals([argparse.Namespace]):  # VideoMAE saves its args
        ckpt = load_checkpoint(path)
    sd: dict[str, Tensor] = {}
    for key, value in ckpt.state_dict.items():
        key = _strip(key)
        if key.endswith("attn.qkv.bias"):  # a fused bias (e.g. a timm export)
            q, k, v = value.chunk(3)
            if k.abs().max() > 0:
                raise MobilevidError(f"{path}: {key} has a non-zero key bias VideoMAE cannot hold")
            sd[key.replace("qkv.bias", "q_bias")], sd[key.replace("qkv.bias", "v_bias")] = q, v
        else:
            sd[key] = value

    cfg = model.cfg
    grid = token_grid(cfg, (1, 3, cfg.frames, cfg.img_size, cfg.img_size))
    if "pos_embed" in sd:
        pos = sd.pop("pos_embed")
        if pos.ndim == 2:
            pos = pos.unsqueeze(0)
        if pos.ndim != 3 or pos.shape[-1] != cfg.dim:
            raise MobilevidError(f"{path}: pos_embed {tuple(pos.shape)} does not fit dim {cfg.dim}")
        fixed = torch.allclose(pos.float(), sinusoid_table(pos.shape[1], cfg.dim), atol=1e-4)
        if not fixed:
            if not cfg.learnable_pos_embed:
                raise MobilevidError(
                    f"{path}: the checkpoint has learned position embeddings; "
                    "build the model with learnable_pos_embed=True"
                )
            sd["pos_embed"] = _resize_pos_embed(pos, grid)
        elif cfg.learnable_pos_embed:
            sd["pos_embed"] = sinusoid_table(math.prod(grid), cfg.dim)

    optional = {k for k in model.state_dict() if _is_tsnet_param(k)}
    load_strict(model, sd, str(ckpt.path or path), "this VideoMAE model", optional)


# --------------------------------------------------------------------------- registry
def _create(cls: type[VisionTransformer], cfg: ViTConfig, num_classes: int, **overrides):
    return cls(dataclasses.replace(cfg, **overrides), num_classes=num_classes)


# VideoMAE fine-tunes on K400 with 16 frames at stride 4 and ImageNet mean/std.
_INPUT = InputSpec(
    frames=16, size=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), frame_stride=4
)
_VIDEOMAE = "VideoMAE (NeurIPS 2022), ViT-S/16 K400"


# 22,033,936 params; 56.9 GMACs per 16x224² view (VideoMAE: 22.0M / 57.0).
@register_model(
    family="vit",
    input=_INPUT,
    config=ViTConfig,
    paper=PaperFigures(
        source=_VIDEOMAE,
        params_m=22.0,
        gmacs=57.0,
        top1=79.0,
        note="16x224², GMACs per view; top-1 over 5 clips x 3 crops",
    ),
)
def vit_s(num_classes: int = 400, **overrides) -> VisionTransformer:
    return _create(VisionTransformer, ViTConfig(), num_classes, **overrides)


# Default r = 64: the setting of the authors' README command, and at 16x224² it
# halves the MACs (57.0 -> 28.8 GMACs), the kind of cut a phone needs.
@register_model(
    family="vit",
    input=_INPUT,
    config=STAConfig,
    paper=PaperFigures(
        source="STA (ICCV 2023) on " + _VIDEOMAE,
        params_m=22.0,
        gmacs=28.8,
        note="r=64; GMACs of the authors' schedule, counted (docs/vit.md; no ViT-S top-1)",
    ),
)
def vit_s_sta(num_classes: int = 400, **overrides) -> STAVisionTransformer:
    return _create(STAVisionTransformer, STAConfig(), num_classes, **overrides)


@register_model(
    family="vit",
    input=_INPUT,
    config=TSNetConfig,
    paper=PaperFigures(
        source="TSNet (Appl. Sci. 2023) on " + _VIDEOMAE,
        note="keep=0.5; TSNet reports UniFormer-S/VideoSwin-T only (Table 1: -40% GFLOPs at 0.5)",
    ),
)
def vit_s_tsnet(num_classes: int = 400, **overrides) -> TSNetVisionTransformer:
    return _create(TSNetVisionTransformer, TSNetConfig(), num_classes, **overrides)


# ------------------------------------------------------------------------- pruning rows
_STA_GMACS = ((16, 49.1), (32, 41.7), (48, 35.0), (64, 28.8), (80, 23.1), (96, 18.0))
_TSNET_UNIFORMER = ((0.8, "-13.4%"), (0.5, "-40%"), (0.3, "-55.5%"))

# `mobilevid profile --pruning`: the dense model, STA per r (GMACs of the authors'
# schedule, counted: docs/vit.md) and TSNet per keep ratio (no ViT-S figures: the
# label gives Table 1's UniFormer-S cut).
PRUNING: tuple[Ablation, ...] = (
    Ablation("ViT-S", "dense", "vit-s", (), 57.0, 79.0),
    *(Ablation("STA", f"r={r}", "vit-s-sta", (("r", r),), g, None) for r, g in _STA_GMACS),
    *(
        Ablation(
            "TSNet", f"keep={k} (UniFormer-S: {cut})", "vit-s-tsnet", (("keep", k),), None, None
        )
        for k, cut in _TSNET_UNIFORMER
    ),
)

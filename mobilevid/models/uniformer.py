"""UniFormer-S for video, the hierarchical backbone of TSNet's results.

Kunchang Li et al., "UniFormer: Unified Transformer for Efficient
Spatiotemporal Representation Learning", ICLR 2022. https://arxiv.org/abs/2201.04676

Four stages of widths 64/128/320/512 and depths 3/4/8/3 (UniFormer-S). The
shallow stages are convolutional ("local MHRA": a depthwise 5x5x5 conv between
two pointwise convs, BatchNorm); the deep ones are global self-attention over
every token of the clip (LayerNorm, heads of 64 channels). Every block starts
with a depthwise 3x3x3 conv as its position encoding (DPE). The stem embeds 4x4
patches with a 3-frame kernel and temporal stride 2, so a 16-frame clip is 8
token frames; each later stage halves H and W with a 1x2x2 conv.

Parameter names follow the reference code (Sense-X/UniFormer,
video_classification), so its released state dicts load as they are
(:func:`load_reference_state_dict` only unwraps them). This is also why TSNet
applies to stages 3 and 4 only: those are the token-mixing (attention) stages;
the convolutional ones have no tokens to drop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mobilevid.models._init import init_transformer
from mobilevid.models._registry import PaperFigures, register_model
from mobilevid.models.tsnet import TSNetFields, TSNetModel, TSNetSparse, block_ratios
from mobilevid.spec import InputSpec

__all__ = [
    "TSNetSABlock",
    "TSNetUniFormer",
    "TSNetUniFormerConfig",
    "UniFormer",
    "UniFormerConfig",
    "tsnet_uniformer_s",
    "uniformer_s",
]


@dataclass(frozen=True)
class UniFormerConfig:
    depths: tuple[int, ...] = (3, 4, 8, 3)
    dims: tuple[int, ...] = (64, 128, 320, 512)
    head_dim: int = 64
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path: float = 0.1  # stochastic depth at the last block (linear from 0)
    dropout: float = 0.0


def _attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """Softmax attention as matmuls (counted as MACs; lowers on every target).
    ``mask`` (B, N): TSNet's training-time key mask, A_ij ∝ exp(R_ij)·M_j."""
    attn = ((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
    if mask is not None:
        attn = attn * mask[:, None, None, :]
        attn = attn / (attn.sum(dim=-1, keepdim=True) + 1e-6)
    return attn @ v


class DropPath(nn.Module):
    """Stochastic depth per sample (training only)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device) >= self.p
        return x * keep / (1 - self.p)


class Mlp(nn.Module):
    """Linear -> GELU -> Linear on tokens (``conv=True``: 1x1x1 convs on the map)."""

    def __init__(self, dim: int, hidden: int, conv: bool = False) -> None:
        super().__init__()
        layer = (lambda i, o: nn.Conv3d(i, o, 1)) if conv else nn.Linear
        self.fc1, self.act, self.fc2 = layer(dim, hidden), nn.GELU(), layer(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head self-attention over all tokens (global MHRA)."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(_attend(q, k, v, mask).transpose(1, 2).reshape(b, n, c))


class CBlock(nn.Module):
    """Local MHRA: the token affinity is a learned 5x5x5 depthwise kernel (a
    conv), so the shallow stages mix neighbours only, at conv cost."""

    def __init__(self, dim: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        self.pos_embed = nn.Conv3d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.BatchNorm3d(dim)
        self.conv1 = nn.Conv3d(dim, dim, 1)
        self.attn = nn.Conv3d(dim, dim, 5, padding=2, groups=dim)
        self.conv2 = nn.Conv3d(dim, dim, 1)
        self.norm2 = nn.BatchNorm3d(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), conv=True)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.pos_embed(x)
        x = x + self.drop_path(self.conv2(self.attn(self.conv1(self.norm1(x)))))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SABlock(nn.Module):
    """Global MHRA: a pre-LN transformer block over the T x H x W tokens."""

    def __init__(
        self, dim: int, heads: int, mlp_ratio: float, qkv_bias: bool, drop_path: float
    ) -> None:
        super().__init__()
        self.pos_embed = nn.Conv3d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def tokens(self, x: Tensor) -> Tensor:
        """(B, C, T, H, W) -> (B, THW, C), after the position encoding."""
        x = x + self.pos_embed(x)
        return x.flatten(2).transpose(1, 2)

    def mix(self, z: Tensor) -> Tensor:
        """The transformer part on tokens (what TSNet sparsifies)."""
        z = z + self.drop_path(self.attn(self.norm1(z)))
        return z + self.drop_path(self.mlp(self.norm2(z)))

    def forward(self, x: Tensor) -> Tensor:
        b, c, t, h, w = x.shape
        z = self.mix(self.tokens(x))
        return z.transpose(1, 2).reshape(b, c, t, h, w)


class PatchEmbed(nn.Module):
    """A strided conv, then LayerNorm over channels. The stem's kernel is
    3x4x4 with temporal stride 2; later stages' 1x2x2."""

    def __init__(self, c_in: int, c_out: int, patch: int, temporal: bool) -> None:
        super().__init__()
        kt, st, pt = (3, 2, 1) if temporal else (1, 1, 0)
        self.proj = nn.Conv3d(c_in, c_out, (kt, patch, patch), (st, patch, patch), (pt, 0, 0))
        self.norm = nn.LayerNorm(c_out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(x)
        return self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)


class UniFormer(nn.Module):
    def __init__(self, cfg: UniFormerConfig, num_classes: int = 400) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dims
        dpr = torch.linspace(0, cfg.drop_path, sum(cfg.depths), device="cpu").tolist()
        starts = [sum(cfg.depths[:i]) for i in range(4)]
        self.patch_embed1 = PatchEmbed(3, d[0], 4, temporal=True)
        self.patch_embed2 = PatchEmbed(d[0], d[1], 2, temporal=False)
        self.patch_embed3 = PatchEmbed(d[1], d[2], 2, temporal=False)
        self.patch_embed4 = PatchEmbed(d[2], d[3], 2, temporal=False)
        for i in range(4):
            if i < 2:
                blocks = [CBlock(d[i], cfg.mlp_ratio, dpr[starts[i] + j])
                          for j in range(cfg.depths[i])]  # fmt: skip
            else:
                blocks = [self._make_sa_block(i, j, dpr[starts[i] + j])
                          for j in range(cfg.depths[i])]  # fmt: skip
            setattr(self, f"blocks{i + 1}", nn.ModuleList(blocks))
        self.norm = nn.BatchNorm3d(d[3])
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(d[3], num_classes)
        self.num_classes = num_classes
        self.apply(init_transformer)  # the reference init; convs keep the default

    def _make_sa_block(self, stage: int, j: int, drop_path: float) -> nn.Module:
        """Block ``j`` of attention stage ``stage`` (2 or 3, 0-based)."""
        dim = self.cfg.dims[stage]
        cfg = self.cfg
        return SABlock(dim, dim // cfg.head_dim, cfg.mlp_ratio, cfg.qkv_bias, drop_path)

    def stages(self) -> list[tuple[nn.Module, nn.ModuleList]]:
        """(patch embedding, blocks) of each of the four stages."""
        return [(getattr(self, f"patch_embed{i}"), getattr(self, f"blocks{i}"))
                for i in range(1, 5)]  # fmt: skip

    def forward_features(self, x: Tensor) -> Tensor:
        for embed, blocks in self.stages():
            x = embed(x)
            for blk in blocks:
                x = blk(x)
        return self.norm(x).mean(dim=(2, 3, 4))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.forward_features(x)))


@dataclass(frozen=True)
class TSNetUniFormerConfig(TSNetFields, UniFormerConfig):
    """UniFormer-S with TSNet in its attention stages (3 and 4: 8 + 3 blocks)."""

    def __post_init__(self) -> None:
        self.check_tsnet(self.depths[2:])


class TSNetSABlock(TSNetSparse, SABlock):
    """A global-MHRA block whose attention and FFN each run on the tokens their
    selector keeps; the DPE conv before them sees the whole map, which is why
    the dropped tokens are projected and put back in place, not removed."""

    def __init__(self, dim: int, heads: int, cfg: TSNetUniFormerConfig, drop_path: float,
                 ratios: tuple[float, float]) -> None:  # fmt: skip
        SABlock.__init__(self, dim, heads, cfg.mlp_ratio, cfg.qkv_bias, drop_path)
        self.add_selectors(dim, cfg, ratios)

    def mix(self, z: Tensor) -> Tensor:
        b = z.shape[0]
        a, policy = self.branch("attn", self.norm1(z), lambda h, m, _: self.attn(h, m), b)
        z = z + self.drop_path(a)
        f, _ = self.branch("mlp", self.norm2(z), lambda h, m, _: self.mlp(h), b, policy)
        return z + self.drop_path(f)


class TSNetUniFormer(TSNetModel, UniFormer):
    """UniFormer-S + TSNet. ``keep=1`` builds the dense model's blocks (no
    selectors), so it is UniFormer-S exactly, state dict included."""

    cfg: TSNetUniFormerConfig

    def __init__(self, cfg: TSNetUniFormerConfig, num_classes: int = 400) -> None:
        self._ratios = block_ratios(cfg, cfg.depths[2:])
        super().__init__(cfg, num_classes)
        for blk in self.tsnet_blocks():
            blk.zero_init()

    def _make_sa_block(self, stage: int, j: int, drop_path: float) -> nn.Module:
        ratios = self._ratios[sum(self.cfg.depths[2:stage]) + j]
        if ratios == (1.0, 1.0):
            return super()._make_sa_block(stage, j, drop_path)
        dim = self.cfg.dims[stage]
        return TSNetSABlock(dim, dim // self.cfg.head_dim, self.cfg, drop_path, ratios)


def load_reference_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """A state dict saved by the reference code (``{"model": ...}`` or
    ``{"model_state": ...}`` or bare) in this module's names: they are the
    same, so only the wrapper goes."""
    for key in ("model", "model_state", "state_dict"):
        if key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    return {k.removeprefix("module."): v for k, v in sd.items()}


# mobilevid.count at 1x3x16x224x224: see docs/models.md (UniFormer section).
@register_model(
    family="uniformer",
    input=InputSpec(frames=16, size=224, frame_stride=4),
    config=UniFormerConfig,
    adapt_state_dict=load_reference_state_dict,
    paper=PaperFigures(
        source="UniFormer (ICLR 2022), Table 1 (K400)",
        params_m=21.4,
        gmacs=41.8,
        top1=80.8,
        top5=94.7,
        note="16x224x224 (stride 4); GFLOPs per view, top-1 over 1 clip x 4 crops",
    ),
)
def uniformer_s(num_classes: int = 400, **overrides) -> UniFormer:
    return UniFormer(dataclasses.replace(UniFormerConfig(), **overrides), num_classes=num_classes)


# TSNet §4.2: 20 epochs (3 warm-up), AdamW, selectors at 1e-4 and the backbone at
# 0.01x, batch 8 (UniFormer-S) / 4 (VideoSwin-T).
TSNET_TRAIN = dict(epochs=20, warmup=0.15, lr=1e-4, batch_size=8)


@register_model(
    family="uniformer",
    input=InputSpec(frames=16, size=224, frame_stride=4),
    config=TSNetUniFormerConfig,
    adapt_state_dict=load_reference_state_dict,
    paper=PaperFigures(
        source="TSNet (Appl. Sci. 2023), Table 1 (K400)",
        gmacs=99.2 / 4,
        top1=79.5,
        top5=93.8,
        note="keep=0.5; 99.2 GFLOPs over 1 clip x 4 crops (-40%)",
    ),
    train_defaults=TSNET_TRAIN,
)
def tsnet_uniformer_s(num_classes: int = 400, **overrides) -> TSNetUniFormer:
    cfg = dataclasses.replace(TSNetUniFormerConfig(), **overrides)
    return TSNetUniFormer(cfg, num_classes=num_classes)

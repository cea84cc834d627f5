"""Video Swin Transformer, tiny: TSNet's windowed backbone.

Ze Liu et al., "Video Swin Transformer", CVPR 2022. https://arxiv.org/abs/2106.13230

Swin-T inflated to video: 2x4x4 patches embedded to 96 channels (LayerNorm),
four stages of depths 2/2/6/2 and 3/6/12/24 heads, self-attention inside 3D
windows of 8x7x7 tokens with a relative position bias, every second block on
windows shifted by half a window (cyclic roll plus a mask, so the windows
partition the clip exactly), a 2x2 patch merging between stages (channels x2).
A window larger than the map shrinks to it and stops shifting on that axis.
The head (mmaction's I3DHead) is a global mean, dropout and a linear layer.

Parameter names follow the reference (SwinTransformer3D in the Video Swin
repository's mmaction backbone, with ``cls_head.fc_cls`` as ``head``):
:func:`load_reference_state_dict` maps a released checkpoint onto this module.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mobilevid.errors import MobilevidError
from mobilevid.models._init import init_transformer
from mobilevid.models._registry import PaperFigures, register_model
from mobilevid.models.tsnet import TSNetFields, TSNetModel, TSNetSparse, block_ratios
from mobilevid.models.uniformer import TSNET_TRAIN, DropPath, Mlp
from mobilevid.spec import InputSpec

__all__ = [
    "SwinConfig",
    "TSNetSwinBlock",
    "TSNetSwinConfig",
    "TSNetVideoSwin",
    "VideoSwin",
    "load_reference_state_dict",
    "tsnet_videoswin_t",
    "videoswin_t",
]


@dataclass(frozen=True)
class SwinConfig:
    patch: tuple[int, int, int] = (2, 4, 4)
    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    heads: tuple[int, ...] = (3, 6, 12, 24)
    window: tuple[int, int, int] = (8, 7, 7)
    mlp_ratio: float = 4.0
    drop_path: float = 0.1
    dropout: float = 0.5  # the head's


def _fit(size: tuple[int, ...], window: tuple[int, ...], shift: tuple[int, ...]):
    """Window and shift for a map of ``size``: an axis no longer than its window
    takes the whole axis, unshifted (the reference's get_window_size)."""
    w = tuple(min(s, k) for s, k in zip(size, window, strict=True))
    sh = tuple(0 if s <= k else h for s, k, h in zip(size, window, shift, strict=True))
    return w, sh


def _partition(x: Tensor, w: tuple[int, int, int]) -> Tensor:
    """(B, D, H, W, C) -> (B * windows, Wd*Wh*Ww, C)."""
    b, d, h, wd, c = x.shape
    x = x.view(b, d // w[0], w[0], h // w[1], w[1], wd // w[2], w[2], c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, w[0] * w[1] * w[2], c)


def _merge(x: Tensor, w: tuple[int, int, int], b: int, d: int, h: int, wd: int) -> Tensor:
    """The inverse of :func:`_partition`."""
    x = x.view(b, d // w[0], h // w[1], wd // w[2], w[0], w[1], w[2], -1)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, d, h, wd, -1)


def region_ids(size: tuple[int, int, int], w: tuple[int, ...], sh: tuple[int, ...]) -> np.ndarray:
    """(windows, N) float32: for each token of each window of the shifted map, the
    region of the unshifted map it came from. Numpy, so an exported graph holds
    the result as a constant."""
    region = np.zeros(size, np.float32)
    n = 0
    cuts = [(slice(-k), slice(-k, -s), slice(-s, None)) if s else (slice(None),)
            for k, s in zip(w, sh, strict=True)]  # fmt: skip
    for a in cuts[0]:
        for b in cuts[1]:
            for c in cuts[2]:
                region[a, b, c] = n
                n += 1
    (d, h, wd), (w0, w1, w2) = size, w
    blocks = region.reshape(d // w0, w0, h // w1, w1, wd // w2, w2).transpose(0, 2, 4, 1, 3, 5)
    return blocks.reshape(-1, w0 * w1 * w2)


def shift_mask_np(
    size: tuple[int, int, int], w: tuple[int, ...], sh: tuple[int, ...]
) -> np.ndarray:
    """(windows, N, N) additive mask: -100 between tokens that the cyclic shift
    brought into one window from different regions of the map."""
    ids = region_ids(size, w, sh)
    return np.where(ids[:, None, :] != ids[:, :, None], -100.0, 0.0).astype(np.float32)


def _shift_mask(size: tuple[int, int, int], w: tuple[int, ...], sh: tuple[int, ...]) -> Tensor:
    return torch.tensor(shift_mask_np(size, w, sh))  # a constant in an exported graph


class WindowAttention3D(nn.Module):
    """Multi-head attention inside one window, plus a learned bias per head for
    each relative (dt, dy, dx) offset."""

    def __init__(self, dim: int, window: tuple[int, int, int], heads: int) -> None:
        super().__init__()
        self.heads = heads
        wd, wh, ww = window
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wd - 1) * (2 * wh - 1) * (2 * ww - 1), heads)
        )
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        grid = torch.stack(
            torch.meshgrid(torch.arange(wd), torch.arange(wh), torch.arange(ww), indexing="ij")
        ).flatten(1)  # (3, N)
        rel = (grid[:, :, None] - grid[:, None, :]).permute(1, 2, 0)  # (N, N, 3)
        rel = rel + torch.tensor([wd - 1, wh - 1, ww - 1])
        index = (rel[..., 0] * (2 * wh - 1) + rel[..., 1]) * (2 * ww - 1) + rel[..., 2]
        self.register_buffer("relative_position_index", index, persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def bias(self, n: int, mask: Tensor | None, windows: int) -> Tensor:
        """The additive bias of every window's full N x N attention: relative
        position (heads, N, N), plus the shift mask: (B*nW or 1, heads, N, N)."""
        idx = self.relative_position_index[:n, :n].reshape(-1)
        bias = self.relative_position_bias_table[idx].view(n, n, -1).permute(2, 0, 1)[None]
        if mask is not None:
            nw = mask.shape[0]
            bias = (bias + mask[:, None]).repeat(windows // nw, 1, 1, 1)
        return bias

    def forward(self, x: Tensor, mask: Tensor | None, keep: Tensor | None = None,
                kept: Tensor | None = None, n_full: int | None = None) -> Tensor:  # fmt: skip
        """Attention in each of the B*nW windows of x (B*nW, N, C). TSNet: ``keep``
        (B*nW, N) masks keys in training; ``kept`` (B*nW, k) says which of the
        window's ``n_full`` positions the k tokens of x are, for the bias."""
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # (B*nW, h, N, N)
        if kept is None:
            attn = attn + self.bias(n, mask, bw)
        else:  # the bias rows and columns of the kept positions
            full = self.bias(n_full, mask, bw).expand(bw, -1, -1, -1)
            rows = kept[:, None, :, None].expand(-1, self.heads, -1, n_full)
            cols = kept[:, None, None, :].expand(-1, self.heads, n, -1)
            attn = attn + full.gather(2, rows).gather(3, cols)
        attn = attn.softmax(dim=-1)
        if keep is not None:
            attn = attn * keep[:, None, None, :]
            attn = attn / (attn.sum(dim=-1, keepdim=True) + 1e-6)
        return self.proj((attn @ v).transpose(1, 2).reshape(bw, n, c))


class SwinBlock3D(nn.Module):
    """Pre-LN (shifted-)window attention and MLP on a (B, D, H, W, C) map."""

    def __init__(self, dim: int, heads: int, window, shift, mlp_ratio: float, drop_path: float):
        super().__init__()
        self.window, self.shift = tuple(window), tuple(shift)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3D(dim, self.window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def attend(self, x: Tensor) -> Tensor:
        """The windowed attention branch (what TSNet sparsifies, per window)."""
        b, d, h, wd, _ = x.shape
        w, sh = _fit((d, h, wd), self.window, self.shift)
        x = self.norm1(x)
        pads = [(k - s % k) % k for s, k in zip((d, h, wd), w, strict=True)]
        x = F.pad(x, (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
        size = (d + pads[0], h + pads[1], wd + pads[2])
        mask = None
        if any(sh):
            x = torch.roll(x, shifts=tuple(-s for s in sh), dims=(1, 2, 3))
            mask = _shift_mask(size, w, sh).to(x.dtype).to(x.device)
        y = _merge(self.window_attention(_partition(x, w), mask, b), w, b, *size)
        if any(sh):
            y = torch.roll(y, shifts=sh, dims=(1, 2, 3))
        return y[:, :d, :h, :wd]

    def window_attention(self, xw: Tensor, mask: Tensor | None, batch: int) -> Tensor:
        return self.attn(xw, mask)

    def ffn(self, x: Tensor) -> Tensor:
        return self.mlp(self.norm2(x))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attend(x))
        return x + self.drop_path(self.ffn(x))


class PatchMerging(nn.Module):
    """2x2 neighbours concatenated (4C), LayerNorm, linear to 2C."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[2], x.shape[3]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat(
            [x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]],
            dim=-1,
        )
        return self.reduction(self.norm(x))


class BasicLayer(nn.Module):
    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        cfg: SwinConfig,
        dpr: list[float],
        downsample: bool,
        ratios: list[tuple[float, float]] | None = None,
    ) -> None:
        super().__init__()
        shift = tuple(k // 2 for k in cfg.window)
        blocks = []
        for i in range(depth):
            args = (dim, heads, cfg.window, (0, 0, 0) if i % 2 == 0 else shift, cfg.mlp_ratio,
                    dpr[i])  # fmt: skip
            if ratios is None or ratios[i] == (1.0, 1.0):
                blocks.append(SwinBlock3D(*args))
            else:
                blocks.append(TSNetSwinBlock(*args, cfg=cfg, ratios=ratios[i]))
        self.blocks = nn.ModuleList(blocks)
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: Tensor) -> Tensor:
        for blk in self.blocks:
            x = blk(x)
        return self.downsample(x) if self.downsample is not None else x


class PatchEmbed3D(nn.Module):
    def __init__(self, patch: tuple[int, int, int], dim: int) -> None:
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv3d(3, dim, patch, patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> (B, T/2, H/4, W/4, C), padded to whole patches."""
        t, h, w = x.shape[2:]
        pt, ph, pw = ((k - s % k) % k for s, k in zip((t, h, w), self.patch, strict=True))
        x = self.proj(F.pad(x, (0, pw, 0, ph, 0, pt)))
        return self.norm(x.permute(0, 2, 3, 4, 1))


class VideoSwin(nn.Module):
    def __init__(self, cfg: SwinConfig, num_classes: int = 400,
                 ratios: list[tuple[float, float]] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed3D(cfg.patch, cfg.embed_dim)
        dpr = torch.linspace(0, cfg.drop_path, sum(cfg.depths), device="cpu").tolist()
        self.layers = nn.ModuleList()
        for i, (depth, heads) in enumerate(zip(cfg.depths, cfg.heads, strict=True)):
            start, last = sum(cfg.depths[:i]), i == len(cfg.depths) - 1
            rates = dpr[start : start + depth]
            sub = None if ratios is None else ratios[start : start + depth]
            self.layers.append(
                BasicLayer(cfg.embed_dim * 2**i, depth, heads, cfg, rates, not last, sub)
            )
        self.num_features = cfg.embed_dim * 2 ** (len(cfg.depths) - 1)
        self.norm = nn.LayerNorm(self.num_features)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.num_features, num_classes)
        self.num_classes = num_classes
        self.apply(init_transformer)
        nn.init.normal_(self.head.weight, std=0.01)  # I3DHead's init

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x).mean(dim=(1, 2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.forward_features(x)))


@dataclass(frozen=True)
class TSNetSwinConfig(TSNetFields, SwinConfig):
    """Video Swin-T with TSNet in the blocks of ``sparse_stages`` (1-based): the
    attention selects per window, the FFN over the clip. The default, stages
    1-3 (2 + 2 + 6 blocks) with the last stage dense, is the placement whose
    count gives Table 2's rows (869.8 / 623.3 / 480.0 GFLOPs at 3 x 4 views
    against 871.9 / 628.1 / 484.8); all four stages would cut 19.9 / 46.9 /
    62.8% instead of 17.4 / 40.5 / 54% (docs/models.md). ``stage_keep`` holds
    (R1, R2) for each sparsified stage."""

    sparse_stages: tuple[int, ...] = (1, 2, 3)

    def sparse_depths(self) -> tuple[int, ...]:
        return tuple(self.depths[s - 1] for s in self.sparse_stages)

    def all_ratios(self) -> list[tuple[float, float]]:
        """(MSA, FFN) ratio of every block of the network, 1 outside the sparse stages."""
        sparse = iter(block_ratios(self, self.sparse_depths()))
        return [next(sparse) if s + 1 in self.sparse_stages else (1.0, 1.0)
                for s, d in enumerate(self.depths) for _ in range(d)]  # fmt: skip

    def __post_init__(self) -> None:
        stages = self.sparse_stages
        if not isinstance(stages, tuple):
            object.__setattr__(self, "sparse_stages", stages := tuple(stages))
        if (
            not stages
            or sorted(set(stages)) != list(stages)
            or not all(isinstance(s, int) and 1 <= s <= len(self.depths) for s in stages)
        ):
            raise MobilevidError(
                f"sparse_stages lists stages 1..{len(self.depths)} in order, got {stages}"
            )
        if self.policy == "shared":
            raise MobilevidError(
                "policy=shared is a UniFormer-S ablation: Swin's attention selects per "
                "shifted window and its FFN over the map, so one policy cannot serve both"
            )
        self.check_tsnet(self.sparse_depths())


class TSNetSwinBlock(TSNetSparse, SwinBlock3D):
    """A (shifted-)window block with TSNet: inside every window the selector
    keeps round(R1·N) tokens for attention (the kept pairs keep their relative
    position bias and shift mask), the rest are projected; the windows are then
    merged and un-shifted with every token at its place. The FFN keeps
    round(R2·L) of the clip's L tokens."""

    def __init__(self, *args, cfg: TSNetSwinConfig, ratios: tuple[float, float]) -> None:
        SwinBlock3D.__init__(self, *args)
        self.add_selectors(self.norm1.normalized_shape[0], cfg, ratios)

    def window_attention(self, xw: Tensor, mask: Tensor | None, batch: int) -> Tensor:
        n = xw.shape[1]
        return self.branch("attn", xw, lambda h, m, kept: self.attn(h, mask, m, kept, n), batch)[0]

    def ffn(self, x: Tensor) -> Tensor:
        b, d, h, w, c = x.shape
        z = self.norm2(x).reshape(b, d * h * w, c)
        return self.branch("mlp", z, lambda t, m, _: self.mlp(t), b)[0].reshape(b, d, h, w, c)


class TSNetVideoSwin(TSNetModel, VideoSwin):
    """Video Swin-T + TSNet; ``keep=1`` is Video Swin-T exactly."""

    cfg: TSNetSwinConfig

    def __init__(self, cfg: TSNetSwinConfig, num_classes: int = 400) -> None:
        super().__init__(cfg, num_classes, ratios=cfg.all_ratios())
        for blk in self.tsnet_blocks():
            blk.zero_init()


def load_reference_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """An mmaction checkpoint of the reference (``{"state_dict": {"backbone.…",
    "cls_head.fc_cls.…"}}``) in this module's names; the relative position
    indices are rebuilt here, not loaded."""
    for key in ("state_dict", "model"):
        if key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    out = {}
    for k, v in sd.items():
        k = k.removeprefix("module.")
        if k.endswith("relative_position_index") or k.endswith("attn_mask"):
            continue
        if k.startswith("cls_head.fc_cls."):
            k = "head." + k.removeprefix("cls_head.fc_cls.")
        out[k.removeprefix("backbone.")] = v
    return out


# mobilevid.count at 1x3x32x224x224: see docs/models.md (Video Swin section).
@register_model(
    family="swin",
    input=InputSpec(frames=32, size=224, frame_stride=2),
    config=SwinConfig,
    adapt_state_dict=load_reference_state_dict,
    paper=PaperFigures(
        source="Video Swin Transformer (CVPR 2022), Table 1 (K400)",
        params_m=28.2,
        gmacs=88.0,
        top1=78.8,
        top5=93.6,
        note="32x224x224 (stride 2); GFLOPs per view, top-1 over 4 clips x 3 crops",
    ),
)
def videoswin_t(num_classes: int = 400, **overrides) -> VideoSwin:
    return VideoSwin(dataclasses.replace(SwinConfig(), **overrides), num_classes=num_classes)


@register_model(
    family="swin",
    input=InputSpec(frames=32, size=224, frame_stride=2),
    config=TSNetSwinConfig,
    adapt_state_dict=load_reference_state_dict,
    paper=PaperFigures(
        source="TSNet (Appl. Sci. 2023), Table 2 (K400)",
        gmacs=628.1 / 12,
        top1=77.0,
        top5=91.4,
        note="keep=0.5; 628.1 GFLOPs over 3 clips x 4 crops (-40.5%)",
    ),
    train_defaults={**TSNET_TRAIN, "batch_size": 4},
)
def tsnet_videoswin_t(num_classes: int = 400, **overrides) -> TSNetVideoSwin:
    cfg = dataclasses.replace(TSNetSwinConfig(), **overrides)
    return TSNetVideoSwin(cfg, num_classes=num_classes)

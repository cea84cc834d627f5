"""Video Mobile-Former and its Mobile3D baselines.

Paper: "Video Mobile-Former: Video Recognition with Efficient Global
Spatial-temporal Modeling", Wang et al., arXiv 2208.12257. No code was published;
this layout extends the image Mobile-Former (Chen et al., CVPR 2022) as the paper
describes, and the open choices were settled by counting against Table 1 (see
docs/models.md for every decision and the residual deviations).

A block runs four pieces in parallel-branch order:

    tokens  z (B, M, d) -- Mobile->Former --> Former --+---------------> z'
                               ^ (reads block input)   |  token 0
    local   x (B, C, T, H, W) -+-> Mobile (pw, dw3d, pw, frame DY-ReLU) -> Former->Mobile -> x'

Mobile3D is the same network with the Former branch and both bridges removed,
and plain ReLU in place of the token-driven dynamic ReLU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from mobilevid.errors import MobilevidError
from mobilevid.models._registry import PaperFigures, register_model
from mobilevid.spec import InputSpec

__all__ = [
    "DynamicReLU",
    "Former",
    "FormerToMobile",
    "MobileBlock",
    "MobileFormerBlock",
    "MobileToFormer",
    "VMFConfig",
    "VideoMobileFormer",
    "ABLATIONS",
    "Ablation",
]

ACTIVATIONS = ("relu", "dyrelu", "frame_dyrelu")
DW_CONVS = ("3d", "2+1d", "2d")
TEMPORAL_DOWNSAMPLE = ("stem", "stages")
TOKEN_SCOPES = ("video", "frame")


# --------------------------------------------------------------------------- blocks
def _bn(c: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(c)


class DynamicReLU(nn.Module):
    """DY-ReLU-B with two slopes per channel and no intercepts (Mobile-Former):
    y = max(a1 * x, a2 * x), a = (1, 0) + lambda * (2 * hsigmoid(mlp) - 1).

    ``frame_level`` is the paper's change for video: the MLP input is the
    frame's average-pooled feature concatenated with token 0, so every frame
    gets its own slopes; otherwise token 0 alone gives one set for the clip.
    The init (1, 0) makes a fresh block start as a ReLU.
    """

    def __init__(
        self, channels: int, token_dim: int, reduction: int, frame_level: bool,
        per_frame_tokens: bool = False,
    ):  # fmt: skip
        super().__init__()
        self.channels, self.frame_level = channels, frame_level
        self.per_frame_tokens = per_frame_tokens
        in_dim = token_dim + (channels if frame_level else 0)
        hidden = max(8, in_dim // reduction)
        self.fc1 = nn.Linear(in_dim, hidden)
        self.fc2 = nn.Linear(hidden, 2 * channels)
        self.register_buffer("init", torch.tensor([1.0, 0.0]).view(2, 1), persistent=False)
        self.lambda_a = 1.0

    def forward(self, x: torch.Tensor, token0: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape[:3]
        # token 0 of the clip (B, d), or of each frame (B*T, d) with per-frame tokens
        tok = token0.view(b, t, -1) if self.per_frame_tokens else token0.unsqueeze(1)
        if self.frame_level:
            pooled = x.mean(dim=(3, 4)).transpose(1, 2)  # (B, T, C)
            ctx = torch.cat([pooled, tok.expand(b, t, -1)], dim=-1)
        else:
            ctx = tok  # (B, 1, d): one set of slopes for all frames (per frame: (B, T, d))
        coef = self.fc2(F.relu(self.fc1(ctx)))  # (B, T|1, 2C)
        coef = 2.0 * F.hardsigmoid(coef) - 1.0
        coef = coef.view(b, -1, 2, c).permute(2, 0, 3, 1)  # (2, B, C, T|1)
        coef = self.init.view(2, 1, 1, 1) + self.lambda_a * coef
        a1, a2 = coef[0][..., None, None], coef[1][..., None, None]  # (B, C, T|1, 1, 1)
        return torch.maximum(x * a1, x * a2)


class MobileBlock(nn.Module):
    """Inverted bottleneck of the mobile regime (X3D): pointwise expand,
    depthwise k x 3 x 3, pointwise project, BN after each conv.

    The spatial (and, for temporal downsampling at every stage, temporal) stride
    sits in the depthwise conv, as in MobileNetV2/X3D.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        hidden: int,
        stride: tuple[int, int, int],
        dw_conv: str,
        activation: str,
        token_dim: int,
        dy_reduction: int,
        per_frame_tokens: bool = False,
    ):
        super().__init__()
        st, ss = stride[0], stride[1]
        self.pw1 = nn.Conv3d(c_in, hidden, 1, bias=False)
        self.bn1 = _bn(hidden)
        if dw_conv == "3d":
            dw: list[nn.Module] = [
                nn.Conv3d(hidden, hidden, 3, (st, ss, ss), 1, groups=hidden, bias=False)
            ]
        elif dw_conv == "2+1d":
            dw = [
                nn.Conv3d(
                    hidden, hidden, (1, 3, 3), (1, ss, ss), (0, 1, 1), groups=hidden, bias=False
                ),
                nn.Conv3d(
                    hidden, hidden, (3, 1, 1), (st, 1, 1), (1, 0, 0), groups=hidden, bias=False
                ),
            ]
        else:  # "2d": no temporal mixing inside the block
            dw = [
                nn.Conv3d(
                    hidden, hidden, (1, 3, 3), (st, ss, ss), (0, 1, 1), groups=hidden, bias=False
                )
            ]
        self.dw = nn.Sequential(*dw)
        self.bn2 = _bn(hidden)
        self.pw2 = nn.Conv3d(hidden, c_out, 1, bias=False)
        self.bn3 = _bn(c_out)
        self.use_res = stride == (1, 1, 1) and c_in == c_out
        if activation == "relu":
            self.act1: nn.Module | None = None
            self.act2: nn.Module | None = None
        else:
            frame = activation == "frame_dyrelu"
            self.act1 = DynamicReLU(hidden, token_dim, dy_reduction, frame, per_frame_tokens)
            self.act2 = DynamicReLU(hidden, token_dim, dy_reduction, frame, per_frame_tokens)

    def _act(self, act: nn.Module | None, x: torch.Tensor, token0: torch.Tensor | None):
        return F.relu(x) if act is None else act(x, token0)

    def forward(self, x: torch.Tensor, token0: torch.Tensor | None = None) -> torch.Tensor:
        y = self._act(self.act1, self.bn1(self.pw1(x)), token0)
        y = self._act(self.act2, self.bn2(self.dw(y)), token0)
        y = self.bn3(self.pw2(y))
        return x + y if self.use_res else y


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Plain softmax attention written as matmuls, (B, h, N, c) -> (B, h, N, c).

    Not F.scaled_dot_product_attention: FlopCounterMode counts 0 for the fused
    CPU kernel, and bmm/softmax lower to ops every target takes."""
    attn = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
    return attn.softmax(dim=-1) @ v


def _per_frame(x: torch.Tensor) -> torch.Tensor:
    """The clip (B, C, T, H, W) as T one-frame clips (B*T, C, 1, H, W), for
    per-frame tokens (Table 6's M x T' variant: z has B*T rows).

    Chosen by a constructor flag, never by comparing shapes: a shape test is a
    Python `if` on a traced value, which FX symbolic tracing (Core ML's QAT)
    refuses."""
    b, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(b * t, c, 1, h, w)


class MobileToFormer(nn.Module):
    """Tokens query the local map. Only the token side is projected (d -> C for the
    query, C -> d for the output); keys and values are the raw local features,
    which is what keeps the bridge cheap on T'*H*W positions."""

    def __init__(self, channels: int, token_dim: int, heads: int = 2, per_frame: bool = False):
        super().__init__()
        self.heads, self.per_frame = heads, per_frame
        self.q = nn.Linear(token_dim, channels)
        self.proj = nn.Linear(channels, token_dim)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.per_frame:  # per-frame tokens read their own frame
            x = _per_frame(x)
        b, c = x.shape[:2]
        h = self.heads
        kv = x.flatten(2).view(b, h, c // h, -1).transpose(-2, -1)  # (B, h, L, C/h)
        q = self.q(z).view(b, -1, h, c // h).transpose(1, 2)  # (B, h, M, C/h)
        out = _attend(q, kv, kv).transpose(1, 2).reshape(b, -1, c)  # (B, M, C)
        return z + self.proj(out)


class FormerToMobile(nn.Module):
    """The local map queries the tokens; key and value projections d -> C on the
    token side only, the result is added to the Mobile output."""

    def __init__(self, channels: int, token_dim: int, heads: int = 2, per_frame: bool = False):
        super().__init__()
        self.heads, self.per_frame = heads, per_frame
        self.k = nn.Linear(token_dim, channels)
        self.v = nn.Linear(token_dim, channels)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        clip = x
        if self.per_frame:  # each frame reads its own tokens
            x = _per_frame(x)
        b, c = x.shape[:2]
        h = self.heads
        q = x.flatten(2).view(b, h, c // h, -1).transpose(-2, -1)  # (B, h, L, C/h)
        k = self.k(z).view(b, -1, h, c // h).transpose(1, 2)  # (B, h, M, C/h)
        v = self.v(z).view(b, -1, h, c // h).transpose(1, 2)
        out = _attend(q, k, v).transpose(-2, -1).reshape(x.shape)  # (B, C, T, H, W)
        if self.per_frame:  # back to the clip's layout
            bt, _, _, hh, ww = out.shape
            out = out.view(clip.shape[0], bt // clip.shape[0], c, hh, ww).transpose(1, 2)
        return clip + out


class Former(nn.Module):
    """Self-attention over the M global tokens of the whole clip, post-LN.
    As in Mobile-Former only the query is projected (k = v = tokens)."""

    def __init__(self, dim: int, heads: int = 4, ffn_ratio: int = 2):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, dim * ffn_ratio), nn.GELU(), nn.Linear(dim * ffn_ratio, dim)
        )
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, m, d = z.shape
        h = self.heads
        q = self.q(z).view(b, m, h, d // h).transpose(1, 2)  # (B, h, M, d/h)
        kv = z.view(b, m, h, d // h).transpose(1, 2)
        z = self.norm1(z + self.proj(_attend(q, kv, kv).transpose(1, 2).reshape(b, m, d)))
        return self.norm2(z + self.ffn(z))


class MobileFormerBlock(nn.Module):
    def __init__(
        self, mobile: MobileBlock, c_in: int, c_out: int, token_dim: int, former: bool,
        per_frame: bool = False,
    ):  # fmt: skip
        super().__init__()
        self.mobile = mobile
        if former:
            self.mobile_to_former = MobileToFormer(c_in, token_dim, per_frame=per_frame)
            self.former = Former(token_dim)
            self.former_to_mobile = FormerToMobile(c_out, token_dim, per_frame=per_frame)
        self.has_former = former

    def forward(
        self, x: torch.Tensor, z: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not self.has_former:
            return self.mobile(x), z
        z = self.former(self.mobile_to_former(x, z))
        x = self.former_to_mobile(self.mobile(x, z[:, 0]), z)
        return x, z


class Stem(nn.Module):
    """(2+1)D stem: a 1x3x3 conv on every input frame, then a depthwise temporal
    conv whose stride s does the large temporal downsampling (Table 1, "temporal
    stride"), then a lightweight bottleneck (dw 3x3 + pw) as in Mobile-Former.

    The spatial conv runs on all T input frames: only that layout reproduces the
    paper's 560M / 1G FLOPs ratio (docs/models.md)."""

    def __init__(self, c: int, temporal_stride: int):
        super().__init__()
        s = temporal_stride
        self.conv = nn.Conv3d(3, c, (1, 3, 3), (1, 2, 2), (0, 1, 1), bias=False)
        self.bn1 = _bn(c)
        # kernel s (>= 3) stride s: each output frame sees exactly its own s input frames
        kt = max(3, s)
        self.temporal = nn.Conv3d(
            c, c, (kt, 1, 1), (s, 1, 1), ((kt - s + 1) // 2, 0, 0), groups=c, bias=False
        )
        self.bn2 = _bn(c)
        self.dw = nn.Conv3d(c, c, (1, 3, 3), 1, (0, 1, 1), groups=c, bias=False)
        self.bn3 = _bn(c)
        self.pw = nn.Conv3d(c, c, 1, bias=False)
        self.bn4 = _bn(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv(x)))  # (B, C, T, H/2, W/2)
        x = F.relu(self.bn2(self.temporal(x)))  # (B, C, T/s, H/2, W/2)
        x = F.relu(self.bn3(self.dw(x)))
        return x + self.bn4(self.pw(x))


class Head(nn.Module):
    """Mobile-Former head: 1x1 conv to ``conv_ratio`` x C, global mean pool, concat
    token 0, Linear -> BN1d -> h-swish -> dropout -> classifier."""

    def __init__(self, c: int, cfg: VMFConfig, num_classes: int):
        super().__init__()
        c_head = c * cfg.head_conv_ratio
        self.conv = nn.Conv3d(c, c_head, 1, bias=False)
        self.bn = _bn(c_head)
        in_fc = c_head + (cfg.token_dim if cfg.former else 0)
        self.fc = nn.Linear(in_fc, cfg.head_hidden)
        self.bn_fc = nn.BatchNorm1d(cfg.head_hidden)
        self.drop = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.head_hidden, num_classes)
        self.per_frame = cfg.token_scope == "frame"

    def forward(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        x = F.hardswish(self.bn(self.conv(x))).mean(dim=(2, 3, 4))  # (B, 6C)
        if z is not None:
            z0 = z[:, 0]
            if self.per_frame:  # per-frame tokens: token 0 averaged over frames
                z0 = z0.view(x.shape[0], -1, z0.shape[-1]).mean(dim=1)
            x = torch.cat([x, z0], dim=1)
        x = F.hardswish(self.bn_fc(self.fc(x)))
        return self.classifier(self.drop(x))


# --------------------------------------------------------------------------- model
@dataclass(frozen=True)
class VMFConfig:
    """One row of Table 1 (or Table 2), plus the ablation knobs of Tables 6-11."""

    blocks: tuple[int, ...] = (1, 2, 3, 2)
    base_dim: int = 16
    expansion: float = 2.25
    stem_temporal_stride: int = 4
    num_tokens: int = 6  # Table 6
    token_scope: str = "video"  # Table 6: "video" (M global tokens) or "frame" (M per frame)
    token_dim: int = 128
    former: bool = True  # False: Mobile3D (Table 2)
    temporal_downsample: str = "stem"  # Table 8: "stem" or "stages"
    dw_conv: str = "3d"  # Table 10: "3d", "2+1d", "2d"
    activation: str = "frame_dyrelu"  # Table 11: "relu", "dyrelu", "frame_dyrelu"
    stage_widths: tuple[int, ...] = (1, 2, 4, 8)  # stage width = base_dim x this
    dy_reduction: int = 4
    head_conv_ratio: int = 6
    head_hidden: int = 2048  # params match Table 1 with 2048 (image MF: 1280-1920)
    dropout: float = 0.2

    def validate(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise MobilevidError(
                f"activation must be one of {ACTIVATIONS}, got {self.activation!r}"
            )
        if self.dw_conv not in DW_CONVS:
            raise MobilevidError(f"dw_conv must be one of {DW_CONVS}, got {self.dw_conv!r}")
        if self.temporal_downsample not in TEMPORAL_DOWNSAMPLE:
            raise MobilevidError(
                f"temporal_downsample must be one of {TEMPORAL_DOWNSAMPLE}, "
                f"got {self.temporal_downsample!r}"
            )
        s = self.stem_temporal_stride
        if s < 1 or s & (s - 1):
            raise MobilevidError(f"stem_temporal_stride must be a power of two, got {s}")
        if self.temporal_downsample == "stages" and s > 2 ** len(self.blocks):
            raise MobilevidError(
                f"cannot spread temporal stride {s} over {len(self.blocks)} stages"
            )
        if self.token_scope not in TOKEN_SCOPES:
            raise MobilevidError(
                f"token_scope must be one of {TOKEN_SCOPES}, got {self.token_scope!r}"
            )
        if self.token_scope == "frame" and self.temporal_downsample != "stem":
            raise MobilevidError(
                "token_scope='frame' needs temporal_downsample='stem' (frames fixed after the stem)"
            )
        if self.num_tokens < 1 and self.former:
            raise MobilevidError("num_tokens must be >= 1")
        if not self.former and self.activation != "relu":
            raise MobilevidError("Mobile3D (former=False) has no tokens: use activation='relu'")
        if len(self.stage_widths) != len(self.blocks):
            raise MobilevidError("stage_widths and blocks must have the same length")


class VideoMobileFormer(nn.Module):
    def __init__(self, cfg: VMFConfig, num_classes: int = 400):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        c = cfg.base_dim
        stages_t = cfg.temporal_downsample == "stages"
        # "stages": no temporal stride at the stem; stride 2 in the first log2(s) stages
        n_halvings = int(math.log2(cfg.stem_temporal_stride))
        per_frame = cfg.token_scope == "frame"
        self.stem = Stem(c, 1 if stages_t else cfg.stem_temporal_stride)
        if cfg.former:
            self.tokens = nn.Parameter(torch.randn(1, cfg.num_tokens, cfg.token_dim) * 0.02)
        blocks = []
        c_in = c
        for i, (n, w) in enumerate(zip(cfg.blocks, cfg.stage_widths, strict=True)):
            c_out = c * w
            hidden = round(c_out * cfg.expansion)
            for j in range(n):
                st = 2 if (stages_t and j == 0 and i < n_halvings) else 1
                stride = (st, 2, 2) if j == 0 else (1, 1, 1)
                mobile = MobileBlock(
                    c_in, c_out, hidden, stride, cfg.dw_conv, cfg.activation,
                    cfg.token_dim, cfg.dy_reduction, per_frame,
                )  # fmt: skip
                blocks.append(
                    MobileFormerBlock(mobile, c_in, c_out, cfg.token_dim, cfg.former, per_frame)
                )
                c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = Head(c_in, cfg, num_classes)
        self.num_classes = num_classes
        self._init_weights()

    def _init_weights(self) -> None:
        """Deterministic under torch.manual_seed: kaiming for convs (fan_out, as in
        torchvision's MobileNets), truncated normal 0.02 for linears (as in ViTs),
        and a near-zero last DY-ReLU layer so every block starts close to a ReLU.
        Not exactly zero: an all-zero weight has zero per-channel scales, which
        weight quantizers (Core ML's among them) divide by."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm3d, nn.BatchNorm1d, nn.LayerNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, DynamicReLU):
                nn.init.trunc_normal_(m.fc2.weight, std=1e-3)
                nn.init.zeros_(m.fc2.bias)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        # (skipped under FX symbolic tracing, which Core ML's QAT uses: a traced
        # shape cannot decide a Python `if`)
        if not torch.fx._symbolic_trace.is_fx_symbolic_tracing() and (
            x.dim() != 5 or x.shape[1] != 3
        ):
            raise MobilevidError(f"expected a clip (B, 3, T, H, W), got shape {tuple(x.shape)}")
        x = self.stem(x)
        z = None
        if self.cfg.former:  # per frame: the same M learned tokens start every frame
            rows = x.shape[0] * (x.shape[2] if self.cfg.token_scope == "frame" else 1)
            z = self.tokens.expand(rows, -1, -1)
        for blk in self.blocks:
            x, z = blk(x, z)
        return x, z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(*self.forward_features(x))


def _create_vmf(cfg: VMFConfig, num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return VideoMobileFormer(replace(cfg, **overrides), num_classes=num_classes)


# --------------------------------------------------------------------------- configs
_SRC = "Video Mobile-Former (arXiv 2208.12257)"
_IN172 = InputSpec(frames=64, size=172)
_IN224 = InputSpec(frames=64, size=224)

VMF_560M = VMFConfig(blocks=(1, 2, 3, 2), base_dim=16, expansion=2.25, stem_temporal_stride=8)
VMF_1G = VMFConfig(blocks=(1, 2, 3, 2), base_dim=16, expansion=2.25, stem_temporal_stride=4)
# Table 1 says expansion 2.25 for 2G, which counts to 2.12 GMACs / 4.8M params; 3.0
# matches the table's 2.61 / 6.9M (docs/models.md, "VMF-2G").
VMF_2G = VMFConfig(blocks=(1, 2, 4, 2), base_dim=20, expansion=3.0, stem_temporal_stride=4)
VMF_5G = VMFConfig(blocks=(1, 2, 12, 4), base_dim=24, expansion=3.0, stem_temporal_stride=4)


def _mobile3d(cfg: VMFConfig) -> VMFConfig:
    return replace(cfg, former=False, activation="relu")


# ------------------------------------------------------------------- public builders
@register_model(
    family="vmf", input=_IN172, config=VMFConfig, aliases=("560m",),
    paper=PaperFigures(_SRC + ", Table 1/3", params_m=4.7, gmacs=0.56, top1=62.6),
)  # fmt: skip
def vmf_560m(num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return _create_vmf(VMF_560M, num_classes, **overrides)


@register_model(
    family="vmf", input=_IN224, config=VMFConfig, aliases=("1g",),
    paper=PaperFigures(_SRC + ", Table 1/3", params_m=4.7, gmacs=1.43, top1=67.4, top5=87.4),
)  # fmt: skip
def vmf_1g(num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return _create_vmf(VMF_1G, num_classes, **overrides)


@register_model(
    family="vmf", input=_IN224, config=VMFConfig, aliases=("2g",),
    paper=PaperFigures(_SRC + ", Table 1/3", params_m=6.9, gmacs=2.61, top1=71.1, top5=89.3),
)  # fmt: skip
def vmf_2g(num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return _create_vmf(VMF_2G, num_classes, **overrides)


@register_model(
    family="vmf", input=_IN224, config=VMFConfig, aliases=("5g",),
    paper=PaperFigures(_SRC + ", Table 1/3", params_m=13.8, gmacs=5.61, top1=72.9, top5=90.0),
)  # fmt: skip
def vmf_5g(num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return _create_vmf(VMF_5G, num_classes, **overrides)


# Table 2: Mobile3D = VMF without Former and bridges. The paper does not give the
# wider/deeper layouts; widths (base_dim) and stage-3 depth were chosen to land on
# the table's GFLOPs (docs/models.md).
_M3D = dict(family="mobile3d", input=_IN224, config=VMFConfig)


def _m3d_paper(gmacs: float, top1: float, top5: float) -> PaperFigures:
    return PaperFigures(_SRC + ", Table 2", gmacs=gmacs, top1=top1, top5=top5)


@register_model(**_M3D, paper=_m3d_paper(1.26, 60.9, 83.7))
def mobile3d_1g(num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return _create_vmf(_mobile3d(VMF_1G), num_classes, **overrides)


@register_model(**_M3D, paper=_m3d_paper(2.18, 65.1, 86.7))
def mobile3d_1g_wider(num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return _create_vmf(replace(_mobile3d(VMF_1G), base_dim=22), num_classes, **overrides)


@register_model(**_M3D, paper=_m3d_paper(1.66, 65.9, 86.8))
def mobile3d_1g_deeper(num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return _create_vmf(replace(_mobile3d(VMF_1G), blocks=(1, 2, 8, 2)), num_classes, **overrides)


@register_model(**_M3D, paper=_m3d_paper(2.33, 66.6, 87.2))
def mobile3d_2g(num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return _create_vmf(_mobile3d(VMF_2G), num_classes, **overrides)


@register_model(**_M3D, paper=_m3d_paper(3.89, 68.7, 88.6))
def mobile3d_2g_wider(num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return _create_vmf(replace(_mobile3d(VMF_2G), base_dim=26), num_classes, **overrides)


@register_model(**_M3D, paper=_m3d_paper(2.93, 68.1, 88.4))
def mobile3d_2g_deeper(num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return _create_vmf(replace(_mobile3d(VMF_2G), blocks=(1, 2, 8, 2)), num_classes, **overrides)


@register_model(**_M3D, paper=_m3d_paper(5.21, 70.8, 89.8))
def mobile3d_5g(num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return _create_vmf(_mobile3d(VMF_5G), num_classes, **overrides)


@register_model(**_M3D, paper=_m3d_paper(8.36, 71.3, 89.9))
def mobile3d_5g_wider(num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return _create_vmf(replace(_mobile3d(VMF_5G), base_dim=31), num_classes, **overrides)


@register_model(**_M3D, paper=_m3d_paper(6.30, 72.0, 90.3))
def mobile3d_5g_deeper(num_classes: int = 400, **overrides) -> VideoMobileFormer:
    return _create_vmf(replace(_mobile3d(VMF_5G), blocks=(1, 2, 17, 4)), num_classes, **overrides)


# ------------------------------------------------------------------------ ablations
@dataclass(frozen=True)
class Ablation:
    """One row of the paper's ablation tables, as a registered model plus overrides,
    so ``mobilevid profile --ablations`` can recount it."""

    table: str
    label: str
    model: str
    overrides: tuple[tuple[str, object], ...]
    paper_gmacs: float | None
    paper_top1: float | None


def _abl(table: str, label: str, model: str, gmacs: float | None, top1: float | None, **kw):
    return Ablation(table, label, model, tuple(kw.items()), gmacs, top1)


ABLATIONS: tuple[Ablation, ...] = (
    *(
        _abl("6", f"{m} tokens", "vmf-2g", g, t, num_tokens=m)
        for m, g, t in ((2, 2.51, 70.3), (4, 2.56, 70.8), (6, 2.61, 71.1), (8, 2.65, 70.6))
    ),
    # Table 6's second half: M tokens for each of the T' = 16 frames after the stem
    *(
        _abl("6", f"{m} x T' tokens", "vmf-2g", g, t, num_tokens=m, token_scope="frame")
        for m, g, t in ((2, 2.55, 68.8), (4, 2.65, 69.8), (6, 2.75, 71.4), (8, 2.86, 70.4))
    ),
    # Table 7 re-sized each stride to hold ~1.43 G and does not say how: ours
    # narrows stride 1 (width 8, one block fewer in stage 3) and stride 2 (width
    # 12), and widens stride 8 (width 22), the only knobs changed
    *(
        _abl("7", f"stem stride {s}", "vmf-1g", g, t, stem_temporal_stride=s, **kw)
        for s, g, t, kw in (
            (1, 1.43, 60.3, dict(base_dim=8, blocks=(1, 2, 2, 2))),
            (2, 1.51, 63.7, dict(base_dim=12)),
            (4, 1.43, 67.4, {}),
            (8, 1.44, 65.0, dict(base_dim=22)),
        )
    ),
    _abl("8", "downsample at each stage", "vmf-560m", 1.14, 61.9, temporal_downsample="stages"),
    _abl("8", "downsample at stem", "vmf-560m", 0.56, 62.6),
    *(
        _abl("10", f"depthwise {dw}", "vmf-2g", g, None, dw_conv=dw)
        for dw, g in (("2d", 2.46), ("2+1d", 2.48), ("3d", 2.61))
    ),
    *(
        _abl("11", a, "vmf-2g", g, None, activation=a)
        for a, g in (("relu", 2.58), ("dyrelu", 2.58), ("frame_dyrelu", 2.61))
    ),
    # Table 9: depth 8 is the 1G layout (1, 2, 3, 2); 16/24/32 repeat every stage
    # 2/3/4 times (the paper gives only the depth)
    *(
        _abl("9", f"{name} depth {8 * k}", model, g, t, blocks=(k, 2 * k, 3 * k, 2 * k))
        for k, m3d, vmf in (
            (1, (1.26, 60.9), (1.43, 67.4)),
            (2, (1.90, 65.7), (2.14, 70.3)),
            (3, (2.53, 68.8), (2.85, 71.8)),
            (4, (3.17, 70.0), (3.56, 71.9)),
        )
        for name, model, (g, t) in (("Mobile3D", "mobile3d-1g", m3d), ("VMF", "vmf-1g", vmf))
    ),
)

"""MoViNet-A0/A1/A2, base and stream: the mobile 3D CNNs the VMF paper ranks
itself against.

Dan Kondratyuk et al., "MoViNets: Mobile Video Networks for Efficient Video
Recognition", CVPR 2021. https://arxiv.org/abs/2103.11511

A MoViNet is a searched MobileNetV3 grown along time: a 1x3x3 stem, five stages
of inverted bottlenecks (1x1x1 expand, depthwise kt x k x k, 3D squeeze-excite,
1x1x1 project, residual scaled by a learned ReZero scalar), a 1x1x1 head
projection, global average pooling and a two-layer classifier. Widths, kernels
and strides are the reference implementation's ``BLOCK_SPECS`` (TF Model
Garden, ``official/projects/movinet/modeling/movinet.py``), written out below.

The **stream** variants are the same networks made causal, so a video can be
fed a frame at a time with constant memory (the paper's Stream Buffer):

- every temporal conv pads ``kt - 1`` frames in front only, so frame t never
  reads a later frame; across calls the padding is the carried buffer of the
  last ``kt - 1`` input frames;
- squeeze-excite pools causally: frame t's gate comes from the mean of the
  frames up to t (cumulative global average pooling);
- the head averages every frame seen so far.

None of A0-A2 strides in time, so each input frame is one frame at every depth.
Run on a whole clip, a stream model's logits equal its last frame's logits fed
frame by frame: :meth:`MoViNet.init_state` / :meth:`MoViNet.stream` do the
latter on the eager model, and ``mobilevid.deploy.movinet`` is the exported
form (one frame plus the state tensors in, logits plus the new state out).

Paper conventions kept: inputs are RGB in [0, 1] without mean/std
normalisation, BN epsilon 1e-3 (TF's), Swish activations, sigmoid gates, SE
width ``make_divisible(expand / 4, 8)``. Deviations: PyTorch pads "same"
symmetrically where TF pads a stride-2 conv on the bottom/right only (same
counts, a one-pixel shift); stochastic depth (training only) is left out.
The stream variants follow the paper (3D causal convs, 3D SE, Swish); TF's
later TFLite stream checkpoints switched to (2+1)D convs and hard-Swish.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mobilevid.models._registry import PaperFigures, register_model
from mobilevid.spec import InputSpec

__all__ = ["MoViNet", "MoViNetBlock", "MoViNetConfig", "StateSpec", "make_divisible"]

# (expand filters, (kt, k), spatial stride) per layer; kt x k x k depthwise kernel
Layer = tuple[int, tuple[int, int], int]

K13, K15, K33, K53 = (1, 3), (1, 5), (3, 3), (5, 3)


def make_divisible(value: float, divisor: int = 8) -> int:
    """TF Model Garden's ``make_divisible``: the nearest multiple of ``divisor``,
    never below it nor more than 10% under ``value`` (the SE widths)."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


@dataclass(frozen=True)
class MoViNetConfig:
    """One MoViNet: stem width, then per stage (base filters, layers), then the
    head. ``causal`` makes the stream variant."""

    stem: int = 8
    stages: tuple[tuple[int, tuple[Layer, ...]], ...] = ()
    project: int = 480
    head: int = 2048
    causal: bool = False
    se_ratio: float = 0.25
    dropout: float = 0.5
    bn_eps: float = 1e-3


A0 = MoViNetConfig(
    stem=8,
    stages=(
        (8, ((24, K15, 2),)),
        (32, ((80, K33, 2), (80, K33, 1), (80, K33, 1))),
        (56, ((184, K53, 2), (112, K33, 1), (184, K33, 1))),
        (56, ((184, K53, 1), (184, K33, 1), (184, K33, 1), (184, K33, 1))),
        (104, ((384, K53, 2), (280, K15, 1), (280, K15, 1), (344, K15, 1))),
    ),
    project=480,
)
# fmt: off
A1 = MoViNetConfig(
    stem=16,
    stages=(
        (16, ((40, K15, 2), (40, K33, 1))),
        (40, ((96, K33, 2), (120, K33, 1), (96, K33, 1), (96, K33, 1))),
        (64, ((216, K53, 2), (128, K33, 1), (216, K33, 1), (168, K33, 1), (216, K33, 1))),
        (64, ((216, K53, 1), (216, K33, 1), (216, K33, 1), (128, K33, 1), (128, K15, 1),
              (216, K33, 1))),
        (136, ((456, K53, 2), (360, K15, 1), (360, K15, 1), (360, K15, 1), (456, K15, 1),
               (456, K33, 1), (544, K13, 1))),
    ),
    project=600,
)
A2 = MoViNetConfig(
    stem=16,
    stages=(
        (16, ((40, K15, 2), (40, K33, 1), (64, K33, 1))),
        (40, ((96, K33, 2), (120, K33, 1), (96, K33, 1), (96, K33, 1), (120, K33, 1))),
        (72, ((240, K53, 2), (160, K33, 1), (240, K33, 1), (192, K33, 1), (240, K33, 1))),
        (72, ((240, K53, 1), (240, K33, 1), (240, K33, 1), (240, K33, 1), (144, K15, 1),
              (240, K33, 1))),
        (144, ((480, K53, 2), (384, K15, 1), (384, K15, 1), (480, K15, 1), (480, K15, 1),
               (480, K33, 1), (576, K13, 1))),
    ),
    project=640,
)
# fmt: on


@dataclass(frozen=True)
class StateSpec:
    """One state tensor a stream model carries between calls, as the exported
    program and the apps see it (frames-major, batch 1): start at zeros, feed
    each call's returned value back in."""

    name: str
    shape: tuple[int, ...]
    what: str


class ConvBN(nn.Sequential):
    """Conv3d (no bias) + BN (+ Swish)."""

    def __init__(self, cin: int, cout: int, kernel=1, stride=1, padding=0, groups=1,
                 act: bool = True, eps: float = 1e-3) -> None:  # fmt: skip
        layers: list[nn.Module] = [
            nn.Conv3d(cin, cout, kernel, stride, padding, groups=groups, bias=False),
            nn.BatchNorm3d(cout, eps=eps),
        ]
        if act:
            layers.append(nn.SiLU())
        super().__init__(*layers)


def _cumulative_mean(x: Tensor) -> Tensor:
    """(B, C, T, 1, 1) -> the mean of frames 0..t at every t."""
    n = torch.arange(1, x.shape[2] + 1, device=x.device, dtype=x.dtype)
    return x.cumsum(dim=2) / n.view(1, 1, -1, 1, 1)


class SqueezeExcite(nn.Module):
    """3D SE: Swish between the 1x1x1 convs (with bias), sigmoid gate. Causal: the
    pool is cumulative, so each frame gets its own gate."""

    def __init__(self, channels: int, hidden: int, causal: bool) -> None:
        super().__init__()
        self.causal = causal
        self.reduce = nn.Conv3d(channels, hidden, 1)
        self.act = nn.SiLU()
        self.expand = nn.Conv3d(hidden, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean(dim=(3, 4), keepdim=True)  # (B, C, T, 1, 1)
        s = _cumulative_mean(s) if self.causal else s.mean(dim=2, keepdim=True)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(s))))


class MoViNetBlock(nn.Module):
    """Inverted bottleneck: expand, depthwise kt x k x k, SE, project; the branch
    is scaled by ReZero (a learned scalar, zero at init as in the reference) and
    added to the input, through avg-pool + 1x1x1 projection where the shape
    changes."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: tuple[int, int], stride: int,
                 cfg: MoViNetConfig) -> None:  # fmt: skip
        super().__init__()
        kt, k = kernel
        self.kt, self.causal = kt, cfg.causal
        eps = cfg.bn_eps
        self.expansion = ConvBN(cin, expand, eps=eps)
        # causal: no temporal padding here; forward pads kt-1 frames in front
        pt = 0 if cfg.causal else kt // 2
        self.feature = ConvBN(
            expand, expand, (kt, k, k), (1, stride, stride), (pt, k // 2, k // 2), groups=expand,
            eps=eps,
        )  # fmt: skip
        self.se = SqueezeExcite(expand, make_divisible(cfg.se_ratio * expand), cfg.causal)
        self.projection = ConvBN(expand, cout, act=False, eps=eps)
        self.rezero = nn.Parameter(torch.zeros(1))
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            pool = (
                nn.AvgPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1), count_include_pad=False)
                if stride != 1
                else nn.Identity()
            )  # TF's "same" average pool leaves the padding out of the mean
            self.skip = nn.Sequential(pool, ConvBN(cin, cout, act=False, eps=eps))

    def forward(self, x: Tensor) -> Tensor:
        y = self.expansion(x)
        if self.causal and self.kt > 1:
            y = F.pad(y, (0, 0, 0, 0, self.kt - 1, 0))
        y = self.projection(self.se(self.feature(y)))
        return y * self.rezero + self.skip(x)


class MoViNet(nn.Module):
    """MoViNet video classifier: (B, 3, T, H, W) clip in [0, 1] -> (B, classes)."""

    def __init__(self, cfg: MoViNetConfig, num_classes: int = 400) -> None:
        super().__init__()
        self.cfg = cfg
        eps = cfg.bn_eps
        self.stem = ConvBN(3, cfg.stem, (1, 3, 3), (1, 2, 2), (0, 1, 1), eps=eps)
        blocks: list[nn.Module] = []
        cin = cfg.stem
        for base, layers in cfg.stages:
            for expand, kernel, stride in layers:
                blocks.append(MoViNetBlock(cin, base, expand, kernel, stride, cfg))
                cin = base
        self.blocks = nn.Sequential(*blocks)
        self.project = ConvBN(cin, cfg.project, eps=eps)
        # the reference's classifier is two 1x1x1 convs on the pooled map: Linears
        self.head = nn.Linear(cfg.project, cfg.head)
        self.head_act = nn.SiLU()
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.head, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """The reference's HeNormal (fan_in, truncated in Keras; plain normal
        here) for convs and the head, N(0, 0.01) for the classifier."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d | nn.Linear):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.classifier.weight, std=0.01)

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> (B, project, T, H/32, W/32)."""
        return self.project(self.blocks(self.stem(x)))

    def logits(self, pooled: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.head_act(self.head(pooled))))

    def forward(self, x: Tensor) -> Tensor:
        # base: the clip's mean; stream: the mean of every frame seen, i.e. the
        # same mean, so a stream model's last streamed logits equal these
        return self.logits(self.forward_features(x).mean(dim=(2, 3, 4)))

    # -- streaming on the eager model (the exported form is deploy/movinet.py) --

    def state_specs(self, size: int, batch: int = 1) -> list[StateSpec]:
        """The carried tensors for frames of ``size`` x ``size``, in the order
        :meth:`stream` takes and returns them. Frames-major, as exported:
        buffers are (kt-1, C, H, W) for batch 1 ((B*(kt-1), C, H, W) otherwise)."""
        if not self.cfg.causal:
            raise ValueError("only a stream (causal) MoViNet carries state")
        specs: list[StateSpec] = []
        h = -(-size // 2)  # after the stem
        for i, blk in enumerate(self.blocks):
            c = blk.expansion[0].out_channels
            if blk.kt > 1:
                specs.append(StateSpec(
                    f"block{i}_buffer", (batch * (blk.kt - 1), c, h, h),
                    f"the last {blk.kt - 1} input frames of block {i}'s depthwise conv",
                ))  # fmt: skip
            specs.append(StateSpec(
                f"block{i}_se_mean", (batch, c), f"mean over seen frames of block {i}'s SE pool",
            ))  # fmt: skip
            h = -(-h // blk.feature[0].stride[1])
        specs.append(
            StateSpec("head_mean", (batch, self.cfg.project), "mean of pooled head features")
        )
        specs.append(StateSpec("frames_seen", (1, 1), "how many frames have been fed"))
        return specs

    def init_state(self, size: int, batch: int = 1) -> list[Tensor]:
        return [torch.zeros(s.shape) for s in self.state_specs(size, batch)]

    def stream(self, x: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """Feed the next frames (B, 3, k, H, W) of a video; returns the logits
        after them (over every frame so far) and the new state. Reference code
        for the exported step: it works on 5-D tensors, with the state in the
        frames-major layout of :meth:`state_specs`."""
        b, k = x.shape[0], x.shape[2]
        it = iter(state)
        new: list[Tensor] = []
        seen = state[-1].reshape(())  # frames_seen
        n = seen + torch.arange(1, k + 1, dtype=x.dtype)  # frames after each new one
        y = self.stem(x)
        for blk in self.blocks:
            e = blk.expansion(y)
            if blk.kt > 1:
                buf = next(it)  # (B*(kt-1), C, H, W) -> (B, C, kt-1, H, W)
                c, hh, ww = buf.shape[1:]
                buf5 = buf.reshape(b, blk.kt - 1, c, hh, ww).transpose(1, 2)
                e = torch.cat([buf5, e], dim=2)
                keep = e[:, :, -(blk.kt - 1) :]
                new.append(keep.transpose(1, 2).reshape(b * (blk.kt - 1), c, hh, ww))
            f = blk.feature(e)  # (B, C, k, H', W'), the causal conv's k outputs
            m_prev = next(it)  # (B, C), the mean over the frames seen
            pooled = f.mean(dim=(3, 4))  # (B, C, k)
            means = (m_prev[:, :, None] * seen + pooled.cumsum(dim=2)) / n  # (B, C, k)
            new.append(means[:, :, -1])
            se = blk.se
            gate = torch.sigmoid(se.expand(se.act(se.reduce(means[..., None, None]))))
            y = blk.projection(f * gate) * blk.rezero + blk.skip(y)
        head_prev = next(it)
        head = (head_prev * seen + self.project(y).mean(dim=(3, 4)).sum(dim=2)) / n[-1]
        new.append(head)
        new.append(state[-1] + k)
        return self.logits(head), new


def _create(cfg: MoViNetConfig, causal: bool, num_classes: int, **overrides) -> MoViNet:
    return MoViNet(dataclasses.replace(cfg, causal=causal, **overrides), num_classes=num_classes)


# The paper counts FLOPs as multiply-adds (as X3D does) for one 50-frame clip,
# and parameters of its Kinetics-600 models (600 classes: +0.41M over ours).
# mobilevid.count, 600 classes: A0 3.11M / 2.630 G (+0.3% / -2.9%), A1 4.69M /
# 5.866 G (+2.0% / -2.6%), A2 5.25M / 11.56 G (+9.3% / +12.2%). A2 is the released
# spec (TF Model Garden's BLOCK_SPECS['a2'], identical in the PyTorch ports); the
# paper's 4.8M / 10.3 G do not follow from it (TF's own README rounds A2 to
# "10" GFLOPs), so A2 is checked against its own count, with this note.
# K400 top-1 is the MoViNet paper's Table (base models; the VMF paper quotes A0
# and A1). The stream models are scored on K600 only (TF Model Garden's released
# stream checkpoints: 72.05 / 76.45 / 78.40); their extra MACs over base are the
# SE convs, which run on every frame when the pool is causal.
_A0_IN = InputSpec(frames=50, size=172, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
_A2_IN = dataclasses.replace(_A0_IN, size=224)


def _base(params_m: float, gmacs: float, top1: float, top5: float) -> dict:
    """Registration of a base model: the MoViNet paper's K400 figures."""
    return dict(
        family="movinet", config=MoViNetConfig,
        paper=PaperFigures("MoViNets (CVPR 2021)", params_m, gmacs, top1, top5, num_classes=600,
                           note="50 frames over the whole video, one clip"),
    )  # fmt: skip


def _stream(params_m: float, gmacs: float, top1: float, top5: float) -> dict:
    """Registration of a stream model: the paper's GFLOPs, K600 top-1 of TF's checkpoint."""
    return dict(
        family="movinet", config=MoViNetConfig, tags=("stream",),
        paper=PaperFigures("MoViNets (CVPR 2021)", params_m, gmacs, top1, top5, num_classes=600,
                           dataset="Kinetics-600",
                           note="50 frames fed one by one; K600 top-1 of TF's stream checkpoint"),
    )  # fmt: skip


@register_model(input=_A0_IN, aliases=("a0",), **_base(3.1, 2.71, 65.8, 87.4))
def movinet_a0(num_classes: int = 400, **overrides) -> MoViNet:
    return _create(A0, False, num_classes, **overrides)


@register_model(input=_A0_IN, aliases=("a1",), **_base(4.6, 6.02, 72.7, 91.2))
def movinet_a1(num_classes: int = 400, **overrides) -> MoViNet:
    return _create(A1, False, num_classes, **overrides)


@register_model(input=_A2_IN, aliases=("a2",), **_base(4.8, 10.3, 75.0, 92.3))
def movinet_a2(num_classes: int = 400, **overrides) -> MoViNet:
    return _create(A2, False, num_classes, **overrides)


@register_model(input=_A0_IN, aliases=("a0-stream",), **_stream(3.1, 2.73, 72.05, 90.63))
def movinet_a0_stream(num_classes: int = 400, **overrides) -> MoViNet:
    return _create(A0, True, num_classes, **overrides)


@register_model(input=_A0_IN, aliases=("a1-stream",), **_stream(4.6, 6.06, 76.45, 93.25))
def movinet_a1_stream(num_classes: int = 400, **overrides) -> MoViNet:
    return _create(A1, True, num_classes, **overrides)


@register_model(input=_A2_IN, aliases=("a2-stream",), **_stream(4.8, 10.4, 78.40, 94.05))
def movinet_a2_stream(num_classes: int = 400, **overrides) -> MoViNet:
    return _create(A2, True, num_classes, **overrides)

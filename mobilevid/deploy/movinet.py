"""MoViNet in frames-major form, for ExecuTorch (see ``ops.py`` for the conv maths).

Two forms, built from the same eager :class:`~mobilevid.models.movinet.MoViNet`:

- :class:`DeployMoViNet` takes a whole clip (B, 3, T, H, W), like every other
  deployable model. A causal (stream) network pads each temporal conv in front.
- :class:`DeployMoViNetStep` is the streaming program: ``forward(frames,
  *state)`` takes the next ``k`` frames (1, 3, k, H, W) and the state tensors
  of :meth:`MoViNet.state_specs`, and returns ``(logits, *new_state)``. A
  causal conv concatenates its buffer (the last kt-1 input frames) in front
  of the new frames on the frames axis, so the conv is the same tap sum as in
  the clip form and stays in XNNPACK; squeeze-excite and the head keep running
  means, updated as ``m += (x - m) / n``, so every state stays in the range of
  one frame's values however long the stream runs (an int8 program quantizes
  them with the qparams of a 50-frame calibration).

Both fold BN and the ReZero scalar into the convs. The SE gate of a causal
network is per frame: its cumulative mean over a clip is one small matmul with
a constant lower-triangular matrix of 1/n (XNNPACK has no cumsum).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from mobilevid.deploy.ops import FramesConv, conv1x1_as_linear, temporal_mean
from mobilevid.models.movinet import ConvBN, MoViNet, MoViNetBlock, SqueezeExcite

__all__ = ["DeployMoViNet", "DeployMoViNetStep"]


def _frames_conv(cb: ConvBN, scale: torch.Tensor | None = None) -> FramesConv:
    fc = FramesConv(cb[0], cb[1])
    if scale is not None:  # ReZero folded: (W x + b) * r
        for c in fc.convs:
            c.weight.data.mul_(scale)
            if c.bias is not None:
                c.bias.data.mul_(scale)
    return fc


def _spatial_mean(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C), as the 4-D mean XNNPACK takes."""
    return x.mean(dim=(2, 3), keepdim=True).flatten(1)


class FramesSE(nn.Module):
    def __init__(self, se: SqueezeExcite):
        super().__init__()
        self.reduce = conv1x1_as_linear(se.reduce)
        self.expand = conv1x1_as_linear(se.expand)

    def gate(self, pooled: torch.Tensor) -> torch.Tensor:
        """(N, C) pooled means -> (N, C) gates."""
        return torch.sigmoid(self.expand(F.silu(self.reduce(pooled))))


class FramesBlock(nn.Module):
    def __init__(self, blk: MoViNetBlock):
        super().__init__()
        self.kt, self.causal = blk.kt, blk.causal
        self.expansion = _frames_conv(blk.expansion)
        self.feature = _frames_conv(blk.feature)
        self.se = FramesSE(blk.se)
        self.projection = _frames_conv(blk.projection, blk.rezero.detach())
        self.pool, self.skip = None, None
        if isinstance(blk.skip, nn.Sequential):
            self.pool = blk.skip[0] if isinstance(blk.skip[0], nn.AvgPool3d) else None
            self.skip = _frames_conv(blk.skip[1])

    def shortcut(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        if self.skip is None:
            return x
        if self.pool is not None:
            x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
        return self.skip(x, batch)


def _causal_pad(x: torch.Tensor, frames: int, batch: int) -> torch.Tensor:
    """``frames`` zero frames in front of each clip of a frames-major map."""
    if batch == 1:
        return F.pad(x, (0, 0, 0, 0, 0, 0, frames, 0))
    bt, c, h, w = x.shape
    xt = F.pad(x.reshape(batch, bt // batch, c * h, w), (0, 0, 0, 0, frames, 0))
    return xt.reshape(-1, c, h, w)


class DeployMoViNet(nn.Module):
    """The whole-clip program: (B, 3, T, H, W) -> (B, classes)."""

    def __init__(self, model: MoViNet):
        super().__init__()
        model = copy.deepcopy(model).eval()
        self.causal = model.cfg.causal
        self.stem = _frames_conv(model.stem)
        self.blocks = nn.ModuleList([FramesBlock(b) for b in model.blocks])
        self.project = _frames_conv(model.project)
        self.head = copy.deepcopy(model.head)
        self.classifier = copy.deepcopy(model.classifier)

    def _se(self, blk: FramesBlock, f: torch.Tensor, b: int) -> torch.Tensor:
        bt, c = f.shape[:2]
        pooled = _spatial_mean(f)  # (B*T, C)
        if not self.causal:
            g = blk.se.gate(temporal_mean(pooled, b))  # (B, C), one gate per clip
            if b == 1:
                return f * g.reshape(1, c, 1, 1)
            return (f.reshape(b, bt // b, c, -1) * g.reshape(b, 1, c, 1)).reshape(f.shape)
        t = bt // b
        tri = torch.tril(torch.ones(t, t)) / torch.arange(1, t + 1).view(-1, 1)  # constant
        cum = F.linear(pooled.reshape(b, t, c).transpose(1, 2), tri).transpose(1, 2)
        g = blk.se.gate(cum.reshape(bt, c))  # a gate per frame: the mean up to it
        return f * g.reshape(bt, c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        x = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        x = F.silu(self.stem(x, b))
        for blk in self.blocks:
            e = F.silu(blk.expansion(x, b))
            if self.causal and blk.kt > 1:
                e = _causal_pad(e, blk.kt - 1, b)
            f = F.silu(blk.feature(e, b))
            x = blk.projection(self._se(blk, f, b), b) + blk.shortcut(x, b)
        x = _spatial_mean(F.silu(self.project(x, b)))  # (B*T, C)
        return self.classifier(F.silu(self.head(temporal_mean(x, b))))


class RunningMean(nn.Module):
    """Running means after each of x's k rows: (1, C), (k, C), (k, 1) -> (k, C),
    as ``m += (x - m) / n``.

    A module of its own so that int8 programs keep it in fp32 (it is in
    :data:`mobilevid.deploy.KEEP_FP32`): a quantized state would round each
    update ``(x - m) / n`` to the state's int8 step, and once n is large the
    update falls under half a step; over a 50-frame stream that drift took the
    worst clip's cosine of MoViNet-A0-Stream to 0.989."""

    def forward(self, mean: torch.Tensor, x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        rows = []
        for j in range(x.shape[0]):
            mean = mean + (x[j : j + 1] - mean) / n[j : j + 1]
            rows.append(mean)
        return rows[0] if len(rows) == 1 else torch.cat(rows)


class DeployMoViNetStep(nn.Module):
    """The streaming program (batch 1): ``forward(frames, *state)`` with frames
    (1, 3, k, H, W) returns ``(logits, *new_state)``; the state is
    :meth:`MoViNet.state_specs`'s, zeros at the start of a video. The logits
    are those of every frame so far, as the whole-clip causal model gives them
    for the clip up to the newest frame."""

    def __init__(self, model: MoViNet, step_frames: int = 1):
        super().__init__()
        if not model.cfg.causal:
            raise ValueError("a streaming program needs a stream (causal) MoViNet")
        model = copy.deepcopy(model).eval()
        self.k = step_frames
        # 1..k as a constant (an arange in the graph would run on a portable kernel)
        ahead = torch.arange(1, step_frames + 1, dtype=torch.float32)[:, None]
        self.register_buffer("ahead", ahead)
        self.stem = _frames_conv(model.stem)
        self.blocks = nn.ModuleList([FramesBlock(b) for b in model.blocks])
        self.project = _frames_conv(model.project)
        self.head = copy.deepcopy(model.head)
        self.classifier = copy.deepcopy(model.classifier)
        self.update = RunningMean()

    def forward(self, frames: torch.Tensor, *state: torch.Tensor):
        k = frames.shape[2]
        if k != self.k:
            raise ValueError(f"this step takes {self.k} frame(s) per call, got {k}")
        it = iter(state)
        seen = state[-1]  # (1, 1)
        n = seen + self.ahead  # frames seen after each new one: (k, 1)
        new: list[torch.Tensor] = []
        x = frames.permute(0, 2, 1, 3, 4).reshape(k, *frames.shape[1:2], *frames.shape[3:])
        x = F.silu(self.stem(x, 1))
        for blk in self.blocks:
            e = F.silu(blk.expansion(x, 1))
            if blk.kt > 1:
                e = torch.cat([next(it), e])  # buffer frames, then the new ones
                new.append(e[k:])  # the last kt-1 input frames
            f = F.silu(blk.feature(e, 1))  # (k, C, H, W): tap sum over kt frames each
            means = self.update(next(it), _spatial_mean(f), n)  # (k, C)
            new.append(means[-1:])
            g = blk.se.gate(means)  # (k, C)
            x = blk.projection(f * g.reshape(*g.shape, 1, 1), 1) + blk.shortcut(x, 1)
        pooled = _spatial_mean(F.silu(self.project(x, 1)))  # (k, C)
        head = self.update(next(it), pooled, n)[-1:]
        new.append(head)
        new.append(n[-1:])  # seen + k (a constant int would be cast on a portable kernel)
        logits = self.classifier(F.silu(self.head(head)))
        return (logits, *new)

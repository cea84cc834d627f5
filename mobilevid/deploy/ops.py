"""Frames-major building blocks: 3D convolution as 2D work.

ExecuTorch's CPU backend (XNNPACK) has no 3D convolution and its portable kernels
reject 5-D conv input at run time, so the deployable form keeps activations as
(B*T, C, H, W) and rewrites every ``Conv3d`` (+ BatchNorm3d) exactly:

    y[t'] = bias + sum_i  conv2d(x_pad[s*t' + i], W[:, :, i])      i = 0 .. kt-1

where ``W[:, :, i]`` is the (kh, kw) slice of the 3D kernel at temporal tap i,
``s`` the temporal stride and ``x_pad`` the clip zero-padded in time. BN is folded
into W and bias first. A 1x1x1 or 1xkxk conv (kt = 1, s = 1) is a single Conv2d.

Only ops XNNPACK delegates appear: constant pad, view, slice with step 1, conv2d
and add. Strided taps avoid step slicing by viewing time as (T/s, s) and taking
tap i at (i // s, i % s). For batch 1 (the exported case) no activation is
reshaped: stride-1 taps pad and slice the frames axis, and a kernel = stride
conv reads blocks of phase-major frames (``clip_to_frames``); a reshape of a
map costs XNNPACK a transpose to NCHW and back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "FramesConv",
    "LinearLayerNorm",
    "clip_to_frames",
    "conv1x1_as_linear",
    "fold_bn",
    "fold_bn_linear",
    "frames_to_clip",
    "temporal_mean",
]


def fold_bn(
    weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.modules.batchnorm._BatchNorm | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode BN into the conv/linear before it:
    w' = w * g / sqrt(var + eps),  b' = (b - mean) * g / sqrt(var + eps) + beta."""
    w = weight.detach().clone()
    b = torch.zeros(w.shape[0], dtype=w.dtype) if bias is None else bias.detach().clone()
    if bn is None:
        return w, b
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    w = w * scale.view(-1, *([1] * (w.dim() - 1)))
    b = (b - bn.running_mean) * scale + bn.bias.detach()
    return w, b


def fold_bn_linear(fc: nn.Linear, bn: nn.BatchNorm1d | None) -> nn.Linear:
    w, b = fold_bn(fc.weight, fc.bias, bn)
    out = nn.Linear(w.shape[1], w.shape[0])
    out.weight.data.copy_(w)
    out.bias.data.copy_(b)
    return out


def conv1x1_as_linear(conv: nn.Conv3d) -> nn.Linear:
    """A 1x1x1 conv applied to pooled (N, C) vectors (squeeze-excite) is a Linear."""
    fc = nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None)
    fc.weight.data.copy_(conv.weight.detach().flatten(1))
    if conv.bias is not None:
        fc.bias.data.copy_(conv.bias.detach())
    return fc


class FramesConv(nn.Module):
    """A ``Conv3d`` (and the BN after it) applied to frames-major activations.

    ``forward(x, batch)`` takes (B*T, C, H, W) and returns (B*T', C', H', W')."""

    def __init__(self, conv: nn.Conv3d, bn: nn.BatchNorm3d | None = None):
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("FramesConv needs numeric zero padding")
        kt, kh, kw = conv.kernel_size
        st, sh, sw = conv.stride
        pt, ph, pw = conv.padding
        if conv.dilation != (1, 1, 1):
            raise ValueError("FramesConv does not support dilation")
        w, b = fold_bn(conv.weight, conv.bias, bn)
        self.kt, self.st, self.pt = kt, st, pt
        # batch 1: pad and slice time on axis 0, or take phase-major taps (forward);
        # False forces the general reshape path (tests compare the two).
        self.pad_frames_axis = True
        self.convs = nn.ModuleList()
        for i in range(kt):
            c2 = nn.Conv2d(
                conv.in_channels, conv.out_channels, (kh, kw), (sh, sw), (ph, pw),
                groups=conv.groups, bias=i == 0,
            )  # fmt: skip
            c2.weight.data.copy_(w[:, :, i])
            if i == 0:
                c2.bias.data.copy_(b)
            self.convs.append(c2)

    def out_frames(self, t: int) -> int:
        return (t + 2 * self.pt - self.kt) // self.st + 1

    def phases(self, t: int, batch: int) -> int:
        """How many phase-major groups :func:`clip_to_frames` may order the input
        frames in for this conv: ``kt`` when every output frame reads exactly its
        own ``kt = stride`` input frames (the VMF stem), else 1 (time order)."""
        ok = self.kt == self.st > 1 and self.pt == 0 and t % self.st == 0
        return self.kt if ok and batch == 1 and self.pad_frames_axis else 1

    def forward(self, x: torch.Tensor, batch: int, phases: int = 1) -> torch.Tensor:
        """``phases`` > 1: frames arrive phase-major (see :func:`clip_to_frames`)."""
        if self.kt == 1 and self.st == 1 and self.pt == 0:
            return self.convs[0](x)
        if phases > 1:  # tap i = input frames s*t' + i = the contiguous block i
            n = x.shape[0] // phases
            y = None
            for i, conv in enumerate(self.convs):
                out = conv(x[i * n : (i + 1) * n])
                y = out if y is None else y + out
            return y
        bt, c, h, w = x.shape
        t = bt // batch
        t_out = self.out_frames(t)
        s = self.st
        if batch == 1 and s == 1 and self.pad_frames_axis:
            # Time is the batch axis, which is also axis 0 of XNNPACK's channels-last
            # layout: pad and slice it directly. A reshape of the activation (below)
            # forces transposes to and from NCHW around it (~10% of fp32 latency).
            xp = F.pad(x, (0, 0, 0, 0, 0, 0, self.pt, self.pt)) if self.pt else x
            y = None
            for i, conv in enumerate(self.convs):
                out = conv(xp[i : i + t_out])
                y = out if y is None else y + out
            return y
        # frames a tap may read: s * (t_out + (kt - 1) // s) covers every s*t' + i
        n_groups = t_out + (self.kt - 1) // s
        pad_end = n_groups * s - t - self.pt
        xt = x.reshape(batch, t, c * h, w)  # (B, T, C*H, W): time is a 4-D axis
        if self.pt or pad_end > 0:
            xt = F.pad(xt, (0, 0, 0, 0, self.pt, max(pad_end, 0)))
        if pad_end < 0:  # trailing frames no output reads
            xt = xt[:, : n_groups * s]
        xt = xt.reshape(batch, n_groups, s, c * h * w)  # (B, T'+q, s, C*H*W)
        y = None
        for i, conv in enumerate(self.convs):
            q, r = divmod(i, s)
            tap = xt[:, q : q + t_out, r : r + 1].reshape(batch * t_out, c, h, w)
            out = conv(tap)
            y = out if y is None else y + out
        return y


def clip_to_frames(x: torch.Tensor, phases: int = 1) -> torch.Tensor:
    """(B, C, T, H, W) -> (B*T, C, H, W), in time order, or for ``phases`` = s > 1
    (batch 1) phase-major: frame i*(T/s) + t' holds input frame s*t' + i. Frame-wise
    layers do not care about the order, and a temporal conv with kernel = stride =
    s then reads each tap as one contiguous block of frames instead of through a
    reshape of the activation (a transpose to NCHW and back for XNNPACK). The
    permute costs the same either way."""
    b, c, t, h, w = x.shape
    if phases == 1:
        return x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
    return x.reshape(c, t // phases, phases, h * w).permute(2, 1, 0, 3).reshape(t, c, h, w)


def frames_to_clip(x: torch.Tensor, batch: int) -> torch.Tensor:
    """(B*T, C, H, W) -> (B, C, T, H, W), for checking against the 3D original."""
    bt, c, h, w = x.shape
    return x.reshape(batch, bt // batch, c, h, w).transpose(1, 2)


def temporal_mean(x: torch.Tensor, batch: int) -> torch.Tensor:
    """(B*T, C) -> (B, C), as a 4-D mean over the last two dims so XNNPACK takes it
    (its mean only averages the innermost dims of 4-D tensors)."""
    bt, c = x.shape
    x = x.reshape(batch, bt // batch, c, 1).permute(0, 2, 1, 3)  # (B, C, T, 1)
    return x.mean(dim=(2, 3), keepdim=True).reshape(batch, c)


class LinearLayerNorm(nn.Module):
    """LayerNorm over the last dim from ops XNNPACK delegates: the means are
    linears with a constant 1/d row, then sub, square, rsqrt, affine."""

    def __init__(self, ln: nn.LayerNorm):
        super().__init__()
        (d,) = ln.normalized_shape
        self.eps = ln.eps
        self.register_buffer("avg", torch.full((1, d), 1.0 / d))
        self.weight = nn.Parameter(ln.weight.detach().clone(), requires_grad=False)
        self.bias = nn.Parameter(ln.bias.detach().clone(), requires_grad=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        zc = z - F.linear(z, self.avg)  # (B, M, d) - (B, M, 1)
        var = F.linear(zc * zc, self.avg)
        return zc * torch.rsqrt(var + self.eps) * self.weight + self.bias

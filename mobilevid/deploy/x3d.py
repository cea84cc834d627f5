"""X3D in frames-major form, for ExecuTorch (see ``ops.py`` for the conv maths).

The squeeze-excite gate pools over the whole clip, so it is computed per clip and
broadcast over frames: a (1, C, 1, 1) multiplier on the 4-D map for batch 1 (the
exported case), a (B, 1, C, 1) one on a (B, T, C, H*W) view otherwise."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from mobilevid.deploy.ops import FramesConv, conv1x1_as_linear, temporal_mean
from mobilevid.models.x3d import X3D, Bottleneck, SqueezeExcite

__all__ = ["DeployX3D"]


class FramesSE(nn.Module):
    def __init__(self, se: SqueezeExcite):
        super().__init__()
        self.fc1 = conv1x1_as_linear(se.fc1)
        self.fc2 = conv1x1_as_linear(se.fc2)

    def forward(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        bt, c, h, w = x.shape
        s = temporal_mean(x.mean(dim=(2, 3), keepdim=True).reshape(bt, c), batch)  # (B, C)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        if batch == 1:  # broadcast on the 4-D map: no reshape, so no NCHW transposes
            return x * s.reshape(1, c, 1, 1)
        xv = x.reshape(batch, bt // batch, c, h * w)
        return (xv * s.reshape(batch, 1, c, 1)).reshape(bt, c, h, w)


class FramesBottleneck(nn.Module):
    def __init__(self, b: Bottleneck):
        super().__init__()
        self.conv_a = FramesConv(b.conv_a, b.bn_a)
        self.conv_b = FramesConv(b.conv_b, b.bn_b)
        self.se = FramesSE(b.se) if isinstance(b.se, SqueezeExcite) else None
        self.conv_c = FramesConv(b.conv_c, b.bn_c)
        self.shortcut = (
            FramesConv(b.shortcut[0], b.shortcut[1])
            if isinstance(b.shortcut, nn.Sequential)
            else None
        )

    def forward(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        y = F.relu(self.conv_a(x, batch))
        y = self.conv_b(y, batch)
        if self.se is not None:
            y = self.se(y, batch)
        y = self.conv_c(F.silu(y), batch)
        sc = x if self.shortcut is None else self.shortcut(x, batch)
        return F.relu(y + sc)


class DeployX3D(nn.Module):
    def __init__(self, model: X3D):
        super().__init__()
        model = copy.deepcopy(model).eval()
        self.stem_xy = FramesConv(model.stem.conv_xy)
        self.stem_t = FramesConv(model.stem.conv_t, model.stem.bn)
        self.blocks = nn.ModuleList([FramesBottleneck(b) for b in model.blocks])
        self.head_conv = FramesConv(model.head_conv, model.head_bn)
        self.fc1 = copy.deepcopy(model.fc1)
        self.fc = copy.deepcopy(model.fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        x = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # (B*T, 3, H, W)
        x = F.relu(self.stem_t(self.stem_xy(x, b), b))
        for blk in self.blocks:
            x = blk(x, b)
        x = F.relu(self.head_conv(x, b))
        x = x.mean(dim=(2, 3), keepdim=True).reshape(x.shape[:2])  # (B*T, 432)
        x = F.relu(self.fc1(temporal_mean(x, b)))  # (B, 2048)
        return self.fc(x)

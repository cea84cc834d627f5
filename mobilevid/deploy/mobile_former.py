"""Video Mobile-Former / Mobile3D in frames-major form, for ExecuTorch.

Built from a trained :class:`~mobilevid.models.mobile_former.VideoMobileFormer`
(eval-mode BN statistics are folded away). Besides the convs (see ``ops.py``),
three pieces are rewritten so that XNNPACK takes them:

- frame-level DY-ReLU: fc1 on concat(pooled frame, token 0) is split into
  W_p @ pooled + (W_t @ token0 + b): no concat or expand over frames; the
  hsigmoid is folded into a clamp, 2*hsigmoid(u) - 1 = clamp(u / 3, -1, 1);
  the slopes are applied to the 4-D map (no reshape of the activation), and
  max(a1 x, a2 x) is computed as a2 x + relu((a1 - a2) x), which int8 runs in int8.
- stem: for batch 1 the clip is laid out phase-major (``clip_to_frames``), so
  the stride-s temporal conv reads each tap as a contiguous block of frames.
- bridges: attention over the T'*H*W positions is computed channels-first,
  (B*h, c, L), so only the small (M x L) score maps are ever transposed;
  Former->Mobile's softmax over the M tokens runs on a transposed score map
  because XNNPACK's softmax only reduces the last dim.
- temporal means: as 4-D means over the innermost dims (keepdim, as XNNPACK's
  global average pooling wants); matmuls as explicit ``bmm`` on 3-D tensors
  (``@`` decomposes into expand + bmm, and XNNPACK does not take the expand);
  LayerNorm as linears and rsqrt (XNNPACK has no LayerNorm).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from mobilevid.deploy.ops import (
    FramesConv,
    LinearLayerNorm,
    clip_to_frames,
    fold_bn_linear,
    temporal_mean,
)
from mobilevid.errors import MobilevidError
from mobilevid.models.mobile_former import (
    DynamicReLU,
    Former,
    FormerToMobile,
    MobileBlock,
    MobileFormerBlock,
    MobileToFormer,
    Stem,
    VideoMobileFormer,
)

__all__ = ["DeployVMF"]


class FramesDyReLU(nn.Module):
    def __init__(self, act: DynamicReLU):
        super().__init__()
        c = act.channels
        self.channels, self.frame_level = c, act.frame_level
        w1, b1 = act.fc1.weight.detach(), act.fc1.bias.detach()
        if act.frame_level:  # fc1 input = [pooled (C), token0 (d)]
            self.fc1_frame = nn.Linear(c, w1.shape[0], bias=False)
            self.fc1_frame.weight.data.copy_(w1[:, :c])
            w1 = w1[:, c:]
        self.fc1_token = nn.Linear(w1.shape[1], w1.shape[0])
        self.fc1_token.weight.data.copy_(w1)
        self.fc1_token.bias.data.copy_(b1)
        # 2*hsigmoid(u) - 1 = clamp(u/3, -1, 1); fold lambda/3 into fc2
        self.fc2 = nn.Linear(act.fc2.in_features, 2 * c)
        self.fc2.weight.data.copy_(act.fc2.weight.detach() / 3.0)
        self.fc2.bias.data.copy_(act.fc2.bias.detach() / 3.0)
        self.lambda_a = act.lambda_a
        self.register_buffer("init", torch.tensor([1.0, 0.0]).repeat_interleave(c))

    def forward(self, x: torch.Tensor, token0: torch.Tensor, batch: int) -> torch.Tensor:
        bt, c = x.shape[:2]
        t = bt // batch
        hid = self.fc1_token(token0).reshape(batch, 1, -1)  # (B, 1, hidden)
        if self.frame_level:
            pooled = x.mean(dim=(2, 3), keepdim=True).reshape(bt, c)  # (B*T, C)
            hid = self.fc1_frame(pooled).reshape(batch, t, -1) + hid  # (B, T, hidden)
        coef = self.fc2(F.relu(hid)).clamp(-1.0, 1.0) * self.lambda_a + self.init  # (B, T|1, 2C)
        # Slopes as (N, C, 1, 1): the feature map keeps its 4-D shape, so XNNPACK
        # runs the ops in its own channels-last layout, with no transposes around
        # a reshape of the (large) activation; only the small slopes are reshaped.
        if coef.shape[1] == t:  # per frame
            n = bt
        elif batch == 1:  # one set for the clip, broadcast over its frames
            n = 1
        else:  # eager only: the exported batch is 1
            coef, n = coef.expand(batch, t, 2 * c), bt
        # max(a1 x, a2 x) = a2 x + relu((a1 - a2) x): muls, a fused relu and an add,
        # all of which XNNPACK runs in int8 (it has no int8 maximum, so the max form
        # costs a dequantize, an fp32 maximum and a requantize of the whole map).
        a1, a2 = coef[..., :c], coef[..., c:]
        d = (a1 - a2).reshape(n, c, 1, 1)
        return x * a2.reshape(n, c, 1, 1) + F.relu(x * d)


class FramesMobile(nn.Module):
    def __init__(self, m: MobileBlock):
        super().__init__()
        self.pw1 = FramesConv(m.pw1, m.bn1)
        dws = list(m.dw)
        self.dw = nn.ModuleList([FramesConv(c) for c in dws[:-1]] + [FramesConv(dws[-1], m.bn2)])
        self.pw2 = FramesConv(m.pw2, m.bn3)
        self.act1 = FramesDyReLU(m.act1) if m.act1 is not None else None
        self.act2 = FramesDyReLU(m.act2) if m.act2 is not None else None
        self.use_res = m.use_res

    def forward(self, x: torch.Tensor, token0: torch.Tensor | None, batch: int) -> torch.Tensor:
        y = self.pw1(x, batch)
        y = F.relu(y) if self.act1 is None else self.act1(y, token0, batch)
        for conv in self.dw:
            y = conv(y, batch)
        y = F.relu(y) if self.act2 is None else self.act2(y, token0, batch)
        y = self.pw2(y, batch)
        return x + y if self.use_res else y


def _channels_first(x: torch.Tensor, batch: int, heads: int) -> torch.Tensor:
    """(B*T, C, H, W) -> (B*h, C/h, T*H*W): the local map as per-head key columns."""
    bt, c, h, w = x.shape
    t = bt // batch
    x = x.reshape(batch, t, c, h * w).permute(0, 2, 1, 3)  # (B, C, T, HW)
    return x.reshape(batch * heads, c // heads, t * h * w)


def _token_heads(t: torch.Tensor, batch: int, heads: int) -> torch.Tensor:
    """(B, M, C) token projections -> (B*h, M, C/h), one row block per head."""
    c = t.shape[-1]
    return (
        t.reshape(batch, -1, heads, c // heads)
        .transpose(1, 2)
        .reshape(batch * heads, -1, c // heads)
    )


class FramesMobileToFormer(nn.Module):
    def __init__(self, m: MobileToFormer):
        super().__init__()
        self.heads = m.heads
        self.q = copy.deepcopy(m.q)
        self.proj = copy.deepcopy(m.proj)

    def forward(self, x: torch.Tensor, z: torch.Tensor, batch: int) -> torch.Tensor:
        c, h = x.shape[1], self.heads
        kv = _channels_first(x, batch, h)  # (B*h, c, L)
        q = _token_heads(self.q(z), batch, h) * (c // h) ** -0.5  # (B*h, M, c)
        attn = torch.bmm(q, kv).softmax(dim=-1)  # (B*h, M, L)
        out = torch.bmm(kv, attn.transpose(1, 2))  # (B*h, c, M): transposes the small map
        out = out.reshape(batch, h, c // h, -1).permute(0, 3, 1, 2).reshape(batch, -1, c)
        return z + self.proj(out)  # (B, M, d)


class FramesFormerToMobile(nn.Module):
    def __init__(self, m: FormerToMobile):
        super().__init__()
        self.heads = m.heads
        self.k = copy.deepcopy(m.k)
        self.v = copy.deepcopy(m.v)

    def forward(self, x: torch.Tensor, z: torch.Tensor, batch: int) -> torch.Tensor:
        bt, c, hh, ww = x.shape
        h, t = self.heads, bt // batch
        q = _channels_first(x, batch, h)  # (B*h, c, L)
        k = _token_heads(self.k(z), batch, h) * (c // h) ** -0.5  # (B*h, M, c)
        v = self.v(z).reshape(batch, -1, h, c // h).permute(0, 2, 3, 1)  # (B, h, c, M)
        v = v.reshape(batch * h, c // h, -1)
        scores = torch.bmm(k, q).transpose(1, 2)  # (B*h, L, M): softmax over tokens, last dim
        attn = scores.softmax(dim=-1).transpose(1, 2)  # (B*h, M, L)
        out = torch.bmm(v, attn)  # (B*h, c, L), channels-first
        out = out.reshape(batch, c, t, hh * ww).permute(0, 2, 1, 3).reshape(bt, c, hh, ww)
        return x + out


class FramesFormer(nn.Module):
    """The token Former with 3-D bmm attention and delegable LayerNorm."""

    def __init__(self, f: Former):
        super().__init__()
        self.heads = f.heads
        self.q = copy.deepcopy(f.q)
        self.proj = copy.deepcopy(f.proj)
        self.norm1 = LinearLayerNorm(f.norm1)
        self.ffn = copy.deepcopy(f.ffn)
        self.norm2 = LinearLayerNorm(f.norm2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, m, d = z.shape
        h, c = self.heads, d // self.heads
        q = self.q(z).reshape(b, m, h, c).transpose(1, 2).reshape(b * h, m, c) * c**-0.5
        kv = z.reshape(b, m, h, c).transpose(1, 2).reshape(b * h, m, c)
        attn = torch.bmm(q, kv.transpose(1, 2)).softmax(dim=-1)  # (B*h, M, M)
        out = torch.bmm(attn, kv).reshape(b, h, m, c).transpose(1, 2).reshape(b, m, d)
        z = self.norm1(z + self.proj(out))
        return self.norm2(z + self.ffn(z))


def _token0(z: torch.Tensor) -> torch.Tensor:
    return z[:, 0:1].reshape(z.shape[0], z.shape[2])  # slice + view, not select


class FramesBlock(nn.Module):
    def __init__(self, b: MobileFormerBlock):
        super().__init__()
        self.mobile = FramesMobile(b.mobile)
        self.has_former = b.has_former
        if b.has_former:
            self.mobile_to_former = FramesMobileToFormer(b.mobile_to_former)
            self.former = FramesFormer(b.former)
            self.former_to_mobile = FramesFormerToMobile(b.former_to_mobile)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None, batch: int):
        if not self.has_former:
            return self.mobile(x, None, batch), z
        z = self.former(self.mobile_to_former(x, z, batch))
        x = self.former_to_mobile(self.mobile(x, _token0(z), batch), z, batch)
        return x, z


class FramesStem(nn.Module):
    def __init__(self, s: Stem):
        super().__init__()
        self.conv = FramesConv(s.conv, s.bn1)
        self.temporal = FramesConv(s.temporal, s.bn2)
        self.dw = FramesConv(s.dw, s.bn3)
        self.pw = FramesConv(s.pw, s.bn4)

    def forward(self, x: torch.Tensor, batch: int, phases: int = 1) -> torch.Tensor:
        x = F.relu(self.conv(x, batch))  # frame-wise: any frame order
        x = F.relu(self.temporal(x, batch, phases))
        x = F.relu(self.dw(x, batch))
        return x + self.pw(x, batch)


class DeployVMF(nn.Module):
    """Same function as the source model on (B, 3, T, H, W) clips; inside, every
    activation is (B*T, C, H, W) and every conv is Conv2d. Inference only."""

    def __init__(self, model: VideoMobileFormer):
        super().__init__()
        if model.cfg.token_scope != "video":
            raise MobilevidError(
                "token_scope='frame' (Table 6's per-frame tokens) is a counting ablation with no "
                "deployable form; export the paper's global tokens (the default)"
            )
        model = copy.deepcopy(model).eval()
        self.cfg = model.cfg
        self.stem = FramesStem(model.stem)
        if model.cfg.former:
            self.tokens = nn.Parameter(model.tokens.detach().clone(), requires_grad=False)
        self.blocks = nn.ModuleList([FramesBlock(b) for b in model.blocks])
        hd = model.head
        self.head_conv = FramesConv(hd.conv, hd.bn)
        self.fc = fold_bn_linear(hd.fc, hd.bn_fc)
        self.classifier = copy.deepcopy(hd.classifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[0], x.shape[2]
        phases = self.stem.temporal.phases(t, b)  # stem temporal taps as frame blocks
        x = self.stem(clip_to_frames(x, phases), b, phases)  # (B*T', C, H', W'), time order
        z = None
        if self.cfg.former:  # batch 1 (the exported case) needs no expand
            z = self.tokens if b == 1 else self.tokens.expand(b, -1, -1)
        for blk in self.blocks:
            x, z = blk(x, z, b)
        x = self.head_conv(x, b)
        x = F.hardswish(x).mean(dim=(2, 3), keepdim=True).reshape(x.shape[:2])  # (B*T', 6C)
        x = temporal_mean(x, b)  # (B, 6C)
        if z is not None:
            x = torch.cat([x, _token0(z)], dim=1)
        return self.classifier(F.hardswish(self.fc(x)))

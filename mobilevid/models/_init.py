"""The transformer initialisation timm's ViT made standard, which VideoMAE,
UniFormer and Video Swin all use, in one place."""

from __future__ import annotations

from torch import nn

__all__ = ["init_transformer"]


def init_transformer(m: nn.Module) -> None:
    """For ``model.apply``: linears truncated normal (std 0.02) with zero bias,
    LayerNorm at identity; convolutions keep PyTorch's default. Only leaves draw
    random numbers, so ``apply`` (post-order) and a ``modules()`` loop (pre-order)
    give the same weights."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)

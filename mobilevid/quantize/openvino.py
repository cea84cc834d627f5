"""int8 for OpenVINO: NNCF post-training quantization of an OpenVINO model,
calibrated on the same real clips as the int8 .pte, with the attention of the
bridges and the Former left in float.

NNCF quantizes every convolution and matmul by default. On VMF-560M that is what
OpenVINO's own int8 does out of the box, and it costs accuracy where 8-bit
activations hurt most: the attention of the Mobile->Former and Former->Mobile
bridges and the Former itself (a small share of the MACs; the XNNPACK int8 .pte
keeps the same activations in fp32, docs/export.md). Measured on the 12 real
clips at 16x96x96 (seeded weights): quantize-all worst cosine 0.9983, with the
attention ignored 0.9996, at no cost in latency.

The ignored scope is built from the PyTorch module names: OpenVINO's PyTorch
frontend names every operation ``__module.<module path>/<aten op>/...``, so
``__module.blocks.3.former/.*`` is every operation of that Former.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import torch
from torch import nn

from mobilevid.errors import MobilevidError
from mobilevid.models.mobile_former import Former, FormerToMobile, MobileToFormer
from mobilevid.ui import Steps, muted

__all__ = ["KEEP_FLOAT", "ignored_patterns", "ptq"]

# Modules whose operations NNCF leaves in float (attention: sensitive to 8-bit activations)
KEEP_FLOAT = (MobileToFormer, FormerToMobile, Former)


def ignored_patterns(model: nn.Module) -> list[str]:
    """Regular expressions over OpenVINO operation names, one per attention
    module of ``model`` (none for a network without attention, e.g. X3D)."""
    return [
        rf"__module\.{re.escape(name)}/.*"
        for name, m in model.named_modules()
        if name and isinstance(m, KEEP_FLOAT)
    ]


def ptq(
    ov_model: Any,
    model: nn.Module,
    clips: list[torch.Tensor],
    steps: Steps | None = None,
) -> Any:
    """NNCF int8 (per-channel weights, per-tensor activations, the CPU preset)
    of ``ov_model``, which OpenVINO converted from ``model``, calibrated on
    ``clips``, attention kept in float. Returns a new OpenVINO model."""
    import nncf

    steps = steps or Steps(enabled=False)
    patterns = ignored_patterns(model)
    names = [op.get_friendly_name() for op in ov_model.get_ops()]
    for p in patterns:  # a renamed frontend would silently quantize the attention
        if not any(re.fullmatch(p, n) for n in names):
            raise MobilevidError(
                f"OpenVINO int8: no operation matches {p!r} (OpenVINO's operation names "
                "changed?); refusing to quantize the attention"
            )
    nncf.set_log_level(logging.ERROR)
    data = nncf.Dataset(clips, lambda c: c.numpy())
    scope = nncf.IgnoredScope(patterns=patterns) if patterns else None
    with steps.step(f"NNCF int8 on {len(clips)} real clips (attention kept in float)"), muted():
        return nncf.quantize(
            ov_model, data, subset_size=len(clips), ignored_scope=scope, model_type=None
        )

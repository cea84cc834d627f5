"""Quantization for every backend, in one place: what export and training share.

``mobilevid export`` quantizes after training (PTQ); ``mobilevid train --qat``
trains with the same quantizer in the loop (QAT), and export converts what it
trained. Both import this package; neither imports the other. Each backend's
recipe lives in its own module (:mod:`.xnnpack`, :mod:`.coreml`).

A QAT model travels as a :class:`QATModel` record, so the quantizer that the
loop steps and that finalization reads is handed along, not stuck onto the
module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mobilevid.errors import MobilevidError

__all__ = ["QAT_BACKENDS", "QATModel", "load_qat", "prepare_qat"]

QAT_BACKENDS = ("xnnpack", "coreml")


@dataclass
class QATModel:
    """A model prepared for quantization-aware training.

    ``module`` is what the loop trains and what a QAT checkpoint's state dict
    holds: for xnnpack the fake-quant graph of the deployable form applied per
    clip, for coreml the coremltools-prepared 3D model."""

    backend: str
    module: nn.Module
    quantizer: Any = None  # coreml: the LinearQuantizer (stepped, then finalized)

    def step(self) -> None:
        """Advance the quantizer's schedule after an optimizer step."""
        if self.quantizer is not None:
            self.quantizer.step()

    def convert(self) -> nn.Module:
        """What the backend's exporter takes: the int8 graph (xnnpack, ready to
        lower) or the finalized 3D model with int8 weights (coreml)."""
        if self.backend == "xnnpack":
            from mobilevid.quantize import xnnpack

            return xnnpack.convert(self.module)
        from mobilevid.quantize import coreml

        return coreml.finalize(self.module, self.quantizer)


def _check(backend: str) -> None:
    if backend not in QAT_BACKENDS:
        raise MobilevidError(
            f"unknown QAT backend {backend!r}; choose one of: {', '.join(QAT_BACKENDS)}"
        )


def prepare_qat(
    model: nn.Module, backend: str, example: torch.Tensor, clips: list[torch.Tensor] | None = None
) -> QATModel:
    """Prepare a float model for QAT. ``clips`` (3, T, S, S) set the xnnpack
    activation ranges (none when the state comes from a checkpoint)."""
    _check(backend)
    if backend == "xnnpack":
        from mobilevid.quantize import xnnpack

        return QATModel(backend, xnnpack.prepare_qat(model, example, clips))
    from mobilevid.quantize import coreml

    prepared, quantizer = coreml.prepare_qat(model, example)
    return QATModel(backend, prepared, quantizer)


def load_qat(
    model: nn.Module,
    backend: str,
    state_dict: dict[str, torch.Tensor],
    example: torch.Tensor,
    where: str = "checkpoint",
) -> QATModel:
    """The QAT model a checkpoint written by ``mobilevid train --qat`` holds:
    prepared afresh from the float ``model``, then loaded strictly."""
    from mobilevid.checkpoint import load_strict

    qat = prepare_qat(model, backend, example)
    # keys strictly; shapes are the fake-quant modules' own business (a fresh
    # one holds a (1,) scale until it loads its per-channel one)
    load_strict(qat.module, state_dict, where, f"a fresh {backend} QAT graph", check_shapes=False)
    qat.module.eval()
    return qat

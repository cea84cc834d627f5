"""int8 (and int4) for Core ML.

- Post-training: ``linear_quantize_weights`` on the converted ML program
  (symmetric, per output channel). Weights are stored low-bit and dequantized
  on load; activations stay fp16. Activation calibration needs macOS.
- Quantization-aware training (``mobilevid train --qat coreml``):
  coremltools.optimize.torch ``LinearQuantizer`` on the 3D model (Core ML runs
  Conv3d), int8 per-channel symmetric weights, float activations;
  :func:`finalize` folds the fake quantization into the weights and scales
  that ``ct.convert`` turns into int8 constants.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["finalize", "prepare_qat", "quantize_weights"]


def _config():
    import coremltools.optimize.torch.quantization as q

    # milestones: fake-quant weights from step 0; observers never freeze by
    # step count (the fine-tune is short); BN stats freeze at step 0 is not
    # wanted either, so the large values switch those transitions off
    return q.LinearQuantizerConfig(
        global_config=q.ModuleLinearQuantizerConfig(
            quantization_scheme="symmetric",
            weight_dtype=torch.qint8,
            activation_dtype=torch.float32,
            milestones=[0, 10**9, 10**9, 10**9],
        )
    )


def prepare_qat(model: nn.Module, example: torch.Tensor) -> tuple[nn.Module, Any]:
    """(prepared model, its quantizer): the loop steps the quantizer after each
    optimizer step, and :func:`finalize` reads it."""
    import coremltools.optimize.torch.quantization as q

    quantizer = q.LinearQuantizer(model, _config())
    prepared = quantizer.prepare(example_inputs=(example[:1],), inplace=False)
    return prepared, quantizer


def finalize(prepared: nn.Module, quantizer: Any) -> nn.Module:
    """Fold the fake quantization into weights + ``_COREML_`` scale buffers. The
    scales of 5-D (Conv3d) weights come out rank 2 and conversion refuses them
    ("weight should have same rank as scale", coremltools 9.0): they are
    reshaped to rank 5."""
    model = quantizer.finalize(prepared, inplace=False)
    for mod in model.modules():
        w = getattr(mod, "weight", None)
        if not isinstance(w, torch.Tensor) or w.dim() != 5:
            continue
        for key in ("_COREML_/weight/quantization_scale", "_COREML_/weight/zero_point"):
            buf = getattr(mod, key, None)
            if isinstance(buf, torch.Tensor) and buf.dim() != 5:
                setattr(mod, key, buf.reshape(w.shape[0], *([1] * 4)))
    return model.eval()


def quantize_weights(mlmodel, dtype: str):
    """Post-training weight quantization of a converted ML program: ``int8`` or
    ``int4``, symmetric, one scale per output channel. Per-block scales (blocks
    of 32 input channels) would be more accurate but cost 39% of fp16 here: most
    of this network's weights are depthwise or narrow, so a block is nearly a
    row."""
    from coremltools.optimize.coreml import (
        OpLinearQuantizerConfig,
        OptimizationConfig,
        linear_quantize_weights,
    )

    op = OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype=dtype, granularity="per_channel", weight_threshold=0
    )
    return linear_quantize_weights(mlmodel, OptimizationConfig(global_config=op))

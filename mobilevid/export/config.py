"""One export request, as the CLI's flags, a recipe's keys and Python callers
describe it (the three fill the same object)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ExportConfig"]


@dataclass
class ExportConfig:
    """What to export, where, and how. ``None`` means "the default": of the
    target (backend, precision), of the checkpoint (classes, input), or of the
    model (input spec)."""

    variant: str | None = None  # default: the checkpoint's model, else vmf-560m
    target: str = "executorch"
    backend: str | None = None  # executorch: xnnpack (the default: the one a phone runs)
    quantize: str | None = None  # executorch fp32|int8; coreml fp16|fp32|int8|int4 (weights)
    checkpoint: Path | None = None
    calibration: list[Path] | None = None  # videos or folders; default: the sample clips
    calibration_clips: int = 24
    output: Path | None = None  # a file name, or a folder for the default name
    force: bool = False
    ios_target: str = "iOS17"
    num_classes: int | None = None  # default: the checkpoint's, else 400
    labels: Path | None = None
    frames: int | None = None  # override the model's input spec (small test shapes)
    size: int | None = None
    seed: int = 0  # weights without --checkpoint: torch.manual_seed(seed) + create_model
    overrides: dict[str, Any] | None = None  # create_model options (e.g. STA r), over the ckpt's
    step_frames: int = 1  # stream models: frames per call of the streaming program

"""One training run, as the CLI's flags and Python callers describe it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobilevid.errors import MobilevidError

__all__ = ["QAT_BACKENDS", "SYNTHETIC_INPUT", "TrainConfig"]

QAT_BACKENDS = ("xnnpack", "coreml")
SYNTHETIC_INPUT = (16, 64)  # frames, size: what the built-in set is made for


@dataclass
class TrainConfig:
    """One training run; field names are the CLI's flags."""

    variant: str = "vmf-560m"
    train: str = "synthetic"  # CSV, folder per class, or synthetic[:N]
    val: str | None = "synthetic"
    out: Path = Path("runs/train")
    epochs: int = 10
    batch_size: int = 16  # global: split across torchrun processes
    lr: float = 2e-3  # peak, after warm-up
    weight_decay: float = 0.05
    warmup: float = 0.1  # fraction of all steps
    label_smoothing: float = 0.1
    frames: int | None = None  # default: the model's input spec
    size: int | None = None
    workers: int = 2
    save_every: int = 100  # steps, besides every epoch
    resume: bool = False
    init: Path | None = None  # weights to start from (e.g. a Kinetics checkpoint)
    qat: str | None = None  # xnnpack | coreml
    flip: bool = True
    seed: int = 0
    amp: bool = True  # GPU only
    max_steps: int | None = None  # stop after this many steps (smoke runs, tests)
    overrides: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        for name in ("epochs", "batch_size", "save_every"):
            if getattr(self, name) < 1:
                raise MobilevidError(f"--{name.replace('_', '-')} must be positive")
        if self.lr <= 0:
            raise MobilevidError("--lr must be positive")
        if not 0 <= self.warmup < 1:
            raise MobilevidError("--warmup is a fraction of the steps, in [0, 1)")
        if not 0 <= self.label_smoothing < 1:
            raise MobilevidError("--label-smoothing must be in [0, 1)")
        if self.qat and self.qat not in QAT_BACKENDS:
            raise MobilevidError(f"--qat must be one of {', '.join(QAT_BACKENDS)}")
        if self.init and self.resume:
            raise MobilevidError("--init starts a new run and --resume continues one: pick one")

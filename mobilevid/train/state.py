"""What a training checkpoint holds, and how it is written.

``last.pt`` is the whole run: the weights, the optimizer, scheduler and grad
scaler, the counters of :class:`TrainState`, every rank's RNG, and the config
the run was started with. ``best.pt`` holds the weights and the metadata only.
Export, inference and the built-in weights read these files, so their keys are
an interface: ``model``, the metadata (variant, num_classes, labels, overrides,
frames, size, qat), ``step``, and for ``last.pt`` also ``optimizer``,
``scheduler``, ``scaler``, ``train_state`` and ``config``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mobilevid.checkpoint import atomic_write
from mobilevid.errors import MobilevidError
from mobilevid.train import distributed as D
from mobilevid.train.config import TrainConfig

__all__ = ["TrainState", "check_resumable", "config_dict", "save_checkpoint"]

# what must match between a stopped run and its --resume
_RESUME_KEYS = (
    "variant", "train", "val", "epochs", "batch_size", "lr", "weight_decay", "warmup",
    "label_smoothing", "frames", "size", "qat", "flip", "seed", "overrides",
)  # fmt: skip


@dataclass
class TrainState:
    """Everything that changes as a run trains, so everything a resumed run
    needs to take exactly the steps the stopped one would have taken.

    ``model`` is the module whose weights are saved, never its DDP wrapper:
    the float model, or for ``--qat`` the prepared QAT module."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    dist: D.Dist = field(default_factory=D.Dist)
    step: int = 0  # optimizer steps taken
    best_top1: float = -1.0  # below any accuracy: the first evaluation is a best
    skipped: int = 0  # broken clips, over the whole run
    history: list[dict] = field(default_factory=list)  # a row per (partial) epoch

    def weights(self) -> dict[str, torch.Tensor]:
        """The model's state dict on the CPU (what every checkpoint's ``model`` is)."""
        return {k: v.detach().cpu() for k, v in self.model.state_dict().items()}

    def state_dict(self) -> dict[str, Any]:
        """The resumable part of ``last.pt``. Under torchrun every rank must
        call it: each rank's RNG (its dropout masks) is gathered."""
        rngs = _gather_rng(self.dist)
        return {
            "model": self.weights(),
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "train_state": {
                "step": self.step,
                "best_top1": self.best_top1,
                "torch_rng": rngs,
                "skipped": self.skipped,
                "history": json.dumps(self.history),
                "world": self.dist.world,
            },
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (as written to ``last.pt``). Each
        rank takes back its own RNG; checkpoints from before the grad scaler
        was saved, or without skip counts or history, still load."""
        self.model.load_state_dict(sd["model"])
        self.optimizer.load_state_dict(sd["optimizer"])
        self.scheduler.load_state_dict(sd["scheduler"])
        if "scaler" in sd:
            self.scaler.load_state_dict(sd["scaler"])
        ts = sd["train_state"]
        self.step, self.best_top1 = int(ts["step"]), float(ts["best_top1"])
        self.skipped = int(ts.get("skipped", 0))
        self.history = json.loads(ts.get("history", "[]"))
        torch.set_rng_state(ts["torch_rng"][self.dist.rank % len(ts["torch_rng"])])


def save_checkpoint(
    path: Path, state: TrainState, meta: dict[str, Any], config: dict[str, Any] | None = None
) -> None:
    """Write a checkpoint atomically, from rank 0 (the file under ``path`` is
    always a whole one, even after kill -9). With ``config`` it is the
    resumable ``last.pt``; without, the weights and ``meta`` only
    (``best.pt``). Every rank calls it: the resumable one gathers every
    rank's RNG."""
    sd = state.state_dict() if config is not None else None  # on every rank
    if not state.dist.main:
        return
    if sd is None:
        obj = {"model": state.weights(), **meta, "step": state.step}
    else:  # the order of keys as it always was: model, metadata, step, the rest
        obj = {"model": sd.pop("model"), **meta, **sd, "config": config}
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The config as JSON types (paths as strings), as ``last.pt`` stores it."""
    return json.loads(json.dumps(asdict(cfg), default=str))


def check_resumable(sd: dict[str, Any], cfg: TrainConfig, path: Path) -> None:
    """A resumed run must be the run that was stopped: same model, data, global
    batch and schedule, or the "exact" resume would silently be something else."""
    old = sd.get("config")
    if not isinstance(old, dict) or "train_state" not in sd:
        raise MobilevidError(f"{path} is not a training checkpoint (no optimizer state)")
    new = config_dict(cfg)
    diff = [k for k in _RESUME_KEYS if old.get(k) != new.get(k)]
    if diff:
        k = diff[0]
        raise MobilevidError(
            f"--resume: {path} was run with {k}={old.get(k)!r}, now {new.get(k)!r}; "
            "resume with the same options (or start a new --out)"
        )


def _gather_rng(d: D.Dist) -> list[torch.Tensor]:
    """Every rank's torch RNG state (dropout masks differ per rank)."""
    mine = torch.get_rng_state()
    if not d.enabled:
        return [mine]
    out = [torch.empty_like(mine) for _ in range(d.world)]
    torch.distributed.all_gather(out, mine)
    return out

"""Training smoke test: a few hundred steps of VMF-560M on the synthetic motion
set through the real training loop (AMP on a GPU: bf16 where supported, else
fp16 with loss scaling), checking that the loss falls, and measuring training
throughput in clips per second.

    python -m mobilevid.train.smoke --steps 300 --out runs/smoke      # one process
    torchrun --standalone --nproc_per_node 1 -m mobilevid.train.smoke ...  # NCCL on a GPU

`make check-gpu` runs both on a GPU; `make test` runs it on the CPU at a tiny
shape (tests/train/test_smoke.py). Prints one JSON line; exit 1 if the loss did
not fall (the run is broken), 2 for a bad option.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from mobilevid.errors import MobilevidError
from mobilevid.train.config import TrainConfig
from mobilevid.train.loop import train

__all__ = ["SmokeResult", "smoke"]


@dataclass
class SmokeResult:
    device: str
    world: int
    amp: str | None
    steps: int
    batch: int
    first_loss: float  # mean over the first tenth of the steps
    last_loss: float  # mean over the last tenth
    clips_per_s: float  # after the first tenth (warm-up, cuDNN's autotuning)
    seconds: float

    @property
    def fell(self) -> bool:
        return self.last_loss < self.first_loss


class _Recorder:
    """The training loop's UI callbacks, kept instead of drawn."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.times: list[float] = []

    def start(self, *args: Any) -> None:
        self.t0 = time.perf_counter()

    def step(self, step, epoch, loss, acc, lr, skipped) -> None:
        self.losses.append(loss)
        self.times.append(time.perf_counter())

    def eval_start(self, n: int) -> None:
        pass

    def eval_advance(self, n: int) -> None:
        pass

    def epoch(self, row: dict) -> None:
        pass


def smoke(
    out: Path,
    steps: int = 300,
    batch: int = 16,
    frames: int = 16,
    size: int = 64,
    variant: str = "vmf-560m",
    workers: int = 4,
    lr: float = 2e-3,
) -> SmokeResult:
    """Train ``steps`` steps and report; the caller decides what "fell" must mean."""
    from mobilevid.train import distributed as D

    if steps < 10:
        raise MobilevidError("--steps must be at least 10 (the loss is compared by tenths)")
    cfg = TrainConfig(
        variant=variant, train=f"synthetic:{steps * batch}", val=None, out=Path(out),
        epochs=1, batch_size=batch, frames=frames, size=size, workers=workers,
        max_steps=steps, save_every=steps, lr=lr, warmup=0.05,
    )  # fmt: skip
    rec = _Recorder()
    t0 = time.perf_counter()
    train(cfg, rec)
    seconds = time.perf_counter() - t0
    k = max(1, steps // 10)
    span = rec.times[-1] - rec.times[k - 1]
    d = D.setup()  # world and device as the run saw them (torchrun env)
    amp = None
    if d.device.type == "cuda":
        amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return SmokeResult(
        device=torch.cuda.get_device_name(d.device) if d.device.type == "cuda" else "cpu",
        world=d.world,
        amp=amp,
        steps=len(rec.losses),
        batch=batch,
        first_loss=round(statistics.fmean(rec.losses[:k]), 4),
        last_loss=round(statistics.fmean(rec.losses[-k:]), 4),
        clips_per_s=round((len(rec.losses) - k) * batch / span, 2) if span > 0 else 0.0,
        seconds=round(seconds, 1),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mobilevid.train.smoke", description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("runs/smoke"))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--variant", default="vmf-560m")
    ap.add_argument("--workers", type=int, default=4)
    a = ap.parse_args(argv)
    try:
        r = smoke(a.out, a.steps, a.batch, a.frames, a.size, a.variant, a.workers)
    except MobilevidError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({**asdict(r), "loss_fell": r.fell}))
    if not r.fell:
        print(f"error: the loss did not fall ({r.first_loss} -> {r.last_loss})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

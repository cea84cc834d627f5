"""What a person watching ``mobilevid train`` sees: one bar for the run (loss,
running accuracy, learning rate, clips/s), one for each evaluation, and a line
per epoch. Scripts pass no UI and see nothing."""

from __future__ import annotations

import math
import time

from mobilevid.ui import stderr_console

__all__ = ["TrainUI"]


class TrainUI:
    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = stderr_console()
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
            console=self.console,
        )  # fmt: skip
        self.run = self.eval = None
        self.acc = math.nan
        self.batch = 0
        self.t = time.perf_counter()
        self.skipped = 0

    def __enter__(self) -> TrainUI:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def start(self, cfg, name, spec, n_train, n_val, total, step, notes) -> None:
        self.batch = cfg.batch_size
        what = f"{name}" + (f" (QAT {cfg.qat})" if cfg.qat else "")
        self.console.print(
            f"training {what} on {n_train} clips ({cfg.train}), validating on {n_val} "
            f"({cfg.val}); {total} steps of {cfg.batch_size}, "
            f"{spec.frames} frames at {spec.size} px -> {cfg.out}"
        )
        for n in notes:
            self.console.print(f"[yellow]{n}[/yellow]")
        if step:
            self.console.print(f"resuming at step {step}")
        self.run = self.progress.add_task("train", total=total, completed=step, info="")
        self.t = time.perf_counter()

    def step(self, step, epoch, loss, acc, lr, skipped) -> None:
        if not math.isnan(acc):
            self.acc = acc if math.isnan(self.acc) else 0.9 * self.acc + 0.1 * acc
        self.skipped += skipped
        dt = time.perf_counter() - self.t
        self.t = time.perf_counter()
        info = f"loss {loss:.3f} acc {self.acc:.2f} lr {lr:.2e} {self.batch / dt:.1f} clips/s"
        if self.skipped:
            info += f" [yellow]{self.skipped} broken clips skipped[/yellow]"
        self.progress.update(self.run, completed=step, description=f"epoch {epoch + 1}", info=info)
        total = self.progress.tasks[self.run].total or 1
        if not self.console.is_terminal and step % max(1, int(total) // 20) == 0:
            # a log file (nohup, CI) gets no live bar: a line every 5% instead
            self.console.print(f"step {step}/{int(total)}  {info}")

    def eval_start(self, n: int) -> None:
        if self.eval is not None:
            self.progress.remove_task(self.eval)
        self.eval = self.progress.add_task("validating", total=n, info="")

    def eval_advance(self, n: int) -> None:
        self.progress.advance(self.eval, n)

    def epoch(self, row: dict) -> None:
        if self.eval is not None:
            self.progress.remove_task(self.eval)
            self.eval = None
        msg = f"epoch {row['epoch']:g}  step {row['step']}  loss {row['train_loss']:.3f}"
        if "val_top1" in row:
            msg += f"  val top-1 {100 * row['val_top1']:.1f}%  top-5 {100 * row['val_top5']:.1f}%"
        self.console.print(msg + f"  ({row['seconds']:.0f} s)")
        self.t = time.perf_counter()

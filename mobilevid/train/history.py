"""A run's history: a row per epoch (train loss and top-1 over every process,
validation results, learning rate), saved as history.json and curves.png."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mobilevid.checkpoint import atomic_write
from mobilevid.train import distributed as D

__all__ = ["mean_over_processes", "write_history"]


def mean_over_processes(seen: list[tuple[float, float]], d: D.Dist) -> dict[str, float]:
    """Training loss and top-1 of the (loss, top-1) batches since the last
    row, over every process's clips."""
    t = torch.tensor(
        [sum(loss for loss, _ in seen), sum(acc for _, acc in seen), len(seen)],
        dtype=torch.float64,
    )
    if d.enabled:
        torch.distributed.all_reduce(t)
    n = max(1.0, float(t[2]))
    return {"train_loss": float(t[0]) / n, "train_top1": float(t[1]) / n}


def write_history(out: Path, history: list[dict]) -> None:
    """history.json for machines, curves.png for people."""
    atomic_write(out / "history.json", lambda t: t.write_text(json.dumps(history, indent=1)))
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ep = [h["epoch"] for h in history]
    ax[0].plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    if "val_loss" in history[0]:
        ax[0].plot(ep, [h["val_loss"] for h in history], "o-", label="val")
        ax[1].plot(ep, [100 * h["train_top1"] for h in history], "o--", label="train top-1")
        ax[1].plot(ep, [100 * h["val_top1"] for h in history], "o-", label="top-1")
        ax[1].plot(ep, [100 * h["val_top5"] for h in history], "o-", label="top-5")
        ax[1].set_ylim(0, 100)
    ax[0].set(xlabel="epoch", ylabel="loss")
    ax[1].set(xlabel="epoch", ylabel="val accuracy %")
    for a in ax:
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend()
    fig.tight_layout()
    atomic_write(out / "curves.png", lambda t: fig.savefig(t, dpi=110, format="png"))
    plt.close(fig)

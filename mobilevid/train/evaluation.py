"""Top-1/top-5 of any ``clips -> logits`` function, on one process or many."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, Subset

from mobilevid.train import distributed as D
from mobilevid.train.data import make_loader

__all__ = ["EvalResult", "evaluate", "evaluate_model"]


@dataclass
class EvalResult:
    top1: float
    top5: float
    loss: float
    clips: int
    skipped: int  # broken clips, not counted in the accuracies


@torch.no_grad()
def evaluate(
    predict: Callable[[torch.Tensor], torch.Tensor],
    ds: Dataset,
    batch_size: int = 8,
    workers: int = 0,
    d: D.Dist | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """Top-1/top-5 of any ``clips -> logits`` function: an eager model, a QAT
    graph, an ExecuTorch or Core ML runner. Each rank takes every world-th clip
    and the counts are summed, so no clip is counted twice."""
    d = d or D.Dist()
    idx = list(range(d.rank, len(ds), d.world))
    loader = make_loader(Subset(ds, idx), batch_size, None, workers, 0, False)
    sums = torch.zeros(5, dtype=torch.float64)  # correct1, correct5, loss, n, skipped
    for b in loader:
        sums[4] += b.skipped
        n = len(b.labels)
        if n:
            logits = predict(b.clips).float().cpu()
            k = min(5, logits.shape[1])
            top = logits.topk(k, dim=1).indices
            hit = top == b.labels[:, None]
            sums[0] += hit[:, 0].sum()
            sums[1] += hit.any(1).sum()
            sums[2] += F.cross_entropy(logits, b.labels, reduction="sum")
            sums[3] += n
        if progress:
            progress(n + b.skipped)
    if d.enabled:
        torch.distributed.all_reduce(sums)
    n = max(1.0, float(sums[3]))
    return EvalResult(
        float(sums[0] / n), float(sums[1] / n), float(sums[2] / n), int(sums[3]), int(sums[4])
    )


def evaluate_model(
    model: nn.Module, ds: Dataset, batch_size: int, workers: int, amp: bool, d: D.Dist, ui: Any
) -> EvalResult:
    """The evaluation at the end of an epoch: the model in eval mode (under
    autocast on GPUs when ``amp``), progress to rank 0's ``ui``; leaves the
    model in training mode."""
    model.eval()
    if d.main and ui:
        ui.eval_start(len(ds))

    def tick(n: int) -> None:
        if d.main and ui:
            ui.eval_advance(n * d.world)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(d.device.type, enabled=amp and d.device.type == "cuda"):
            return model(x.to(d.device))

    r = evaluate(run, ds, batch_size, workers, d, tick)
    model.train()
    return r

"""Latency statistics, named as ExecuTorch's benchmark apps name them.

The median and p90 are what a person reads (a shared machine has outliers); the
trimmed mean (middle 80%, as Minibench computes it) and the plain mean are what
ExecuTorch's dashboards plot, so both are kept.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

__all__ = ["Stats", "summarize"]


@dataclass(frozen=True)
class Stats:
    n: int
    median: float
    p90: float
    min: float
    max: float
    mean: float
    trimmean: float
    stdev: float

    def to_json(self) -> dict[str, float]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _percentile(sorted_xs: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    pos = (len(sorted_xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def summarize(times_ms: list[float]) -> Stats:
    if not times_ms:
        raise ValueError("no timings to summarize")
    xs = sorted(times_ms)
    n = len(xs)
    trimmed = xs[n // 10 : n * 9 // 10] or xs  # Minibench: drop 10% at each end
    return Stats(
        n=n,
        median=statistics.median(xs),
        p90=_percentile(xs, 0.9),
        min=xs[0],
        max=xs[-1],
        mean=statistics.fmean(xs),
        trimmean=statistics.fmean(trimmed),
        stdev=statistics.stdev(xs) if n > 1 else 0.0,
    )

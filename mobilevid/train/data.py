"""Batches for training and evaluation, reproducible from saved state.

The shuffle of epoch e is seeded by (seed, e) and the DataLoader draws its
worker seeds from its own generator, so a resumed run sees the clips an
unstopped run would have seen, in the same order and with the same workers.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from mobilevid.data.datasets import collate
from mobilevid.train import distributed as D

__all__ = ["ResumableSampler", "make_loader"]


class ResumableSampler(Sampler[int]):
    """DistributedSampler (seeded shuffle, one shard per rank) that can start
    part-way through an epoch. With drop_last, step s of world W at per-rank
    batch b covers the same global clips as step s of world 1 at batch W*b."""

    def __init__(self, n: int, d: D.Dist, seed: int):
        self.inner = DistributedSampler(
            range(n), num_replicas=d.world, rank=d.rank, shuffle=True, seed=seed, drop_last=True
        )
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Shuffle for ``epoch`` and skip its first ``start`` clips (of this rank)."""
        self.inner.set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[int]:
        it = iter(self.inner)
        for _ in range(self.start):
            next(it)
        return it

    def __len__(self) -> int:
        return len(self.inner) - self.start


def make_loader(
    ds: Dataset, batch: int, sampler: Sampler | None, workers: int, seed: int, drop_last: bool
) -> DataLoader:
    """A DataLoader whose worker seeds come from ``seed`` alone (not from the
    global RNG, which the run's dropout owns). Its workers ignore SIGINT and
    SIGTERM: Ctrl-C reaches the whole process group, and a worker that died of
    it would fail the step the main process is finishing before it saves."""
    return DataLoader(
        ds, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=collate,
        drop_last=drop_last, generator=torch.Generator().manual_seed(seed),
        persistent_workers=False, prefetch_factor=2 if workers else None,
        worker_init_fn=_ignore_stop_signals if workers else None,
    )  # fmt: skip


def _ignore_stop_signals(worker_id: int) -> None:
    """Workers leave stopping to the main process (which ends them)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)

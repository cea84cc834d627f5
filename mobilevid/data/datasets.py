"""Datasets for training and evaluation: a CSV of ``path,label``, a folder per
class, or the built-in synthetic motion clips (``synthetic`` / ``synthetic:N``).

A broken video (corrupt, truncated to nothing, unreadable) must not end an
epoch that has run for an hour: ``__getitem__`` returns ``None`` for it, and
:func:`collate` drops the ``None`` items and counts them, so the training loop
can report how many clips it skipped (worker processes cannot share a counter,
the batches can).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from mobilevid.data.video import augment_frames, decode_clip, preprocess_frames
from mobilevid.data.windows import decode_views, view_clips
from mobilevid.errors import MobilevidError
from mobilevid.spec import InputSpec

__all__ = [
    "Batch",
    "VideoDataset",
    "collate",
    "dataset_spec",
    "open_dataset",
    "read_csv",
    "read_folder",
]

log = logging.getLogger(__name__)
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def read_folder(root: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """``root/<class>/<video>``; classes are the sorted folder names."""
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    items = [
        (f, c)
        for c in classes
        for f in sorted((root / c).rglob("*"))
        if f.suffix.lower() in VIDEO_EXTS and f.is_file()
    ]
    if not items:
        raise MobilevidError(f"{root}: no videos found (expected {root}/<class>/<video>.mp4)")
    return items, classes


def read_csv(path: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """``path,label`` rows (a header row is optional); relative paths are
    relative to the CSV. Labels are class names, or integers."""
    items: list[tuple[Path, str]] = []
    with open(path, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise MobilevidError(f"{path}:{i + 1}: expected 'path,label', got {row!r}")
            p, label = row[0].strip(), row[1].strip()
            if i == 0 and (p.lower(), label.lower()) == ("path", "label"):
                continue
            items.append((path.parent / p if not Path(p).is_absolute() else Path(p), label))
    if not items:
        raise MobilevidError(f"{path}: no rows")
    labels = {lb for _, lb in items}
    if all(lb.isdigit() for lb in labels):
        classes = [str(k) for k in range(max(map(int, labels)) + 1)]
    else:
        classes = sorted(labels)
    return items, classes


class VideoDataset(Dataset):
    """Clips (3, T, S, S) and integer labels from video files.

    Training views are random (temporal jitter, resized crop, flip) but a
    function of (seed, epoch, index) only, so a resumed run and a multi-process
    run see exactly the clips a single uninterrupted run would."""

    def __init__(
        self,
        items: list[tuple[Path, int]],
        spec: InputSpec,
        classes: list[str],
        train: bool = False,
        flip: bool = True,
        seed: int = 0,
        views: tuple[int, int] = (1, 1),
    ):
        self.items, self.spec, self.classes = items, spec, classes
        self.train, self.flip, self.seed, self.epoch = train, flip, seed, 0
        self.views = views

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int] | None:
        path, label = self.items[i]
        s = self.spec
        try:
            if self.train:
                rng = np.random.default_rng((self.seed, self.epoch, i))
                rgb = decode_clip(path, s.frames, s.frame_stride, rng)
                clip = augment_frames(rgb, s.size, s.mean, s.std, rng, flip=self.flip)
            elif self.views != (1, 1):  # (clips x crops, 3, T, S, S)
                clips, crops = self.views
                clip = view_clips(decode_views(path, s.frames, s.frame_stride, clips), s, crops)
            else:
                rgb = decode_clip(path, s.frames, s.frame_stride)
                clip = preprocess_frames(rgb, s.size, s.mean, s.std)
        except MobilevidError as e:
            log.warning("skipping %s", e)
            return None
        return clip, label


@dataclass
class Batch:
    clips: torch.Tensor  # (B, 3, T, S, S); B may be 0 if every clip was broken
    labels: torch.Tensor
    skipped: int


def collate(items: list[tuple[torch.Tensor, int] | None]) -> Batch:
    good = [x for x in items if x is not None]
    skipped = len(items) - len(good)
    if not good:
        return Batch(torch.empty(0), torch.empty(0, dtype=torch.long), skipped)
    clips, labels = zip(*good, strict=True)
    return Batch(torch.stack(clips), torch.tensor(labels), skipped)


class _Synthetic(Dataset):
    """SyntheticMotion with the ``None``-free, set_epoch interface of VideoDataset.

    With multi-view testing each clip is drawn 4:3 landscape, so that the left,
    centre and right crops differ; it is exactly one model clip long, so its
    temporal views coincide (the motion classes are speeds per frame, which a
    longer video sampled more sparsely would change)."""

    def __init__(self, n: int, spec: InputSpec, seed: int, views: tuple[int, int] = (1, 1)):
        from mobilevid.data.synthetic import CLASSES, SyntheticMotion

        self.data = SyntheticMotion(n, spec.frames, spec.size, seed, spec.mean, spec.std)
        self.classes = list(CLASSES)
        self.spec, self.views = spec, views

    def set_epoch(self, epoch: int) -> None:
        pass

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        if self.views == (1, 1):
            return self.data[i]
        from mobilevid.data.windows import view_indices

        s, (clips, crops) = self.spec, self.views
        video, label = self.data.video(i, width=s.size * 4 // 3)
        rgb = (video * 255).permute(1, 2, 3, 0).numpy()  # (T, H, W, 3) in [0, 255]
        temporal = [
            rgb[view_indices(s.frames, s.frames, s.frame_stride, j, clips)] for j in range(clips)
        ]
        return view_clips(temporal, s, crops), label


SYNTHETIC_DEFAULT = {"train": 4096, "val": 512}


def open_dataset(
    source: str | Path,
    spec: InputSpec,
    train: bool,
    classes: list[str] | None = None,
    flip: bool = True,
    seed: int = 0,
    views: tuple[int, int] = (1, 1),
) -> Dataset:
    """``source``: a CSV file, a folder per class, or ``synthetic[:N]``. Pass the
    training set's ``classes`` when opening the validation set, so label
    numbers agree (a label the training set lacks is an error). With ``views``
    (clips, crops) other than (1, 1) each item is (clips x crops, 3, T, S, S)."""
    text = str(source)
    if text == "synthetic" or text.startswith("synthetic:"):
        n = SYNTHETIC_DEFAULT["train" if train else "val"]
        if ":" in text:
            try:
                n = int(text.split(":", 1)[1])
            except ValueError:
                raise MobilevidError(
                    f"{text!r}: expected synthetic:N, e.g. synthetic:2048"
                ) from None
        if n < 1:
            raise MobilevidError(f"{text!r}: N must be positive")
        # training and validation clips come from disjoint seeds
        return _Synthetic(n, spec, seed=2 * seed + (0 if train else 1), views=views)
    path = Path(source)
    if path.is_dir():
        raw, found = read_folder(path)
    elif path.is_file():
        raw, found = read_csv(path)
    else:
        raise MobilevidError(
            f"{path}: no such dataset (a CSV of path,label, a folder, or synthetic)"
        )
    classes = classes or found
    index = {c: k for k, c in enumerate(classes)}
    if all(lb.isdigit() for _, lb in raw):  # integer labels index the classes directly
        index |= {str(k): k for k in range(len(classes))}
    unknown = sorted({lb for _, lb in raw if lb not in index})
    if unknown:
        raise MobilevidError(
            f"{path}: labels not in the training classes: {', '.join(unknown[:5])}"
        )
    items = [(p, index[lb]) for p, lb in raw]
    return VideoDataset(items, spec, classes, train=train, flip=flip, seed=seed, views=views)


def dataset_spec(spec: InputSpec, frames: int | None, size: int | None) -> InputSpec:
    """The model's input spec with the user's --frames/--size."""
    return replace(spec, frames=frames or spec.frames, size=size or spec.size)

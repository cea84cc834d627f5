"""A built-in dataset whose classes need time: moving textures.

Each clip is a random, smooth, coloured texture translating across the frame.
The class is the motion: 4 directions x 2 speeds. Every single frame of every
class looks alike (the same kind of texture), so a model must compare frames to
tell the classes apart. Clips are generated deterministically from
(seed, index), so a dataset needs no files and two runs see the same data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mobilevid.spec import KINETICS_MEAN, KINETICS_STD

__all__ = ["CLASSES", "SyntheticMotion", "motion_clip", "motion_frames"]

DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}
SPEEDS = {"slow": 1, "fast": 3}  # pixels per frame at 64 px; scaled with the size
CLASSES = [f"{d} {s}" for s in SPEEDS for d in DIRECTIONS]


def motion_clip(label: int, frames: int, size: int, seed: int) -> torch.Tensor:
    """RGB in [0, 1], (3, T, size, size)."""
    return motion_frames(label, frames, size, size, seed)


def motion_frames(
    label: int, frames: int, height: int, width: int, seed: int, cell: int = 8, first: int = 0
) -> torch.Tensor:
    """RGB in [0, 1], (3, T, height, width), texture cells of ``cell`` pixels.

    The texture moves at the class's speed in pixels of the short side scaled
    to 64, so a wide frame whose square crop is resized to a model's input
    moves exactly as a square clip does; to also look like the training clips
    of a ``size`` model after that resize, pass ``cell = 8 * min(h, w) / size``.
    ``first``: the time of the first frame, so a long motion can be drawn in
    pieces that join exactly."""
    g = torch.Generator().manual_seed(seed)
    direction, speed = CLASSES[label].split()
    dy, dx = DIRECTIONS[direction]
    step = max(1, round(SPEEDS[speed] * min(height, width) / 64))
    # periodic texture: smooth noise at 1/8 resolution, upsampled, random colours
    base = torch.rand(3, max(2, height // cell), max(2, width // cell), generator=g)
    tex = F.interpolate(base[None], size=(height, width), mode="bicubic", align_corners=False)[0]
    tex = (tex - tex.min()) / (tex.max() - tex.min() + 1e-6)
    offset = int(torch.randint(0, max(height, width), (1,), generator=g))
    clip = torch.stack(
        [
            torch.roll(tex, (dy * (offset + t * step), dx * (offset + t * step)), (1, 2))
            for t in range(first, first + frames)
        ],
        dim=1,
    )  # (3, T, H, W)
    return clip


class SyntheticMotion(Dataset):
    """``n`` normalised clips (3, T, S, S) with labels in [0, 8)."""

    classes = CLASSES

    def __init__(
        self,
        n: int,
        frames: int = 16,
        size: int = 64,
        seed: int = 0,
        mean: tuple[float, float, float] = KINETICS_MEAN,
        std: tuple[float, float, float] = KINETICS_STD,
    ):
        self.n, self.frames, self.size, self.seed = n, frames, size, seed
        self.mean = torch.tensor(mean).view(3, 1, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1, 1)

    def __len__(self) -> int:
        return self.n

    def video(self, i: int, width: int | None = None) -> tuple[torch.Tensor, int]:
        """Clip ``i`` in [0, 1] (3, T, S, width) and its label; ``width`` other than
        the size draws the same motion on a wider frame (multi-view testing)."""
        if not 0 <= i < self.n:
            raise IndexError(i)
        label = i % len(CLASSES)
        seed = self.seed * 1_000_003 + i
        return motion_frames(label, self.frames, self.size, width or self.size, seed), label

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        clip, label = self.video(i)
        return (clip - self.mean) / self.std, label

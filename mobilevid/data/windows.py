"""Recognition over time: which frames each window and each view takes.

This is the reference for three consumers, so every rule is plain integer
arithmetic that Java and Swift reproduce exactly (the demo apps' cores are
checked against vectors generated from this file):

- ``predict --over-time`` slides windows over a whole video;
- the apps' live camera mode classifies the newest window every hop;
- multi-view testing (``--views CLIPSxCROPS``) takes the papers' temporal clips
  and spatial crops of one video.

Words used throughout:

- *clip frames* ``T``: the frames the model takes (its InputSpec);
- *stride* ``s``: video frames between two sampled frames of a window (the
  model's ``frame_stride``; 1 for models trained on whole-video sampling, whose
  motion is then seen at the video's own frame rate);
- *window* ``W``: sampled frames a window covers (default ``T``); when ``W > T``
  the model sees ``T`` of them, spread as :func:`sample_indices` spreads them;
- *span* ``(W - 1) * s + 1``: video frames from a window's first to last frame;
- *hop* ``h``: video frames between the starts of two windows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mobilevid.data.video import decode_frames, preprocess_frames, sample_indices
from mobilevid.errors import MobilevidError
from mobilevid.spec import InputSpec

__all__ = [
    "LiveSchedule",
    "Segment",
    "Smoother",
    "Windows",
    "crop_offsets",
    "decode_views",
    "view_clips",
    "hop_frames",
    "parse_hop",
    "parse_views",
    "segments",
    "view_indices",
]


def hop_frames(seconds: float, fps: float) -> int:
    """A hop given in seconds, in video frames: round half up, at least 1."""
    return max(1, int(seconds * fps + 0.5))


def parse_hop(text: str, fps: float) -> int:
    """``--hop``: ``0.5`` / ``0.5s`` are seconds, ``8f`` is frames."""
    t = text.strip().lower()
    try:
        if t.endswith("f"):
            value = int(t[:-1])
            frames = value
        else:
            value = float(t[:-1] if t.endswith("s") else t)
            frames = hop_frames(value, fps) if value > 0 else 0
    except ValueError:
        raise MobilevidError(
            f"--hop {text!r}: expected seconds (0.5 or 0.5s) or frames (8f)"
        ) from None
    if value <= 0:
        raise MobilevidError(f"--hop {text!r}: must be positive")
    return frames


@dataclass(frozen=True)
class Windows:
    """Sliding windows of ``window`` sampled frames, ``stride`` video frames
    apart, one every ``hop`` video frames; the model takes ``frames`` of them."""

    frames: int
    window: int
    stride: int
    hop: int

    def __post_init__(self) -> None:
        for name in ("frames", "window", "stride", "hop"):
            if getattr(self, name) < 1:
                raise MobilevidError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.window < self.frames:
            raise MobilevidError(
                f"a window of {self.window} frames is shorter than the model's clip "
                f"({self.frames} frames)"
            )

    @property
    def span(self) -> int:
        return (self.window - 1) * self.stride + 1

    def starts(self, n: int) -> list[int]:
        """First frame of every window in a video of ``n`` frames; one window at
        0 (looped) when the video is shorter than the span."""
        if n < 1:
            raise MobilevidError("the video has no frames")
        if n < self.span:
            return [0]
        return list(range(0, n - self.span + 1, self.hop))

    def indices(self, start: int, n: int) -> list[int]:
        """The ``frames`` video frames the model sees for the window at
        ``start``, looped modulo ``n`` when the video is shorter than the span."""
        picks = (
            sample_indices(self.window, self.frames)
            if self.window > self.frames
            else range(self.frames)
        )
        return [(start + j * self.stride) % n for j in picks]

    def due(self, received: int) -> int | None:
        """Live: after ``received`` frames, the start of the window that has just
        become complete, or None (windows end every hop once the first is full)."""
        if received < self.span or (received - self.span) % self.hop:
            return None
        return received - self.span


class LiveSchedule:
    """The live camera loop's bookkeeping: a window becomes due every hop; it is
    classified only if no classification is in flight, otherwise it is dropped
    (never queued, so the label never lags behind the camera by more than one
    window). Call :meth:`on_frame` for every camera frame and :meth:`on_done`
    when a classification returns."""

    CLASSIFY, DROP, WAIT = "classify", "drop", "wait"

    def __init__(self, windows: Windows):
        self.windows = windows
        self.received = 0
        self.busy = False
        self.started = 0
        self.dropped = 0

    def on_frame(self) -> tuple[str, int]:
        """One frame arrived: ("classify", start) to run the window now,
        ("drop", start) when it is due but one is in flight, ("wait", -1) else."""
        self.received += 1
        start = self.windows.due(self.received)
        if start is None:
            return self.WAIT, -1
        if self.busy:
            self.dropped += 1
            return self.DROP, start
        self.busy = True
        self.started += 1
        return self.CLASSIFY, start

    def on_done(self) -> None:
        self.busy = False


class Smoother:
    """Mean of the class probabilities of the last ``size`` windows (1: none),
    which steadies a live label without delaying a real change by more than
    ``size - 1`` hops."""

    def __init__(self, size: int):
        if size < 1:
            raise MobilevidError(f"smoothing must be at least 1 window, got {size}")
        self.size = size
        self.history: deque[list[float]] = deque(maxlen=size)

    def add(self, probs: Sequence[float]) -> list[float]:
        if self.history and len(probs) != len(self.history[0]):
            raise MobilevidError("probability vectors of different lengths")
        self.history.append([float(p) for p in probs])
        n = len(self.history)
        return [sum(col) / n for col in zip(*self.history, strict=True)]


def parse_views(text: str) -> tuple[int, int]:
    """``--views CLIPSxCROPS``: ``1x1``, ``4x3``, ``10x3``."""
    try:
        clips, crops = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise MobilevidError(
            f"--views {text!r}: expected CLIPSxCROPS, e.g. 1x1, 4x3 or 10x3"
        ) from None
    if clips < 1 or crops < 1:
        raise MobilevidError(f"--views {text!r}: clips and crops must be at least 1")
    return clips, crops


def view_indices(n: int, frames: int, stride: int | None, clip: int, clips: int) -> list[int]:
    """Temporal view ``clip`` of ``clips`` (the papers' multi-clip testing).

    Whole-video sampling: the same ``frames`` segments as the single clip, each
    clip taking a different point of every segment, ``floor((i + (j + 0.5) /
    clips) * n / frames)``; one clip is exactly :func:`sample_indices`.
    Strided sampling: ``clips`` starts spread evenly from the first to the last
    possible start (PySlowFast's rule); one clip is the centred one.
    """
    if not 0 <= clip < clips:
        raise ValueError(f"clip {clip} of {clips}")
    if clips == 1:
        return sample_indices(n, frames, stride)
    if stride is None:
        k = clips
        return [((2 * k * i + 2 * clip + 1) * n) // (2 * k * frames) for i in range(frames)]
    delta = max(0, n - frames * stride)
    return sample_indices(n, frames, stride, start=(delta * clip) // (clips - 1))


def crop_offsets(height: int, width: int, crops: int) -> list[tuple[int, int, int]]:
    """``(y0, x0, side)`` of ``crops`` squares of the short side along the long
    one: first/centre/last for 3 (left, centre, right on a landscape video); the
    centre alone for 1, as the single-view preprocessing crops."""
    side = min(height, width)
    room_y, room_x = height - side, width - side
    if crops == 1:
        return [(room_y // 2, room_x // 2, side)]
    return [((room_y * c) // (crops - 1), (room_x * c) // (crops - 1), side) for c in range(crops)]


def decode_views(
    path: str | Path, frames: int, frame_stride: int | None, clips: int
) -> list[np.ndarray]:
    """The RGB frames (T, H, W, 3) of ``clips`` temporal views, in one pass."""

    def pick(n: int) -> list[int]:
        return [i for j in range(clips) for i in view_indices(n, frames, frame_stride, j, clips)]

    rgb = decode_frames(Path(path), pick)
    return [rgb[j * frames : (j + 1) * frames] for j in range(clips)]


def view_clips(temporal: Sequence[np.ndarray], spec: InputSpec, crops: int) -> torch.Tensor:
    """(clips x crops, 3, T, S, S): every temporal view cut into ``crops``
    squares, clip-major, each preprocessed as the single view is."""
    _, h, w, _ = temporal[0].shape
    boxes = crop_offsets(h, w, crops)
    return torch.stack(
        [
            preprocess_frames(rgb, spec.size, spec.mean, spec.std, box)
            for rgb in temporal
            for box in boxes
        ]
    )


@dataclass(frozen=True)
class Segment:
    label: str
    index: int
    score: float  # mean probability of the label over the segment's windows
    start: float  # seconds
    end: float
    windows: int


def segments(
    centres: Sequence[float],
    top1: Sequence[int],
    probs: Sequence[Sequence[float]],
    labels: Sequence[str],
    end: float,
) -> list[Segment]:
    """Merge consecutive windows with the same top-1 into segments. A boundary
    lies half way between the centres of the two windows that disagree, so a
    cut is placed within half a hop of where the windows' contents change."""
    out: list[Segment] = []
    i = 0
    while i < len(top1):
        j = i
        while j + 1 < len(top1) and top1[j + 1] == top1[i]:
            j += 1
        lo = 0.0 if i == 0 else (centres[i - 1] + centres[i]) / 2
        hi = end if j == len(top1) - 1 else (centres[j] + centres[j + 1]) / 2
        score = sum(float(probs[k][top1[i]]) for k in range(i, j + 1)) / (j - i + 1)
        out.append(Segment(labels[top1[i]], int(top1[i]), score, lo, max(lo, hi), j - i + 1))
        i = j + 1
    return out

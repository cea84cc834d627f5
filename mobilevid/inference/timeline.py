"""Recognition over time: sliding windows over a whole video, decoded once.

``predict --over-time`` and ``bench --over-time`` use this. Frames are decoded
in order and each frame is preprocessed once, when some window will use it;
frames live in a ring of one window's span, preallocated and written in place,
so memory holds one window whatever the video's length (and no per-frame
allocation fragments the heap: with a dict of frames, glibc's heap grew to
3x over a 10-minute video through the .pte path). The window arithmetic is
:mod:`mobilevid.data.windows`, the same rules the apps' live mode follows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mobilevid.data.video import iter_frames, preprocess_frames, probe
from mobilevid.data.windows import Segment, Smoother, Windows, parse_hop, segments
from mobilevid.errors import MobilevidError
from mobilevid.inference import Predictor, top_labels

__all__ = ["Timeline", "WindowResult", "over_time", "plot_timeline", "plan_windows"]

FALLBACK_FPS = 30.0


@dataclass(frozen=True)
class WindowResult:
    index: int
    start: int  # first video frame of the window
    span: int  # video frames it covers
    fps: float
    probs: torch.Tensor  # (classes,)
    ms: float  # model time
    looped: bool = False

    @property
    def start_s(self) -> float:
        return self.start / self.fps

    @property
    def end_s(self) -> float:
        return (self.start + self.span) / self.fps

    @property
    def centre_s(self) -> float:
        return (self.start + self.span / 2) / self.fps


@dataclass
class Timeline:
    """What ``predict --over-time`` found in one video (possibly cut short by
    Ctrl-C: ``interrupted``)."""

    video: Path
    fps: float
    windows: Windows
    labels: list[str]
    results: list[WindowResult] = field(default_factory=list)
    frames_seen: int = 0
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def duration(self) -> float:
        return self.frames_seen / self.fps

    def smoothed(self, smooth: int = 1) -> list[list[float]]:
        s = Smoother(smooth)
        return [s.add(r.probs.tolist()) for r in self.results]

    def segments(self, smooth: int = 1) -> list[Segment]:
        probs = self.smoothed(smooth)
        top1 = [max(range(len(p)), key=p.__getitem__) for p in probs]
        end = max(self.duration, self.results[-1].end_s) if self.results else self.duration
        return segments([r.centre_s for r in self.results], top1, probs, self.labels, end)

    def to_json(self, topk: int = 5, smooth: int = 1) -> dict[str, Any]:
        w = self.windows
        return {
            "video": str(self.video),
            "fps": round(self.fps, 3),
            "frames": self.frames_seen,
            "window": {
                "frames": w.window,
                "model_frames": w.frames,
                "stride": w.stride,
                "span_frames": w.span,
                "hop_frames": w.hop,
                "hop_s": round(w.hop / self.fps, 4),
                "smooth": smooth,
            },
            "windows": [
                {
                    "index": r.index,
                    "start_frame": r.start,
                    "start": round(r.start_s, 3),
                    "end": round(r.end_s, 3),
                    "ms": round(r.ms, 1),
                    **({"looped": True} if r.looped else {}),
                    **top_labels(torch.tensor(p), self.labels, topk),
                }
                for r, p in zip(self.results, self.smoothed(smooth), strict=True)
            ],
            "segments": [
                {
                    "label": s.label,
                    "index": s.index,
                    "score": round(s.score, 4),
                    "start": round(s.start, 3),
                    "end": round(s.end, 3),
                    "windows": s.windows,
                }
                for s in self.segments(smooth)
            ],
            "notes": self.notes,
            "interrupted": self.interrupted,
        }


def plan_windows(
    pred: Predictor, fps: float, window: int | None, hop: str, stride: int | None
) -> Windows:
    """The windows for a model: ``window`` sampled frames (default the model's
    clip), ``stride`` video frames apart (default the model's ``frame_stride``,
    or 1 for a model that samples the whole video: its motion is then seen at
    the video's own frame rate), one every ``hop``."""
    spec = pred.spec
    if window is not None and window < 1:
        raise MobilevidError(f"--window {window}: must be at least 1 frame")
    if window is not None and window < spec.frames:
        raise MobilevidError(
            f"--window {window} is shorter than the model's clip of {spec.frames} frames"
        )
    if stride is not None and stride < 1:
        raise MobilevidError(f"--stride {stride}: must be at least 1")
    return Windows(
        frames=spec.frames,
        window=window or spec.frames,
        stride=stride or spec.frame_stride or 1,
        hop=parse_hop(hop, fps),
    )


def over_time(
    pred: Predictor,
    video: Path,
    window: int | None = None,
    hop: str = "0.5",
    stride: int | None = None,
    on_start: Callable[[Timeline, int], None] | None = None,
    on_frame: Callable[[], None] | None = None,
) -> Iterator[tuple[Timeline, WindowResult]]:
    """Classify every window of ``video`` in order; yields (timeline so far,
    the new window). ``on_start(timeline, frames_in_header)`` is called once
    before decoding, ``on_frame`` after each decoded frame (progress)."""
    info = probe(video)
    fps = info.fps
    notes: list[str] = []
    if not math.isfinite(fps) or fps <= 0:
        notes.append(f"the video does not say its frame rate: {FALLBACK_FPS:g} fps assumed")
        fps = FALLBACK_FPS
    win = plan_windows(pred, fps, window, hop, stride)
    if window is not None and 0 < info.frames < win.span:
        raise MobilevidError(
            f"{video}: --window {window} spans {win.span} frames but the video has "
            f"{info.frames}; use a smaller --window (or none: a short video is looped)"
        )
    tl = Timeline(Path(video), fps, win, pred.labels, notes=notes)
    if on_start:
        on_start(tl, info.frames)
    spec = pred.spec
    offsets = sorted(set(win.indices(0, win.span)))  # frames a window uses
    # one slot per frame of a window's span, written in place: a window's frames
    # all lie within its span, so frame i's slot (i % span) is free again once
    # the windows that use i are done; no per-frame allocation, so the heap
    # cannot fragment over a long video
    ring = torch.empty(win.span, 3, spec.size, spec.size)

    def classify(start: int, n: int, looped: bool = False) -> WindowResult:
        slots = [i % win.span for i in win.indices(start, n)]
        x = ring[slots].transpose(0, 1)[None].contiguous()  # (1, 3, T, S, S)
        t0 = time.perf_counter()
        probs = pred.run(x)[0].softmax(0)
        ms = 1000 * (time.perf_counter() - t0)
        r = WindowResult(len(tl.results), start, win.span, fps, probs, ms, looped)
        tl.results.append(r)
        return r

    for idx, rgb in enumerate(iter_frames(video)):
        tl.frames_seen = idx + 1
        if idx < win.span or any(idx >= o and (idx - o) % win.hop == 0 for o in offsets):
            ring[idx % win.span] = preprocess_frames(rgb[None], spec.size, spec.mean, spec.std)[
                :, 0
            ]
        if on_frame:
            on_frame()
        start = win.due(idx + 1)
        if start is None:
            continue
        yield tl, classify(start, idx + 1)
    if tl.frames_seen == 0:
        raise MobilevidError(f"{video}: no decodable frames (corrupt or empty video)")
    if info.frames > 0 and tl.frames_seen < info.frames:
        tl.notes.append(
            f"the video ends at frame {tl.frames_seen}, before the {info.frames} its header "
            "says (truncated?)"
        )
    if not tl.results:  # shorter than one window: loop it, as clip sampling does
        tl.notes.append(
            f"the video ({tl.frames_seen} frames) is shorter than one window ({win.span} "
            "frames): it was looped into one window"
        )
        yield tl, classify(0, tl.frames_seen, looped=True)


def plot_timeline(tl: Timeline, path: Path, smooth: int = 1, top: int = 5, title: str = "") -> None:
    """Class probabilities over time (the classes that win a window, then the
    most probable others, up to ``top``), over the segments shaded and named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mobilevid.checkpoint import atomic_write

    probs = torch.tensor(tl.smoothed(smooth))
    t = [r.centre_s for r in tl.results]
    winners = list(dict.fromkeys(int(i) for i in probs.argmax(1)))
    rest = [int(i) for i in probs.max(0).values.argsort(descending=True) if int(i) not in winners]
    shown = (winners + rest)[: max(top, len(winners[:10]))]
    fig, ax = plt.subplots(figsize=(10, 3.6))
    colours = plt.get_cmap("tab10")
    colour = {c: colours(k % 10) for k, c in enumerate(shown)}
    for s in tl.segments(smooth):
        ax.axvspan(s.start, s.end, color=colour.get(s.index, "grey"), alpha=0.12, lw=0)
        ax.text((s.start + s.end) / 2, 1.02, s.label, ha="center", va="bottom", fontsize=8,
                transform=ax.get_xaxis_transform(), clip_on=False)  # fmt: skip
    marker = "o-" if len(t) < 40 else "-"
    for c in shown:
        ax.plot(t, probs[:, c].tolist(), marker, ms=3, color=colour[c], label=tl.labels[c])
    ax.set(xlabel="time (s), window centres", ylabel="probability", ylim=(0, 1.0),
           xlim=(0, max(tl.duration, t[-1] if t else 0)))  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    w = tl.windows
    ax.set_title(
        (title + "\n" if title else "")
        + f"{tl.video.name}: window {w.window} frames x{w.stride} ({w.span / tl.fps:.2f} s), "
        f"hop {w.hop / tl.fps:.2f} s" + (f", smoothed over {smooth}" if smooth > 1 else ""),
        fontsize=9,
        pad=16,
    )
    fig.tight_layout()
    atomic_write(Path(path), lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)

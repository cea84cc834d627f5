"""Decoding and preprocessing one clip, the same way on every platform.

This file is the reference the Android and iOS demo apps reproduce (the test
vectors they check against are generated from it), so every step is a simple,
fully specified operation:

1. sampling: ``frames`` indices spread uniformly over the whole video, the
   centre of each of ``frames`` equal segments, ``floor((i + 0.5) * n / frames)``
   (integer arithmetic: ``((2 * i + 1) * n) // (2 * frames)``), as the paper's
   single 64-frame clip "covering the whole video"; or, with ``frame_stride``,
   ``frames`` indices ``stride`` apart centred in the video, looped (modulo n)
   when the video is shorter than the span;
2. crop: the central square of side min(H, W) (offset floor((W - side) / 2));
3. resize: bilinear with half-pixel centres on float32 RGB in [0, 255]
   (OpenCV ``INTER_LINEAR`` on float input, no fixed-point rounding);
4. normalise: x / 255, then (x - mean) / std per channel.

Videos are decoded sequentially with OpenCV and only the sampled frames are
kept, so memory is O(frames), not O(video). Container headers can lie about
the frame count (truncated files); a short read triggers a counting pass and
the indices are recomputed on what is really there.

Hostile files (fuzzed in ``fuzz/video.py``): a frame size beyond
:data:`MAX_PIXELS` is refused before decoding, FFmpeg's reads time out, and
the decode of a clip runs under a watchdog that gives up when no frame has
come for :data:`STALL_SECONDS` (a decoder stuck in C cannot be stopped from
Python; its thread is abandoned and the caller gets the error).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mobilevid.errors import MobilevidError

__all__ = [
    "VideoInfo",
    "augment_frames",
    "clip_tensor",
    "crop_resize",
    "decode_clip",
    "decode_frames",
    "iter_frames",
    "jittered_indices",
    "load_clip",
    "normalize",
    "preprocess_frames",
    "probe",
    "read_frames",
    "sample_indices",
]


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    frames: int  # as the header says; may be wrong
    fps: float
    width: int
    height: int


# Larger frames than this are refused before decoding (8K UHD is 33 M pixels):
# a header that claims 60000 x 60000 would otherwise allocate gigabytes per frame.
MAX_PIXELS = 8192 * 8192
# No frame for this long while decoding a clip: the file is taken as stuck.
STALL_SECONDS = float(os.environ.get("MOBILEVID_DECODE_STALL_SECONDS", "30"))


def _open(path: str | Path):
    import cv2

    p = Path(path)
    if not p.is_file():
        raise MobilevidError(f"{p}: no such video file")
    ms = int(STALL_SECONDS * 1000)  # FFmpeg's own I/O timeouts, via its interrupt callback
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    cap = cv2.VideoCapture(str(p), cv2.CAP_ANY, params)
    if not cap.isOpened():
        raise MobilevidError(f"{p}: cannot open as a video (corrupt or unsupported format)")
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if w * h > MAX_PIXELS or w < 0 or h < 0:
        cap.release()
        raise MobilevidError(f"{p}: frame size {w}x{h} is beyond what mobilevid decodes")
    return cap


def _watched(path: Path, work: Callable[[Callable[[], None]], np.ndarray]) -> np.ndarray:
    """``work(tick)`` in a daemon thread; ``tick()`` says a frame came. Raises
    when none has come for STALL_SECONDS (the thread is left to finish or not;
    a daemon never blocks the exit)."""
    last = [time.monotonic()]
    box: dict[str, object] = {}

    def tick() -> None:
        last[0] = time.monotonic()

    def run() -> None:
        try:
            box["value"] = work(tick)
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e

    t = threading.Thread(target=run, name=f"decode {path.name}", daemon=True)
    t.start()
    while t.is_alive():
        t.join(timeout=min(1.0, STALL_SECONDS))
        if t.is_alive() and time.monotonic() - last[0] > STALL_SECONDS:
            raise MobilevidError(
                f"{path}: decoding stalled (no frame for {STALL_SECONDS:.0f} s); "
                "the file is probably corrupt"
            )
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def probe(path: str | Path) -> VideoInfo:
    import cv2

    cap = _open(path)
    try:
        return VideoInfo(
            Path(path),
            int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
            float(cap.get(cv2.CAP_PROP_FPS)),
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
    finally:
        cap.release()


def sample_indices(
    n: int, frames: int, frame_stride: int | None = None, start: int | None = None
) -> list[int]:
    """Frame indices for one clip from a video of ``n`` frames (see module doc)."""
    if n < 1:
        raise ValueError("video has no frames")
    if frame_stride is None:
        return [((2 * i + 1) * n) // (2 * frames) for i in range(frames)]
    span = frames * frame_stride
    if start is None:
        start = max(0, (n - span) // 2)
    return [(start + i * frame_stride) % n for i in range(frames)]


def _noop() -> None:
    pass


def _count_frames(path: Path, tick: Callable[[], None] = _noop) -> int:
    cap = _open(path)
    n = 0
    try:
        while cap.grab():
            n += 1
            tick()
    finally:
        cap.release()
    return n


def read_frames(
    path: str | Path, indices: list[int], tick: Callable[[], None] = _noop
) -> np.ndarray:
    """Decode the frames at ``indices`` (any order, repeats allowed) as RGB uint8
    (len(indices), H, W, 3). Raises MobilevidError if an index is past the end."""
    import cv2

    path = Path(path)
    wanted = sorted(set(indices))
    got: dict[int, np.ndarray] = {}
    cap = _open(path)
    try:
        i = 0
        last = wanted[-1]
        while i <= last:
            if not cap.grab():
                break
            tick()
            if i in wanted:
                ok, frame = cap.retrieve()
                if not ok or frame is None:
                    break
                got[i] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            i += 1
    finally:
        cap.release()
    missing = [j for j in wanted if j not in got]
    if missing:
        raise MobilevidError(
            f"{path}: video ends at frame {i}, before frame {missing[0]} (truncated or corrupt)"
        )
    return np.stack([got[j] for j in indices])


def crop_resize(
    frames: np.ndarray, size: int, box: tuple[int, int, int] | None = None
) -> np.ndarray:
    """RGB (T, H, W, 3) -> float32 (T, size, size, 3) in [0, 255]: the square
    ``box`` = (y0, x0, side), the central one by default, resized bilinearly."""
    import cv2

    t, h, w, _ = frames.shape
    if box is None:
        side = min(h, w)
        box = ((h - side) // 2, (w - side) // 2, side)
    y0, x0, side = box
    out = np.empty((t, size, size, 3), np.float32)
    for k in range(t):
        crop = frames[k, y0 : y0 + side, x0 : x0 + side].astype(np.float32)
        out[k] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
    return out


def normalize(
    rgb: np.ndarray, mean: tuple[float, float, float], std: tuple[float, float, float]
) -> torch.Tensor:
    """float32 (T, S, S, 3) in [0, 255] -> normalised (3, T, S, S)."""
    out = (rgb / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(out.transpose(3, 0, 1, 2)))


def preprocess_frames(
    frames: np.ndarray,
    size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    box: tuple[int, int, int] | None = None,
) -> torch.Tensor:
    """RGB uint8 (T, H, W, 3) -> normalised float32 (3, T, size, size): the
    central square (or ``box``), resized, normalised."""
    return normalize(crop_resize(frames, size, box), mean, std)


def jittered_indices(
    n: int, frames: int, frame_stride: int | None, rng: np.random.Generator
) -> list[int]:
    """Training sampling: a random frame inside each of the ``frames`` segments
    (the same coverage of the whole video as :func:`sample_indices`, a different
    view each epoch), or a random start for strided clips."""
    if n < 1:
        raise ValueError("video has no frames")
    if frame_stride is None:
        u = rng.random(frames)
        return [min(n - 1, int((i + u[i]) * n / frames)) for i in range(frames)]
    span = frames * frame_stride
    return sample_indices(n, frames, frame_stride, int(rng.integers(0, max(1, n - span + 1))))


def decode_frames(path: Path, pick) -> np.ndarray:
    """The frames ``pick(n)`` of a video of ``n`` frames. A header that lies
    about the frame count (truncated files) costs one counting pass, then the
    indices are picked again from what is really there."""
    path = Path(path)

    def work(tick: Callable[[], None]) -> np.ndarray:
        n = probe(path).frames
        if n > 0:
            try:
                return read_frames(path, pick(n), tick)
            except MobilevidError:
                pass  # the header lied: count what is really there and sample again
        n = _count_frames(path, tick)
        if n == 0:
            raise MobilevidError(f"{path}: no decodable frames (corrupt or empty video)")
        return read_frames(path, pick(n), tick)

    return _watched(path, work)


def decode_clip(
    path: str | Path,
    frames: int,
    frame_stride: int | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The RGB uint8 frames (T, H, W, 3) of one clip: centred sampling, or
    jittered when ``rng`` is given."""

    def pick(n: int) -> list[int]:
        if rng is None:
            return sample_indices(n, frames, frame_stride)
        return jittered_indices(n, frames, frame_stride, rng)

    return decode_frames(Path(path), pick)


def iter_frames(path: str | Path):
    """Every frame of a video in order, RGB uint8 (H, W, 3), one at a time, so
    a long video costs the memory of one frame. Stops at the first frame that
    does not decode (a truncated file ends there)."""
    import cv2

    cap = _open(path)
    try:
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def augment_frames(
    frames: np.ndarray,
    size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.25, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: bool = True,
) -> torch.Tensor:
    """Training view: one random resized crop (torchvision's RandomResizedCrop
    box) and one coin-flip mirror for the whole clip, so motion is untouched.
    Pass ``flip=False`` when left and right are different classes."""
    import cv2

    t, h, w, _ = frames.shape
    area = h * w
    box = (0, 0, h, w)
    for _ in range(10):
        a = area * rng.uniform(*scale)
        r = float(np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1]))))
        cw, ch = round((a * r) ** 0.5), round((a / r) ** 0.5)
        if 0 < cw <= w and 0 < ch <= h:
            y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            box = (y, x, ch, cw)
            break
    else:  # fall back to the central square, as preprocess_frames does
        side = min(h, w)
        box = ((h - side) // 2, (w - side) // 2, side, side)
    y, x, ch, cw = box
    mirror = flip and rng.random() < 0.5
    out = np.empty((t, size, size, 3), np.float32)
    for k in range(t):
        crop = frames[k, y : y + ch, x : x + cw].astype(np.float32)
        out[k] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
    if mirror:
        out = out[:, :, ::-1]
    return normalize(out, mean, std)


def load_clip(
    path: str | Path,
    frames: int,
    size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    frame_stride: int | None = None,
) -> torch.Tensor:
    """One preprocessed clip (3, T, size, size) from a video file."""
    return preprocess_frames(decode_clip(path, frames, frame_stride), size, mean, std)


def clip_tensor(path: str | Path, spec) -> torch.Tensor:
    """(1, 3, T, S, S) clip for a model's :class:`~mobilevid.spec.InputSpec`."""
    return load_clip(path, spec.frames, spec.size, spec.mean, spec.std, spec.frame_stride)[None]

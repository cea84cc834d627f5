"""Fuzz the video path users feed files to: open, probe, sample, decode,
crop/resize, normalize (mobilevid.data.video), as predict/evaluate/train do.

Inputs start from small real videos in several containers and codecs (made
by make_seeds, so the mutations reach the demuxers and decoders, not only the
first bytes). Allowed outcomes: a clip of the asked shape and finite values,
or MobilevidError in one line. A hang is cut by libFuzzer's -timeout.

    python fuzz/video.py -max_total_time=60 [corpus_dir ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["mobilevid"]):
    import numpy as np

    from mobilevid.data.video import decode_clip, load_clip, probe
    from mobilevid.errors import MobilevidError

from common import as_file, check_message

SUFFIXES = (".mp4", ".avi", ".mkv")


def make_seeds(folder: Path) -> None:
    """A few tiny videos (8 frames, 32x24) in mp4/mp4v, avi/MJPG, mkv/XVID."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for suffix, codec in ((".mp4", "mp4v"), (".avi", "MJPG"), (".mkv", "XVID")):
        path = folder / f"seed{suffix}"
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 25, (32, 24))
        for _ in range(8):
            w.write(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
        w.release()
        # libFuzzer reads corpus files as raw bytes: the container is the input
        (folder / f"seed-{codec}").write_bytes(bytes([SUFFIXES.index(suffix)]) + path.read_bytes())
        path.unlink()


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    suffix = SUFFIXES[data[0] % len(SUFFIXES)]  # the first byte picks the file name
    path = as_file(data[1:], suffix)
    try:
        probe(path)
        frames = decode_clip(path, 4)
        assert frames.ndim == 4 and frames.shape[0] == 4 and frames.shape[3] == 3, frames.shape
        clip = load_clip(path, 4, 16, (0.45,) * 3, (0.225,) * 3, frame_stride=2)
        assert tuple(clip.shape) == (3, 4, 16, 16), clip.shape
        assert bool(np.isfinite(clip.numpy()).all())
    except MobilevidError as e:
        check_message(e)


def main() -> None:
    args = sys.argv
    corpus = [a for a in args[1:] if not a.startswith("-")]
    if corpus:
        make_seeds(Path(corpus[-1]))
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

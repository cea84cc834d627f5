"""What every fuzz target shares: where inputs become files, and which
outcomes are allowed (a value, or a one-line MobilevidError; anything else is
a crash that libFuzzer saves and `make fuzz` reports)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# FFmpeg's and OpenCV's own logging, which a broken file makes chatty
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")

TMP = Path(tempfile.mkdtemp(prefix="mobilevid-fuzz-"))


def as_file(data: bytes, suffix: str) -> Path:
    """The input as a file (the code under test opens paths, as users' code does)."""
    p = TMP / f"input{suffix}"
    p.write_bytes(data)
    return p


def check_message(e: Exception) -> None:
    """A user error must read as one line (the CLI prints it as is)."""
    text = str(e)
    if not text or "\n" in text:
        raise AssertionError(f"MobilevidError is not one line: {text!r}")


def cleanup() -> None:
    for p in TMP.iterdir():
        os.unlink(p)
    TMP.rmdir()

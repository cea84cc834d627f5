"""Class names. The 400 Kinetics-400 names ship with the package (from OpenCV's
action-recognition sample data), in the dataset's alphabetical class order."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from mobilevid.errors import MobilevidError

__all__ = ["kinetics400_labels", "load_labels"]


def kinetics400_labels() -> list[str]:
    text = (files("mobilevid.data") / "kinetics400_labels.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_labels(path: str | Path | None, num_classes: int) -> list[str]:
    """Labels from a text file (one per line), or Kinetics-400 for 400 classes,
    or ``class_0 ..`` otherwise; the count must match the classifier."""
    if path is None:
        if num_classes == 400:
            return kinetics400_labels()
        return [f"class_{i}" for i in range(num_classes)]
    p = Path(path)
    if not p.is_file():
        raise MobilevidError(f"{p}: no such labels file")
    labels = [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(labels) != num_classes:
        raise MobilevidError(f"{p}: {len(labels)} labels for a model with {num_classes} classes")
    return labels

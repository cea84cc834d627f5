"""What an artifact is, written beside it as ``<artifact>.json`` for the apps and
for ``mobilevid verify``: model, input spec and preprocessing, labels, weights
provenance, library versions. The same keys go into Core ML's metadata."""

from __future__ import annotations

import json
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mobilevid import __version__
from mobilevid.errors import MobilevidError
from mobilevid.export.schema import (
    FORMAT,
    SCHEMA_VERSION,
    artifact_record,
    check_artifact,
    validate,
)
from mobilevid.files import atomic_write

if TYPE_CHECKING:
    from mobilevid.export.backends import Plan
    from mobilevid.export.source import BuiltModel

__all__ = ["FORMAT", "describe", "file_size", "read_sidecar", "sidecar_path", "write_sidecar"]

INPUT_NAME, OUTPUT_NAME = "video", "logits"


def _version(pkg: str) -> str | None:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return None


def describe(plan: Plan, model: BuiltModel) -> dict[str, Any]:
    """The sidecar of the artifact ``plan`` makes from ``model``."""
    from mobilevid.counting import count

    src = plan.source
    spec = src.spec
    b, c, t, h, w = plan.input_shape
    net = model.float_network()  # count the network, not the fake-quant graph around it
    counts = count(net, plan.input_shape)
    meta = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "mobilevid_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": src.name,
        "family": type(net).__name__,
        "overrides": src.overrides,
        "num_classes": src.num_classes,
        "target": plan.backend.target,
        "backend": plan.backend.name,
        "quantize": plan.quantize,
        "qat": src.qat,
        "ios_target": None,
        "input": {
            "name": INPUT_NAME,
            "shape": [b, c, t, h, w],
            "dtype": "float32",
            "layout": "BCTHW",
            "frames": t,
            "size": h,
            "sampling": (
                "uniform over the whole video: index_i = ((2 * i + 1) * n) // (2 * frames)"
                if spec.frame_stride is None
                else f"{t} frames, stride {spec.frame_stride}, centred, looped"
            ),
            "frame_stride": spec.frame_stride,
            "crop": "central square of side min(H, W), offset floor((W - side) / 2)",
            "resize": "bilinear, half-pixel centres, on float RGB in [0, 255]",
            "color": "RGB",
            "scale": 1.0 / 255.0,
            "mean": list(spec.mean),
            "std": list(spec.std),
        },
        "output": {"name": OUTPUT_NAME, "shape": [b, src.num_classes], "dtype": "float32"},
        "labels": src.labels,
        "weights": src.weights,
        "params": counts.params,
        "gmacs": round(counts.gmacs, 4),
        "versions": {
            p: _version(p) for p in ("torch", "executorch", "coremltools", "torchao", "numpy")
        },
    }
    if src.stream:
        from mobilevid.export.stream import stream_metadata

        k = plan.cfg.step_frames
        meta["input"]["shape"] = [b, c, k, h, w]  # what one call of the program takes
        meta["stream"] = stream_metadata(net, h, k, t)
    meta.update(plan.backend.metadata(plan))
    return meta


def file_size(path: Path) -> int:
    """Bytes of a file, of every file in a package directory (.mlpackage), or
    of an OpenVINO IR with its weights (.xml + .bin)."""
    path = Path(path)
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    weights = path.with_suffix(".bin")
    extra = weights.stat().st_size if path.suffix == ".xml" and weights.is_file() else 0
    return path.stat().st_size + extra


def sidecar_path(artifact: Path) -> Path:
    return Path(str(artifact) + ".json")


def write_sidecar(artifact: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``<artifact>.json``: ``meta`` plus the ``artifact`` record (size
    and sha256 of the file as it is now), validated first so that mobilevid
    never writes a sidecar it would refuse to read. Returns what was written."""
    path = sidecar_path(artifact)
    meta = {**meta, "artifact": artifact_record(artifact)}
    validate(meta, path)
    text = json.dumps(meta, indent=2) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return meta


def read_sidecar(artifact: Path, check: bool = True) -> dict[str, Any]:
    """The sidecar of ``artifact``, validated against the schema and (unless
    ``check=False``) proven to belong to the artifact as it is on disk."""
    path = sidecar_path(artifact)
    if not path.is_file():
        raise MobilevidError(f"{path} is missing: export with mobilevid to get the sidecar")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MobilevidError(f"{path}: not valid JSON ({e})") from None
    except OSError as e:
        raise MobilevidError(f"{path}: cannot read it ({e.strerror})") from None
    record = validate(meta, path).artifact
    if check:
        check_artifact(Path(artifact), path, record)
    return meta

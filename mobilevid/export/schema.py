"""The sidecar's schema, one place for every reader: field names, types and
the rules between them, checked by pydantic (strict: a ``"172"`` is not a size).

A sidecar is also a promise about one file: ``artifact`` records the bytes and
sha256 of the artifact it was written for, so a sidecar copied beside another
model, or a .pte whose weights were flipped after export, is refused instead of
silently running with the wrong preprocessing or labels.

``schema_version`` says which rules a sidecar follows. A reader refuses a
version it does not know (newer: upgrade mobilevid; older: re-export), never
guesses. The JSON Schema of the current version is ``docs/sidecar.schema.json``
(``mobilevid.export.schema.json_schema()``), for app developers.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mobilevid.errors import MobilevidError

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "ArtifactRecord",
    "Sidecar",
    "artifact_files",
    "artifact_record",
    "check_artifact",
    "json_schema",
    "validate",
]

FORMAT = "mobilevid-artifact"
SCHEMA_VERSION = 2
LEGACY_FORMAT = "mobilevid-artifact/1"  # schema 1: no integrity record

Pos = Annotated[int, Field(gt=0)]
Name = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class InputRecord(_Strict):
    """What one call of the program takes, and how a video becomes it."""

    name: Name
    shape: Annotated[list[Pos], Field(min_length=5, max_length=5)]
    dtype: Literal["float32"]
    layout: Literal["BCTHW"]
    frames: Pos
    size: Pos
    sampling: str
    frame_stride: Pos | None
    crop: str
    resize: str
    color: Literal["RGB"]
    scale: Annotated[float, Field(gt=0)]
    mean: Annotated[list[float], Field(min_length=3, max_length=3)]
    std: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=3, max_length=3)]


class OutputRecord(_Strict):
    name: Name
    shape: Annotated[list[Pos], Field(min_length=2, max_length=2)]
    dtype: Literal["float32"]


class StateRecord(_Strict):
    name: Name
    shape: list[Pos]
    dtype: Literal["float32"]
    init: Literal["zeros"]


class StreamRecord(_Strict):
    """A streaming program: forward(frames, *state) -> (logits, *state)."""

    step_frames: Pos
    clip_frames: Pos
    inputs: list[Name]
    outputs: list[Name]
    state: list[StateRecord]

    @model_validator(mode="after")
    def _names(self) -> StreamRecord:
        names = [s.name for s in self.state]
        if self.inputs != ["frames", *names] or self.outputs != ["logits", *names]:
            raise ValueError("inputs/outputs must be frames/logits followed by the state names")
        return self


class ArtifactRecord(_Strict):
    """The file the sidecar belongs to. ``sha256`` covers ``files`` in order:
    for each one, its name (a loose file's suffix, ``.pte``; a package's
    path inside the package), a NUL, its size in decimal, a NUL, its bytes."""

    files: Annotated[list[Name], Field(min_length=1)]
    bytes: Annotated[int, Field(ge=0)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Sidecar(_Strict):
    """``<artifact>.json``. Backend blocks (``delegation``, ``runtime``,
    ``openvino`` ...) are free-form; everything a reader acts on is typed."""

    format: Literal["mobilevid-artifact"]
    schema_version: Literal[2]
    mobilevid_version: str
    created: str
    model: Name
    family: str
    overrides: dict[str, Any]
    num_classes: Pos
    target: Name
    backend: Name
    quantize: Name
    qat: str | None
    ios_target: str | None
    input: InputRecord
    output: OutputRecord
    labels: list[str] | None
    weights: dict[str, Any]
    params: Annotated[int, Field(ge=0)]
    gmacs: Annotated[float, Field(ge=0)]
    versions: dict[str, str | None]
    stream: StreamRecord | None = None
    artifact: ArtifactRecord

    @model_validator(mode="after")
    def _consistent(self) -> Sidecar:
        if self.labels is not None and len(self.labels) != self.num_classes:
            raise ValueError(f"{len(self.labels)} labels for {self.num_classes} classes")
        if self.output.shape[1] != self.num_classes:
            raise ValueError(f"output.shape {self.output.shape} is not [B, num_classes]")
        if self.input.shape[3:] != [self.input.size, self.input.size]:
            raise ValueError(f"input.shape {self.input.shape} does not match input.size")
        return self


def json_schema() -> dict[str, Any]:
    return Sidecar.model_json_schema()


def _where(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err["loc"]) or "(top level)"


def validate(meta: Any, path: Path) -> Sidecar:
    """The sidecar at ``path`` (already parsed JSON) as a :class:`Sidecar`, or
    one line naming the first field at fault and what to do."""
    if not isinstance(meta, dict):
        raise MobilevidError(f"{path}: not a mobilevid sidecar (a JSON object is expected)")
    fmt, version = meta.get("format"), meta.get("schema_version")
    if fmt == LEGACY_FORMAT:
        raise MobilevidError(
            f"{path}: written by an older mobilevid (schema 1, no integrity record); "
            "re-export the artifact"
        )
    if fmt != FORMAT:
        raise MobilevidError(f"{path}: not a mobilevid sidecar (format {fmt!r})")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise MobilevidError(
            f"{path}: schema {version} is newer than this mobilevid reads "
            f"({SCHEMA_VERSION}); upgrade mobilevid"
        )
    try:
        return Sidecar.model_validate(meta)
    except ValidationError as e:
        err = e.errors()[0]
        got = err.get("input")
        shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise MobilevidError(
            f"{path}: field {_where(err)}: {err['msg']}, got {shown[:60]}{more}; "
            "re-export the artifact to get a valid sidecar"
        ) from None


# ------------------------------------------------------------------ integrity
def artifact_files(artifact: Path) -> list[tuple[str, Path]]:
    """(name, file) pairs that make up an artifact: a .pte is one file, an
    OpenVINO IR its .xml and .bin, an .mlpackage every file inside it, sorted.

    Loose files are named by their suffix, not their name, so renaming an
    artifact together with its sidecar keeps the pair valid."""
    artifact = Path(artifact)
    if artifact.is_dir():
        inside = [(p.relative_to(artifact).as_posix(), p) for p in artifact.rglob("*")]
        return sorted((n, p) for n, p in inside if p.is_file())
    files = [(artifact.suffix, artifact)]
    if artifact.suffix == ".xml":
        files.append((".bin", artifact.with_suffix(".bin")))
    return files


def artifact_record(artifact: Path) -> dict[str, Any]:
    """The ``artifact`` block of the sidecar of ``artifact`` (see :class:`ArtifactRecord`)."""
    h = hashlib.sha256()
    total = 0
    names = []
    for rel, f in artifact_files(artifact):
        size = f.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(chunk)
        total += size
        names.append(rel)
    return {"files": names, "bytes": total, "sha256": h.hexdigest()}


def check_artifact(artifact: Path, sidecar: Path, record: ArtifactRecord) -> None:
    """Refuse a sidecar that was written for another file (or a file changed
    after export), in one line naming both."""
    artifact = Path(artifact)
    pairs = artifact_files(artifact)
    missing = [f for _, f in pairs if not f.is_file()]
    if missing:
        raise MobilevidError(f"{missing[0]} is missing (part of {artifact})")
    names, files = [n for n, _ in pairs], [f for _, f in pairs]
    if names != record.files:
        raise MobilevidError(
            f"{sidecar} does not belong to {artifact}: it describes {', '.join(record.files)}"
            "; re-export, or put the artifact's own sidecar beside it"
        )
    size = sum(os.path.getsize(f) for f in files)
    digest = artifact_record(artifact)["sha256"] if size == record.bytes else None
    if size != record.bytes or digest != record.sha256:
        what = f"{size} bytes, not {record.bytes}" if digest is None else "sha256 differs"
        raise MobilevidError(
            f"{sidecar} does not belong to {artifact} ({what}): the file was changed after "
            "export or the sidecar is another artifact's; re-export it"
        )


if __name__ == "__main__":  # python -m mobilevid.export.schema > docs/sidecar.schema.json
    import json

    print(json.dumps(json_schema(), indent=2))

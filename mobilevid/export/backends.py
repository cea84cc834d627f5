"""What every export backend is, and the registry that finds one.

A backend turns a built model into one file for one runtime: it declares its
target (the kind of file), its name, the file extension and the precisions it
makes; it checks a plan against its own rules before any heavy work; it
exports and says how the runtime will run the file. ``export()`` knows nothing
else about it. Adding a backend is one module with a :class:`Backend` subclass
decorated by :func:`register_backend`, and one import line in
``mobilevid/export/__init__.py`` (docs/export.md walks through one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mobilevid.errors import MobilevidError
from mobilevid.export.config import ExportConfig
from mobilevid.export.source import BuiltModel, ModelSource
from mobilevid.ui import Steps

__all__ = [
    "Backend",
    "BackendOutput",
    "ExportResult",
    "Plan",
    "find_backend",
    "list_backends",
    "register_backend",
]


@dataclass(frozen=True)
class Plan:
    """One validated export: the model, the backend, the precision and the
    file, every default resolved. ``cfg`` carries the backend's own options
    (calibration videos, the iOS target)."""

    cfg: ExportConfig
    source: ModelSource
    backend: Backend
    quantize: str
    output: Path

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def target(self) -> str:
        return self.backend.target

    @property
    def input_shape(self) -> tuple[int, int, int, int, int]:
        return self.source.input_shape

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    @property
    def labels(self) -> list[str]:
        return self.source.labels

    @property
    def overrides(self) -> dict[str, Any]:
        return self.source.overrides


@dataclass
class BackendOutput:
    """What a backend reports about the file it wrote."""

    delegation: dict[str, Any] | None = None  # ops in the accelerated backend vs elsewhere
    notes: list[str] = field(default_factory=list)


@dataclass
class ExportResult:
    """The same record from every backend."""

    path: Path
    sidecar: Path
    metadata: dict[str, Any]
    seconds: float
    size_bytes: int
    delegation: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


class Backend:
    """Base class of export backends (one subclass per module, registered)."""

    target: ClassVar[str]  # the kind of file: executorch, coreml
    name: ClassVar[str]  # the runtime backend inside it: xnnpack, coreml
    ext: ClassVar[str]  # file extension, with the dot
    precisions: ClassVar[tuple[str, ...]]  # what --quantize takes here; the first is the default
    qat: ClassVar[str | None] = None  # `train --qat` backend whose checkpoints export here
    summary: ClassVar[str] = ""  # one line for --help and error messages

    def check(self, plan: Plan) -> None:
        """Reject what this backend cannot make, before any heavy work."""

    def metadata(self, plan: Plan) -> dict[str, Any]:
        """Sidecar keys of this backend's own (merged into the common ones)."""
        return {}

    def export(
        self, model: BuiltModel, plan: Plan, meta: dict[str, Any], steps: Steps
    ) -> BackendOutput:
        """Write ``plan.output`` atomically (temp + rename) and describe it."""
        raise NotImplementedError

    def artifact_name(self, model: str, quantize: str) -> str:
        """ExecuTorch benchmark convention: ``<model>_<backend>_<quant><ext>``."""
        return f"{model}_{self.name}_{quantize}{self.ext}"


_BACKENDS: dict[tuple[str, str], Backend] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make ``cls`` findable by (target, name)."""
    key = (cls.target, cls.name)
    if key in _BACKENDS:
        raise RuntimeError(f"export backend {key} registered twice")
    _BACKENDS[key] = cls()
    return cls


def list_backends(target: str | None = None) -> list[Backend]:
    """Registered backends in registration order (a target's default first)."""
    return [b for (t, _), b in _BACKENDS.items() if target is None or t == target]


def find_backend(target: str, name: str | None = None) -> Backend:
    """The backend for ``--target`` (and ``--backend``; default: the target's
    first registered backend)."""
    targets = list(dict.fromkeys(t for t, _ in _BACKENDS))
    if target not in targets:
        raise MobilevidError(f"unknown target {target!r}; choose one of: {', '.join(targets)}")
    options = list_backends(target)
    if name is None:
        return options[0]
    for b in options:
        if b.name == name:
            return b
    raise MobilevidError(
        f"unknown backend {name!r} for --target {target}; "
        f"choose one of: {', '.join(b.name for b in options)}"
    )

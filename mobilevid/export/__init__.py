"""Export a model to a file a phone runs: plan -> build -> (quantize) -> lower ->
save -> describe, one registered module per backend (``executorch.py``,
``executorch_openvino.py``, ``coreml.py``, ``openvino.py``; see
:mod:`mobilevid.export.backends`).

Everything that can be checked is checked by :func:`plan` before the heavy work
starts (name, target, backend, precision, files, output path, the clip against
the network), so a typo costs milliseconds; :func:`export` takes the plan, so a
checkpoint is read once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from mobilevid.errors import MobilevidError

# Backends register themselves on import: one line per backend module (a
# target's first registered backend is its default: executorch -> xnnpack).
from mobilevid.export import coreml, executorch, executorch_openvino, openvino  # noqa: F401
from mobilevid.export.backends import (
    Backend,
    BackendOutput,
    ExportResult,
    Plan,
    find_backend,
    list_backends,
    register_backend,
)
from mobilevid.export.config import ExportConfig
from mobilevid.export.source import (
    BuiltModel,
    ModelSource,
    build,
    check_shape,
    resolve_source,
    source_from_sidecar,
)
from mobilevid.ui import Steps

__all__ = [
    "Backend",
    "BackendOutput",
    "BuiltModel",
    "ExportConfig",
    "ExportResult",
    "ModelSource",
    "Plan",
    "build",
    "check_shape",
    "export",
    "find_backend",
    "list_backends",
    "plan",
    "register_backend",
    "resolve_source",
    "source_from_sidecar",
]


def plan(cfg: ExportConfig) -> Plan:
    """Validate the request and resolve every default, without heavy work."""
    from mobilevid.models import list_models, model_info

    # the model: the one asked for, else the checkpoint's, else VMF-560M
    variant = cfg.variant or (None if cfg.checkpoint else "vmf-560m")
    if variant:
        model_info(variant)  # an unknown name is the first thing to hear about
    backend = find_backend(cfg.target, cfg.backend)
    if cfg.step_frames < 1:
        raise MobilevidError(f"--step-frames must be positive, got {cfg.step_frames}")
    if cfg.calibration_clips < 1:
        raise MobilevidError(f"--calibration-clips must be positive, got {cfg.calibration_clips}")
    for p in cfg.calibration or []:
        if not Path(p).exists():
            raise MobilevidError(f"{p}: calibration video or folder not found")
    source = resolve_source(
        variant, cfg.checkpoint, num_classes=cfg.num_classes, labels=cfg.labels,
        frames=cfg.frames, size=cfg.size, overrides=cfg.overrides, seed=cfg.seed,
    )  # fmt: skip
    if cfg.step_frames != 1 and not source.stream:
        raise MobilevidError(
            f"--step-frames is for stream models ({', '.join(list_models(tag='stream'))}); "
            f"{source.name} takes whole clips"
        )
    if source.stream and source.spec.frames % cfg.step_frames:
        raise MobilevidError(
            f"--step-frames {cfg.step_frames} does not divide the {source.spec.frames}-frame "
            "clip verify feeds through the file; pick a divisor or set --frames"
        )
    quantize = cfg.quantize or ("int8" if source.qat else backend.precisions[0])
    if source.qat:
        # a QAT checkpoint already holds its quantization: its own backend, int8 only
        home = next(b for b in list_backends() if b.qat == source.qat)
        if backend is not home or quantize != "int8":
            raise MobilevidError(
                f"{cfg.checkpoint} was trained with --qat {source.qat}: export it with "
                f"--target {home.target} --backend {home.name} --quantize int8"
            )
    if quantize not in backend.precisions:
        raise MobilevidError(
            f"--quantize {quantize} is not available for {backend.target} ({backend.name}); "
            f"choose one of: {', '.join(backend.precisions)}"
        )
    # model options the user set go into the file name (vit-s-sta-r32_...)
    tag = "".join(f"-{k}{v}" for k, v in sorted((cfg.overrides or {}).items()))
    default = backend.artifact_name(source.name + tag, quantize)
    out = Path(cfg.output) if cfg.output else Path("artifacts") / default
    if out.suffix != backend.ext and (out.is_dir() or not out.suffix):
        out = out / default  # a folder (existing, or a name without extension)
    if out.suffix != backend.ext:
        raise MobilevidError(f"--output for {backend.target} must end in {backend.ext}, got {out}")
    if out.exists() and not cfg.force:
        raise MobilevidError(f"{out} exists; pass --force to overwrite it")
    p = Plan(cfg, source, backend, quantize, out)
    backend.check(p)
    return p


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(time.perf_counter() - t0, 3)


def export(request: ExportConfig | Plan, steps: Steps | None = None) -> ExportResult:
    """Make the artifact of a plan (or of a request, planned first).

    The artifact and its sidecar are made in a staging folder beside the output
    and renamed into place together at the end, while this process holds the
    output's writer lock: a second export to the same file is refused, and a
    kill, a signal or a full disk at any point leaves the previous pair as it
    was (at worst, a kill between the two renames leaves a new artifact beside
    the old sidecar, which every reader then refuses by its sha256)."""
    from mobilevid.export.artifact import describe, file_size, sidecar_path, write_sidecar
    from mobilevid.files import exclusive, replace_into, staging

    steps = steps or Steps(enabled=False)
    t0 = time.perf_counter()
    p = request if isinstance(request, Plan) else plan(request)
    timings: dict[str, float] = {}
    ckpt = p.cfg.checkpoint
    with exclusive(p.output, "exporting to"), staging(p.output) as staged:
        if p.output.exists() and not p.cfg.force:  # made since the plan was checked
            raise MobilevidError(f"{p.output} exists; pass --force to overwrite it")
        what = f"building {p.name}" + (f" from {ckpt}" if ckpt else "")
        with _timed(timings, "build"), steps.step(what):
            model = build(p.source)
        meta = describe(p, model)
        with _timed(timings, p.backend.name):
            out = p.backend.export(model, replace(p, output=staged), meta, steps)
        meta["delegation"] = out.delegation
        with _timed(timings, "sidecar"), steps.step("writing sidecar"):
            meta = write_sidecar(staged, meta)
            if p.output.suffix == ".xml":  # the IR's weights first, as openvino._save
                os.replace(staged.with_suffix(".bin"), p.output.with_suffix(".bin"))
            replace_into(staged, p.output)
            os.replace(sidecar_path(staged), sidecar := sidecar_path(p.output))
    return ExportResult(
        p.output, sidecar, meta, time.perf_counter() - t0, file_size(p.output),
        out.delegation, out.notes, timings,
    )  # fmt: skip

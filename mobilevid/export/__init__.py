"""Export a model to a file a phone runs: eval -> export -> (quantize) -> lower ->
save -> describe, one small module per backend (``executorch.py``, ``coreml.py``).

Everything that can be checked is checked before the heavy work starts (name,
target, precision, files, output path), so a typo costs milliseconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from mobilevid.errors import MobilevidError
from mobilevid.ui import Steps

__all__ = [
    "TARGETS",
    "ExportConfig",
    "ExportResult",
    "Target",
    "build_model",
    "check_shape",
    "export",
    "plan",
]


@dataclass(frozen=True)
class Target:
    name: str
    backend: str
    ext: str
    quantize: tuple[str, ...]  # first = default

    @property
    def default_quantize(self) -> str:
        return self.quantize[0]


TARGETS = {
    "executorch": Target("executorch", "xnnpack", ".pte", ("fp32", "int8")),
    "coreml": Target("coreml", "coreml", ".mlpackage", ("fp16", "fp32", "int8", "int4")),
}
IOS_TARGETS = ("iOS17", "iOS18")


@dataclass
class ExportConfig:
    """One export request. Field names are the CLI's flag names and the recipe
    keys, so a recipe, the flags and Python callers fill the same object."""

    variant: str = "vmf-560m"
    target: str = "executorch"
    quantize: str | None = None  # executorch fp32|int8; coreml fp16|fp32|int8|int4 (weights)
    checkpoint: Path | None = None
    calibration: list[Path] | None = None  # videos or folders; default: the sample clips
    calibration_clips: int = 24
    output: Path | None = None  # a file name, or a folder for the default name
    force: bool = False
    ios_target: str = "iOS17"
    num_classes: int | None = None  # default: the checkpoint's, else 400
    labels: Path | None = None
    frames: int | None = None  # override the model's input spec (small test shapes)
    size: int | None = None
    seed: int = 0  # weights without --checkpoint: torch.manual_seed(seed) + create_model
    overrides: dict[str, Any] | None = None  # create_model options (e.g. STA r), over the ckpt's

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


@dataclass
class ExportResult:
    path: Path
    sidecar: Path
    metadata: dict[str, Any]
    seconds: float
    size_bytes: int
    delegation: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Plan:
    cfg: ExportConfig
    name: str
    target: Target
    quantize: str
    output: Path
    input_shape: tuple[int, int, int, int, int]
    num_classes: int
    checkpoint: Any  # Checkpoint | None
    labels: list[str]
    overrides: dict[str, Any]


def artifact_name(model: str, target: Target, quantize: str) -> str:
    """ExecuTorch benchmark convention: ``<model>_<backend>_<quant><ext>``."""
    return f"{model}_{target.backend}_{quantize}{target.ext}"


def plan(cfg: ExportConfig) -> Plan:
    """Validate the request and resolve every default, without heavy work."""
    from mobilevid.checkpoint import load_checkpoint
    from mobilevid.data.labels import load_labels
    from mobilevid.models import model_info

    info = model_info(cfg.variant)
    if cfg.target not in TARGETS:
        raise MobilevidError(f"unknown target {cfg.target!r}; choose one of: {', '.join(TARGETS)}")
    target = TARGETS[cfg.target]
    ckpt = load_checkpoint(cfg.checkpoint) if cfg.checkpoint else None
    meta = ckpt.meta if ckpt else {}
    qat = meta.get("qat")
    quantize = cfg.quantize or ("int8" if qat else target.default_quantize)
    if qat:
        # a QAT checkpoint already holds its quantization: one target, int8 only
        want = {"xnnpack": "executorch", "coreml": "coreml"}[str(qat)]
        if target.name != want or quantize != "int8":
            raise MobilevidError(
                f"{cfg.checkpoint} was trained with --qat {qat}: export it with "
                f"--target {want} --quantize int8"
            )
    if quantize not in target.quantize:
        raise MobilevidError(
            f"--quantize {quantize} is not available for {target.name}; "
            f"choose one of: {', '.join(target.quantize)}"
        )
    if cfg.ios_target not in IOS_TARGETS:
        raise MobilevidError(f"--ios-target must be one of {', '.join(IOS_TARGETS)}")
    if quantize == "int4" and cfg.ios_target < "iOS18":
        raise MobilevidError("Core ML int4 weights (per-block) need iOS 18: add --ios-target iOS18")
    for name in ("frames", "size", "calibration_clips", "num_classes"):
        v = getattr(cfg, name)
        if v is not None and v < 1:
            raise MobilevidError(f"--{name.replace('_', '-')} must be positive, got {v}")
    for p in cfg.calibration or []:
        if not Path(p).exists():
            raise MobilevidError(f"{p}: calibration video or folder not found")

    if meta.get("variant") and model_info(str(meta["variant"])).name != info.name:
        raise MobilevidError(
            f"{cfg.checkpoint} was trained as {meta['variant']}, not {info.name}: "
            f"use --variant {meta['variant']}"
        )
    num_classes = cfg.num_classes or int(meta.get("num_classes") or 400)
    overrides = {**(meta.get("overrides") or {}), **(cfg.overrides or {})}
    if quantize == "int8" and target.name == "executorch" and info.family == "vit":
        raise MobilevidError(
            f"{info.name}: int8 ExecuTorch export is not available for the ViT family "
            "(no int8 recipe for its attention and token selection); use --quantize fp32"
        )
    labels = load_labels(cfg.labels, num_classes)
    if cfg.labels is None and meta.get("labels") and len(meta["labels"]) == num_classes:
        labels = list(meta["labels"])

    # a checkpoint trained at a reduced input (mobilevid train --frames/--size)
    # exports at that input unless told otherwise
    spec = info.input
    frames = cfg.frames or meta.get("frames") or spec.frames
    side = cfg.size or meta.get("size") or spec.size
    shape = (1, 3, int(frames), int(side), int(side))
    check_shape(info.name, shape, num_classes, overrides)
    # model options the user set go into the file name (vit-s-sta-r32_...)
    tag = "".join(f"-{k}{v}" for k, v in sorted((cfg.overrides or {}).items()))
    default = artifact_name(info.name + tag, target, quantize)
    out = Path(cfg.output) if cfg.output else Path("artifacts") / default
    if out.suffix != target.ext and (out.is_dir() or not out.suffix):
        out = out / default  # a folder (existing, or a name without extension)
    if out.suffix != target.ext:
        raise MobilevidError(f"--output for {target.name} must end in {target.ext}, got {out}")
    if out.exists() and not cfg.force:
        raise MobilevidError(f"{out} exists; pass --force to overwrite it")
    return Plan(cfg, info.name, target, quantize, out, shape, num_classes, ckpt, labels, overrides)


def check_shape(name: str, shape: tuple[int, ...], num_classes: int, overrides: dict) -> None:
    """Propagate shapes on the meta device (no compute) to reject clips that are
    too short or too small for the network before any real work."""
    from mobilevid.models import create_model

    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes, **overrides).eval()
        try:
            model(torch.empty(shape))
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise MobilevidError(
                f"input {tuple(shape)} does not fit {name} ({first}); "
                "use more --frames or a larger --size"
            ) from None


def build_model(
    name: str,
    num_classes: int,
    overrides: dict[str, Any],
    checkpoint=None,
    seed: int = 0,
    input_shape: tuple[int, ...] | None = None,
) -> torch.nn.Module:
    """The eager model an artifact is made from (and verified against). For a
    QAT checkpoint that is the prepared QAT model (fake quantization in place),
    built for ``input_shape``."""
    from mobilevid.checkpoint import load_into
    from mobilevid.models import create_model, model_info

    torch.manual_seed(seed)
    if checkpoint is not None and checkpoint.meta.get("qat"):
        from mobilevid.train.qat import qat_model

        if input_shape is None:
            raise ValueError("a QAT model is built for one input shape")
        model = qat_model(name, num_classes, overrides, checkpoint, torch.zeros(input_shape))
        info = model_info(name)
        model.model_name, model.input_spec, model.qat = (
            info.name,
            info.input,
            checkpoint.meta["qat"],
        )
        return model.eval()
    model = create_model(name, num_classes=num_classes, **overrides)
    if checkpoint is not None:
        load_into(model, checkpoint)
    return model.eval()


def export(cfg: ExportConfig, steps: Steps | None = None) -> ExportResult:
    from mobilevid.export.artifact import describe, write_sidecar

    steps = steps or Steps(enabled=False)
    t0 = time.perf_counter()
    p = plan(cfg)
    with steps.step(f"building {p.name}" + (f" from {cfg.checkpoint}" if cfg.checkpoint else "")):
        model = build_model(
            p.name, p.num_classes, p.overrides, p.checkpoint, cfg.seed, p.input_shape
        )
    meta = describe(p, model)
    if p.target.name == "executorch":
        from mobilevid.export.executorch import export_executorch

        delegation, notes = export_executorch(model, p, steps)
    else:
        from mobilevid.export.coreml import export_coreml

        delegation, notes = None, export_coreml(model, p, meta, steps)
    meta["delegation"] = delegation
    with steps.step("writing sidecar"):
        sidecar = write_sidecar(p.output, meta)
    size = _size(p.output)
    return ExportResult(p.output, sidecar, meta, time.perf_counter() - t0, size, delegation, notes)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size

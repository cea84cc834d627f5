"""Which network, with which weights, at which input: resolved once, handed along.

A user names a model in several ways (``--variant``, a checkpoint whose
metadata says what it is, an artifact's sidecar) and export, ``predict``,
``evaluate``, ``bench`` and ``verify`` all need the same answers from them:
the registered model, its classes and labels, its model options, the clip it
takes, whether it was trained quantization-aware, and where its weights came
from. :func:`resolve_source` is the one place those rules live (the checkpoint
is read once); :func:`build` turns a :class:`ModelSource` into a
:class:`BuiltModel`, the record that travels with the module instead of
attributes stuck onto it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mobilevid.checkpoint import Checkpoint, file_sha256, load_checkpoint, load_into, resolve
from mobilevid.errors import MobilevidError
from mobilevid.models import ModelInfo, PaperFigures, create_model, model_info
from mobilevid.quantize import QATModel, load_qat
from mobilevid.spec import InputSpec

__all__ = [
    "BuiltModel",
    "ModelSource",
    "build",
    "check_shape",
    "resolve_source",
    "source_from_sidecar",
]

DEFAULT_CLASSES = 400  # Kinetics-400, the papers' dataset


@dataclass(frozen=True)
class ModelSource:
    """Everything needed to rebuild one network exactly; no tensors but the
    checkpoint's."""

    info: ModelInfo
    num_classes: int
    labels: list[str]
    overrides: dict[str, Any]
    spec: InputSpec  # the model's spec with the clip it is used at (frames, size)
    checkpoint: Checkpoint | None = None
    seed: int = 0  # weights without a checkpoint: torch.manual_seed(seed) + create_model
    qat: str | None = None  # the backend a QAT checkpoint was trained for
    sha256: str | None = field(default=None, compare=False)  # of the checkpoint file

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def input_shape(self) -> tuple[int, int, int, int, int]:
        return self.spec.shape(1)

    @property
    def stream(self) -> bool:
        """A stream model: exported as a step over frames with carried state."""
        return "stream" in self.info.tags

    @property
    def weights(self) -> dict[str, Any]:
        """Provenance, as the sidecar records it and ``verify`` checks it."""
        if self.checkpoint is not None:
            return {"checkpoint": str(self.checkpoint.path), "sha256": self.sha256}
        return {"init": "deterministic", "seed": self.seed}

    @property
    def default_weights(self) -> bool:
        """The zoo's seeded weights, as the bench exports them (no options)."""
        return (
            self.checkpoint is None
            and self.seed == 0
            and not self.overrides
            and self.num_classes == DEFAULT_CLASSES
        )


@dataclass
class BuiltModel:
    """An eager model and what it is. ``module`` is the float network, or for a
    QAT checkpoint the prepared model with its fake quantization (``qat``)."""

    module: nn.Module
    source: ModelSource
    qat: QATModel | None = None

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def spec(self) -> InputSpec:
        return self.source.spec

    @property
    def paper(self) -> PaperFigures | None:
        return self.source.info.paper

    def float_network(self) -> nn.Module:
        """The network without fake quantization (what is counted)."""
        if self.qat is None:
            return self.module
        s = self.source
        return create_model(s.name, num_classes=s.num_classes, **s.overrides)


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise MobilevidError(f"--{name.replace('_', '-')} must be positive, got {value}")


def resolve_source(
    variant: str | None = None,
    checkpoint: str | Path | None = None,
    *,
    num_classes: int | None = None,
    labels: str | Path | None = None,
    frames: int | None = None,
    size: int | None = None,
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
) -> ModelSource:
    """Resolve what a user asked for into one :class:`ModelSource`.

    The rules, the same for every command: the checkpoint's metadata names the
    model (``variant`` must agree with it); classes come from the option, else
    the checkpoint, else 400; labels from the file, else the checkpoint, else
    the Kinetics-400 names (400 classes) or ``class_i``; a checkpoint trained at
    a reduced input (``train --frames/--size``) is used at that input unless
    told otherwise; model options are the checkpoint's, updated by the user's.
    The clip is then checked against the network on the meta device."""
    from mobilevid.data.labels import load_labels

    for name, v in (("num_classes", num_classes), ("frames", frames), ("size", size)):
        _positive(name, v)
    ckpt = load_checkpoint(checkpoint) if checkpoint is not None else None
    meta = ckpt.meta if ckpt else {}
    if variant is None and not meta.get("variant"):
        raise MobilevidError(f"{checkpoint} does not say which model it is: add --variant")
    info = model_info(str(variant or meta["variant"]))
    if meta.get("variant") and model_info(str(meta["variant"])).name != info.name:
        raise MobilevidError(
            f"{checkpoint} was trained as {meta['variant']}, not {info.name}: "
            f"use --variant {meta['variant']}"
        )
    classes = num_classes or int(meta.get("num_classes") or DEFAULT_CLASSES)
    names = load_labels(labels, classes)
    if labels is None and meta.get("labels") and len(meta["labels"]) == classes:
        names = list(meta["labels"])
    spec = replace(
        info.input,
        frames=int(frames or meta.get("frames") or info.input.frames),
        size=int(size or meta.get("size") or info.input.size),
    )
    opts = {**(meta.get("overrides") or {}), **(overrides or {})}
    check_shape(info.name, spec.shape(1), classes, opts)
    return ModelSource(
        info, classes, names, opts, spec, ckpt, seed, meta.get("qat") or None,
        file_sha256(ckpt.path) if ckpt is not None and ckpt.path else None,
    )  # fmt: skip


def source_from_sidecar(meta: dict[str, Any], checkpoint: str | Path | None = None) -> ModelSource:
    """The source an artifact was exported from, read from its sidecar: the
    same model, options, classes and input; the same weights (the checkpoint,
    checked by sha256 so a retrained file is not mistaken for it, or the
    seeded init)."""
    w = meta.get("weights", {})
    inp = meta["input"]
    path = None
    if "checkpoint" in w:
        path = resolve(checkpoint) if checkpoint else Path(w["checkpoint"])
        if not path.is_file():
            raise MobilevidError(
                f"the artifact was exported from {w['checkpoint']}; pass it with --checkpoint"
            )
        if file_sha256(path) != w.get("sha256"):
            raise MobilevidError(f"{path} is not the checkpoint this artifact was exported from")
    elif checkpoint:
        raise MobilevidError("the artifact was exported without a checkpoint (seeded init)")
    src = resolve_source(
        meta["model"], path, num_classes=int(meta["num_classes"]),
        frames=int(inp["frames"]), size=int(inp["size"]), overrides=meta.get("overrides") or {},
        seed=int(w.get("seed", 0)),
    )  # fmt: skip
    return replace(src, labels=list(meta.get("labels") or src.labels))


def check_shape(name: str, shape: tuple[int, ...], num_classes: int, overrides: dict) -> None:
    """Propagate shapes on the meta device (no compute) to reject clips that are
    too short or too small for the network before any real work."""
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


def build(source: ModelSource) -> BuiltModel:
    """The eager model an artifact is made from (and verified against), in eval
    mode. For a QAT checkpoint that is the prepared QAT model (fake quantization
    in place), built for the source's input shape."""
    s = source
    torch.manual_seed(s.seed)
    model = create_model(s.name, num_classes=s.num_classes, **s.overrides)
    if s.checkpoint is not None and s.qat:
        where = str(s.checkpoint.path or "checkpoint")
        qat = load_qat(model, s.qat, s.checkpoint.state_dict, torch.zeros(s.input_shape), where)
        return BuiltModel(qat.module.eval(), s, qat)
    if s.checkpoint is not None:
        load_into(model, s.checkpoint, s.name)
    return BuiltModel(model.eval(), s)

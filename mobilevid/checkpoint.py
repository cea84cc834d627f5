"""Checkpoints: loaded safely, written atomically.

A mobilevid checkpoint is a dict ``{"model": state_dict, "variant": name,
"num_classes": n, "overrides": {...}, ...}``; a plain
``torch.save(model.state_dict())`` is accepted too. Loading always uses
``weights_only=True`` (no pickle code runs), and DDP's ``module.`` prefixes and
``model``/``state_dict`` wrappers are unwrapped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mobilevid.errors import MobilevidError
from mobilevid.files import atomic_write

__all__ = [
    "Checkpoint",
    "atomic_write",
    "file_sha256",
    "load_checkpoint",
    "load_into",
    "load_strict",
    "load_training_state",
    "save_checkpoint",
    "slim",
]

_WRAPPERS = ("model", "state_dict", "model_state", "module")


@dataclass
class Checkpoint:
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# Checkpoints that ship inside the package, by name: `--checkpoint builtin:NAME`.
BUILTIN = {
    # VMF-560M trained on the built-in synthetic motion set (16 x 64 x 64, 8
    # classes) by `make builtin-weights`; fp16 to halve the download
    "vmf-560m-motion": "weights/vmf-560m_motion.pt",
    # MoViNet-A0-Stream on the same set (2 epochs of 1024 clips, 96.9% val top-1),
    # also by `make builtin-weights`: trained weights for the streaming checks
    "movinet-a0-stream-motion": "weights/movinet-a0-stream_motion.pt",
}


def resolve(path: str | Path) -> Path:
    """A file path, or ``builtin:NAME`` for a checkpoint shipped with mobilevid."""
    text = str(path)
    if not text.startswith("builtin:"):
        return Path(path)
    name = text.removeprefix("builtin:")
    if name not in BUILTIN:
        raise MobilevidError(
            f"unknown built-in checkpoint {name!r}; there is: {', '.join(BUILTIN)}"
        )
    return Path(__file__).parent / BUILTIN[name]


def _load(p: Path) -> Any:
    if not p.is_file():
        raise MobilevidError(f"{p}: no such checkpoint file")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle with code, not a torch file, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MobilevidError(f"{p}: not a readable PyTorch checkpoint ({first[:160]})") from None


def load_training_state(path: str | Path) -> dict[str, Any]:
    """The whole dict of a training checkpoint (optimizer, scheduler, RNG), for --resume."""
    obj = _load(Path(path))
    if not isinstance(obj, dict) or not isinstance(obj.get("model"), dict):
        raise MobilevidError(f"{path}: not a mobilevid training checkpoint")
    return obj


def load_checkpoint(path: str | Path) -> Checkpoint:
    p = resolve(path)
    obj = _load(p)
    meta: dict[str, Any] = {}
    while isinstance(obj, dict):
        key = next((k for k in _WRAPPERS if k in obj and isinstance(obj[k], dict)), None)
        if key is None:
            break
        # keep small metadata (variant, num_classes, labels, overrides, epoch, ...),
        # not the optimizer/scheduler states that share the dict
        meta.update(
            {
                k: v
                for k, v in obj.items()
                if k != key and (k == "overrides" or not isinstance(v, dict | torch.Tensor))
            }
        )
        obj = obj[key]
    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise MobilevidError(f"{p}: no model state_dict found in the checkpoint")
    sd = {k.removeprefix("module."): v for k, v in obj.items()}
    return Checkpoint(sd, meta, p)


def load_into(model: nn.Module, ckpt: Checkpoint, name: str | None = None) -> None:
    """Load a checkpoint's weights strictly into ``model`` (called ``name`` in
    errors): see :func:`load_strict`."""
    load_strict(model, ckpt.state_dict, str(ckpt.path or "checkpoint"), name)


def load_strict(
    model: nn.Module,
    state_dict: dict[str, torch.Tensor],
    where: str,
    name: str | None = None,
    optional: set[str] | frozenset[str] = frozenset(),
    check_shapes: bool = True,
) -> None:
    """Load strictly, turning key and shape mismatches into one-line errors that
    say what to do (another variant? another classifier size?). Keys in
    ``optional`` may be absent (new layers on a pretrained backbone) and keep
    the model's own values. ``check_shapes=False`` leaves shapes to the modules
    (fake-quant modules size their per-channel scales from the state they load)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict and k not in optional]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if check_shapes and k in own and v.shape != own[k].shape
    ]
    name = name or type(model).__name__
    if missing or unexpected:
        raise MobilevidError(
            f"{where} does not fit {name}: {len(missing)} missing keys "
            f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}); "
            "is it for another variant or another mobilevid version?"
        )
    if shapes:
        hint = (
            " (match the classifier size: --num-classes, or num_classes= in Python)"
            if any("classifier" in s or "fc." in s or s.startswith("head.") for s in shapes)
            else ""
        )
        raise MobilevidError(f"{where}: shape mismatch for {shapes[0]}{hint}")
    model.load_state_dict(state_dict, strict=not any(k not in state_dict for k in optional))


def save_checkpoint(path: str | Path, model: nn.Module, **meta: Any) -> None:
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_write(Path(path), lambda tmp: torch.save({"model": sd, **meta}, tmp))


def slim(src: str | Path, dst: str | Path) -> None:
    """A checkpoint to ship: the weights in fp16 (half the bytes; loading casts
    them back) and the metadata, without optimizer or RNG state."""
    ck = load_checkpoint(src)
    sd = {k: v.half() if v.is_floating_point() else v for k, v in ck.state_dict.items()}
    atomic_write(Path(dst), lambda tmp: torch.save({"model": sd, **ck.meta}, tmp))

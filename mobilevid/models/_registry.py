"""One registry for every model family, in the manner of timm.

Builders register themselves with the metadata a user chooses by (input spec and
the paper's figures), so ``list_models``, ``mobilevid profile`` and the tests can
walk the zoo without importing anything but this module and the family files.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from mobilevid.errors import MobilevidError

__all__ = [
    "InputSpec",
    "ModelInfo",
    "PaperFigures",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
    "resolve_name",
]

KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)


@dataclass(frozen=True)
class InputSpec:
    """What one clip looks like when it reaches the network.

    Layout is always (B, 3, T, H, W), RGB in [0, 1] before normalisation; the
    Kinetics mean/std of PySlowFast/X3D are the default because the paper trains
    from scratch on Kinetics with that recipe.
    """

    frames: int = 64
    size: int = 224
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD
    layout: str = "BCTHW"
    frame_stride: int | None = None  # None: one clip spread over the whole video

    def shape(self, batch: int = 1) -> tuple[int, int, int, int, int]:
        return (batch, 3, self.frames, self.size, self.size)


@dataclass(frozen=True)
class PaperFigures:
    """Numbers a paper reports for this exact model, kept beside the model so
    tests can recompute params/MACs and compare (torchvision does the same)."""

    source: str
    params_m: float | None = None
    gmacs: float | None = None
    top1: float | None = None
    top5: float | None = None
    dataset: str = "Kinetics-400"
    note: str = ""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    family: str
    builder: Callable[..., nn.Module]
    input: InputSpec
    paper: PaperFigures | None = None
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default=())


_REGISTRY: dict[str, ModelInfo] = {}
_ALIASES: dict[str, str] = {}


def register_model(
    *,
    family: str,
    input: InputSpec,
    paper: PaperFigures | None = None,
    aliases: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a builder under its function name with ``_`` spelled ``-``."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__.replace("_", "-")
        if name in _REGISTRY:
            raise RuntimeError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelInfo(name, family, fn, input, paper, aliases, tags)
        for alias in aliases:
            _ALIASES[alias] = name
        return fn

    return wrap


def list_models(family: str | None = None, tag: str | None = None) -> list[str]:
    """Registered names in registration order (the order of the papers' tables)."""
    return [
        n
        for n, info in _REGISTRY.items()
        if (family is None or info.family == family) and (tag is None or tag in info.tags)
    ]


def resolve_name(name: str) -> str:
    """Canonical name for what a user typed (``560m``, ``VMF-560M``, ``vmf_560m``)."""
    key = name.strip().lower().replace("_", "-")
    if key in _REGISTRY:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    valid = list_models()
    close = difflib.get_close_matches(key, valid + list(_ALIASES), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise MobilevidError(f"unknown model {name!r}.{hint} Valid: {', '.join(valid)}")


def model_info(name: str) -> ModelInfo:
    return _REGISTRY[resolve_name(name)]


def create_model(name: str, num_classes: int = 400, **overrides) -> nn.Module:
    """Build a registered model; overrides that are None are dropped so a CLI can
    pass every option through without deciding which ones the user set."""
    info = model_info(name)
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    try:
        model = info.builder(num_classes=num_classes, **kwargs)
    except (TypeError, ValueError) as e:  # an unknown override, or a value out of range
        raise MobilevidError(f"{info.name}: {e}") from None
    model.model_name = info.name
    model.input_spec = info.input
    model.paper = info.paper
    return model

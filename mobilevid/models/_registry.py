"""One registry for every model family, in the manner of timm.

Builders register themselves with the metadata a user chooses by (input spec and
the paper's figures), so ``list_models``, ``mobilevid profile`` and the tests can
walk the zoo without importing anything but this module and the family files.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from mobilevid.errors import MobilevidError
from mobilevid.spec import InputSpec

__all__ = [
    "ModelInfo",
    "PaperFigures",
    "check_overrides",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
    "resolve_name",
]


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
    # classes of the classifier the paper's parameter count includes (MoViNet
    # counts its Kinetics-600 models: 2048 x 200 more weights than ours)
    num_classes: int = 400


@dataclass(frozen=True)
class ModelInfo:
    name: str
    family: str
    builder: Callable[..., nn.Module]
    input: InputSpec
    paper: PaperFigures | None = None
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default=())
    config: type | None = None  # the frozen dataclass whose fields are the builder's overrides
    # the paper's fine-tuning recipe: `mobilevid train` flags the user did not give
    train_defaults: tuple[tuple[str, Any], ...] = ()
    # maps a released checkpoint's keys to ours (mmaction's "backbone." etc.), for --init
    adapt_state_dict: Callable[[dict], dict] | None = None


_REGISTRY: dict[str, ModelInfo] = {}
_ALIASES: dict[str, str] = {}


def register_model(
    *,
    family: str,
    input: InputSpec,
    paper: PaperFigures | None = None,
    config: type | None = None,
    aliases: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    train_defaults: dict[str, Any] | None = None,
    adapt_state_dict: Callable[[dict], dict] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a builder under its function name with ``_`` spelled ``-``."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__.replace("_", "-")
        if name in _REGISTRY:
            raise RuntimeError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelInfo(
            name, family, fn, input, paper, aliases, tags, config,
            tuple((train_defaults or {}).items()), adapt_state_dict,
        )  # fmt: skip
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


def create_model(name: str, num_classes: int = 400, **overrides: Any) -> nn.Module:
    """Build a registered model. Overrides that are None are dropped, so a CLI
    can pass every option through without deciding which ones the user set;
    the rest must be fields of the model's config with values of the field's
    type (a user error otherwise, naming the valid fields). Anything else a
    builder raises is a bug and keeps its traceback."""
    info = model_info(name)
    kwargs = check_overrides(info, {k: v for k, v in overrides.items() if v is not None})
    return info.builder(num_classes=num_classes, **kwargs)


def check_overrides(info: ModelInfo, overrides: dict[str, Any]) -> dict[str, Any]:
    """The overrides, checked against ``info.config``'s fields and types (a list
    for a tuple field, as YAML and ``--set`` write it, becomes a tuple)."""
    if not overrides:
        return {}
    if info.config is None:
        raise MobilevidError(f"{info.name} takes no model options, got {', '.join(overrides)}")
    hints = typing.get_type_hints(info.config)
    names = [f.name for f in dataclasses.fields(info.config)]
    out = {}
    for key, value in overrides.items():
        if key not in hints:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise MobilevidError(
                f"{info.name}: unknown option {key!r}.{hint} Valid: {', '.join(names)}"
            )
        ok, fitted = _fits(value, hints[key])
        if not ok:
            raise MobilevidError(
                f"{info.name}: option {key} must be {_type_name(hints[key])}, got {value!r}"
            )
        out[key] = fitted
    return out


def _fits(value: Any, hint: Any) -> tuple[bool, Any]:
    """(does ``value`` fit the annotation ``hint``, the value as the field takes it)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        for a in args:
            ok, v = _fits(value, a)
            if ok:
                return True, v
        return False, value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return False, value
        item = args[0] if args else Any
        fitted = [_fits(v, item) for v in value]
        return all(ok for ok, _ in fitted), tuple(v for _, v in fitted)
    if hint is Any:
        return True, value
    if hint is type(None):
        return value is None, value
    if hint is float:  # an int is a float here; a bool is neither
        return isinstance(value, int | float) and not isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    return isinstance(value, hint), value


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is tuple:
        plural = {int: "integers", float: "numbers", str: "strings"}
        item = typing.get_args(hint)[0]
        return "a list of " + plural.get(item, getattr(item, "__name__", str(item)))
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )

"""Declarative export recipes (``export_recipes/*.yaml``).

A recipe is a flat mapping whose keys are :class:`ExportConfig` fields plus an
optional ``description``. ``mobilevid export --recipe NAME|FILE`` loads it and
command-line flags override its fields. Mistakes are caught here, with the file
and the key named, before any model is built.
"""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

from mobilevid.errors import MobilevidError
from mobilevid.export.config import ExportConfig

__all__ = ["find_recipe", "list_recipes", "load_recipe", "recipe_dirs"]


def recipe_dirs() -> list[Path]:
    """Where recipe names are looked up: ./export_recipes, then the checkout's."""
    dirs = [Path.cwd() / "export_recipes", Path(__file__).resolve().parents[2] / "export_recipes"]
    return [d for i, d in enumerate(dirs) if d.is_dir() and d not in dirs[:i]]


def list_recipes() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in recipe_dirs():
        for f in sorted(d.glob("*.yaml")):
            found.setdefault(f.stem, f)
    return found


def find_recipe(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.is_file():
        return p
    known = list_recipes()
    if str(name_or_path) in known:
        return known[str(name_or_path)]
    names = ", ".join(known) or "(none found)"
    raise MobilevidError(f"no recipe {str(name_or_path)!r}: give a YAML file or one of {names}")


def _coerce(key: str, value: Any, hint: Any, where: str) -> Any:
    """Check a recipe value against the ExportConfig field's type."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if origin in (types.UnionType, typing.Union) and len(args) == 1:
        return _coerce(key, value, args[0], where)
    if origin is list:
        vals = value if isinstance(value, list) else [value]
        return [_coerce(key, v, args[0], where) for v in vals]
    if hint is Path:
        if not isinstance(value, str):
            raise MobilevidError(f"{where}: {key} must be a path string, got {value!r}")
        return Path(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise MobilevidError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MobilevidError(f"{where}: {key} must be an integer, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise MobilevidError(f"{where}: {key} must be a string, got {value!r}")
        return value
    if origin is dict:  # model options: a mapping of names to scalars
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, int | float | str | bool) for k, v in value.items()
        ):
            raise MobilevidError(f"{where}: {key} must map option names to values, got {value!r}")
        return dict(value)
    raise MobilevidError(f"{where}: unsupported key {key}")


def load_recipe(name_or_path: str | Path) -> dict[str, Any]:
    """The recipe's fields, validated, as ExportConfig keyword arguments."""
    import yaml

    path = find_recipe(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise MobilevidError(f"{path}: not UTF-8 text (byte {e.start}); is it a recipe?") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())  # YAML wraps lines
        raise MobilevidError(f"{path}: malformed YAML{at} ({problem})") from None
    if not isinstance(data, dict):
        raise MobilevidError(
            f"{path}: a recipe must be a mapping of fields, got {type(data).__name__}"
        )
    hints = typing.get_type_hints(ExportConfig)
    valid = [f.name for f in fields(ExportConfig)]
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "description":
            continue
        if key not in valid:
            raise MobilevidError(f"{path}: unknown key {key!r}; valid keys: {', '.join(valid)}")
        out[key] = _coerce(key, value, hints[key], str(path))
    return out

"""Two pieces of CLI plumbing: options that take several values after one flag,
and config dataclasses filled from a command's flags.

Light on purpose (typer and the standard library only): ``mobilevid --help``
imports it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from typer._click.core import ParameterSource
from typer._click.globals import get_current_context
from typer.core import TyperCommand

__all__ = ["MultiValueCommand", "config_from_flags", "expand_multi_value", "multi_value"]

C = TypeVar("C")


def expand_multi_value(args: Iterable[str], flags: Iterable[str]) -> list[str]:
    """``--variant a b --json`` -> ``--variant a --variant b --json``, for ``flags`` only.

    A flag's values run up to the next token that starts with ``-``; ``--`` ends
    the options, and every other flag (and its value) passes through untouched.
    """
    flags = set(flags)
    args = list(args)
    out: list[str] = []
    flag = None  # the multi-value flag whose values are being read
    bare = False  # True right after `--flag`: the next value is its own
    for i, tok in enumerate(args):
        if tok == "--":
            out.extend(args[i:])
            break
        if tok.startswith("-"):
            name, eq, _ = tok.partition("=")
            if not eq and not tok.startswith("--") and tok[:2] in flags:
                name, eq = tok[:2], tok[2:]  # `-m560m`: a short flag with its value
            flag = name if name in flags else None
            bare = flag is not None and not eq
        elif flag and not bare:
            out.append(flag)
        else:
            bare = False
        out.append(tok)
    return out


class MultiValueCommand(TyperCommand):
    """A command whose list options named in ``multi_value`` take several values
    after one flag (``--variant 560m 1g 2g``), besides the repeated flag click
    knows (``-m 560m -m 1g``). Only this command's own arguments are rewritten,
    before click parses them.

    A second value and a positional argument look alike, so such a command takes
    no positional arguments; a typo here is a bug, raised when the CLI is built.
    """

    multi_value: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = {p.name: p for p in self.params if p.param_type_name == "option"}
        flags = []
        for name in self.multi_value:
            opt = options.get(name)
            if opt is None or not opt.multiple:
                raise TypeError(f"{self.name}: {name!r} is not a list option of this command")
            flags += opt.opts
        if any(p.param_type_name == "argument" for p in self.params):
            raise TypeError(f"{self.name}: multi-value options and positional arguments clash")
        self.multi_value_flags = tuple(flags)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_multi_value(args, self.multi_value_flags))


def multi_value(*names: str) -> type[MultiValueCommand]:
    """``@app.command(cls=multi_value("variant", "artifact"))``: those list
    options (by parameter name) take several values after one flag."""
    return type("MultiValueCommand", (MultiValueCommand,), {"multi_value": names})


def config_from_flags(
    cls: type[C],
    flags: Mapping[str, str] | None = None,
    base: Mapping[str, Any] | None = None,
    **values: Any,
) -> C:
    """The dataclass ``cls`` for the running command, from, lowest first: its
    defaults, ``base`` (a recipe), the flags the user gave, and ``values``.

    A flag fills the field of its own parameter name, or ``flags[name]`` where
    the two differ. ``values`` are what the command worked out itself (a
    resolved model name, a parsed ``--set``) and replace the flag they come from.
    Flags left at their default leave the field to ``base`` and the dataclass,
    so a flag's default is either None or the field's own (a test checks).
    """
    ctx = get_current_context()
    flags = flags or {}
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    given: dict[str, Any] = {}
    for param, value in ctx.params.items():
        field = flags.get(param, param)
        if field not in names or field in values:
            continue
        if ctx.get_parameter_source(param) in (None, ParameterSource.DEFAULT):
            continue
        given[field] = list(value) if isinstance(value, tuple) else value
    return cls(**{**(base or {}), **given, **values})

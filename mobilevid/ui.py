"""Terminal output shared by the commands: tables to stdout, progress to stderr,
so ``--json`` output stays machine-readable."""

from __future__ import annotations

from functools import cache

from rich.console import Console


@cache
def stdout_console() -> Console:
    # Piped output would default to 80 columns and cut model names; tables are
    # narrower than 120 anyway.
    c = Console(highlight=False)
    return c if c.is_terminal else Console(highlight=False, width=120)


@cache
def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)

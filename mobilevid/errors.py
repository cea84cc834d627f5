"""Errors a user can fix.

The CLI turns a :class:`MobilevidError` into one line on stderr and exit code 2,
so anything raised with this type must read as an instruction, not a stack.
"""

from __future__ import annotations

import re


class MobilevidError(ValueError):
    """A problem with what the user asked for (name, file, shape, option).

    Always one line: text a library wrapped (a YAML parser's, a decoder's) is
    joined, so the CLI's one-line promise cannot be broken by a message."""

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(re.sub(r"\s*\n\s*", " ", str(message)).strip(), *args)

"""Errors a user can fix.

The CLI turns a :class:`MobilevidError` into one line on stderr and exit code 2,
so anything raised with this type must read as an instruction, not a stack.
"""

from __future__ import annotations


class MobilevidError(ValueError):
    """A problem with what the user asked for (name, file, shape, option)."""

"""Ctrl-C and SIGTERM, handled so that nothing is left half-done.

Python turns SIGINT into ``KeyboardInterrupt`` (so ``finally`` blocks run and
temporary files go), but SIGTERM, what a scheduler or ``docker stop`` sends,
kills the process where it stands: no ``finally``, temporaries left behind.
:func:`install` makes both raise :class:`Interrupted` instead, and the CLI
turns that into one line and exit code 128 + signal (130, 143).

Training wants more than cleanup: the state after a finished step. Inside
:func:`graceful` the first signal is only recorded (:func:`pending`); the loop
finishes its step, writes a checkpoint and raises. A second signal interrupts
at once, for a user who does not want to wait.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Interrupted", "graceful", "install", "pending"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A signal asked the process to stop. A BaseException, as KeyboardInterrupt
    is, so that no ``except Exception`` swallows it on the way out."""

    def __init__(self, signum: int, message: str = "") -> None:
        self.signum = signum
        self.message = message
        super().__init__(message or f"interrupted ({signal.Signals(signum).name})")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


_deferring = 0  # depth of graceful() scopes
_pending: int | None = None


def _handler(signum: int, frame: object) -> None:
    global _pending
    if _deferring and _pending is None:
        _pending = signum  # finish the step first
        return
    raise Interrupted(signum)


def install() -> None:
    """SIGINT and SIGTERM raise :class:`Interrupted` (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            signal.signal(s, _handler)


def pending() -> int | None:
    """The signal received inside :func:`graceful` and not yet acted on."""
    return _pending


@contextmanager
def graceful() -> Iterator[None]:
    """Defer the first SIGINT/SIGTERM to :func:`pending` for the block (the
    handlers are installed for it, and the previous ones put back after)."""
    global _deferring, _pending
    main = threading.current_thread() is threading.main_thread()
    old = [signal.getsignal(s) for s in SIGNALS] if main else []
    if main:
        for s in SIGNALS:
            signal.signal(s, _handler)
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring:
            _pending = None
        for s, h in zip(SIGNALS, old, strict=False):
            signal.signal(s, h)

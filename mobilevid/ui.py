"""Terminal output shared by the commands.

Tables go to stdout, progress and messages to stderr, so ``--json`` output stays
machine-readable. The stack prints a lot on its own (coremltools and torchao on
import, ExecuTorch's cpuinfo from C++, tqdm bars, warnings): ``quiet()`` sends
all of that to /dev/null, at the file-descriptor level, while mobilevid's own
output keeps writing to the real terminal through ``out()``/``err()``.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from typing import TextIO, TypeVar

from rich.console import Console

T = TypeVar("T")


def out() -> TextIO:
    return sys.stdout


def err() -> TextIO:
    return sys.stderr


def stdout_console() -> Console:
    c = Console(file=out(), highlight=False)
    # Piped output would default to 80 columns and cut model names.
    return c if c.is_terminal else Console(file=out(), highlight=False, width=120)


def stderr_console() -> Console:
    return Console(file=err(), highlight=False)


_quiet = {"on": False}


@contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Send what native code writes to fds 1/2 to /dev/null, while Python's
    sys.stdout/sys.stderr (ours, click's, rich's) keep writing to the real
    terminal through duplicated descriptors; warnings, library logging and tqdm
    bars are switched off for the duration."""
    if not enabled or _quiet["on"]:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    real_out = os.fdopen(os.dup(saved[0]), "w", buffering=1, encoding="utf-8")
    real_err = os.fdopen(os.dup(saved[1]), "w", buffering=1, encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    py_streams = sys.stdout, sys.stderr
    tqdm_env = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout, sys.stderr = real_out, real_err
    _quiet["on"] = True
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)
        real_out.flush()
        real_err.flush()
        sys.stdout, sys.stderr = py_streams
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
        real_out.close()
        real_err.close()
        if tqdm_env is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = tqdm_env
        _quiet["on"] = False


@contextmanager
def muted() -> Iterator[None]:
    """Inside ``quiet()``, also mute Python-level writes: ExecuTorch's pybindings
    print the runtime's C++ log (cpuinfo, XNNPACK) through ``sys.stderr``."""
    if not _quiet["on"]:
        yield
        return
    with open(os.devnull, "w") as dn, redirect_stdout(dn), redirect_stderr(dn):
        yield


class Steps:
    """Progress for long work, on stderr: a spinner per step and a bar for loops.
    Library code takes a ``Steps`` and calls ``step``/``track``; the default
    ``Steps(enabled=False)`` shows nothing, for scripts and tests."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._entered = False
        self._progress = None

    def __enter__(self) -> Steps:
        self._entered = True
        return self

    def _bar(self):
        """The progress display, started on first use: a command that fails
        validation before any long work prints its one-line error and nothing else."""
        if self._progress is None and self.enabled and self._entered:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(finished_text="[green]✓[/green]"),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=stderr_console(),
            )
            self._progress.__enter__()
        return self._progress

    def __exit__(self, *exc) -> None:
        self._entered = False
        if self._progress is not None:
            self._progress.__exit__(*exc)
            self._progress = None

    @contextmanager
    def step(self, description: str) -> Iterator[None]:
        bar = self._bar()
        if bar is None:
            yield
            return
        task = bar.add_task(description, total=1)
        yield
        bar.update(task, completed=1)

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        bar = self._bar()
        if bar is None:
            yield from items
            return
        yield from bar.track(items, total=total, description=description)

    def log(self, message: str) -> None:
        bar = self._bar()
        if bar is not None:
            bar.console.print(message)
        elif self.enabled:
            stderr_console().print(message)

"""Writing files so that nothing is ever lost or half-written.

Three promises, each tested against the real failure (docs/reliability.md):

- :func:`atomic_write`: the new file appears whole under its name or not at
  all; a kill, a full disk or an exception leaves the previous file as it was
  and no temporary behind.
- A full disk (or a quota, or a size limit) is one clear error that names the
  file and says the previous one is untouched, whichever library was writing
  (Python's ``write`` raises ``OSError``; torch's zip writer a ``RuntimeError``).
- :func:`exclusive`: one writer per output. A second process that wants the
  same file (two exports, two trainings on one ``--out``) is told who holds it
  instead of interleaving with it. The lock is ``flock`` on a hidden file
  beside the output, so a killed holder releases it with its last breath.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from mobilevid.errors import MobilevidError

__all__ = ["atomic_write", "disk_full", "exclusive", "replace_into", "staging"]

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def disk_full(e: BaseException) -> bool:
    """Whether ``e`` means the bytes did not fit (a full disk, a quota, a file
    size limit), as any of the writers we call report it."""
    while e is not None:
        if isinstance(e, OSError) and e.errno in _FULL:
            return True
        text = str(e)
        if isinstance(e, RuntimeError) and (
            "file write failed" in text or "No space left" in text or "unexpected pos" in text
        ):
            return True  # torch's PytorchStreamWriter, which hides the errno
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return False


def _full_error(path: Path, e: BaseException) -> MobilevidError:
    why = os.strerror(e.errno) if isinstance(e, OSError) and e.errno else "no space left"
    kept = f"the previous {path.name} is untouched" if path.exists() else "nothing was written"
    return MobilevidError(
        f"{path}: {why.lower()} while writing it ({kept}); free space on "
        f"{path.parent} or write elsewhere"
    )


@contextmanager
def staging(path: Path) -> Iterator[Path]:
    """A temporary name in ``path``'s folder (same filesystem, so the final
    rename is atomic) under a private directory that is always removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp / path.name
    except Exception as e:
        if disk_full(e):
            raise _full_error(path, e) from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_into(staged: Path, path: Path) -> None:
    """Rename ``staged`` over ``path`` (a file or a directory such as an
    .mlpackage, which cannot be replaced in one step: the old one is moved
    aside into the staging folder first, and removed with it)."""
    staged, path = Path(staged), Path(path)
    if path.is_dir() and staged.is_dir():
        os.replace(path, staged.parent / (path.name + ".old"))
    os.replace(staged, path)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary name in the target's folder, then rename
    it into place: a killed process never leaves a half-written file under
    ``path``. Works for files and for directories (.mlpackage)."""
    path = Path(path)
    with staging(path) as tmp:
        write(tmp)
        replace_into(tmp, path)


def _lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


@contextmanager
def exclusive(path: Path, what: str = "writing") -> Iterator[None]:
    """Hold the one-writer lock of ``path`` (a file or a folder) for the block;
    refuse at once, with the holder's pid, if another process holds it.

    The lock file is removed on release. A process that opened the old lock
    file just before it was removed would lock a file nobody else sees, so a
    lock only counts once its file is still the one under the name."""
    path = Path(path)
    lock = _lock_path(path)  # beside it, for a folder too: it may not exist yet
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise MobilevidError(
                f"{path}: another mobilevid process (pid {holder}) is {what} it; wait for it "
                "to finish or choose another output"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # raced with a release: take the new file's lock
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)

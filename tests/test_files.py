"""Writes that lose nothing: a real full filesystem (a small tmpfs mounted for
the test), two real processes on one output, and signals mid-write.

The full-disk tests need root and mount(2) (CAP_SYS_ADMIN); where the machine
does not allow it they are skipped with the reason printed (pytest -ra)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mobilevid.errors import MobilevidError
from mobilevid.files import atomic_write, exclusive

MV = [sys.executable, "-m", "mobilevid"]


def _mount_tmpfs(where: Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` at ``where``; the reason when that is impossible."""
    if os.geteuid() != 0:
        return "needs root to mount a small filesystem"
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                       capture_output=True, text=True)  # fmt: skip
    return None if r.returncode == 0 else f"mount -t tmpfs failed: {r.stderr.strip()}"


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(size)``: a fresh filesystem of that size ("2M"), unmounted after."""
    mounted: list[Path] = []

    def make(size: str) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        why = _mount_tmpfs(where, size)
        if why:
            pytest.skip(why)
        mounted.append(where)
        return where

    yield make
    for m in mounted:
        subprocess.run(["umount", "-l", str(m)], check=False)


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")]


def _one_line(err: str) -> str:
    """The one error line (progress lines may come before it on stderr)."""
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-3000:]
    assert err.rstrip().endswith(errors[0].rstrip()), err[-3000:]
    return errors[0]


# --------------------------------------------------------------- a full disk
def test_atomic_write_on_a_full_disk_keeps_the_previous_file(small_disk):
    disk = small_disk("1M")
    target = disk / "report.json"
    target.write_bytes(b"previous")
    with pytest.raises(MobilevidError, match=r"no space left.*previous report\.json is untouched"):
        atomic_write(target, lambda tmp: tmp.write_bytes(os.urandom(2 << 20)))
    assert target.read_bytes() == b"previous" and not _leftovers(disk)


def test_torch_save_on_a_full_disk_is_one_error(small_disk):
    """torch's zip writer hides the errno in a RuntimeError; still the same error."""
    from mobilevid.checkpoint import save_checkpoint

    disk = small_disk("1M")
    with pytest.raises(MobilevidError, match=r"no space left.*nothing was written"):
        save_checkpoint(disk / "w.pt", torch.nn.Linear(1024, 1024))
    assert not list(disk.iterdir())


def test_export_on_a_full_disk_keeps_the_previous_pair(small_disk, fake_artifact):
    disk = small_disk("2M")
    old = fake_artifact(disk / "m.pte", data=b"old program")
    before = (old.read_bytes(), Path(str(old) + ".json").read_bytes())
    r = subprocess.run([*MV, "export", "--variant", "x3d-xs", "--frames", "4", "--size", "32",
                        "-o", str(old), "--force"], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2
    assert "no space left" in _one_line(r.stderr) and "untouched" in r.stderr
    assert (old.read_bytes(), Path(str(old) + ".json").read_bytes()) == before
    assert not _leftovers(disk)


def test_training_on_a_full_disk_keeps_the_last_checkpoint(small_disk):
    """Room for one last.pt (48 MB with Adam's state) but not for its successor
    beside it: the second write fails, the first stays whole and resumable."""
    from mobilevid.checkpoint import load_training_state

    disk = small_disk("72M")
    out = disk / "run"
    args = [*MV, "train", "--frames", "8", "--size", "32", "--workers", "0", "--train",
            "synthetic:16", "--val", "none", "--batch-size", "8", "--epochs", "2"]  # fmt: skip
    r = subprocess.run([*args, "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "no space left" in _one_line(r.stderr)
    assert load_training_state(out / "last.pt")["train_state"]["step"] == 2  # epoch 1's
    assert not _leftovers(out) and not _leftovers(disk)


def test_bench_report_on_a_full_disk(small_disk):
    disk = small_disk("1M")
    (disk / "filler").write_bytes(b"\0" * ((1 << 20) - 8192))
    args = [*MV, "bench", "--variant", "560m", "--runtime", "eager", "--frames", "8", "--size",
            "32", "--runs", "10", "--warmup", "0", "--report", str(disk / "report")]  # fmt: skip
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "no space left" in _one_line(r.stderr)
    assert not _leftovers(disk) and not _leftovers(disk / "report")


# --------------------------------------------------------------- two writers
_HOLD = """
import sys, time
from pathlib import Path
from mobilevid.files import exclusive
with exclusive(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path):
    target = tmp_path / "m.pte"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(target)], stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(MobilevidError, match=f"pid {holder.pid}"), exclusive(target):
            pass
    finally:
        holder.kill()
        holder.wait()
    with exclusive(target):  # a killed holder's lock died with it
        pass
    assert not list(tmp_path.iterdir())  # and the lock file is gone


def _wait_for(path_glob: tuple[Path, str], proc: subprocess.Popen, seconds: float = 240) -> None:
    folder, pattern = path_glob
    deadline = time.time() + seconds
    while not list(folder.glob(pattern)):
        if proc.poll() is not None or time.time() > deadline:
            pytest.fail(f"{pattern} never appeared: {proc.communicate()[1][-2000:]}")
        time.sleep(0.05)


def test_two_exports_to_one_output(tmp_path):
    """The second is refused at once; the first finishes whole (its sidecar's
    sha256 holds)."""
    from mobilevid.export.artifact import read_sidecar

    out = tmp_path / "x.pte"
    args = [*MV, "export", "--variant", "x3d-xs", "--frames", "4", "--size", "32", "-o", str(out),
            "--force"]  # fmt: skip
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for((tmp_path, ".x.pte.lock"), first)
        second = subprocess.run(args, capture_output=True, text=True)
        assert second.returncode == 2
        assert f"pid {first.pid}" in _one_line(second.stderr)
        assert first.wait(timeout=600) == 0, first.communicate()[1][-2000:]
    finally:
        first.kill()
    assert read_sidecar(out)["model"] == "x3d-xs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.pte", "x.pte.json"]


def test_two_trainings_on_one_out(tmp_path):
    out = tmp_path / "run"
    args = [*MV, "train", "--frames", "8", "--size", "32", "--workers", "0", "--train",
            "synthetic:16", "--val", "none", "--batch-size", "8", "--epochs", "1"]  # fmt: skip
    first = subprocess.Popen([*args, "--out", str(out)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait_for((tmp_path, ".run.lock"), first)
        second = subprocess.run([*args, "--out", str(out), "--resume"], capture_output=True,
                                text=True)  # fmt: skip
        assert second.returncode == 2
        assert f"pid {first.pid}" in _one_line(second.stderr)
        assert first.wait(timeout=600) == 0
    finally:
        first.kill()
    assert (out / "last.pt").is_file() and not (tmp_path / ".run.lock").exists()


# --------------------------------------------------------------- signals
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_export_leaves_the_previous_pair(tmp_path, fake_artifact, sig):
    old = fake_artifact(tmp_path / "m.pte", data=b"old program")
    before = (old.read_bytes(), Path(str(old) + ".json").read_bytes())
    proc = subprocess.Popen([*MV, "export", "--variant", "x3d-xs", "--frames", "4", "--size",
                             "32", "-o", str(old), "--force"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait_for((tmp_path, ".m.pte.*.tmp"), proc)  # staging: the export is under way
        os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig
    assert "nothing partial" in _one_line(err)
    assert (old.read_bytes(), Path(str(old) + ".json").read_bytes()) == before
    assert not _leftovers(tmp_path)


def test_sigterm_during_bench_leaves_no_partial_report(tmp_path):
    """The report is written at the end, atomically: a bench stopped while
    timing leaves the previous report (here none) and no temp files."""
    report = tmp_path / "report"
    args = [*MV, "bench", "--variant", "560m", "--runtime", "eager", "--frames", "16", "--size",
            "64", "--runs", "2000", "--warmup", "1", "--report", str(report)]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(8)  # past start-up, into the timed runs (2000 take minutes)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143
    assert "nothing partial" in _one_line(err)
    assert not report.exists() or not list(report.iterdir())
    assert not _leftovers(tmp_path)

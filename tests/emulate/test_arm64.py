"""The phone's aarch64 XNNPACK kernels under real QEMU user-mode emulation:
set-up, the emulator self-check (and its refusal of a known-bad emulator),
verification of real .pte files on emulated CPUs, and the errors around it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mobilevid.emulate import arm64
from mobilevid.errors import MobilevidError
from mobilevid.export.verify import verify


@pytest.fixture(scope="module")
def emu():
    """Set up once (idempotent; installs Debian packages only as root)."""
    try:
        return arm64.setup()
    except MobilevidError as e:
        print(f"skipping arm64 emulation tests: {e}")
        pytest.skip(f"arm64 emulation cannot be set up here: {e}")


def test_setup_is_idempotent_and_self_checked(emu):
    again = arm64.setup()
    assert again == emu and arm64.find() == emu
    verdicts = (emu.root / "self-check" / "verdicts.json").read_text()
    for cpu in arm64.CPUS.values():
        assert f"-cpu {cpu.qemu}" in verdicts
        assert arm64.self_check(emu, cpu)["bit_exact"]


@pytest.mark.parametrize("cpu", ["cortex-a76", "i8mm"])
def test_int8_pte_on_emulated_phone_cpus(emu, int8, cpu):
    report = verify(int8.path, n_random=1, arch="arm64", cpu=cpu)
    assert report.passed and report.runtime.startswith("executorch on emulated aarch64")
    assert min(c.cosine for c in report.checks if c.gated) >= 0.99
    e = report.emulation
    assert e["cpu"] == cpu and e["qemu_cpu"] == arm64.CPUS[cpu].qemu
    # int8 on aarch64 against the same program on x86: the attention stays
    # fp32, whose kernels differ by ~1e-5 between the ISAs, and a requantization
    # after it turns that into one int8 step now and then (measured: bit-exact
    # on 13/14 inputs at 16x64 and 6/14 at full shape, max 7.5e-3)
    done, total = map(int, e["vs_x86_bit_exact"].split("/"))
    assert total == 13 and 0 <= done <= total and e["vs_x86_max_abs"] < 0.05
    # which kernels did the int8 math, from the translated code
    fams = " ".join(e["kernels"]["families"])
    want, not_want = ("sdot", "smmla") if cpu == "cortex-a76" else ("smmla", "sdot")
    assert want in fams and not_want not in fams and "SME" not in fams, fams


def test_fp32_pte_on_emulated_pixel7(emu, fp32):
    report = verify(fp32.path, n_random=1, arch="arm64", cpu="cortex-a76")
    assert report.passed
    assert max(c.max_abs for c in report.checks) <= 1e-4
    assert report.emulation["vs_x86_max_abs"] < 1e-5


@pytest.fixture(scope="module")
def qemu72(emu, tmp_path_factory):
    """Debian 12's own qemu 7.2 (unpacked, not installed), whose SME is wrong."""
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        pytest.skip("needs apt-get and dpkg to fetch Debian 12's qemu 7.2")
    d = tmp_path_factory.mktemp("qemu72")
    p = subprocess.run(["apt-get", "download", "qemu-user-static/bookworm"], cwd=d,
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    debs = list(d.glob("qemu-user-static_*.deb"))
    if p.returncode != 0 or not debs:
        pytest.skip(f"cannot fetch Debian 12's qemu-user-static: {p.stderr.strip()[-200:]}")
    subprocess.run(["dpkg", "-x", str(debs[0]), str(d / "root")], check=True, timeout=300)
    binary = d / "root" / "usr" / "bin" / "qemu-aarch64-static"
    assert binary.is_file()
    return binary


def test_self_check_refuses_qemu72_with_sme(emu, qemu72, monkeypatch):
    monkeypatch.setenv("MOBILEVID_QEMU_AARCH64", str(qemu72))
    old = arm64.find()
    assert old.qemu_version.startswith("7.2")
    assert arm64.self_check(old, arm64.CPUS["cortex-a76"])["bit_exact"]  # right without SME
    with pytest.raises(MobilevidError, match=r"qemu 7\.2.* -cpu max gives wrong int8") as e:
        arm64.self_check(old, arm64.CPUS["sme"])
    assert "\n" not in str(e.value) and "qemu >= 10" in str(e.value)


def test_corrupt_pte_is_one_line(emu, tmp_path):
    bad = tmp_path / "bad.pte"
    bad.write_bytes(b"\0" * 4096)
    with pytest.raises(MobilevidError, match="aarch64 runner failed") as e:
        arm64.run_pte(emu, arm64.CPUS["cortex-a76"], bad, [np.zeros(16, np.float32)])
    assert "\n" not in str(e.value)


def test_missing_setup_and_bad_names(monkeypatch, tmp_path, fp32):
    monkeypatch.setattr(arm64, "cache_dir", lambda: tmp_path / "nothing")
    with pytest.raises(MobilevidError, match="mobilevid setup arm64"):
        verify(fp32.path, arch="arm64")
    with pytest.raises(MobilevidError, match="unknown --cpu 'm1'"):
        verify(fp32.path, arch="arm64", cpu="m1")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mobilevid", *args], capture_output=True,
                          text=True, timeout=600)  # fmt: skip


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["verify", "x.pte", "--on", "pixle7"], "Did you mean 'pixel7'"),
        (["verify", "x.pte", "--on", "iphone15"], "iPhones run Core ML"),
        (["setup", "riscv"], "choose: arm64"),
    ],
)
def test_cli_errors_are_one_line(args, needle):
    p = _cli(*args)
    assert p.returncode == 2, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and needle in p.stderr


def test_ctrl_c_leaves_no_emulator(emu, fp32, tmp_path):
    """SIGINT while the emulator runs: the process group dies with the CLI."""
    import signal
    import time

    p = subprocess.Popen([sys.executable, "-m", "mobilevid", "verify", str(fp32.path), "--arch",
                          "arm64", "--random", "40"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and not _qemu_children(p.pid):
        time.sleep(0.2)
    kids = _qemu_children(p.pid)
    assert kids, "the emulator never started"
    p.send_signal(signal.SIGINT)
    p.wait(timeout=60)
    assert p.returncode != 0
    time.sleep(0.5)
    assert not [k for k in kids if Path(f"/proc/{k}").exists()]


def _qemu_children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
            if any(b"qemu-aarch64" in c for c in cmd) and b"mobilevid_runner" in b" ".join(cmd):
                out.append(int(d.name))
        except OSError:
            continue
    return [k for k in out if k != os.getpid()]

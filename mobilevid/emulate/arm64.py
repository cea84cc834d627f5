"""ExecuTorch .pte files on emulated aarch64 CPUs: the phone's XNNPACK kernels.

A phone runs XNNPACK's aarch64 kernels, chosen at run time from the CPU's
features (NEON dot-product on ARMv8.2 cores, i8mm on ARMv8.6+, KleidiAI SME on
the newest). QEMU user mode runs those kernels here, instruction by
instruction, so a .pte can be checked on them without a phone.

The route needs no torch under emulation: mobilevid's C++ runner
(``runner/``) is cross-compiled with Debian's ``g++-aarch64-linux-gnu``
against the aarch64 ``executorch`` wheel from PyPI (its ``lib*.so`` need only
libc and libstdc++), and run as ``qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu
MODEL mobilevid_runner --inputs clips.bin --outputs logits.bin``.

**The emulator is checked before it is trusted.** Debian 12's qemu 7.2 with
``-cpu max`` makes XNNPACK take the SME kernels and returns wrong int8 results
(cosine 0.2 on VMF-560M); qemu 10 runs them bit-exact. So every (qemu
version, CPU model) pair first runs a small int8 program whose x86 output is
known and must match bit for bit; a pair that fails is refused, saying which
emulator or CPU model to use instead.

Set-up (:func:`setup`, ``mobilevid setup arm64``) is idempotent and cached in
``~/.cache/mobilevid/arm64-<executorch version>/``; it takes Debian packages
(root only) and one wheel from PyPI. Every command is an argument list, never
a shell string.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobilevid.errors import MobilevidError
from mobilevid.ui import Steps

__all__ = [
    "CPUS",
    "EmulatedCPU",
    "Emulator",
    "find",
    "find_cpu",
    "kernel_families",
    "run_pte",
    "self_check",
    "setup",
]

SYSROOT = Path("/usr/aarch64-linux-gnu")
APT_PACKAGES = ("g++-aarch64-linux-gnu", "cmake")
MIN_QEMU = (8, 0)  # qemu 7.2's SME is wrong; 10.0 from bookworm-backports was checked
BACKPORTS = Path("/etc/apt/sources.list.d/mobilevid-bookworm-backports.sources")


@dataclass(frozen=True)
class EmulatedCPU:
    """A QEMU CPU model and what XNNPACK does on it."""

    name: str
    qemu: str  # the -cpu argument
    isa: str  # the features the kernels key on
    int8_kernels: str
    phones: str


CPUS: dict[str, EmulatedCPU] = {
    c.name: c
    for c in (
        EmulatedCPU(
            "cortex-a76",
            "cortex-a76",
            "ARMv8.2-A: NEON, fp16, dot product",
            "NEON dot-product (sdot)",
            "Pixel 6/7 (Tensor G1/G2: Cortex-X1, A76/A78 big cores), Galaxy S21 "
            "(Snapdragon 888 / Exynos 2100)",
        ),
        EmulatedCPU(
            "i8mm",
            "max,sme=off",
            "ARMv8.6-A+: NEON, dot product, i8mm, SVE2 (no SME)",
            "NEON int8 matrix multiply (smmla)",
            "Galaxy S22-S24 and OnePlus 12 (Snapdragon 8 Gen 1-3: Cortex-X2 and later), "
            "Pixel 8/9 (Tensor G3/G4)",
        ),
        EmulatedCPU(
            "sme",
            "max",
            "ARMv9.2-A with SME",
            "KleidiAI SME (smopa / fmopa)",
            "the newest cores with SME (e.g. Arm C1 / Lumex class)",
        ),
    )
}


def find_cpu(name: str) -> EmulatedCPU:
    if name not in CPUS:
        raise MobilevidError(f"unknown --cpu {name!r}; choose from: {', '.join(CPUS)}")
    return CPUS[name]


def cache_dir() -> Path:
    version = importlib.metadata.version("executorch")
    return Path.home() / ".cache" / "mobilevid" / f"arm64-executorch-{version}"


@dataclass(frozen=True)
class Emulator:
    """A set-up emulated runtime: the emulator and the aarch64 runner."""

    qemu: Path
    qemu_version: str
    runner: Path
    root: Path

    def command(self, cpu: EmulatedCPU, *args: str, qemu_args: tuple[str, ...] = ()) -> list[str]:
        return [str(self.qemu), "-L", str(SYSROOT), "-cpu", cpu.qemu, *qemu_args,
                str(self.runner), *args]  # fmt: skip


# ---------------------------------------------------------------- helpers --


def _run(cmd: list[str], what: str, timeout: float = 1800.0, **kw) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except FileNotFoundError:
        raise MobilevidError(f"{what}: {cmd[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise MobilevidError(f"{what}: no answer after {timeout:.0f} s") from None
    if p.returncode != 0:
        lines = [ln for ln in (p.stderr or p.stdout).strip().splitlines() if ln.strip()]
        raise MobilevidError(f"{what} failed: {lines[-1] if lines else f'exit {p.returncode}'}")
    return p.stdout


def _qemu_version(qemu: Path) -> tuple[str, tuple[int, int]]:
    out = _run([str(qemu), "--version"], "qemu-aarch64 --version", timeout=30)
    m = re.search(r"version (\d+)\.(\d+)(\.\d+)?", out)
    if not m:
        raise MobilevidError(f"{qemu}: cannot read its version")
    return m.group(0).split()[-1], (int(m.group(1)), int(m.group(2)))


def _which_qemu() -> Path | None:
    env = os.environ.get("MOBILEVID_QEMU_AARCH64")  # another build, e.g. to test the check
    if env:
        return Path(env)
    found = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
    return Path(found) if found else None


def _missing_packages() -> list[str]:
    missing = [] if shutil.which("aarch64-linux-gnu-g++") else ["g++-aarch64-linux-gnu"]
    if not shutil.which("cmake"):
        missing.append("cmake")
    q = _which_qemu()
    if q is None or _qemu_version(q)[1] < MIN_QEMU:
        missing.append("qemu-user")
    return missing


def _debian_codename() -> str | None:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return None
    m = re.search(r"^VERSION_CODENAME=(\w+)", text, re.M)
    return m.group(1) if m else None


def _apt_install(missing: list[str], steps: Steps) -> None:
    """Debian's cross compiler and a qemu >= 8 (bookworm-backports on Debian 12)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        raise MobilevidError(f"arm64 emulation is set up on x86_64 hosts, not {platform.machine()}")
    if shutil.which("apt-get") is None:
        raise MobilevidError(
            f"arm64 emulation needs {', '.join(missing)} (qemu-user >= 8): install them with "
            "your package manager, then run mobilevid setup arm64 again"
        )
    if os.geteuid() != 0:
        raise MobilevidError(
            f"arm64 emulation needs {', '.join(missing)}: run `sudo mobilevid setup arm64` "
            f"or `sudo apt-get install {' '.join(missing)}` (qemu-user >= 8)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    target: list[str] = []
    if "qemu-user" in missing and _debian_codename() == "bookworm":
        # Debian 12 ships qemu 7.2, whose SME emulation gives wrong int8 results
        if not BACKPORTS.exists():
            BACKPORTS.write_text(
                "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n"
                "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
            )
        target = ["-t", "bookworm-backports"]
    with steps.step("apt-get update"):
        _run(["apt-get", "update", "-qq"], "apt-get update", env=env)
    for pkg in missing:
        with steps.step(f"apt-get install {pkg}"):
            extra = target if pkg == "qemu-user" else []
            _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *extra, pkg],
                 f"apt-get install {pkg}", env=env)  # fmt: skip


def _aarch64_wheel(root: Path, steps: Steps) -> Path:
    """The aarch64 executorch wheel of the installed version, unpacked."""
    et = root / "executorch-aarch64"
    config = et / "executorch" / "lib" / "cmake" / "executorch"
    if config.is_dir():
        return config
    version = importlib.metadata.version("executorch")
    wheels = root / "wheels"
    with steps.step(f"downloading the aarch64 executorch {version} wheel (PyPI)"):
        _run([sys.executable, "-m", "pip", "download", f"executorch=={version}", "--no-deps",
              "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
              "--abi", "cp311", "--platform", "manylinux_2_28_aarch64", "--platform",
              "manylinux_2_17_aarch64", "--platform", "manylinux2014_aarch64", "-q",
              "-d", str(wheels)], "pip download executorch (aarch64)")  # fmt: skip
    found = sorted(wheels.glob(f"executorch-{version}-*aarch64*.whl"))
    if not found:
        raise MobilevidError(f"pip found no aarch64 wheel of executorch {version} on PyPI")
    whl = found[-1]
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".unpack-"))
    with steps.step("unpacking it"):
        with zipfile.ZipFile(whl) as z:
            z.extractall(tmp)
        os.replace(tmp, et)
    return config


def _runner_sources() -> Path:
    src = Path(__file__).resolve().parents[2] / "runner"
    if not (src / "mobilevid_runner.cpp").is_file():
        raise MobilevidError(
            f"the C++ runner sources are not here ({src}): set up arm64 emulation from a "
            "source checkout of mobilevid"
        )
    return src


def _build_runner(root: Path, config: Path, steps: Steps) -> Path:
    src = _runner_sources()
    build = root / "build"
    binary = build / "mobilevid_runner"
    newest = max((src / n).stat().st_mtime for n in ("mobilevid_runner.cpp", "CMakeLists.txt"))
    if binary.is_file() and binary.stat().st_mtime >= newest:
        return binary
    toolchain = root / "aarch64-linux-gnu.cmake"
    toolchain.write_text(
        "\n".join(
            [
                "set(CMAKE_SYSTEM_NAME Linux)",
                "set(CMAKE_SYSTEM_PROCESSOR aarch64)",
                "set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)",
                "set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)",
                f"set(CMAKE_FIND_ROOT_PATH {SYSROOT} {config.parents[3]})",
                "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)",
                *(
                    f"set(CMAKE_FIND_ROOT_PATH_MODE_{k} ONLY)"
                    for k in ("LIBRARY", "INCLUDE", "PACKAGE")
                ),
            ]
        )
        + "\n"
    )
    with steps.step("cross-compiling the C++ runner for aarch64"):
        shutil.rmtree(build, ignore_errors=True)
        _run(["cmake", "-S", str(src), "-B", str(build), f"-DCMAKE_TOOLCHAIN_FILE={toolchain}",
              "-DCMAKE_BUILD_TYPE=Release", f"-Dexecutorch_DIR={config}"],
             "cmake configure (aarch64)")  # fmt: skip
        _run(["cmake", "--build", str(build), "-j2"], "cmake build (aarch64)")
    return binary


# -------------------------------------------------------------- self-check --

SELF_CHECK_SHAPE = (1, 3, 16, 16)


def _self_check_model(root: Path, steps: Steps) -> Path:
    """A small int8 program (conv, ReLU, pool, linear on XNNPACK) and its x86
    output on a fixed input: what an emulated CPU must reproduce bit for bit."""
    d = root / "self-check"
    if (d / "expected.bin").is_file():
        return d
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from executorch.exir import to_edge_transform_and_lower
    from executorch.extension.pybindings import portable_lib
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 16, 3, padding=1)
            self.fc = torch.nn.Linear(16 * 8 * 8, 10)

        def forward(self, x):
            y = torch.relu(self.conv(x))
            return self.fc(torch.nn.functional.avg_pool2d(y, 2).flatten(1))

    with steps.step("making the emulator self-check program (int8, x86 reference)"):
        g = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        m = Tiny().eval()
        example = (torch.randn(SELF_CHECK_SHAPE, generator=g),)
        q = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        gm = prepare_pt2e(torch.export.export(m, example).module(), q)
        for _ in range(8):
            gm(torch.randn(SELF_CHECK_SHAPE, generator=g))
        gm = convert_pt2e(gm)
        ep = torch.export.export(gm, example)
        program = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".self-check-"))
        (tmp / "int8.pte").write_bytes(program.to_executorch().buffer)
        x = torch.randn(SELF_CHECK_SHAPE, generator=g)
        (tmp / "input.bin").write_bytes(x.numpy().tobytes())
        out = portable_lib._load_for_executorch(str(tmp / "int8.pte")).forward((x,))[0]
        (tmp / "expected.bin").write_bytes(out.numpy().astype(np.float32).tobytes())
        shutil.rmtree(d, ignore_errors=True)
        os.replace(tmp, d)
    return d


def self_check(emu: Emulator, cpu: EmulatedCPU) -> dict:
    """Run the self-check program on ``cpu``; raise if it is not bit-exact.
    Verdicts are cached per (qemu version, CPU model)."""
    record = emu.root / "self-check" / "verdicts.json"
    verdicts = json.loads(record.read_text()) if record.is_file() else {}
    key = f"qemu {emu.qemu_version} -cpu {cpu.qemu}"
    v = verdicts.get(key)
    if v is None:
        d = emu.root / "self-check"
        inp = np.frombuffer((d / "input.bin").read_bytes(), np.float32)
        expected = np.frombuffer((d / "expected.bin").read_bytes(), np.float32)
        (got,), _ = run_pte(emu, cpu, d / "int8.pte", [inp], checked=False)
        cos = float(got @ expected / (np.linalg.norm(got) * np.linalg.norm(expected) + 1e-30))
        v = {"bit_exact": bool(np.array_equal(got, expected)), "cosine": round(cos, 6)}
        verdicts[key] = v
        record.write_text(json.dumps(verdicts, indent=1))
    if not v["bit_exact"]:
        raise MobilevidError(
            f"{key} gives wrong int8 results on the self-check program (cosine "
            f"{v['cosine']:.3f} against x86, needs bit-exact): use qemu >= 10 (Debian 12: "
            "bookworm-backports; `mobilevid setup arm64` installs it) or another --cpu "
            f"({', '.join(c for c in CPUS if c != cpu.name)})"
        )
    return v


# ------------------------------------------------------------------ set-up --


def setup(steps: Steps | None = None) -> Emulator:
    """Install what is missing (Debian packages: root), fetch and unpack the
    aarch64 executorch wheel, cross-compile the runner, make the self-check
    program, and check every CPU model. Idempotent: a second call only checks."""
    steps = steps or Steps(enabled=False)
    t0 = time.perf_counter()
    missing = _missing_packages()
    if missing:
        _apt_install(missing, steps)
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    config = _aarch64_wheel(root, steps)
    runner = _build_runner(root, config, steps)
    _self_check_model(root, steps)
    qemu = _which_qemu()
    if qemu is None:
        raise MobilevidError("qemu-aarch64 is still not on PATH after installing qemu-user")
    emu = Emulator(qemu, _qemu_version(qemu)[0], runner, root)
    for cpu in CPUS.values():
        with steps.step(f"self-check on -cpu {cpu.qemu}"):
            self_check(emu, cpu)
    facts = {
        "qemu": str(qemu),
        "qemu_version": emu.qemu_version,
        "runner": str(runner),
        "executorch": importlib.metadata.version("executorch"),
        "seconds": round(time.perf_counter() - t0, 1),
        "cache_bytes": sum(f.stat().st_size for f in root.rglob("*") if f.is_file()),
    }
    (root / "ready.json").write_text(json.dumps(facts, indent=1))
    return emu


def find() -> Emulator:
    """The set-up emulator, or a one-line error saying how to set it up."""
    root = cache_dir()
    runner = root / "build" / "mobilevid_runner"
    qemu = _which_qemu()
    if not (root / "ready.json").is_file() or not runner.is_file() or qemu is None:
        raise MobilevidError("arm64 emulation is not set up: run `mobilevid setup arm64` first")
    # any version: the self-check decides per CPU model (qemu 7.2 is right on
    # cortex-a76 and wrong on SME)
    return Emulator(qemu, _qemu_version(qemu)[0], runner, root)


# --------------------------------------------------------------------- run --


def run_pte(
    emu: Emulator,
    cpu: EmulatedCPU,
    pte: Path,
    clips: list[np.ndarray],
    checked: bool = True,
    timeout_per_clip: float = 300.0,
    qemu_args: tuple[str, ...] = (),
) -> tuple[list[np.ndarray], float]:
    """Run ``pte`` on the emulated ``cpu`` for each clip (float32 arrays of
    the program's input size); return output 0 per clip and the wall time.
    One runner process for all clips; Ctrl-C kills it and its emulator."""
    if checked:
        self_check(emu, cpu)
    with tempfile.TemporaryDirectory(prefix="mobilevid-arm64-") as tmp:
        t = Path(tmp)
        (t / "in.bin").write_bytes(b"".join(np.ascontiguousarray(c, np.float32).tobytes()
                                            for c in clips))  # fmt: skip
        cmd = emu.command(cpu, "--model", str(Path(pte).resolve()), "--inputs", str(t / "in.bin"),
                          "--outputs", str(t / "out.bin"), "--json", str(t / "r.json"),
                          "--threads", "1", qemu_args=qemu_args)  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)  # fmt: skip
        try:
            _, err = proc.communicate(timeout=timeout_per_clip * len(clips) + 60)
        except BaseException:  # Ctrl-C or timeout: leave no emulator behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            lines = [ln for ln in err.strip().splitlines() if ln.startswith("mobilevid_runner:")]
            why = lines[-1].removeprefix("mobilevid_runner: ") if lines else err.strip()[-200:]
            raise MobilevidError(f"{pte}: the aarch64 runner failed under qemu ({why})")
        out = np.frombuffer((t / "out.bin").read_bytes(), np.float32)
    return list(out.reshape(len(clips), -1)), wall


# Instruction families that say which XNNPACK / KleidiAI kernels did the math
_FAMILIES = {
    "sdot": "dot product (sdot)",
    "udot": "dot product (udot)",
    "usdot": "dot product (usdot)",
    "smmla": "int8 matrix multiply (smmla)",
    "ummla": "int8 matrix multiply (ummla)",
    "usmmla": "int8 matrix multiply (usmmla)",
    "bfmmla": "bf16 matrix multiply (bfmmla)",
    "smopa": "SME int8 outer product (smopa)",
    "fmopa": "SME fp32 outer product (fmopa)",
    "bfmopa": "SME bf16 outer product (bfmopa)",
}


def kernel_families(emu: Emulator, cpu: EmulatedCPU, pte: Path, clip: np.ndarray) -> dict:
    """Which instruction families the program's math used on ``cpu``, from
    QEMU's log of translated code (``-d in_asm``: each translated block once,
    so counts are code sites that ran, not executions). QEMU's disassembler
    prints dot-product, i8mm and SME instructions as raw words; Debian's
    aarch64 objdump decodes them. Debian's QEMU has no TCG plugins, so an
    execution count per instruction is not available this way."""
    import collections
    import struct

    objdump = shutil.which("aarch64-linux-gnu-objdump")
    if objdump is None:
        raise MobilevidError("aarch64-linux-gnu-objdump not found: run `mobilevid setup arm64`")
    with tempfile.TemporaryDirectory(prefix="mobilevid-arm64-asm-") as tmp:
        log = Path(tmp) / "in_asm.log"
        run_pte(emu, cpu, pte, [clip], checked=False, qemu_args=("-d", "in_asm", "-D", str(log)))
        words = []
        with open(log, errors="replace") as f:
            for line in f:
                m = re.match(r"^0x[0-9a-f]+:\s+([0-9a-f]{8})\s", line)
                if m:
                    words.append(int(m.group(1), 16))
        distinct = sorted(set(words))
        blob = Path(tmp) / "words.bin"
        blob.write_bytes(b"".join(struct.pack("<I", w) for w in distinct))
        dis = _run([objdump, "-D", "-b", "binary", "-m", "aarch64", "-M", "no-aliases", str(blob)],
                   "objdump of the translated code")  # fmt: skip
    ops: dict[int, str] = {}
    for line in dis.splitlines():
        m = re.match(r"^\s*[0-9a-f]+:\s+([0-9a-f]{8})\s+(\S+)\s*(.*)", line)
        if m:
            op, args = m.group(2), m.group(3)
            sve = args.startswith("z") and op in ("sdot", "udot")  # SVE/SME registers
            ops[int(m.group(1), 16)] = op + (" (SVE/SME)" if sve else "")
    counts: collections.Counter[str] = collections.Counter()
    for w in words:
        op = ops.get(w, "")
        base = op.split(" ")[0]
        if base in _FAMILIES:
            counts[_FAMILIES[base] + (" on SVE/SME registers" if "SVE" in op else "")] += 1
        elif base in ("smstart", "smstop"):
            counts["SME streaming mode (smstart/smstop)"] += 1
    return {"translated_instructions": len(words), "families": dict(counts.most_common())}

"""The C++ benchmark runner (``runner/`` at the repo root): build it, run it.

``mobilevid bench`` on the host times the .pte through ExecuTorch's Python
bindings, so every timed run also pays for the Python call, the input
conversion and the output copy. ``mobilevid_runner`` times the same program
through the C++ Program / Method API, with nothing between the clock and
``Method::execute()``; the difference between the two on one .pte is the Python
runtime's overhead on this machine.

The same source cross-compiles for Android arm64 (the NDK toolchain and an
ExecuTorch source build for arm64, see ``runner/README.md``), and that binary is
what ``mobilevid bench --device pixel7 --runner BINARY`` pushes to the phone. Both
write the ``mobilevid-device-bench/1`` JSON that :mod:`mobilevid.bench.android`
reads, so the host build here also exercises the phone's reporting path.

Every command runs as an argument list, never through a shell.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from mobilevid.bench.android import parse_device_results
from mobilevid.errors import MobilevidError

__all__ = ["BINARY_NAME", "build_runner", "default_build_dir", "run_runner", "runner_sources"]

BINARY_NAME = "mobilevid_runner"
SOURCES = ("mobilevid_runner.cpp", "CMakeLists.txt")
CONFIGURE_TIMEOUT = 600.0
BUILD_TIMEOUT = 1800.0
# Lines of build output that say a build failed without saying why.
_NOISE = re.compile(
    r"^(g?make(\[\d+\])?: \*\*\*|ninja: build stopped|-- |CMake Error at|Call Stack"
    r"|\d+ errors? generated|compilation terminated|collect2: error: ld returned)"
)


def runner_sources() -> Path:
    """The ``runner/`` folder beside the package (a source checkout only)."""
    src = Path(__file__).resolve().parents[2] / "runner"
    missing = [name for name in SOURCES if not (src / name).is_file()]
    if missing:
        raise MobilevidError(
            f"the C++ runner sources are not here ({src / missing[0]} is missing): build the "
            "runner from a source checkout of mobilevid (runner/README.md)"
        )
    return src


def _executorch() -> tuple[Path, str]:
    """(the installed executorch package folder, its version), without importing it."""
    spec = importlib.util.find_spec("executorch")
    if spec is None or not spec.submodule_search_locations:
        raise MobilevidError("executorch is not installed: pip install executorch==1.5.1")
    root = Path(next(iter(spec.submodule_search_locations)))
    try:
        version = importlib.metadata.version("executorch")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return root, version


def default_build_dir() -> Path:
    """``~/.cache/mobilevid/runner-<executorch version>-<install hash>``: one build
    per installed wheel. The binary links the wheel's libexecutorch.so by its
    path, so two venvs with the same version need two builds: keyed by version
    alone, a deleted venv left a cached binary that could no longer load."""
    root, version = _executorch()
    where = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:8]
    return Path.home() / ".cache" / "mobilevid" / f"runner-{version}-{where}"


def _last_meaningful_line(output: str) -> str:
    """The line of a failed build that says why: the last compiler or linker
    error, else the last line that is not make's or CMake's summary."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not _NOISE.match(ln)]
    for ln in reversed(useful):
        if re.search(r"\b(error|undefined reference|fatal)\b", ln, re.IGNORECASE):
            return ln
    if useful:
        return useful[-1]
    return lines[-1] if lines else "no output"


def _run(cmd: list[str], what: str, timeout: float) -> None:
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise MobilevidError(f"the C++ runner took over {timeout:.0f} s to {what}") from None
    except OSError as e:
        raise MobilevidError(f"could not start {cmd[0]} to {what} the C++ runner: {e}") from None
    if proc.returncode != 0:
        why = _last_meaningful_line(proc.stdout + "\n" + proc.stderr)
        raise MobilevidError(f"the C++ runner failed to {what}: {why}")


def _need_tools() -> str:
    cmake = shutil.which("cmake")
    if cmake is None:
        raise MobilevidError(
            "cmake is not installed, so the C++ runner cannot be built "
            "(apt-get install cmake, or pip install cmake)"
        )
    compilers = [os.environ.get("CXX", ""), "c++", "g++", "clang++"]
    if not any(c and shutil.which(c.split()[0]) for c in compilers):
        raise MobilevidError(
            "no C++ compiler (g++ or clang++) is installed, so the C++ runner cannot be built "
            "(apt-get install g++)"
        )
    return cmake


def _configured_source(build_dir: Path) -> Path | None:
    cache = build_dir / "CMakeCache.txt"
    if not cache.is_file():
        return None
    for line in cache.read_text(errors="replace").splitlines():
        if line.startswith("CMAKE_HOME_DIRECTORY:"):
            return Path(line.split("=", 1)[1])
    return None


def build_runner(build_dir: Path | None = None) -> Path:
    """Configure and build ``mobilevid_runner`` against the installed executorch
    wheel; return the binary. Does nothing when the binary is newer than the
    sources."""
    src = runner_sources()
    build_dir = Path(build_dir) if build_dir is not None else default_build_dir()
    binary = build_dir / BINARY_NAME
    newest = max((src / name).stat().st_mtime for name in SOURCES)
    if binary.is_file() and binary.stat().st_mtime >= newest:
        return binary

    cmake = _need_tools()
    et_root, _ = _executorch()
    prefix = et_root / "lib" / "cmake"
    if not (prefix / "executorch" / "executorch-config.cmake").is_file():
        raise MobilevidError(
            f"the installed executorch has no CMake package ({prefix / 'executorch'}), "
            "so the C++ runner cannot be built against it"
        )
    build_dir.mkdir(parents=True, exist_ok=True)
    configured = _configured_source(build_dir)
    if configured is not None and configured.resolve() != src.resolve():
        # A cache made for another checkout: CMake refuses it, so start over.
        (build_dir / "CMakeCache.txt").unlink()
        shutil.rmtree(build_dir / "CMakeFiles", ignore_errors=True)
    _run(
        [
            cmake,
            "-S",
            str(src),
            "-B",
            str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_PREFIX_PATH={prefix}",
        ],
        "configure",
        CONFIGURE_TIMEOUT,
    )
    jobs = str(max(1, os.cpu_count() or 1))
    _run(
        [cmake, "--build", str(build_dir), "--config", "Release", "-j", jobs],
        "build",
        BUILD_TIMEOUT,
    )
    if not binary.is_file():
        raise MobilevidError(f"the C++ runner build finished without producing {binary}")
    binary.touch()  # an up-to-date binary whose link was skipped still counts as fresh
    return binary


def run_runner(
    binary: Path,
    pte: Path,
    warmup: int,
    runs: int,
    threads: int,
    timeout: float = 1800,
) -> tuple[float | None, list[float]]:
    """Run the C++ runner once on ``pte``: (model load time in ms or None, the
    timed runs in ms)."""
    binary = Path(binary).resolve()
    pte = Path(pte).resolve()
    with tempfile.TemporaryDirectory(prefix="mobilevid-runner-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            str(binary),
            "--model",
            str(pte),
            "--warmup",
            str(warmup),
            "--runs",
            str(runs),
            "--threads",
            str(threads),
            "--json",
            str(out),
        ]
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                cwd=tmp,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise MobilevidError(
                f"the C++ runner took over {timeout:.0f} s on {pte.name}"
            ) from None
        except OSError as e:
            raise MobilevidError(f"cannot run the C++ runner {binary}: {e}") from None
        if not out.is_file():
            lines = proc.stderr.strip().splitlines()
            last = lines[-1] if lines else f"exit code {proc.returncode}, no output"
            raise MobilevidError(f"the C++ runner failed on {pte.name}: {last}")
        text = out.read_text()
    try:
        error = json.loads(text).get("error")
    except (json.JSONDecodeError, AttributeError):
        error = None  # parse_device_results says what is wrong with it
    if error:
        raise MobilevidError(f"the C++ runner failed on {pte.name}: {error}")
    return parse_device_results(text)

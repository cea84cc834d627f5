"""What a latency number was measured on: CPU, cores, threads, versions, and a
measured fp32 GEMM peak, so every result also reads as a multiple of its
compute floor (MACs / peak) and numbers from two machines can be compared."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["default_threads", "gemm_peak_gflops", "host_info", "versions"]

# CPU features that decide which kernels the runtimes pick (int8 dot products, AMX)
_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16")


def default_threads() -> int:
    """Cores this process may run on; timing with more threads than cores only
    measures the scheduler."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def _cpuinfo() -> tuple[str, list[str], int | None]:
    path = Path("/proc/cpuinfo")
    if path.is_file():
        model, flags, cores = "", [], set()
        phys = "0"
        for line in path.read_text(errors="replace").splitlines():
            key, _, val = line.partition(":")
            key, val = key.strip(), val.strip()
            if key == "model name" and not model:
                model = val
            elif key == "flags" and not flags:
                flags = [f for f in _FLAGS if f in val.split()]
            elif key == "physical id":
                phys = val
            elif key == "core id":
                cores.add((phys, val))
        return model or platform.processor(), flags, len(cores) or None
    if platform.system() == "Darwin":
        try:
            brand = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout.strip()
        except OSError:
            brand = ""
        return brand or platform.processor(), [], None
    return platform.processor(), [], None


def _mem_total_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def versions() -> dict[str, str | None]:
    from mobilevid import __version__

    out: dict[str, str | None] = {"mobilevid": __version__, "python": platform.python_version()}
    for pkg in (
        "torch",
        "executorch",
        "torchao",
        "numpy",
        "coremltools",
        "onnxruntime",
        "openvino",
        "nncf",
        "ai-edge-litert",
        "litert-torch",
        "ai-edge-quantizer",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def host_info(threads: int) -> dict[str, Any]:
    model, flags, cores = _cpuinfo()
    return {
        "device": "host",
        "cpu": model,
        "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "physical_cores": cores,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": default_threads(),
        "threads": threads,
        "cpu_flags": flags,
        "total_mem_bytes": _mem_total_bytes(),
    }


def gemm_peak_gflops(threads: int, n: int = 1024, reps: int = 15) -> float:
    """Best fp32 GEMM rate through PyTorch's BLAS at ``threads``: a measured
    ceiling for what this CPU can do, not the datasheet's."""
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
        c = torch.empty(n, n)
        for _ in range(3):
            torch.mm(a, b, out=c)
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(a, b, out=c)
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(prev)
    return 2 * n**3 / best / 1e9

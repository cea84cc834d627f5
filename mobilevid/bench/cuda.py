"""``mobilevid bench --device cuda`` (alias ``gpu``): Table 12's GPU column.

The paper times one 64-frame clip per model on a V100. A server-GPU user asks
two questions, so this answers both:

- **latency at batch 1**, for every way PyTorch runs the model on a GPU: eager
  fp32, eager under autocast (bf16, fp16), eager in ``channels_last_3d``
  memory format (cuDNN's NDHWC kernels; it helps some convs and not others,
  so it is measured, not assumed), ``torch.compile`` (default mode) and, when
  asked (``--runtime compile-max-autotune``: it tunes for minutes),
  ``max-autotune``. Timed with CUDA events around each call (the GPU's time,
  not the launch's), after warm-up, interleaved over the modes like the host
  bench; median / p90 / min.
- **throughput**: clips per second at the largest batch that fits (doubling
  from 1 until out of memory, a per-call time limit, or 256), in the fastest
  eager mode of batch 1.

The report is the host bench's (table, JSON with ExecuTorch-style metrics,
Markdown, plots), with the paper's V100 column and /560M ratios. The timing
code runs on any torch device, so CI exercises all of it on the CPU at tiny
shapes; only the CUDA events and the GPU facts need the GPU.
"""

from __future__ import annotations

import copy
import subprocess
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch

from mobilevid.bench.config import BenchConfig
from mobilevid.bench.results import BenchRun, Result
from mobilevid.errors import MobilevidError
from mobilevid.ui import Steps

__all__ = ["MODES", "RUNTIMES", "available", "bench_cuda", "gpu_info"]

# runtime -> (torch.compile mode or None, channels_last_3d)
RUNTIMES: dict[str, tuple[str | None, bool]] = {
    "eager": (None, False),
    "eager-cl": (None, True),
    "compile": ("default", False),
    "compile-max-autotune": ("max-autotune", False),
}
PRECISIONS = ("fp32", "bf16", "fp16")
# What runs when --runtime/--quantize are not given: every eager precision,
# channels_last in the precision a GPU user would deploy, and compile in it.
MODES: tuple[tuple[str, str], ...] = (
    ("eager", "fp32"),
    ("eager", "bf16"),
    ("eager", "fp16"),
    ("eager-cl", "bf16"),
    ("compile", "bf16"),
)
TABLE12_GPU_MODELS = ("vmf-560m", "vmf-1g", "vmf-2g", "vmf-5g", "x3d-s")
MAX_BATCH = 256
CALL_LIMIT_S = 2.0  # throughput search: stop doubling past this per call
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def available() -> str | None:
    """Why the GPU bench cannot run here (None: it can)."""
    if not torch.cuda.is_available():
        built = torch.version.cuda
        why = "this torch has no CUDA" if built is None else "no NVIDIA GPU is visible"
        return f"--device cuda needs an NVIDIA GPU: {why} (torch {torch.__version__})"
    return None


def gpu_info(device: torch.device) -> dict[str, Any]:
    """The GPU, driver, CUDA and cuDNN, as the report's device block."""
    if device.type != "cuda":
        import platform

        return {"device": "cuda", "gpu": f"(CPU stand-in: {platform.machine()})", "os": "n/a"}
    p = torch.cuda.get_device_properties(device)
    driver = None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        driver = out.stdout.strip().splitlines()[0] if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, IndexError):
        pass
    import platform

    return {
        "device": "cuda",
        "gpu": p.name,
        "model": p.name,
        "compute_capability": f"{p.major}.{p.minor}",
        "total_mem_bytes": p.total_memory,
        "multiprocessors": p.multi_processor_count,
        "driver": driver,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def check(cfg: BenchConfig) -> list[tuple[str, str]]:
    """The (runtime, precision) modes asked for; every user error before work."""
    if cfg.artifacts:
        raise MobilevidError(
            "--device cuda times the eager model (PyTorch on the GPU): pass --variant, "
            "not --artifact"
        )
    for r in cfg.runtimes or []:
        if r not in RUNTIMES:
            raise MobilevidError(f"--runtime {r}: on cuda choose from {', '.join(RUNTIMES)}")
    for q in cfg.quantize or []:
        if q not in PRECISIONS:
            raise MobilevidError(f"--quantize {q}: on cuda choose from {', '.join(PRECISIONS)}")
    if cfg.threads:
        raise MobilevidError("--threads is for CPUs; the GPU bench takes none")
    if cfg.runtimes or cfg.quantize:
        rts = cfg.runtimes or [r for r in RUNTIMES if r != "compile-max-autotune"]
        qs = cfg.quantize or ["bf16"]
        return [(r, q) for r in rts for q in qs]
    return list(MODES)


@dataclass
class _Job:
    result: Result
    call: Callable[[torch.Tensor], torch.Tensor]
    x: torch.Tensor
    fails: list[str] = field(default_factory=list)


def _autocast(device: torch.device, q: str):
    dtype = _DTYPES[q]
    if dtype is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _prepare(model: torch.nn.Module, runtime: str, q: str, device: torch.device):
    """The callable of one mode: the model on the device in its memory format,
    compiled or not, run under autocast for bf16/fp16."""
    mode, channels_last = RUNTIMES[runtime]
    net = copy.deepcopy(model).to(device)  # .to() is in place: each mode its own copy
    if channels_last:
        net = net.to(memory_format=torch.channels_last_3d)
    if mode is not None:
        net = torch.compile(net, mode=mode)

    def call(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), _autocast(device, q):
            return net(x)

    return call


def _timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    """Milliseconds of one call: CUDA events on a GPU (the kernels' time), the
    wall clock elsewhere."""
    if device.type == "cuda":

        def cuda_ms(fn: Callable[[], object]) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)

        return cuda_ms

    def wall_ms(fn: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3

    return wall_ms


def _input(shape: tuple[int, ...], device: torch.device, channels_last: bool) -> torch.Tensor:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(device)
    return x.to(memory_format=torch.channels_last_3d) if channels_last else x


def _throughput(
    model: torch.nn.Module,
    runtime: str,
    q: str,
    shape: tuple[int, ...],
    device: torch.device,
    time_ms: Callable[[Callable[[], object]], float],
    runs: int,
    max_batch: int = MAX_BATCH,
) -> dict[str, Any]:
    """Clips/s at the largest batch that fits: double the batch until out of
    memory, a call over CALL_LIMIT_S, or ``max_batch``; keep the best rate."""
    import statistics

    call = _prepare(model, runtime, q, device)
    tried = []
    b = 1
    while b <= max_batch:
        try:
            x = _input((b, *shape[1:]), device, RUNTIMES[runtime][1])
            call(x)  # warm-up (and cuDNN's algorithm choice for this batch)
            ms = statistics.median(time_ms(lambda x=x: call(x)) for _ in range(max(3, runs // 4)))
        except torch.OutOfMemoryError:
            tried.append({"batch": b, "error": "out of memory"})
            break
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
        tried.append({"batch": b, "ms": round(ms, 3), "clips_per_s": round(b / ms * 1e3, 2)})
        if ms / 1e3 > CALL_LIMIT_S:
            break
        b *= 2
    ok = [t for t in tried if "clips_per_s" in t]
    best = max(ok, key=lambda t: t["clips_per_s"]) if ok else None
    return {"mode": f"{runtime}/{q}", "best": best, "tried": tried}


def bench_cuda(
    cfg: BenchConfig, steps: Steps | None = None, device: torch.device | None = None
) -> BenchRun:
    """Time every model x mode at batch 1, interleaved, then each model's
    throughput. ``device`` other than CUDA runs the same code on that device
    (CI, on the CPU, at tiny shapes)."""
    from mobilevid.bench.host import default_frames
    from mobilevid.bench.machine import versions
    from mobilevid.counting import count
    from mobilevid.export.source import build, resolve_source
    from mobilevid.models import model_info

    steps = steps or Steps(enabled=False)
    modes = check(cfg)
    if device is None:
        why = available()
        if why:
            raise MobilevidError(why)
        device = torch.device("cuda")
    names = [model_info(v).name for v in (cfg.variants or list(TABLE12_GPU_MODELS))]
    time_ms = _timer(device)
    run = BenchRun(
        gpu_info(device),
        {**versions(), "cuda": torch.version.cuda},
        {
            "warmup": cfg.warmup,
            "runs": cfg.runs,
            "frames": cfg.frames
            or ", ".join(dict.fromkeys(str(default_frames(n, cfg.paper_input)) for n in names)),
            "size": cfg.size or "model default",
            "interleaved": True,
            "batch": 1,
            "timer": "CUDA events" if device.type == "cuda" else "wall clock (CPU stand-in)",
            "modes": [f"{r}/{q}" for r, q in modes],
            "input": "random normal (seed 0), batch 1; throughput: doubling batches",
        },
    )
    jobs: list[_Job] = []
    models: dict[str, tuple[torch.nn.Module, tuple[int, ...]]] = {}
    for name in names:
        frames = cfg.frames or default_frames(name, cfg.paper_input)
        src = resolve_source(name, frames=frames, size=cfg.size)
        with steps.step(f"building {name} at {'x'.join(map(str, src.input_shape[2:]))}"):
            model = build(src).module.eval()
        gmacs = round(count(model, src.input_shape).gmacs, 4)
        models[name] = (model, src.input_shape)
        for r, q in modes:
            res = Result(name, r, "cuda" if device.type == "cuda" else device.type, q,
                         list(src.input_shape), gmacs)  # fmt: skip
            with steps.step(
                f"{name}: {r}/{q} (compiling)" if RUNTIMES[r][0] else f"{name}: {r}/{q}"
            ):
                try:
                    call = _prepare(model, r, q, device)
                    x = _input(src.input_shape, device, RUNTIMES[r][1])
                    t0 = time.perf_counter()
                    for _ in range(max(1, cfg.warmup)):  # the first call compiles
                        time_ms(lambda call=call, x=x: call(x))
                    res.load_ms = (time.perf_counter() - t0) * 1e3
                    jobs.append(_Job(res, call, x))
                except Exception as e:  # a mode that cannot run here is a row, not a crash
                    res.error = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
            run.results.append(res)
    live = [j for j in jobs if j.result.error is None]
    with steps.step(f"timing {len(live)} model x mode pairs, {cfg.runs} interleaved rounds"):
        for i in range(cfg.runs):
            for j in live[i % len(live) :] + live[: i % len(live)]:  # rotating order
                j.result.times_ms.append(time_ms(lambda j=j: j.call(j.x)))
    for name, (model, shape) in models.items():
        eager = [
            j.result for j in live
            if j.result.model == name and j.result.runtime in ("eager", "eager-cl")
        ]  # fmt: skip
        if not eager:
            continue
        best = min(eager, key=lambda r: r.stats.median)
        with steps.step(f"{name}: throughput ({best.key}, doubling the batch)"):
            tp = _throughput(model, best.runtime, best.quantize, shape, device, time_ms, cfg.runs,
                             max_batch=MAX_BATCH if device.type == "cuda" else 4)  # fmt: skip
        best.extra["throughput"] = tp
    if device.type != "cuda":
        run.notes.append(f"CPU stand-in ({device}): the GPU path was not run; times are wall clock")
    return run

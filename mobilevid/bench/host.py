"""Latency on this machine: the same models through eager PyTorch, ONNX Runtime,
and the ExecuTorch .pte (fp32 and int8), in one process, interleaved, on one
thread count.

Interleaving (every timed round runs each model x runtime once, in a rotating
order) spreads the noise of a shared machine evenly over the contenders, so the
ratios measured in one run hold even when the absolute times drift.

Each timed call starts after ``--rest`` idle seconds. Runtimes in one process
leave worker threads spinning after a call returns (ONNX Runtime's intra-op
pool, PyTorch's OpenMP team), and on two cores those spinners take the cores of
whichever runtime runs next: back to back, the int8 .pte measured 42.8 ms
behind ONNX Runtime against 23.4 ms on its own. An app runs one clip at a time
with idle time between, which is what the rest reproduces.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from mobilevid.bench import runtimes as rt
from mobilevid.bench.config import BenchConfig
from mobilevid.bench.machine import default_threads, gemm_peak_gflops, host_info, versions
from mobilevid.bench.results import BenchRun, Result
from mobilevid.errors import MobilevidError
from mobilevid.export.source import ModelSource
from mobilevid.ui import Steps

__all__ = [
    "Subject",
    "bench_host",
    "check_counts",
    "default_frames",
    "drift_range",
    "find_or_export",
    "round_speed",
    "subjects",
]

QUANTIZE = ("fp32", "int8")
BACKENDS = {
    "eager": "pytorch",
    "executorch": "xnnpack",
    "executorch-cpp": "xnnpack",
    "onnxruntime": "onnxruntime-cpu",
    "coreml": "coreml",
}


@dataclass
class Subject:
    """One network at one input shape with one set of weights; every runtime
    benched for it runs exactly these weights on exactly this shape."""

    source: ModelSource
    pte: list[tuple[str, Path]] = field(default_factory=list)  # (quantize, file) given
    mlpackage: list[tuple[str, Path]] = field(default_factory=list)

    @property
    def model(self) -> str:
        return self.source.name

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        return self.source.input_shape

    def key(self) -> str:
        """Identity of (network, weights, shape) for cached derived files."""
        s = self.source
        blob = json.dumps(
            [s.name, s.overrides, s.num_classes, s.weights, list(self.shape)],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha1(blob.encode()).hexdigest()[:8]


def check_counts(cfg: BenchConfig) -> None:
    if cfg.runs < 10:
        raise MobilevidError(f"--runs {cfg.runs}: use at least 10 timed runs for a median and p90")
    if cfg.rest < 0:
        raise MobilevidError(f"--rest {cfg.rest}: use a number of seconds >= 0")
    if cfg.warmup < 0 or any(v is not None and v < 1 for v in (cfg.threads, cfg.frames, cfg.size)):
        raise MobilevidError("--warmup must be >= 0; --threads, --frames and --size >= 1")


def default_frames(name: str) -> int:
    """Table 12 times 64-frame clips for every model it lists (X3D-S included);
    any other model (ViT-S and its pruned forms) runs its own clip length."""
    from mobilevid.bench.paper import paper_latency
    from mobilevid.models import model_info

    return 64 if paper_latency(name) else model_info(name).input.frames


def subjects(cfg: BenchConfig) -> list[Subject]:
    """Resolve ``--variant`` names and ``--artifact`` files into subjects, with
    every user error raised before any heavy work."""
    from mobilevid.export.artifact import read_sidecar
    from mobilevid.export.source import resolve_source, source_from_sidecar
    from mobilevid.models import model_info

    out: list[Subject] = []
    for v in cfg.variants:
        info = model_info(v)
        if any(s.model == info.name and not s.pte for s in out):
            continue
        frames = cfg.frames or default_frames(info.name)
        out.append(Subject(resolve_source(info.name, frames=frames, size=cfg.size)))
    for a in cfg.artifacts:
        a = Path(a)
        if not a.exists():
            raise MobilevidError(f"{a}: no such artifact")
        if a.suffix not in (".pte", ".mlpackage"):
            raise MobilevidError(f"{a}: --artifact takes a .pte or an .mlpackage")
        meta = read_sidecar(a)
        probe = Subject(source_from_sidecar(meta))
        s = next((s for s in out if s.key() == probe.key()), None)
        if s is None:
            out.append(probe)
            s = probe
        (s.pte if a.suffix == ".pte" else s.mlpackage).append((meta["quantize"], a))
    if not out:
        raise MobilevidError("nothing to bench: pass --variant NAME... or --artifact FILE...")
    return out


def _runtimes(cfg: BenchConfig, notes: list[str]) -> list[str]:
    if cfg.runtimes:
        for r in cfg.runtimes:
            if r not in rt.RUNTIMES:
                raise MobilevidError(
                    f"unknown runtime {r!r}; choose from: {', '.join(rt.RUNTIMES)}"
                )
            why = rt.available(r)
            if why:
                raise MobilevidError(why)
        return list(dict.fromkeys(cfg.runtimes))
    chosen = []
    for r in rt.DEFAULT_RUNTIMES:
        why = rt.available(r)
        if why is None:
            chosen.append(r)
        elif r != "coreml":
            notes.append(f"{r} skipped: {why}")
    return chosen


def _quantize(cfg: BenchConfig) -> list[str]:
    qs = list(dict.fromkeys(cfg.quantize or QUANTIZE))
    for q in qs:
        if q not in (*QUANTIZE, "fp16"):
            raise MobilevidError(f"--quantize {q}: choose from fp32, int8 (fp16: Core ML only)")
    return qs


def find_or_export(s: Subject, target: str, quant: str, cfg: BenchConfig, steps: Steps) -> Path:
    """An existing artifact of exactly this subject (``make run`` / ``make
    check-full`` leave them in artifacts/), else a fresh export into
    ``artifacts/bench/``."""
    from mobilevid.export import ExportConfig, export, find_backend
    from mobilevid.export.artifact import read_sidecar

    name = find_backend(target).artifact_name(s.model, quant)
    root = Path(cfg.artifacts_dir)
    if not cfg.reexport and s.source.default_weights:
        for c in (root / name, root / "full" / name, root / "bench" / name):
            if not c.exists():
                continue
            try:
                m = read_sidecar(c)
            except MobilevidError:
                continue
            if (
                m.get("model") == s.model
                and m.get("quantize") == quant
                and m.get("target") == target
                and tuple(m["input"]["shape"]) == s.shape
                and not m.get("overrides")
                and m.get("num_classes") == 400
                and m.get("weights") == s.source.weights
            ):
                return c
    out = root / "bench" / name
    _, _, t, h, w = s.shape
    steps.log(f"exporting {name} at {t}x{h}x{w} for the bench (kept in {out.parent})")
    export(
        ExportConfig(
            variant=s.model, target=target, quantize=quant, output=out, force=True, frames=t, size=h
        ),
        steps,
    )
    return out


def _onnx_path(s: Subject, cfg: BenchConfig) -> Path:
    t, h = s.shape[2], s.shape[3]
    return Path(cfg.artifacts_dir) / "bench" / f"{s.model}_onnx_fp32_{t}x{h}_{s.key()}.onnx"


@dataclass
class _Job:
    result: Result
    load: Callable[[], rt.Run | None]
    run: rt.Run | None = None
    separate: Path | None = None  # timed by the C++ runner in its own process


def _jobs(
    subs: list[Subject],
    runtimes: list[str],
    quants: list[str],
    cfg: BenchConfig,
    run: BenchRun,
    steps: Steps,
) -> list[_Job]:
    from mobilevid.counting import count
    from mobilevid.export.source import build

    jobs: list[_Job] = []
    for s in subs:
        with steps.step(f"building {s.model} at {'x'.join(map(str, s.shape[2:]))}"):
            model = build(s.source).module
            gmacs = count(model, s.shape).gmacs

        def result(runtime: str, quant: str, artifact: Path | None = None, s=s, g=gmacs) -> Result:
            a = str(artifact) if artifact else None
            return Result(s.model, runtime, BACKENDS[runtime], quant, list(s.shape), round(g, 4), a)

        for runtime in runtimes:
            if runtime == "eager":
                jobs.append(_Job(result("eager", "fp32"), lambda m=model: rt.eager(m)))
            elif runtime == "onnxruntime":
                path = _onnx_path(s, cfg)
                r = result("onnxruntime", "fp32", path)
                try:
                    if not path.is_file() or cfg.reexport:
                        with steps.step(f"exporting {s.model} to ONNX"):
                            rt.export_onnx(model, s.shape, path)
                except Exception as e:  # the exporter raises many types; keep benching
                    r.error = f"ONNX export failed: {str(e).splitlines()[0]}"
                jobs.append(_Job(r, lambda p=path: rt.onnxruntime(p, cfg.threads)))
            elif runtime in ("executorch", "executorch-cpp"):
                wanted = s.pte or [(q, None) for q in quants if q != "fp16"]
                if not cfg.quantize and s.source.info.family == "vit":
                    # no int8 export for ViT yet: by default, bench what exists
                    wanted = [w for w in wanted if w[0] != "int8"]
                for q, path in wanted:
                    r = result(runtime, q)
                    try:
                        path = path or find_or_export(s, "executorch", q, cfg, steps)
                    except MobilevidError as e:
                        r.error = str(e)
                    r.artifact = str(path) if path else None
                    if runtime == "executorch":
                        jobs.append(_Job(r, lambda p=path: rt.executorch(p)))
                    else:
                        jobs.append(_Job(r, lambda: None, separate=path))
            elif runtime == "coreml":
                for q, path in s.mlpackage:
                    jobs.append(_Job(result("coreml", q, path), lambda p=path: rt.coreml(p)))
                if not s.mlpackage:
                    run.notes.append(
                        f"{s.model}: no .mlpackage given for Core ML (pass --artifact)"
                    )
    return jobs


def bench_host(cfg: BenchConfig, steps: Steps | None = None) -> BenchRun:
    steps = steps or Steps(enabled=False)
    check_counts(cfg)
    cfg = replace(cfg, threads=cfg.threads or default_threads())
    notes: list[str] = []
    runtimes = _runtimes(cfg, notes)
    quants = _quantize(cfg)
    subs = subjects(cfg)
    settings = {
        "threads": cfg.threads,
        "warmup": cfg.warmup,
        "runs": cfg.runs,
        "frames": cfg.frames or ", ".join(dict.fromkeys(str(s.shape[2]) for s in subs)),
        "size": cfg.size or "model default",
        "interleaved": True,
        "rest_s": cfg.rest,
        "runtimes": runtimes,
        "quantize": quants,
        "input": "random normal (seed 0), one clip per call, batch 1",
    }
    run = BenchRun(host_info(cfg.threads), versions(), settings, notes=notes)

    previous = torch.get_num_threads()
    try:
        return _bench(cfg, steps, runtimes, quants, subs, run)
    finally:  # the thread count is process-wide: give the caller theirs back
        rt.set_threads(previous)


def _bench(
    cfg: BenchConfig,
    steps: Steps,
    runtimes: list[str],
    quants: list[str],
    subs: list[Subject],
    run: BenchRun,
) -> BenchRun:
    rt.set_threads(cfg.threads)
    with steps.step(f"measuring the fp32 GEMM peak on {cfg.threads} thread(s)"):
        run.gemm_peak_gflops = gemm_peak_gflops(cfg.threads)
    jobs = _jobs(subs, runtimes, quants, cfg, run, steps)
    run.results = [j.result for j in jobs]

    inline = [j for j in jobs if j.separate is None]
    for j in steps.track(inline, "loading models into their runtimes", len(inline)):
        if j.result.error:
            continue
        t0 = time.perf_counter()
        try:
            j.run = j.load()
        except MobilevidError as e:
            j.result.error = str(e)
            continue
        j.result.load_ms = (time.perf_counter() - t0) * 1e3

    live = [j for j in jobs if j.run is not None]
    g = torch.Generator().manual_seed(0)
    inputs = {tuple(s.shape): torch.randn(s.shape, generator=g) for s in subs}
    total = (cfg.warmup + cfg.runs) * len(live)
    order = list(range(len(live)))
    for i in steps.track(
        range(cfg.warmup + cfg.runs),
        f"timing {len(live)} model x runtime pairs, interleaved ({total} calls)",
        cfg.warmup + cfg.runs,
    ):
        k = i % max(len(order), 1)
        for idx in order[k:] + order[:k]:  # rotate who goes first
            j = live[idx]
            x = inputs[tuple(j.result.input_shape)]
            if cfg.rest > 0:
                time.sleep(cfg.rest)
            try:
                t0 = time.perf_counter()
                j.run(x)
                dt = (time.perf_counter() - t0) * 1e3
            except MobilevidError as e:
                j.result.error, j.run = str(e), None
                order.remove(idx)
                continue
            if i >= cfg.warmup:
                j.result.times_ms.append(dt)
    speed = round_speed([j.result.times_ms for j in live if len(j.result.times_ms) == cfg.runs])
    if speed:
        run.settings["round_speed"] = [round(v, 3) for v in speed]
        lo, hi = drift_range(speed)
        if hi / lo > DRIFT:
            run.notes.append(
                f"the machine's speed changed during the run: stretches of 3 rounds took "
                f"{lo:.2f}x to {hi:.2f}x the median round's time "
                "(another tenant on a shared host?). "
                "Runtimes that scale differently under contention change their ratios too; "
                "re-run on a quiet machine before comparing (settings.round_speed)"
            )
    _run_separately([j for j in jobs if j.separate and not j.result.error], cfg, run, steps)
    return run


DRIFT = 1.25  # slowest / fastest 3-round stretch beyond which a run is flagged


def drift_range(speed: list[float], window: int = 3) -> tuple[float, float]:
    """(fastest, slowest) mean speed over ``window`` consecutive rounds. A
    neighbour's arrival is a sustained step; single noisy rounds of a small run
    (four contenders) reached 1.3x apart without one, and averaging three
    rounds keeps them apart from a real step (quiet runs <= 1.17, a measured
    step 1.36)."""
    w = min(window, len(speed))
    means = [sum(speed[i : i + w]) / w for i in range(len(speed) - w + 1)]
    return min(means), max(means)


def round_speed(times: list[list[float]]) -> list[float]:
    """How slow each timed round was, relative to the typical round: per round,
    the median over contenders of time / that contender's median. Every round
    runs every contender, so a neighbour who takes a core mid-run shows up as
    a step in this series, whatever the contenders' own speeds."""
    if not times or len({len(t) for t in times}) != 1:
        return []
    med = [statistics.median(t) for t in times]
    return [
        statistics.median(t[r] / m for t, m in zip(times, med, strict=True))
        for r in range(len(times[0]))
    ]


def _run_separately(jobs: list[_Job], cfg: BenchConfig, run: BenchRun, steps: Steps) -> None:
    """The C++ runner times its own warm-up and runs in one process per model,
    after the interleaved rounds: the same .pte without Python in the loop."""
    if not jobs:
        return
    from mobilevid.bench.cpp_runner import build_runner, run_runner

    with steps.step("building the C++ runner against the executorch wheel"):
        binary = build_runner()
    run.notes.append(
        "executorch-cpp: the C++ runner (runner/), one process per model, "
        "after the interleaved rounds (not interleaved)"
    )
    for j in steps.track(jobs, "timing with the C++ runner", len(jobs)):
        try:
            j.result.load_ms, j.result.times_ms = run_runner(
                binary, j.separate, cfg.warmup, cfg.runs, cfg.threads
            )
        except MobilevidError as e:
            j.result.error = str(e)

"""What one bench run produced, and its JSON form.

The JSON keeps two views of the same numbers: ``results`` (one entry per model x
runtime, with every timing, for people and plots) and ``metrics`` (ExecuTorch's
benchmark records: ``benchmarkModel`` / ``metric`` / ``actualValue`` /
``targetValue`` / ``deviceInfo``, with the metric names Minibench and the
ExecuTorch dashboard use), so existing tooling reads our files unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mobilevid.bench.paper import CPU, GPU, REFERENCE, paper_latency
from mobilevid.bench.stats import Stats, summarize

__all__ = ["SCHEMA", "BenchRun", "Result"]

SCHEMA = "mobilevid-bench/1"
METRIC_NAMES = (
    "avg_inference_latency(ms)",
    "trimmean_inference_latency(ms)",
    "median_inference_latency(ms)",
    "p90_inference_latency(ms)",
    "min_inference_latency(ms)",
    "model_load_time(ms)",
    "load_status",
)


@dataclass
class Result:
    model: str
    runtime: str  # eager | executorch | onnxruntime | coreml
    backend: str  # what ran the ops: pytorch | xnnpack | onnxruntime-cpu | coreml
    quantize: str
    input_shape: list[int]
    gmacs: float | None
    artifact: str | None = None
    load_ms: float | None = None
    times_ms: list[float] = field(default_factory=list)
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. a phone's thermal state, gate
    threads: int | None = None  # None: the run's one thread count (device info)

    @property
    def key(self) -> str:
        return f"{self.runtime}/{self.quantize}"

    @property
    def stats(self) -> Stats | None:
        return summarize(self.times_ms) if self.times_ms else None


@dataclass
class BenchRun:
    device: dict[str, Any]
    versions: dict[str, Any]
    settings: dict[str, Any]
    gemm_peak_gflops: float | None = None  # at the (last) thread count
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    gemm_peaks: dict[int, float] = field(default_factory=dict)  # per thread count (host)
    over_time: dict[str, Any] | None = None  # bench --over-time: cost per update (over_time.py)

    @property
    def thread_counts(self) -> list[int | None]:
        """The thread counts measured, in order (one None for a single-count run)."""
        return list(dict.fromkeys(r.threads for r in self.results)) or [None]

    def threads_of(self, r: Result) -> int | None:
        return r.threads if r.threads is not None else self.device.get("threads")

    # -- derived numbers ---------------------------------------------------
    def floor_ms(self, r: Result) -> float | None:
        """The time the MACs take at the measured fp32 GEMM peak."""
        peak = self.gemm_peaks.get(r.threads) if r.threads else None
        peak = peak or self.gemm_peak_gflops
        if not peak or not r.gmacs:
            return None
        return 2 * r.gmacs / peak * 1e3

    def reference(self, r: Result) -> Result | None:
        """VMF-560M measured in this run with the same runtime and precision."""
        return next(
            (
                x
                for x in self.results
                if x.model == REFERENCE and x.key == r.key and x.threads == r.threads and x.stats
            ),
            None,
        )

    def ratio_to_reference(self, r: Result) -> float | None:
        ref = self.reference(r)
        if ref is None or r.stats is None:
            return None
        return r.stats.median / ref.stats.median

    # -- JSON --------------------------------------------------------------
    def result_json(self, r: Result) -> dict[str, Any]:
        s = r.stats
        p = paper_latency(r.model)
        ref = paper_latency(REFERENCE)
        floor = self.floor_ms(r)
        ratio = self.ratio_to_reference(r)
        return {
            "model": r.model,
            "runtime": r.runtime,
            "backend": r.backend,
            "quantization": r.quantize,
            "input_shape": r.input_shape,
            "gmacs": r.gmacs,
            "artifact": r.artifact,
            "threads": self.threads_of(r),
            "latency_ms": s.to_json() if s else None,
            "model_load_time_ms": None if r.load_ms is None else round(r.load_ms, 3),
            "floor_ms": None if floor is None else round(floor, 3),
            "x_floor": None if floor is None or s is None else round(s.median / floor, 3),
            "ratio_to_vmf_560m": None if ratio is None else round(ratio, 4),
            "paper": None
            if p is None
            else {
                f"{CPU} (ms)": p.cpu_ms,
                f"{GPU} (ms)": p.gpu_ms,
                "k400_top1": p.top1,
                "cpu_ratio_to_vmf_560m": round(p.cpu_ms / ref.cpu_ms, 4),
                "gpu_ratio_to_vmf_560m": round(p.gpu_ms / ref.gpu_ms, 4),
            },
            "times_ms": [round(t, 4) for t in r.times_ms],
            "error": r.error,
            **({"extra": r.extra} if r.extra else {}),
        }

    def metrics(self) -> list[dict[str, Any]]:
        """ExecuTorch benchmark records, one per metric per result."""
        d = self.device
        info = {
            "device": d.get("device"),
            "arch": d.get("model") or d.get("cpu"),
            "os": d.get("os"),
            "totalMem": d.get("total_mem_bytes") or 0,
            "availMem": d.get("avail_mem_bytes") or 0,
        }
        recs = []
        for r in self.results:
            s = r.stats
            values = {
                "avg_inference_latency(ms)": s.mean if s else 0.0,
                "trimmean_inference_latency(ms)": s.trimmean if s else 0.0,
                "median_inference_latency(ms)": s.median if s else 0.0,
                "p90_inference_latency(ms)": s.p90 if s else 0.0,
                "min_inference_latency(ms)": s.min if s else 0.0,
                "model_load_time(ms)": r.load_ms or 0.0,
                "load_status": 0.0 if r.error is None else 1.0,
            }
            model = {"name": r.model, "backend": r.backend, "quantization": r.quantize}
            if r.threads is not None:
                model["threads"] = r.threads
            recs += [
                {
                    "benchmarkModel": model,
                    "metric": name,
                    "actualValue": round(values[name], 4),
                    "targetValue": 0.0,
                    "deviceInfo": info,
                }
                for name in METRIC_NAMES
            ]
        return recs

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BenchRun:
        """Read back a run (to redraw a report or compare two runs)."""
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} file")
        run = cls(
            d["device"],
            d["versions"],
            d["settings"],
            d.get("gemm_peak_gflops"),
            notes=list(d.get("notes", [])),
            created=d["created"],
            gemm_peaks={int(k): v for k, v in d.get("gemm_peak_gflops_by_threads", {}).items()},
            over_time=d.get("over_time"),
        )
        multi = isinstance(d["settings"].get("threads"), list)
        for r in d["results"]:
            run.results.append(
                Result(
                    r["model"],
                    r["runtime"],
                    r["backend"],
                    r["quantization"],
                    r["input_shape"],
                    r["gmacs"],
                    r["artifact"],
                    r["model_load_time_ms"],
                    list(r["times_ms"]),
                    r["error"],
                    dict(r.get("extra", {})),
                    r.get("threads") if multi else None,
                )
            )
        return run

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "created": self.created,
            "device": self.device,
            "versions": self.versions,
            "settings": self.settings,
            "gemm_peak_gflops": None
            if self.gemm_peak_gflops is None
            else round(self.gemm_peak_gflops, 2),
            "gemm_peak_gflops_by_threads": {
                str(k): round(v, 2) for k, v in self.gemm_peaks.items()
            },
            "results": [self.result_json(r) for r in self.results],
            "metrics": self.metrics(),
            "notes": self.notes,
        } | ({"over_time": self.over_time} if self.over_time is not None else {})

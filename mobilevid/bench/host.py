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
from functools import partial
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
    "executorch-openvino": "openvino",
    "openvino-ir": "openvino",
    "openvino": "openvino",
    "openvino-int8": "openvino",
    "onnxruntime": "onnxruntime-cpu",
    "onnxruntime-int8": "onnxruntime-cpu",
    "litert": "litert-xnnpack",
    "litert-int8": "litert-xnnpack",
    "coreml": "coreml",
}


@dataclass
class Subject:
    """One network at one input shape with one set of weights; every runtime
    benched for it runs exactly these weights on exactly this shape."""

    source: ModelSource
    pte: list[tuple[str, Path, str]] = field(default_factory=list)  # (quantize, file, backend)
    mlpackage: list[tuple[str, Path]] = field(default_factory=list)
    xml: list[tuple[str, Path]] = field(default_factory=list)  # OpenVINO IR given

    @property
    def model(self) -> str:
        return self.source.name

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        return self.source.input_shape

    @property
    def stream(self) -> bool:
        """A stream model: timed per call of its streaming program (one frame)."""
        return self.source.stream

    @property
    def step_shape(self) -> tuple[int, int, int, int, int]:
        """What one timed call takes: the clip, or one frame for a stream model."""
        b, c, _, h, w = self.shape
        return (b, c, STEP_FRAMES, h, w) if self.stream else self.shape

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
    counts = [*(cfg.threads or []), cfg.frames, cfg.size]
    if cfg.warmup < 0 or any(v is not None and v < 1 for v in counts):
        raise MobilevidError("--warmup must be >= 0; --threads, --frames and --size >= 1")


STEP_FRAMES = 1  # a stream model is benched per frame, as a camera feeds it


def default_frames(name: str, paper_input: bool = False) -> int:
    """Table 12 times 64-frame clips for every model it lists (X3D-S included);
    any other model (ViT-S and its pruned forms) runs its own clip length, and
    with ``paper_input`` every model does (X3D-S 13 frames, MoViNet 50)."""
    from mobilevid.bench.paper import paper_latency
    from mobilevid.models import model_info

    own = model_info(name).input.frames
    return own if paper_input or not paper_latency(name) else 64


def subjects(cfg: BenchConfig) -> list[Subject]:
    """Resolve ``--variant`` names and ``--artifact`` files into subjects, with
    every user error raised before any heavy work."""
    from mobilevid.export.artifact import read_sidecar
    from mobilevid.export.source import resolve_source, source_from_sidecar
    from mobilevid.models import model_info

    out: list[Subject] = []
    for v in cfg.variants:
        info = model_info(v)
        if any(s.model == info.name and not (s.pte or s.xml or s.mlpackage) for s in out):
            continue
        frames = cfg.frames or default_frames(info.name, cfg.paper_input)
        out.append(Subject(resolve_source(info.name, frames=frames, size=cfg.size)))
    for a in cfg.artifacts:
        a = Path(a)
        if not a.exists():
            raise MobilevidError(f"{a}: no such artifact")
        if a.suffix not in (".pte", ".mlpackage", ".xml"):
            raise MobilevidError(f"{a}: --artifact takes a .pte, an .mlpackage or an OpenVINO .xml")
        meta = read_sidecar(a)
        probe = Subject(source_from_sidecar(meta))
        s = next((s for s in out if s.key() == probe.key()), None)
        if s is None:
            out.append(probe)
            s = probe
        if a.suffix == ".pte":
            s.pte.append((meta["quantize"], a, meta.get("backend") or "xnnpack"))
        else:
            (s.xml if a.suffix == ".xml" else s.mlpackage).append((meta["quantize"], a))
    if not out:
        raise MobilevidError("nothing to bench: pass --variant NAME... or --artifact FILE...")
    return out


def _runtimes(cfg: BenchConfig, notes: list[str]) -> list[str]:
    """The runtimes asked for (each must run here), or every default one that
    runs here, with one note per runtime left out and how to get it."""
    if cfg.runtimes:
        for r in cfg.runtimes:
            if r not in rt.RUNTIMES:
                raise MobilevidError(
                    f"unknown runtime {r!r}; choose from: {', '.join(rt.RUNTIMES)}"
                )
            why = rt.available(r)
            if why:
                raise MobilevidError(f"--runtime {r}: {why}")
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
        if q not in (*QUANTIZE, "fp16", "bf16"):
            raise MobilevidError(
                f"--quantize {q}: choose from fp32, int8 (bf16: OpenVINO IR; fp16: Core ML)"
            )
    return qs


def find_or_export(
    s: Subject,
    target: str,
    quant: str,
    cfg: BenchConfig,
    steps: Steps,
    backend: str | None = None,
) -> Path:
    """An existing artifact of exactly this subject (``make run`` / ``make
    check-full`` leave them in artifacts/), else a fresh export into
    ``artifacts/bench/``."""
    from mobilevid.export import ExportConfig, export, find_backend
    from mobilevid.export.artifact import read_sidecar

    chosen = find_backend(target, backend)
    name = chosen.artifact_name(s.model, quant)
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
                and m.get("backend") == chosen.name
                and tuple(m["input"]["shape"]) == s.step_shape
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
            variant=s.model,
            target=target,
            backend=chosen.name,
            quantize=quant,
            output=out,
            force=True,
            frames=t,
            size=h,
        ),
        steps,
    )
    return out


def _derived_path(s: Subject, cfg: BenchConfig, what: str, ext: str = ".onnx") -> Path:
    """A peer's file derived from this subject (ONNX, TFLite), cached by its identity."""
    t, h = s.shape[2], s.shape[3]
    return Path(cfg.artifacts_dir) / "bench" / f"{s.model}_{what}_{t}x{h}_{s.key()}{ext}"


# Runtimes a streaming program runs on (the others take whole clips)
STREAM_RUNTIMES = ("eager", "executorch")

# Runtimes that take no thread count: measured only at every usable CPU
OWN_THREADS = {
    "executorch-openvino": "not timed at this thread count: ExecuTorch's OpenVINO backend takes "
    "no thread count (OpenVINO uses every core, {n} here); timed only at {n} threads",
}

# Numerics gates, by what the runtime computes in: the same as `mobilevid verify`
# (fp32: max |diff| on every input; bf16 and int8: cosine on every real clip).
GATES: dict[str, tuple[float | None, float | None]] = {
    "fp32": (1e-4, None),
    "bf16": (None, 0.999),
    "int8": (None, 0.99),
}


def _gate_of(model: str, precision: str) -> tuple[float | None, float | None]:
    """The precision's gate, or the model's own where ``verify`` has one (a
    model whose data-dependent token choices make max |diff| unfit)."""
    from mobilevid.export.verify import MODEL_THRESHOLDS

    own = [v for (m, _, q), v in MODEL_THRESHOLDS.items() if m == model and q == precision]
    return own[0] if own else GATES[precision]


@dataclass
class _Job:
    result: Result
    # the thread count -> run(x), or (run(x), facts for Result.extra)
    load: Callable[[int], rt.Run | tuple[rt.Run, dict] | None]
    gate: str | None = "fp32"  # GATES key; None: the reference itself
    run: rt.Run | None = None
    separate: Path | None = None  # timed by the C++ runner in its own process


class _Peer:
    """A peer's model, prepared once per subject (converted, quantized) and
    compiled again for each thread count."""

    def __init__(self, prepare: Callable[[], object]):
        self._prepare, self._value = prepare, None

    def get(self):
        if self._value is None:
            self._value = self._prepare()
        return self._value


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
            model = build(s.source).module.eval()
            gmacs = count(model, s.shape).gmacs
        extra: dict = {}
        if s.stream:  # a call is one frame: its share of the clip's MACs
            gmacs = gmacs * STEP_FRAMES / s.shape[2]
            extra = {"stream": {"step_frames": STEP_FRAMES, "clip_frames": s.shape[2]}}

        def result(runtime: str, quant: str, artifact: Path | None = None, s=s, g=gmacs,
                   e=extra) -> Result:  # fmt: skip
            a = str(artifact) if artifact else None
            return Result(s.model, runtime, BACKENDS[runtime], quant, list(s.step_shape),
                          round(g, 4), a, extra=dict(e))  # fmt: skip

        def mine(runtime: str, target: str, backend: str | None, wanted, s=s) -> None:
            """mobilevid's own files: given with --artifact, else found or exported."""
            for q, path in wanted:
                r = result(runtime, q)
                try:
                    path = path or find_or_export(s, target, q, cfg, steps, backend)
                except MobilevidError as e:
                    r.error = str(e)
                r.artifact = str(path) if path else None
                gate = "bf16" if runtime == "executorch-openvino" else q
                if s.stream:
                    jobs.append(_Job(r, partial(_load_stream_pte, path), gate))
                elif runtime == "executorch-cpp":
                    jobs.append(_Job(r, lambda t: None, gate, separate=path))
                elif runtime == "openvino-ir":
                    jobs.append(_Job(r, partial(_load_ir, path), gate))
                else:  # the XNNPACK threadpool is process-wide (set before loading)
                    jobs.append(_Job(r, partial(_load_pte, path), gate))

        clips = _Peer(lambda s=s: _calibration(s))
        if s.stream:
            skipped = [r for r in runtimes if r not in STREAM_RUNTIMES]
            if skipped:
                run.notes.append(
                    f"{s.model}: a streaming program, timed per frame on "
                    f"{' and '.join(STREAM_RUNTIMES)} only ({', '.join(skipped)} take whole clips)"
                )
            for runtime in (r for r in runtimes if r in STREAM_RUNTIMES):
                if runtime == "eager":
                    size = s.shape[-1]
                    jobs.append(_Job(result("eager", "fp32"),
                                     lambda t, m=model, n=size: rt.eager_stream(m, n, STEP_FRAMES),
                                     None))  # fmt: skip
                else:
                    wanted = [(q, p) for q, p, b in s.pte if b == "xnnpack"] or [
                        (q, None) for q in quants if q in QUANTIZE
                    ]
                    mine(runtime, "executorch", None, wanted)
            continue
        for runtime in runtimes:
            if runtime == "eager":
                jobs.append(_Job(result("eager", "fp32"), lambda t, m=model: rt.eager(m), None))
            elif runtime in ("onnxruntime", "onnxruntime-int8"):
                fp32 = _derived_path(s, cfg, "onnx_fp32")
                int8 = _derived_path(s, cfg, "onnxruntime_int8")
                q = "int8" if runtime == "onnxruntime-int8" else "fp32"
                r = result(runtime, q, int8 if q == "int8" else fp32)
                try:
                    if not fp32.is_file() or cfg.reexport:
                        with steps.step(f"exporting {s.model} to ONNX"):
                            rt.export_onnx(model, s.shape, fp32)
                    if q == "int8" and (not int8.is_file() or cfg.reexport):
                        with steps.step(f"ONNX Runtime static int8 (QDQ) of {s.model}"):
                            rt.quantize_onnx(fp32, int8, clips.get())
                except Exception as e:  # the exporters raise many types; keep benching
                    r.error = (
                        f"ONNX {'quantization' if q == 'int8' else 'export'} failed: "
                        + (str(e).strip().splitlines() or [type(e).__name__])[0]
                    )
                path = int8 if q == "int8" else fp32
                jobs.append(_Job(r, lambda t, p=path: rt.onnxruntime(p, t), q))
            elif runtime in ("litert", "litert-int8"):
                jobs.append(_litert_job(runtime, s, model, cfg, steps, clips, result))
            elif runtime == "openvino":
                ov_model = _Peer(lambda m=model, s=s: rt.openvino_convert(m, s.shape))
                jobs.append(
                    _Job(result("openvino", "fp32"),
                         lambda t, o=ov_model: rt.openvino(o.get(), t, "f32"), "fp32")
                )  # fmt: skip
                default = rt.openvino_default_precision()
                if default == "f32":
                    run.notes.append(
                        "openvino: OpenVINO's default precision on this CPU is f32, "
                        "the same as the pinned row"
                    )
                else:
                    jobs.append(
                        _Job(result("openvino", default),
                             lambda t, o=ov_model: rt.openvino(o.get(), t, None), "bf16")
                    )  # fmt: skip
            elif runtime == "openvino-int8":
                q8 = _Peer(lambda m=model, s=s, c=clips: rt.openvino_nncf_int8(
                    rt.openvino_convert(m, s.shape), c.get()))  # fmt: skip
                jobs.append(
                    _Job(result("openvino-int8", "int8"),
                         lambda t, o=q8: rt.openvino(o.get(), t, None), "int8")
                )  # fmt: skip
            elif runtime in ("executorch", "executorch-cpp"):
                wanted = [w for w in s.pte if w[2] == "xnnpack"] if s.pte else None
                if wanted is None:
                    wanted = [(q, None) for q in quants if q in QUANTIZE]
                    if not cfg.quantize and s.source.info.family == "vit":
                        # no int8 export for ViT yet: by default, bench what exists
                        wanted = [w for w in wanted if w[0] != "int8"]
                mine(runtime, "executorch", None, [(q, p) for q, p, *_ in wanted])
            elif runtime == "executorch-openvino":
                given = [(q, p) for q, p, b in s.pte if b == "openvino"]
                if not s.pte and not s.xml:
                    given = [("fp32", None)]
                mine(runtime, "executorch", "openvino", given)
            elif runtime == "openvino-ir":
                ir_quants = [q for q in quants if q != "fp16"]
                if not cfg.quantize and _has_bf16():  # the fastest form on bf16 CPUs
                    ir_quants.insert(1, "bf16")
                wanted = s.xml or ([] if s.pte else [(q, None) for q in ir_quants])
                if s.source.info.family == "vit" and not cfg.quantize:
                    wanted = [w for w in wanted if w[0] != "int8"]
                mine(runtime, "openvino", None, wanted)
            elif runtime == "coreml":
                for q, path in s.mlpackage:
                    jobs.append(
                        _Job(result("coreml", q, path), lambda t, p=path: rt.coreml(p), None)
                    )
                if not s.mlpackage:
                    run.notes.append(
                        f"{s.model}: no .mlpackage given for Core ML (pass --artifact)"
                    )
    return jobs


def _litert_job(runtime, s, model, cfg, steps, clips, result) -> _Job:
    """LiteRT on the deployable form (the converter segfaults on the 3D model's
    strided depthwise Conv3d), fp32 or static int8, converted once per subject."""
    from mobilevid.bench import litert

    q = "int8" if runtime == "litert-int8" else "fp32"
    fp32 = _derived_path(s, cfg, "litert_fp32", ".tflite")
    int8 = _derived_path(s, cfg, "litert_int8", ".tflite")
    path = int8 if q == "int8" else fp32
    r = result(runtime, q, path)
    if s.source.info.family != "vmf":  # a converter crash would end the whole bench
        r.error = (
            "litert: checked only on the Video Mobile-Former's deployable form (litert-torch "
            "segfaults on some 3D convs); bench this model with the other runtimes"
        )
        return _Job(r, lambda t: None, q)
    try:
        if not fp32.is_file() or cfg.reexport:
            with steps.step(f"converting {s.model}'s deployable form to LiteRT (litert-torch)"):
                litert.convert(model, s.shape, fp32)
        if q == "int8" and (not int8.is_file() or cfg.reexport):
            with steps.step(f"LiteRT static int8 of {s.model} (ai-edge-quantizer)"):
                litert.quantize_int8(fp32, int8, clips.get())
    except Exception as e:  # the converters raise many types; keep benching
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        r.error = f"LiteRT {'quantization' if q == 'int8' else 'conversion'} failed: {first}"
        return _Job(r, lambda t: None, q)

    def load(threads: int) -> tuple[rt.Run, dict]:
        run, delegation = litert.load(path, threads)
        return run, {"delegation": delegation}

    return _Job(r, load, q)


def _has_bf16() -> bool:
    from mobilevid.export.openvino import has_bf16

    return has_bf16()


def _load_pte(path: Path, threads: int) -> rt.Run:
    return rt.executorch(path)


def _load_stream_pte(path: Path, threads: int) -> rt.StreamRun:
    return rt.executorch_stream(path)


def _load_ir(path: Path, threads: int) -> rt.Run:
    """mobilevid's IR at the precision its sidecar was verified at."""
    from mobilevid.export.artifact import read_sidecar
    from mobilevid.export.openvino import precision_of

    return rt.openvino(path, threads, precision_of(read_sidecar(path)))


def _calibration(s: Subject) -> list[torch.Tensor]:
    """The int8 .pte's default calibration set: the sample clips, mirrored."""
    from mobilevid.data.samples import real_clips

    _, _, t, size, _ = s.shape
    spec = s.source.spec
    return [c for _, c in real_clips(t, size, spec.mean, spec.std, flip=True)]


def bench_host(cfg: BenchConfig, steps: Steps | None = None) -> BenchRun:
    steps = steps or Steps(enabled=False)
    check_counts(cfg)
    counts = list(dict.fromkeys(cfg.threads or [default_threads()]))
    cfg = replace(cfg, threads=counts)
    notes: list[str] = []
    runtimes = _runtimes(cfg, notes)
    quants = _quantize(cfg)
    subs = subjects(cfg)
    settings = {
        "threads": counts if len(counts) > 1 else counts[0],
        "warmup": cfg.warmup,
        "runs": cfg.runs,
        "frames": cfg.frames or ", ".join(dict.fromkeys(str(s.shape[2]) for s in subs)),
        "size": cfg.size or "model default",
        "interleaved": True,
        "rest_s": cfg.rest,
        "runtimes": runtimes,
        "quantize": quants,
        "input": "random normal (seed 0), one clip per call, batch 1",
        "gates": "each runtime checked against eager on the 12 real sample clips before timing "
        "(fp32: max |diff| <= 1e-4; bf16: cosine >= 0.999; int8: cosine >= 0.99)",
    }
    run = BenchRun(host_info(counts[-1]), versions(), settings, notes=notes)

    previous = torch.get_num_threads()
    try:
        return _bench(cfg, steps, runtimes, quants, subs, run)
    finally:  # the thread count is process-wide: give the caller theirs back
        rt.set_threads(previous)


def _gate(
    jobs: list[_Job], subs: list[Subject], steps: Steps, only: list[_Job] | None = None
) -> None:
    """Check every loaded runtime (of ``only``, if given) against eager PyTorch
    on the real clips (and one random clip for the float ones) before it is
    timed: a runtime that gives other answers is reported as failing, never
    timed."""
    from mobilevid.data.samples import real_clips
    from mobilevid.export.verify import compare

    todo = [j for j in (jobs if only is None else only) if j.run is not None and j.gate]
    for s in subs:
        of_s = [
            j for j in jobs
            if (j.result.model, j.result.input_shape) == (s.model, list(s.step_shape))
        ]  # fmt: skip
        mine = [j for j in of_s if j in todo]
        eager = next((j for j in of_s if j.result.runtime == "eager"), None)
        if not mine:
            continue
        _, _, t, size, _ = s.shape
        spec = s.source.spec
        clips = real_clips(t, size, spec.mean, spec.std)
        g = torch.Generator().manual_seed(1234)
        clips.append(("random[0]", torch.randn(s.shape, generator=g)))
        with steps.step(f"{s.model}: eager reference on {len(clips)} clips"):
            model = build_reference(s) if eager is None else None
            ref_run = _whole_clip(eager.run) if eager is not None and eager.run else rt.eager(model)
            refs = [ref_run(x) for _, x in clips]
        for j in steps.track(mine, f"{s.model}: checking each runtime against eager", len(mine)):
            max_abs, min_cos = _gate_of(j.result.model, j.gate)
            checks = []
            try:
                for (name, x), ref in zip(clips, refs, strict=True):
                    if name.startswith("random") and j.gate != "fp32":
                        continue  # noise is far outside int8 calibration (as in verify)
                    out = torch.as_tensor(_whole_clip(j.run)(x))
                    checks.append(compare(name, ref, out, max_abs, min_cos))
            except MobilevidError as e:
                j.result.error, j.run = str(e), None
                continue
            worst = min(c.cosine for c in checks)
            j.result.extra["gate"] = {
                "inputs": len(checks),
                "max_abs": max(c.max_abs for c in checks),
                "min_cosine": round(worst, 6),
                "top1_agreement": sum(c.top1_match for c in checks) / len(checks),
                "threshold": {"max_abs": max_abs, "min_cosine": min_cos},
                "passed": all(c.passed for c in checks),
            }
            if not all(c.passed for c in checks):
                bad = next(c for c in checks if not c.passed)
                j.result.error = (
                    f"failed its numerics gate against eager on {bad.name}: max |diff| "
                    f"{bad.max_abs:.2e}, cosine {bad.cosine:.5f} (needs "
                    + (f"<= {max_abs:g})" if max_abs else f">= {min_cos})")
                )
                j.run = None


def _whole_clip(run: rt.Run) -> rt.Run:
    """What answers for a whole clip: a streaming program is fed it frame by frame."""
    return run.clip if isinstance(run, rt.StreamRun) else run


def build_reference(s: Subject) -> torch.nn.Module:
    from mobilevid.export.source import build

    return build(s.source).module.eval()


def _bench(
    cfg: BenchConfig,
    steps: Steps,
    runtimes: list[str],
    quants: list[str],
    subs: list[Subject],
    run: BenchRun,
) -> BenchRun:
    template = _jobs(subs, runtimes, quants, cfg, run, steps)
    counts = cfg.threads or [default_threads()]
    gated: dict[int, dict] = {}  # template job -> its gate record
    gate_errors: dict[int, str | None] = {}
    for threads in counts:
        rt.set_threads(threads)
        with steps.step(f"measuring the fp32 GEMM peak on {threads} thread(s)"):
            run.gemm_peaks[threads] = gemm_peak_gflops(threads)
        run.gemm_peak_gflops = run.gemm_peaks[threads]
        jobs = [_Job(replace(j.result, threads=threads, extra=dict(j.result.extra),
                             times_ms=[]), j.load, j.gate, None, j.separate)
                for j in template]  # fmt: skip
        if threads != default_threads():
            for j in jobs:  # timed anyway, it would be a wrong row in the scaling table
                if j.result.runtime in OWN_THREADS and not j.result.error:
                    j.result.error = OWN_THREADS[j.result.runtime].format(n=default_threads())
        run.results += [j.result for j in jobs]
        _load(jobs, threads, steps)
        # numerics do not depend on the thread count: each runtime is gated at
        # the first count it runs at, and that verdict holds for the others
        todo = []
        for t, j in zip(template, jobs, strict=True):
            if id(t) in gated:
                j.result.extra["gate"] = gated[id(t)]
                if gate_errors.get(id(t)) and not j.result.error:
                    j.result.error, j.run = gate_errors[id(t)], None
            elif j.run is not None:
                todo.append((t, j))
        _gate(jobs, subs, steps, only=[j for _, j in todo])
        for t, j in todo:
            if j.result.extra.get("gate"):
                gated[id(t)] = j.result.extra["gate"]
                gate_errors[id(t)] = j.result.error
        _time(jobs, cfg, run, steps, threads)
        _run_separately([j for j in jobs if j.separate and not j.result.error], cfg, run, steps,
                        threads)  # fmt: skip
    return run


def _load(jobs: list[_Job], threads: int, steps: Steps) -> None:
    inline = [j for j in jobs if j.separate is None and not j.result.error]
    for j in steps.track(inline, f"loading models into their runtimes ({threads} thread(s))",
                         len(inline)):  # fmt: skip
        t0 = time.perf_counter()
        try:
            loaded = j.load(threads)
            if isinstance(loaded, tuple):  # run(x) and what the runtime made of the file
                loaded, info = loaded
                j.result.extra.update(info)
            j.run = loaded
        except MobilevidError as e:
            j.result.error = str(e)
            continue
        except Exception as e:  # a peer's converter or quantizer failing: report, keep going
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            j.result.error = f"{j.result.runtime} could not prepare the model: {first}"
            continue
        j.result.load_ms = (time.perf_counter() - t0) * 1e3


def _time(jobs: list[_Job], cfg: BenchConfig, run: BenchRun, steps: Steps, threads: int) -> None:
    live = [j for j in jobs if j.run is not None]
    g = torch.Generator().manual_seed(0)
    shapes = dict.fromkeys(tuple(j.result.input_shape) for j in live)
    inputs = {sh: torch.randn(sh, generator=g) for sh in shapes}
    total = (cfg.warmup + cfg.runs) * len(live)
    order = list(range(len(live)))
    for i in steps.track(
        range(cfg.warmup + cfg.runs),
        f"timing {len(live)} model x runtime pairs on {threads} thread(s), interleaved "
        f"({total} calls)",
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
        run.settings.setdefault("round_speed", {})[str(threads)] = [round(v, 3) for v in speed]
        lo, hi = drift_range(speed)
        if hi / lo > DRIFT:
            run.notes.append(
                f"{threads} thread(s): the machine's speed changed during the run: stretches "
                f"of 3 rounds took {lo:.2f}x to {hi:.2f}x the median round's time "
                "(another tenant on a shared host?). "
                "Runtimes that scale differently under contention change their ratios too; "
                "re-run on a quiet machine before comparing (settings.round_speed)"
            )


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


def _run_separately(
    jobs: list[_Job], cfg: BenchConfig, run: BenchRun, steps: Steps, threads: int
) -> None:
    """The C++ runner times its own warm-up and runs in one process per model,
    after the interleaved rounds: the same .pte without Python in the loop."""
    if not jobs:
        return
    from mobilevid.bench.cpp_runner import build_runner, run_runner

    with steps.step("building the C++ runner against the executorch wheel"):
        binary = build_runner()
    note = (
        "executorch-cpp: the C++ runner (runner/), one process per model, "
        "after the interleaved rounds (not interleaved)"
    )
    if note not in run.notes:
        run.notes.append(note)
    for j in steps.track(jobs, "timing with the C++ runner", len(jobs)):
        try:
            j.result.load_ms, j.result.times_ms = run_runner(
                binary, j.separate, cfg.warmup, cfg.runs, threads
            )
        except MobilevidError as e:
            j.result.error = str(e)

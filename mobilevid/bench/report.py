"""A bench run for people: a terminal table, a Markdown report and two plots,
all with the paper's Table 12 beside our numbers.

Absolute times depend on the machine; the ratio to VMF-560M measured in the
same run (same runtime, same precision) is what compares with the paper's
ratios across machines, so every view shows it.
"""

from __future__ import annotations

import json
from pathlib import Path

from mobilevid.bench.paper import CPU, GPU, REFERENCE, TABLE12, paper_latency
from mobilevid.bench.results import BenchRun, Result
from mobilevid.checkpoint import atomic_write

__all__ = ["markdown", "plot_latency_vs_top1", "plot_runtimes", "print_table", "write_report"]

COLUMNS = (
    "model",
    "input",
    "GMACs",
    "runtime",
    "threads",
    "vs eager",
    "median ms",
    "p90",
    "min",
    "x floor",
    "/560M",
    "paper ms",
    "paper /560M",
)
TERMINAL_DROP = ("GMACs", "min", "paper ms")


def _on_gpu(run: BenchRun) -> bool:
    """A GPU run compares with the paper's V100 column, a CPU run with its Xeon one."""
    return run.device.get("device") == "cuda"


def _paper_ms(run: BenchRun, p) -> float:
    return p.gpu_ms if _on_gpu(run) else p.cpu_ms


def _paper_where(run: BenchRun) -> str:
    return GPU if _on_gpu(run) else CPU


def _multi(run: BenchRun) -> bool:
    return len(run.thread_counts) > 1


def _columns(run: BenchRun) -> list[str]:
    """The threads column only when the run measured several counts."""
    return [c for c in COLUMNS if c != "threads" or _multi(run)]


def _gate(r: Result) -> str:
    """How close the runtime's answers were to eager PyTorch before timing."""
    g = r.extra.get("gate")
    if not g:
        return "ref" if r.runtime == "eager" else ""
    if g["threshold"].get("max_abs") is not None:
        return f"{g['max_abs']:.0e}"
    return f"cos {g['min_cosine']:.4f}"


def _row(run: BenchRun, r: Result) -> list[str]:
    row = _full_row(run, r)
    return row if _multi(run) else row[:4] + row[5:]


def _full_row(run: BenchRun, r: Result) -> list[str]:
    s = r.stats
    p, ref = paper_latency(r.model), paper_latency(REFERENCE)
    floor = run.floor_ms(r)
    ratio = run.ratio_to_reference(r)
    if s is None:
        timing = [f"error: {r.error}" if r.error else "not run", "", ""]
    else:
        timing = [f"{s.median:.1f}", f"{s.p90:.1f}", f"{s.min:.1f}"]
    return [
        r.model,
        _input_cell(r),
        f"{r.gmacs:.2f}" if r.gmacs else "",
        _label(run, r),
        str(run.threads_of(r) or ""),
        _gate(r),
        *timing,
        f"{s.median / floor:.1f}" if s and floor else "",
        f"{ratio:.2f}x" if ratio else "",
        f"{_paper_ms(run, p):g}" if p else "",
        f"{_paper_ms(run, p) / _paper_ms(run, ref):.2f}x" if p else "",
    ]


def _input_cell(r: Result) -> str:
    """TxS for a clip; a stream model's timed call is one step of its program."""
    t, h, w = r.input_shape[2:]
    cell = f"{t}x{h}" if h == w else "x".join(map(str, r.input_shape[2:]))
    return f"{cell} per frame" if r.extra.get("stream") else cell


def _top1(model: str) -> tuple[float, str] | None:
    """The paper's top-1 and its dataset: Table 12's for its models, else the
    registry's (MoViNet's stream models are scored on Kinetics-600 only)."""
    p = paper_latency(model)
    if p:
        return p.top1, "Kinetics-400"
    from mobilevid.models import model_info

    fig = model_info(model).paper
    return (fig.top1, fig.dataset) if fig and fig.top1 is not None else None


def _clip_ms(r: Result) -> float | None:
    """Latency of one clip: the median, or for a stream model its per-frame
    median times the clip's frames (the clip fed a frame at a time)."""
    if r.stats is None:
        return None
    s = r.extra.get("stream")
    return r.stats.median * s["clip_frames"] / s["step_frames"] if s else r.stats.median


def _label(run: BenchRun, r: Result) -> str:
    """runtime/precision, plus the file when one run has two of them (two
    exports of the same model compared side by side)."""
    twins = [
        x for x in run.results if x.model == r.model and x.key == r.key and x.threads == r.threads
    ]
    return f"{r.key} ({r.artifact})" if len(twins) > 1 and r.artifact else r.key


def _header(run: BenchRun) -> list[str]:
    d, v = run.device, run.versions
    where = d.get("model") or d.get("cpu") or d.get("device")
    lines = [
        f"device: {d.get('device')} — {where} ({d.get('os')})",
        f"threads: {', '.join(str(run.threads_of(r) or '') for r in _firsts(run)) or '?'}"
        + (f" of {d['usable_cpus']} usable CPUs" if d.get("usable_cpus") else "")
        + (f"; CPU features: {', '.join(d['cpu_flags'])}" if d.get("cpu_flags") else ""),
        "versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
        f"runs: {run.settings.get('runs')} timed after {run.settings.get('warmup')} warm-up, "
        + ("interleaved" if run.settings.get("interleaved") else "sequential")
        + (
            f", {run.settings['rest_s']:g} s idle before each call"
            if run.settings.get("rest_s")
            else ""
        ),
    ]
    if _on_gpu(run) and d.get("cuda"):
        mem = d.get("total_mem_bytes")
        lines.append(
            f"GPU: {d.get('gpu')} (compute {d.get('compute_capability')}"
            + (f", {mem / 2**30:.0f} GiB" if mem else "")
            + f"); driver {d.get('driver') or '?'}, CUDA {d.get('cuda')}, cuDNN {d.get('cudnn')}"
        )
    if _on_gpu(run):
        lines.append(f"timer: {run.settings.get('timer')}; batch 1")
    if run.gemm_peak_gflops:
        lines.append(
            f"fp32 GEMM peak: {run.gemm_peak_gflops:.1f} GFLOP/s "
            "(x floor = median / (2 x MACs / peak))"
        )
    return lines


def _firsts(run: BenchRun) -> list[Result]:
    """One result per thread count (for the header)."""
    seen: dict[int | None, Result] = {}
    for r in run.results:
        seen.setdefault(r.threads, r)
    return list(seen.values())


def scaling(run: BenchRun) -> list[list[str]]:
    """Rows of the thread-scaling table: per model x runtime, the median at
    each thread count and the speed-up over the fewest threads."""
    counts = [c for c in run.thread_counts if c is not None]
    rows = []
    pairs = dict.fromkeys((r.model, r.key) for r in run.results)
    for model, key in pairs:
        meds = []
        for c in counts:
            same = (x for x in run.results if (x.model, x.key, x.threads) == (model, key, c))
            r = next(same, None)
            meds.append(r.stats.median if r and r.stats else None)
        base = meds[0]
        cells = [f"{m:.1f}" if m else "—" for m in meds]
        ups = [f"{base / m:.2f}x" if m and base else "—" for m in meds[1:]]
        rows.append([model, key, *cells, *ups])
    return rows


def scaling_header(run: BenchRun) -> list[str]:
    counts = [c for c in run.thread_counts if c is not None]
    return ["model", "runtime", *(f"{c}T ms" for c in counts),
            *(f"{c}T speed-up" for c in counts[1:])]  # fmt: skip


def print_table(run: BenchRun, console) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"latency per clip on {run.device.get('device')}", box=box.SIMPLE_HEAD)
    cols = _columns(run)
    # a terminal row must fit 120 columns with ten runtimes: GMACs, min and the
    # paper's ms stay in report.md and bench.json
    keep = [i for i, c in enumerate(cols) if c not in TERMINAL_DROP]
    for i in keep:
        c = cols[i]
        t.add_column(
            c, justify="left" if c in ("model", "input", "runtime") else "right", no_wrap=True
        )
    at = cols.index("median ms")
    for r in run.results:
        row = _row(run, r)
        if r.error:  # the cell says which; the reason follows the table
            row[at] = "[red]failed gate[/red]" if "numerics gate" in r.error else "[red]error[/red]"
        t.add_row(*(row[i] for i in keep))
    console.print(t)
    for r in run.results:
        if r.error:
            where = f" ({run.threads_of(r)} threads)" if _multi(run) else ""
            console.print(f"[red]{escape(r.model)} {escape(r.key)}{where}: {escape(r.error)}[/red]")
    if _multi(run):
        st = Table(title="thread scaling (medians)", box=box.SIMPLE_HEAD)
        for c in scaling_header(run):
            st.add_column(c, justify="left" if c in ("model", "runtime") else "right")
        for row in scaling(run):
            st.add_row(*row)
        console.print(st)
    if run.over_time:
        ot = run.over_time
        st = Table(title=_over_time_title(ot), box=box.SIMPLE_HEAD)
        head = over_time_header(run)
        for c in head:
            st.add_column(c, justify="left" if c in ("model", "runtime") else "right")
        for row in over_time_rows(run):
            st.add_row(*row)
        console.print(st)
    tp = throughput_rows(run)
    if tp:
        st = Table(title="throughput (largest batch that fits)", box=box.SIMPLE_HEAD)
        for c in THROUGHPUT_HEADER:
            st.add_column(c, justify="left" if c in ("model", "mode") else "right")
        for row in tp:
            st.add_row(*row)
        console.print(st)
    for line in _header(run):
        console.print(f"[dim]{line}[/dim]")
    for n in run.notes:
        console.print(f"[yellow]{n}[/yellow]")


THROUGHPUT_HEADER = ("model", "mode", "batch", "ms per batch", "clips/s", "batches tried")


def throughput_rows(run: BenchRun) -> list[list[str]]:
    """One row per model that has a throughput measurement (GPU runs)."""
    rows = []
    for r in run.results:
        tp = r.extra.get("throughput")
        if not tp:
            continue
        best = tp.get("best")
        tried = ", ".join(
            str(t["batch"]) + (" (OOM)" if t.get("error") else "") for t in tp.get("tried", [])
        )
        rows.append([
            r.model, tp["mode"],
            str(best["batch"]) if best else "",
            f"{best['ms']:.1f}" if best else "",
            f"{best['clips_per_s']:.1f}" if best else "none fit",
            tried,
        ])  # fmt: skip
    return rows


def _over_time_title(ot: dict) -> str:
    return (
        f"over time: one update every {ot['hop_frames']} frames at {ot['fps']:g} fps "
        f"({ot['hop_ms']:.0f} ms); preprocessing {ot['preprocess']}"
    )


def over_time_header(run: BenchRun) -> list[str]:
    return ["model", "runtime"] + (["threads"] if _multi(run) else []) + [
        "forward ms", "preprocess ms", "update ms", "real-time factor", "updates/s", "keeps up"
    ]  # fmt: skip


def over_time_rows(run: BenchRun) -> list[list[str]]:
    out = []
    for r in (run.over_time or {}).get("rows", []):
        out.append(
            [r["model"], f"{r['runtime']}/{r['quantization']}"]
            + ([str(r["threads"])] if _multi(run) else [])
            + [
                f"{r['forward_ms']:.1f}",
                f"{r['preprocess_ms']:.1f}",
                f"{r['update_ms']:.1f}",
                f"{r['real_time_factor']:.2f}",
                f"{r['updates_per_s']:.1f}",
                "yes" if r["keeps_up"] else "no (windows dropped)",
            ]
        )
    return out


def markdown(run: BenchRun, images: list[str] | None = None) -> str:
    out = [f"# mobilevid bench — {run.device.get('device')}", "", f"Measured {run.created}.", ""]
    out += [f"- {line}" for line in _header(run)]
    cols = _columns(run)
    out += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in run.results:
        out.append("| " + " | ".join(c.replace("|", "/") for c in _row(run, r)) + " |")
    out += [
        "",
        "`input`: frames x side. `vs eager`: the numerics gate passed before timing, on the "
        "12 real sample clips (max |diff| for fp32, worst cosine for bf16 and int8). "
        "`x floor`: median over the time the MACs take at the measured "
        "fp32 GEMM peak. `/560M`: median over VMF-560M's median in this run, same runtime and "
        f"precision. `paper`: Table 12 of arXiv 2208.12257 ({_paper_where(run)}, one 64-frame "
        "clip).",
        "",
        "Runtimes: " + "; ".join(f"`{k}`: {v}" for k, v in RUNTIME_WORDS.items()
                                 if any(r.runtime == k for r in run.results)) + ".",
    ]  # fmt: skip
    if _multi(run):
        head = scaling_header(run)
        out += ["", "## Thread scaling", "", "| " + " | ".join(head) + " |",
                "|" + "---|" * len(head)]  # fmt: skip
        out += ["| " + " | ".join(row) + " |" for row in scaling(run)]
    if run.over_time:
        head = over_time_header(run)
        out += ["", "## Recognition over time", "", _over_time_title(run.over_time) + ".", "",
                "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]  # fmt: skip
        out += ["| " + " | ".join(row) + " |" for row in over_time_rows(run)]
        out += ["", "`update ms` = forward (this run's median) + the hop's new frames "
                "preprocessed; `real-time factor` = update over the hop's duration (< 1 keeps "
                "up; above 1 the apps drop windows rather than queue them)."]  # fmt: skip
    tp = throughput_rows(run)
    if tp:
        head = THROUGHPUT_HEADER
        out += ["", "## Throughput", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(row) + " |" for row in tp]
        out += ["", "Clips per second at the largest batch that fit (doubling from 1 until out "
                "of memory or a call over 2 s), in the fastest eager mode of batch 1."]  # fmt: skip
    if run.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in run.notes]
    for img in images or []:
        out += ["", f"![{img}]({img})"]
    return "\n".join(out) + "\n"


_MARKERS = {
    "eager": "o",
    "onnxruntime": "s",
    "executorch": "^",
    "coreml": "D",
    "openvino": "v",
    "litert": "P",
}

RUNTIME_WORDS = {
    "eager": "PyTorch eager, the reference",
    "executorch": "mobilevid .pte, XNNPACK (what a phone runs)",
    "executorch-cpp": "the same .pte timed by the C++ runner",
    "openvino-ir": "mobilevid OpenVINO IR (`export --target openvino`), compiled at its "
    "sidecar's precision: fp32 at f32, bf16 (the same weights) at bf16, int8 (attention kept "
    "float) at f32",
    "executorch-openvino": "mobilevid .pte through ExecuTorch's OpenVINO delegate (runs at "
    "OpenVINO's default precision)",
    "openvino": "OpenVINO's own conversion of the eager model: fp32 pinned to f32, and its "
    "default precision (bf16 on AVX512_BF16/AMX CPUs)",
    "openvino-int8": "OpenVINO + NNCF post-training int8 out of the box (every conv and matmul)",
    "onnxruntime": "ONNX Runtime fp32 (the 3D model)",
    "onnxruntime-int8": "ONNX Runtime static int8 (QDQ, per-channel weights)",
    "litert": "LiteRT (TFLite) fp32 on XNNPACK, converted by litert-torch from mobilevid's "
    "deployable form (the converter segfaults on the 3D model)",
    "litert-int8": "LiteRT static int8 (ai-edge-quantizer on the fp32 .tflite: convs, linears "
    "and layout ops; litert-torch's own PT2E int8 does not convert this net)",
    "coreml": "Core ML",
}


def plot_latency_vs_top1(run: BenchRun, path: Path) -> None:
    """Where each model sits on the accuracy/latency plane: our latencies with
    the paper's top-1 (there are no trained weights here), next to the paper's
    own Table 12 points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    for p in TABLE12:
        ax.scatter(_paper_ms(run, p), p.top1, marker="x", color="0.55")
        ax.annotate(
            p.label,
            (_paper_ms(run, p), p.top1),
            textcoords="offset points",
            xytext=(4, -10),
            fontsize=7,
            color="0.45",
        )
    keys = list(dict.fromkeys(r.key for r in run.results))
    cmap = plt.get_cmap("tab20")
    most = run.thread_counts[-1]  # several counts: the last one (usually the most threads)
    for i, key in enumerate(keys):
        pts = []
        for r in run.results:
            top1 = _top1(r.model)
            if r.key != key or not r.stats or not top1 or r.threads != most:
                continue
            name = r.model
            if top1[1] != "Kinetics-400":
                name += f" ({top1[1].replace('Kinetics-', 'K')})"
            if r.extra.get("stream"):
                name += f" ({r.extra['stream']['clip_frames']} x 1 frame)"
            pts.append((_clip_ms(r), top1[0], name))
        if not pts:
            continue
        pts.sort()
        marker = _MARKERS.get(key.split("/")[0].split("-")[0], "o")
        family = [p for p in pts if p[2].startswith("vmf-")]  # the VMF family as a curve
        others = [p for p in pts if not p[2].startswith("vmf-")]
        if family:
            xs, ys, _ = zip(*family, strict=True)
            ax.plot(xs, ys, marker=marker, color=cmap(i), label=key, alpha=0.9)
        for x, y, name in others:
            ax.scatter([x], [y], marker=marker, color=cmap(i), label=None if family else key)
            ax.annotate(
                name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color=cmap(i)
            )
    ax.scatter([], [], marker="x", color="0.55", label=f"paper, {_paper_where(run)}")
    ax.set_xscale("log")
    frames = run.settings.get("frames") or "?"
    ax.set_xlabel(f"latency per clip (ms, log scale); ours: {frames} frames, paper: 64 frames")
    ax.set_ylabel("top-1 (%, the papers'; Kinetics-400 unless marked)")
    ax.set_title(f"latency vs accuracy — {_where(run)}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    _save(fig, path)


def plot_runtimes(run: BenchRun, path: Path) -> None:
    """Per-model bars for every runtime: median, with min..p90 as the whisker."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = list(dict.fromkeys((r.model, r.threads) for r in run.results))
    keys = list(dict.fromkeys(r.key for r in run.results))
    width = 0.8 / max(len(keys), 1)
    ncols = min(4, max(len(keys), 1))
    rows = -(-len(keys) // ncols)
    fig, ax = plt.subplots(
        figsize=(max(7, (0.9 + 0.12 * len(keys)) * len(groups) + 2), 4.2 + 0.2 * rows),
        dpi=120,
        layout="constrained",
    )
    # one colour per runtime (tab10 repeats after ten; a bench has up to 14)
    cmap = plt.get_cmap("tab10" if len(keys) <= 10 else "tab20")
    xs = np.arange(len(groups))
    for i, key in enumerate(keys):
        rows_of_key = [r for r in run.results if r.key == key]
        label = key
        if rows_of_key and all(r.error for r in rows_of_key):
            label += " (failed gate)" if "numerics gate" in rows_of_key[0].error else " (error)"
        med, lo, hi = [], [], []
        for m, t in groups:
            r = next(
                (r for r in run.results if (r.model, r.threads) == (m, t) and r.key == key), None
            )
            s = r.stats if r else None
            med.append(s.median if s else 0)
            lo.append(s.median - s.min if s else 0)
            hi.append(s.p90 - s.median if s else 0)
        bars = ax.bar(
            xs + (i - (len(keys) - 1) / 2) * width,
            med,
            width,
            yerr=[lo, hi],
            capsize=2,
            label=label,
            color=cmap(i % cmap.N),
        )
        ax.bar_label(bars, labels=[f"{m:.0f}" if m else "" for m in med], fontsize=7, padding=2)
    names = [f"{m}\n{t} thread(s)" if _multi(run) else m for m, t in groups]
    ax.set_xticks(xs, names, rotation=15)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylabel("ms per clip (median; whisker min..p90)")
    ax.set_title(f"runtimes on {_where(run)}", fontsize=9)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.legend(fontsize=7, ncols=ncols, loc="outside lower center")
    _save(fig, path)


def _where(run: BenchRun) -> str:
    d = run.device
    counts = [str(c) for c in run.thread_counts if c is not None] or (
        [str(d["threads"])] if d.get("threads") else []
    )
    threads = f", {'/'.join(counts)} threads" if counts else ""
    return f"{d.get('model') or d.get('cpu') or d.get('device')}{threads}"


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def write_json(run: BenchRun, path: Path) -> None:
    text = json.dumps(run.to_json(), indent=2) + "\n"
    atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_report(run: BenchRun, folder: Path) -> dict[str, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": folder / "bench.json",
        "latency_vs_top1": folder / "latency_vs_top1.png",
        "runtimes": folder / "runtimes.png",
        "markdown": folder / "report.md",
    }
    write_json(run, paths["json"])
    measured = any(r.stats for r in run.results)
    images = []
    if measured:
        plot_latency_vs_top1(run, paths["latency_vs_top1"])
        plot_runtimes(run, paths["runtimes"])
        images = [paths["latency_vs_top1"].name, paths["runtimes"].name]
    else:
        del paths["latency_vs_top1"], paths["runtimes"]
    text = markdown(run, images)
    atomic_write(paths["markdown"], lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return paths

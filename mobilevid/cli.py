"""The ``mobilevid`` command: a thin face over the package.

Every command imports its heavy dependencies inside its body, so ``--help`` is
instant. User errors (:class:`MobilevidError`, bad flags) become one line on
stderr and exit code 2; tracebacks are for bugs only.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from mobilevid import __version__, interrupt
from mobilevid.cli_options import config_from_flags, multi_value
from mobilevid.errors import MobilevidError
from mobilevid.interrupt import Interrupted

app = typer.Typer(
    name="mobilevid",
    help="Efficient video recognition on phones: pick a model, export it, verify it, bench it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Commands fill their config dataclass from their flags (cli_options.config_from_flags):
# a flag fills the field of its own name, or the one named here.
EXPORT_FIELDS = {"set_": "overrides"}
BENCH_FIELDS = {"variant": "variants", "artifact": "artifacts", "runtime": "runtimes"}
TRAIN_FIELDS = {"dropout": "overrides", "set_": "overrides"}
# Config fields no flag sets, and why (tests/test_cli.py keeps flags and fields in step).
NOT_FLAGS = {"TrainConfig.amp": "mixed precision: always on a GPU, never on a CPU"}

_state = {"verbose": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mobilevid {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the libraries' own logs.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _state["verbose"] = verbose


VariantOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--variant", "-m", metavar="NAME...",
        help="Model name(s), e.g. 560m 1g vmf-2g mobile3d-1g x3d-s. See `mobilevid profile --all`.",
    ),
]  # fmt: skip


@app.command(cls=multi_value("variant"))
def profile(
    variant: VariantOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Every registered model.")] = False,
    ablations: Annotated[
        bool, typer.Option("--ablations", help="Recount the paper's ablation Tables 6-11.")
    ] = False,
    pruning: Annotated[
        bool,
        typer.Option(
            "--pruning",
            help="ViT-S dense, STA per r, TSNet per keep ratio; TSNet's Tables 1, 2, 3 and 5 "
            "(UniFormer-S, VideoSwin-T) in GFLOPs over the papers' views.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Params and GMACs (multiply-adds per clip) beside the paper's figures."""
    from mobilevid.counting import profile as profile_one
    from mobilevid.counting import tsnet_table
    from mobilevid.models import list_models, resolve_name
    from mobilevid.models.mobile_former import ABLATIONS
    from mobilevid.models.vit import PRUNING

    if all_ and variant:
        raise MobilevidError("use either --variant or --all, not both")

    def rows(table, prefix: str = "") -> list[dict]:
        return [
            dict(name=a.model, paper_gmacs=a.paper_gmacs, paper_top1=a.paper_top1,
                 label=f"{prefix}{a.table}: {a.label}", **dict(a.overrides))
            for a in table
        ]  # fmt: skip

    jobs: list[dict] = (rows(ABLATIONS, "Table ") if ablations else []) + (
        rows(PRUNING) if pruning else []
    )
    names = list_models() if all_ else [resolve_name(v) for v in variant or []]
    if not names and not jobs:
        names = list_models(family="vmf")
    jobs = [dict(name=n) for n in names] + jobs

    rows = []
    with _progress() as bar:
        task = bar.add_task("counting", total=len(jobs))
        for job in jobs:
            bar.update(task, description=f"counting {job.get('label') or job['name']}")
            rows.append(profile_one(**job))
            bar.advance(task)
        if pruning:
            from mobilevid.models.tsnet import TSNET_TABLES

            task = bar.add_task("counting", total=len(TSNET_TABLES))

            def step(label: str) -> None:
                bar.update(task, description=f"counting {label}", advance=1)

            views = tsnet_table(progress=step)
    if as_json:
        _print_json([asdict(r) for r in rows + (views if pruning else [])])
        return
    _print_profile(rows)
    if pruning:
        _print_views(views)


@app.command("export", cls=multi_value("variant", "calibration"))
def export_cmd(
    variant: VariantOpt = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target", "-t", help="executorch (.pte), coreml (.mlpackage) or openvino (.xml IR)."
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="executorch: xnnpack (default, phones) | openvino (x86, experimental)."),
    ] = None,
    quantize: Annotated[
        str | None,
        typer.Option(
            "--quantize",
            "-q",
            help="executorch: fp32 (default) | int8. openvino: fp32 (default) | bf16 "
            "(fastest on AMX Xeons) | int8. coreml: fp16 (default) | fp32 | int8 | int4 weights.",
        ),
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", "-c", help="state_dict or mobilevid checkpoint.")
    ] = None,
    calibration: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="PATH...",
            help="int8 calibration videos or folders (default: the sample clips).",
        ),
    ] = None,
    calibration_clips: Annotated[
        int | None, typer.Option(help="At most this many calibration clips (default 24).")
    ] = None,
    recipe: Annotated[
        str | None, typer.Option("--recipe", "-r", help="export_recipes/ name or YAML file.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File, or folder for <model>_<backend>_<quant>.<ext>."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing artifact.")] = False,
    ios_target: Annotated[
        str | None, typer.Option(help="Core ML: iOS17 (default) | iOS18.")
    ] = None,
    num_classes: Annotated[int | None, typer.Option(help="Classifier size (default 400).")] = None,
    labels: Annotated[Path | None, typer.Option(help="Text file, one class name per line.")] = None,
    frames: Annotated[int | None, typer.Option(help="Override the clip length T.")] = None,
    size: Annotated[int | None, typer.Option(help="Override the input resolution.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the weights when there is no --checkpoint.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Model option, e.g. --set r=32 (STA) or --set keep=0.3 (TSNet); repeatable.",
        ),
    ] = None,
    step_frames: Annotated[
        int | None,
        typer.Option(help="Stream models (movinet-*-stream): frames per call (default 1)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Export a model to ExecuTorch (.pte), Core ML (.mlpackage) or OpenVINO (.xml), with a sidecar.

    A stream model (movinet-a0-stream, ...) becomes a streaming program: one
    call takes the next --step-frames frames plus the state tensors the sidecar
    lists, and returns the logits plus the new state.

    Examples: `mobilevid export --variant 560m --target coreml`;
    `mobilevid export -m 560m 1g --target executorch --quantize int8`;
    `mobilevid export -m 560m --target openvino -q int8` (x86 servers).
    """
    from mobilevid.export import ExportConfig, export, plan
    from mobilevid.ui import Steps

    base = {}
    if recipe:
        from mobilevid.export.recipes import load_recipe

        base = load_recipe(recipe)
    worked_out = {}
    if set_:  # over the recipe's model options, not instead of them
        worked_out["overrides"] = {**(base.get("overrides") or {}), **_parse_set(set_)}
    variants = variant or [base.get("variant", ExportConfig.variant)]  # None: see ExportConfig
    cfgs = [
        config_from_flags(ExportConfig, EXPORT_FIELDS, base, variant=v, **worked_out)
        for v in variants
    ]
    if len(cfgs) > 1 and cfgs[0].output and Path(cfgs[0].output).suffix:
        raise MobilevidError("--output must be a folder when exporting several variants")
    plans = [plan(cfg) for cfg in cfgs]  # validate every request before the first heavy export
    results = []
    for p in plans:
        with Steps(enabled=not as_json) as steps:
            results.append(export(p, steps))
    if as_json:
        _print_json([_export_summary(r) for r in results])
        return
    _print_exports(results)


def _parse_set(items: list[str]) -> dict:
    """`--set r=32 --set keep=0.3` -> {"r": 32, "keep": 0.3} (YAML scalars)."""
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise MobilevidError(f"--set {item!r}: expected KEY=VALUE, e.g. --set r=32")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _export_summary(r) -> dict:
    return {
        "artifact": str(r.path),
        "sidecar": str(r.sidecar),
        "model": r.metadata["model"],
        "target": r.metadata["target"],
        "quantize": r.metadata["quantize"],
        "input_shape": r.metadata["input"]["shape"],
        "size_bytes": r.size_bytes,
        "seconds": round(r.seconds, 2),
        "delegation": r.delegation,
    }


def _ops_cell(backend: str, d: dict | None) -> str:
    """Where the ops run, in the words of each backend."""
    if not d:
        return "n/a (Core ML)"
    if "delegated_nodes" in d:
        return f"{d['delegated_nodes']} in {backend} / {d['portable_nodes']} portable"
    if "conv_matmul_int8" in d:
        return f"{d['conv_matmul_int8']} int8 / {d['conv_matmul_float']} float conv+matmul"
    return f"{d.get('operations', '?')} ops"


def _print_exports(results) -> None:
    from rich import box
    from rich.table import Table

    from mobilevid.ui import stdout_console

    t = Table(title="exported", box=box.SIMPLE_HEAD)
    for col in ("artifact", "input", "size", "ops", "time"):
        t.add_column(col, no_wrap=col != "artifact")
    for r in results:
        ops = _ops_cell(r.metadata["backend"], r.delegation)
        t.add_row(
            str(r.path), "x".join(map(str, r.metadata["input"]["shape"])),
            f"{r.size_bytes / 1e6:.1f} MB", ops, f"{r.seconds:.0f} s",
        )  # fmt: skip
    con = stdout_console()
    con.print(t)
    for r in results:
        d = r.delegation
        if d and d.get("portable_ops"):
            con.print(f"[yellow]{r.path.name}: on portable kernels: {d['portable_ops']}[/yellow]")
    con.print(f"next: mobilevid verify {' '.join(str(r.path) for r in results)}")


@app.command()
def verify(
    artifacts: Annotated[list[Path], typer.Argument(help=".pte or .mlpackage file(s).")],
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", "-c", help="The checkpoint it was exported from.")
    ] = None,
    random: Annotated[int, typer.Option(help="Random inputs besides the real clips.")] = 2,
    real: Annotated[bool, typer.Option(help="Compare on the real sample clips.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON reports.")] = False,
    on: Annotated[
        str | None,
        typer.Option(
            "--on",
            help="A phone (pixel7, galaxys23, ...): run the .pte on the emulated aarch64 CPU "
            "closest to its big cores (needs `mobilevid setup arm64`).",
        ),
    ] = None,
    arch: Annotated[
        str | None, typer.Option(help="arm64: run the .pte on an emulated aarch64 CPU.")
    ] = None,
    cpu: Annotated[
        str | None,
        typer.Option(help="With --arch arm64: cortex-a76 (default, sdot) | i8mm | sme."),
    ] = None,
) -> None:
    """Run exported artifacts in their runtime and compare with eager PyTorch.

    Exit code 1 if any artifact misses its tolerance (fp32 .pte: max |diff| <= 1e-4;
    int8 .pte: cosine >= 0.99 on every clip). With --on PHONE or --arch arm64 the
    .pte runs on the phone's XNNPACK kernels under QEMU, and is also compared
    with itself on this machine.
    """
    from mobilevid.export.verify import verify as run_verify
    from mobilevid.ui import Steps

    if on is not None:
        from mobilevid.bench.devices import find_device

        phone = find_device(on)
        if phone.platform != "android" or not phone.emulated_cpu:
            raise MobilevidError(
                f"--on {on}: emulated verification covers Android phones (XNNPACK on aarch64); "
                "iPhones run Core ML: verify the .mlpackage on a Mac"
            )
        arch, cpu = "arm64", cpu or phone.emulated_cpu
    elif cpu is not None and arch is None:
        arch = "arm64"
    reports = []
    for a in artifacts:
        with Steps(enabled=not as_json) as steps:
            reports.append(
                run_verify(a, checkpoint, random, real, steps, arch=arch, cpu=cpu or "cortex-a76")
            )
    if as_json:
        _print_json([r.to_json() for r in reports])
    else:
        for r in reports:
            _print_verify(r)
    if not all(r.passed for r in reports):
        raise typer.Exit(1)


@app.command()
def setup(
    what: Annotated[str, typer.Argument(help="arm64: the emulated phone CPU for verify --on.")],
) -> None:
    """Set up an optional component, once (cached in ~/.cache/mobilevid).

    arm64: qemu-user >= 8 and Debian's aarch64 cross compiler (apt-get, as
    root), the aarch64 executorch wheel (PyPI), the C++ runner cross-compiled
    against it, and a self-check of every emulated CPU model.
    """
    from mobilevid.ui import Steps

    if what != "arm64":
        raise MobilevidError(f"nothing to set up called {what!r}; choose: arm64")
    from mobilevid.emulate import arm64
    from mobilevid.ui import stdout_console

    with Steps() as steps:
        emu = arm64.setup(steps)
    facts = json.loads((emu.root / "ready.json").read_text())
    con = stdout_console()
    con.print(
        f"arm64 emulation ready: qemu {emu.qemu_version}, runner {emu.runner} "
        f"({facts['cache_bytes'] / 1e6:.0f} MB in {emu.root}, {facts['seconds']:.0f} s)"
    )
    for c in arm64.CPUS.values():
        con.print(f"  --cpu {c.name:<11} {c.isa}; int8 on {c.int8_kernels}")


@app.command(cls=multi_value("variant", "artifact", "runtime", "quantize", "threads"))
def bench(
    device: Annotated[
        str,
        typer.Option("--device", "-d", help="host (alias cpu), pixel7, galaxys23, iphone15, ..."),
    ] = "host",
    variant: VariantOpt = None,
    artifact: Annotated[
        list[Path] | None,
        typer.Option(
            "--artifact", "-a", metavar="FILE...", help="Exported .pte / .mlpackage file(s)."
        ),
    ] = None,
    runtime: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME...",
            help="host: eager executorch openvino-ir executorch-openvino openvino openvino-int8 "
            "onnxruntime onnxruntime-int8 coreml executorch-cpp (default: all but executorch-cpp "
            "that run here; the peers need pip install 'mobilevid[peers]').",
        ),
    ] = None,
    quantize: Annotated[
        list[str] | None,
        typer.Option(
            "--quantize",
            "-q",
            metavar="PREC...",
            help="mobilevid's files: fp32 int8 (default both; OpenVINO IR also bf16 on CPUs "
            "that have it); bf16 alone benches only the IR.",
        ),
    ] = None,
    threads: Annotated[
        list[int] | None,
        typer.Option(
            metavar="N...",
            help="Threads for every runtime; host: several counts in turn, e.g. --threads 1 2 "
            "(default: usable CPUs).",
        ),
    ] = None,
    warmup: Annotated[int, typer.Option(help="Untimed runs first.")] = 3,
    runs: Annotated[int, typer.Option(help="Timed runs (>= 10).")] = 12,
    frames: Annotated[
        int | None,
        typer.Option(help="Clip length (default: 64 for Table 12's models, else the model's)."),
    ] = None,
    paper_input: Annotated[
        bool,
        typer.Option(
            "--paper-input",
            help="Every model at its own paper's clip (X3D-S 13x160, MoViNet 50x172), not "
            "Table 12's 64 frames.",
        ),
    ] = False,
    size: Annotated[
        int | None, typer.Option(help="Input side (default: each model's own).")
    ] = None,
    serial: Annotated[str | None, typer.Option(help="Phone: adb serial / iPhone UDID.")] = None,
    runner: Annotated[
        Path | None, typer.Option(help="Android: a runner binary instead of the demo app.")
    ] = None,
    cooldown: Annotated[float, typer.Option(help="Phone: seconds of rest between models.")] = 10.0,
    rest: Annotated[
        float,
        typer.Option(
            help="host: idle seconds before each timed call, so the worker threads one "
            "runtime leaves spinning do not take the cores of the next."
        ),
    ] = 0.1,
    over_time: Annotated[
        bool,
        typer.Option(
            "--over-time",
            help="Also the cost per update of recognition over time (a window every --hop): "
            "latency per update and the real-time factor.",
        ),
    ] = False,
    hop: Annotated[
        str, typer.Option(help="--over-time: seconds (0.5) or frames (8f) between updates.")
    ] = "0.5",
    fps: Annotated[float, typer.Option(help="--over-time: the camera's frame rate.")] = 30.0,
    artifacts_dir: Annotated[
        Path, typer.Option(help="Where to look for / export the artifacts of --variant.")
    ] = Path("artifacts"),
    reexport: Annotated[
        bool, typer.Option(help="Export again even if a matching file exists.")
    ] = False,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the JSON here ('-': stdout only).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Report folder (default reports/bench-<device>-<time>).")
    ] = None,
) -> None:
    """Latency per clip beside the paper's Table 12: on this CPU, an Android phone or an iPhone.

    Examples: `mobilevid bench --device host --variant 560m 1g 2g 5g x3d-s`;
    `mobilevid bench --device pixel7 --variant 560m -q int8`;
    `mobilevid bench --variant 560m --over-time --hop 0.5` (cost per live update).
    Writes a terminal table, JSON (ExecuTorch metric names), Markdown and PNG plots.
    """
    import time as _time

    from mobilevid.bench import BenchConfig, run_bench
    from mobilevid.bench.devices import find_device
    from mobilevid.bench.report import print_table, write_json, write_report
    from mobilevid.ui import Steps, stdout_console

    to_stdout = json_path is not None and str(json_path) == "-"
    dev = find_device(device)
    cfg = config_from_flags(
        BenchConfig, BENCH_FIELDS,
        device=dev.name, variants=variant or ([] if artifact else ["vmf-560m"]),
    )  # fmt: skip
    with Steps(enabled=True) as steps:
        run = run_bench(cfg, steps)
    folder = report or Path("reports") / f"bench-{dev.name}-{_time.strftime('%Y%m%d-%H%M%S')}"
    paths = write_report(run, folder)
    if to_stdout:
        _print_json(run.to_json())
        return
    if json_path is not None:
        write_json(run, json_path)
    con = stdout_console()
    print_table(run, con)
    con.print(
        f"report: {paths['markdown']}  json: {json_path or paths['json']}"
        + "".join(f"  plot: {paths[k]}" for k in ("latency_vs_top1", "runtimes") if k in paths)
    )
    if all(r.error for r in run.results):
        raise typer.Exit(1)


# The model of `predict` and `evaluate`: a checkpoint (eager), or an exported .pte.
EagerOpt = Annotated[
    str | None, typer.Option("--variant", "-m", help="Model name (eager PyTorch).")
]
PteOpt = Annotated[
    Path | None, typer.Option("--artifact", "-a", help="An exported .pte (ExecuTorch).")
]
CheckpointOpt = Annotated[
    Path | None,
    typer.Option("--checkpoint", "-c", help="Trained weights, or builtin:vmf-560m-motion."),
]


@app.command("train")
def train_cmd(
    variant: Annotated[
        str, typer.Option("--variant", "-m", help="Model name, e.g. 560m vmf-1g x3d-s.")
    ] = "vmf-560m",
    train: Annotated[
        str,
        typer.Option(
            "--train", help="CSV of path,label; a folder per class; or synthetic[:N] (built-in)."
        ),
    ] = "synthetic",
    val: Annotated[
        str | None, typer.Option("--val", help="Validation data, same forms; 'none' to skip.")
    ] = "synthetic",
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: checkpoints, curves.")
    ] = Path("runs/train"),
    epochs: Annotated[int, typer.Option(help="Passes over the training set.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Global batch (split over processes).")] = 16,
    lr: Annotated[float, typer.Option(help="Peak AdamW learning rate.")] = 2e-3,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.05,
    warmup: Annotated[float, typer.Option(help="Warm-up, as a fraction of all steps.")] = 0.1,
    label_smoothing: Annotated[float, typer.Option(help="Label smoothing.")] = 0.1,
    frames: Annotated[int | None, typer.Option(help="Clip length (default: the model's).")] = None,
    size: Annotated[int | None, typer.Option(help="Input side (default: the model's).")] = None,
    workers: Annotated[int, typer.Option(help="Decoding processes per training process.")] = 2,
    save_every: Annotated[int, typer.Option(help="Also checkpoint every N steps.")] = 100,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out exactly.")] = False,
    init: Annotated[
        Path | None, typer.Option(help="Start from these weights (classifier may differ).")
    ] = None,
    qat: Annotated[
        str | None,
        typer.Option(help="Quantization-aware: xnnpack (int8 .pte) or coreml (int8 weights)."),
    ] = None,
    flip: Annotated[bool, typer.Option(help="Random horizontal flips.")] = True,
    dropout: Annotated[
        float | None, typer.Option(help="Classifier dropout (default: the model's).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of weights, shuffle and augmentation.")] = 0,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Model option, e.g. --set keep=0.3 (TSNet) or --set stage_keep=[0.8,0.6,1,1]; "
            "repeatable.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the history as JSON.")] = False,
) -> None:
    """Fine-tune a model (optionally quantization-aware) on videos or the synthetic set.

    Examples: `mobilevid train --variant 560m --train synthetic --frames 16 --size 64`;
    `mobilevid train --train train.csv --val val.csv --init k400.pt --out runs/mine`;
    `mobilevid train --qat xnnpack --init runs/mine/best.pt --epochs 1 --out runs/mine-qat`;
    multi-GPU: `torchrun --nproc_per_node 8 -m mobilevid train ...`.
    """
    from mobilevid.models import model_info, resolve_name
    from mobilevid.train import TrainConfig
    from mobilevid.train import train as run_train
    from mobilevid.train.progress import TrainUI

    name = resolve_name(variant)
    overrides = {**_parse_set(set_ or []), **({} if dropout is None else {"dropout": dropout})}
    cfg = config_from_flags(
        TrainConfig, TRAIN_FIELDS,
        base=dict(model_info(name).train_defaults),  # the paper's recipe, under the flags
        variant=name, val=None if val in (None, "none") else val, overrides=overrides,
    )  # fmt: skip
    cfg.check()
    import os

    main_rank = os.environ.get("RANK", "0") == "0"
    if as_json or not main_rank:
        result = run_train(cfg)
    else:
        with TrainUI() as ui:
            result = run_train(cfg, ui)
    if not main_rank:
        return
    if as_json:
        _print_json({"out": str(result.out), "best": str(result.best), "last": str(result.last),
                     "seconds": round(result.seconds, 1), "skipped": result.skipped,
                     "history": result.history})  # fmt: skip
        return
    from mobilevid.ui import stdout_console

    con = stdout_console()
    h = result.history[-1] if result.history else {}
    if "val_top1" in h:
        best = max(r["val_top1"] for r in result.history)
        con.print(f"val top-1 {100 * h['val_top1']:.1f}% (best {100 * best:.1f}%)")
    con.print(f"checkpoints: {result.best} (best), {result.last} (resumable)")
    con.print(f"curves: {result.out / 'curves.png'}  history: {result.out / 'history.json'}")
    target = (
        "--target coreml"
        if qat == "coreml"
        else "--target executorch" + (" --quantize int8" if qat else "")
    )
    con.print(f"next: mobilevid export --checkpoint {result.best} {target}")


ViewsOpt = Annotated[
    str,
    typer.Option(
        "--views", metavar="CLIPSxCROPS",
        help="Multi-view testing as in the papers: temporal clips x spatial crops "
        "(1x1, 4x3, 10x3); the views' probabilities are averaged.",
    ),
]  # fmt: skip


@app.command()
def predict(
    videos: Annotated[list[Path], typer.Argument(help="Video file(s).")],
    variant: EagerOpt = None,
    artifact: PteOpt = None,
    checkpoint: CheckpointOpt = None,
    topk: Annotated[int, typer.Option(help="Labels per video (per window).")] = 5,
    views: ViewsOpt = "1x1",
    over_time: Annotated[
        bool,
        typer.Option("--over-time", help="Slide a window over the whole video: a timeline."),
    ] = False,
    window: Annotated[
        int | None,
        typer.Option(help="--over-time: sampled frames per window [default: the model's clip]."),
    ] = None,
    hop: Annotated[
        str, typer.Option(help="--over-time: seconds (0.5, 0.5s) or frames (8f) between windows.")
    ] = "0.5",
    stride: Annotated[
        int | None,
        typer.Option(
            help="--over-time: video frames between a window's frames "
            "[default: the model's frame stride, else 1]."
        ),
    ] = None,
    smooth: Annotated[
        int, typer.Option(help="--over-time: average the last N windows' probabilities.")
    ] = 1,
    plot: Annotated[
        Path | None,
        typer.Option(help="--over-time: write a PNG of class probabilities over time."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Top-k labels for each video, with eager PyTorch or an exported .pte.

    With no model given, the built-in checkpoint (VMF-560M trained on the
    synthetic motion set) answers. `--over-time` follows the video: a window of
    the model's clip every `--hop`, printed as a timeline of segments.

    Examples: `mobilevid predict clip.mp4 --checkpoint runs/train/best.pt`;
    `mobilevid predict a.mp4 b.mp4 --artifact artifacts/vmf-560m_xnnpack_int8.pte --json`;
    `mobilevid predict long.mp4 --over-time --hop 0.5 --plot timeline.png`.
    """
    from mobilevid.data.windows import parse_views
    from mobilevid.inference import load_predictor

    if topk < 1:
        raise MobilevidError("--topk must be positive")
    views_ = parse_views(views)
    if not over_time:
        used = [f for f, v in (("--window", window), ("--stride", stride), ("--plot", plot)) if v]
        if used or smooth != 1 or hop != "0.5":
            flags = (
                used + (["--smooth"] if smooth != 1 else []) + (["--hop"] if hop != "0.5" else [])
            )
            raise MobilevidError(f"{', '.join(flags)} only apply with --over-time")
    elif views_ != (1, 1):
        raise MobilevidError("--views is for one answer per video; --over-time takes one view")
    if smooth < 1:
        raise MobilevidError(f"--smooth {smooth}: must be at least 1 window")
    pred = load_predictor(variant=variant, checkpoint=checkpoint, artifact=artifact)
    if over_time:
        _predict_over_time(pred, videos, window, hop, stride, smooth, plot, topk, as_json)
        return
    results, failed = [], 0
    for v in videos:
        try:
            results.append(pred.predict(v, topk, views_))
        except MobilevidError as e:
            failed += 1
            _error(str(e))
    if as_json:
        _print_json({"model": pred.description, "predictions": results})
    else:
        from mobilevid.ui import stdout_console

        con = stdout_console()
        if pred.warning:
            con.print(f"[yellow]{pred.warning}[/yellow]")
        for r in results:
            top = "  ".join(f"{t['label']} {t['score']:.2f}" for t in r["top"])
            extra = f", {r['views']} views" if "views" in r else ""
            con.print(f"{r['video']}: {top}  [dim]({r['ms']:.0f} ms{extra})[/dim]")
    if failed:
        raise typer.Exit(2)


def _predict_over_time(pred, videos, window, hop, stride, smooth, plot, topk, as_json) -> None:
    """One timeline per video; Ctrl-C prints what was done so far, exit 130."""
    from mobilevid.inference.timeline import over_time, plot_timeline
    from mobilevid.ui import stderr_console, stdout_console

    con = stdout_console()
    if pred.warning and not as_json:
        con.print(f"[yellow]{pred.warning}[/yellow]")
    done, failed, interrupted = [], 0, False
    plots = {}
    for v in videos:
        tl = None
        try:
            with _progress() as bar:
                task = bar.add_task(f"{Path(v).name}", total=None)

                def started(t, n, task=task, bar=bar):
                    bar.update(task, total=n or None)

                def tick(task=task, bar=bar):
                    bar.advance(task)

                for step in over_time(pred, v, window, hop, stride, started, tick):
                    tl = step[0]
        except KeyboardInterrupt:
            interrupted = True
            if tl is not None:
                tl.interrupted = True
        except MobilevidError as e:
            failed += 1
            _error(str(e))
            continue
        if tl is not None and tl.results:
            done.append(tl)
            if plot:
                path = (
                    plot
                    if len(videos) == 1
                    else plot.with_name(f"{plot.stem}_{Path(v).stem}{plot.suffix}")
                )
                plot_timeline(tl, path, smooth, title=pred.description)
                plots[str(v)] = str(path)
        if interrupted:
            break
    if as_json:
        rows = [t.to_json(topk, smooth) for t in done]
        for row in rows:
            if row["video"] in plots:
                row["plot"] = plots[row["video"]]
        _print_json({"model": pred.description, "timelines": rows, "interrupted": interrupted})
    else:
        for t in done:
            _print_timeline(con, t, smooth, plots.get(str(t.video)))
    for t in done:
        for note in t.notes:
            stderr_console().print(f"note: {t.video.name}: {note}")
    if interrupted:
        _error("interrupted: the timeline above covers what was decoded before Ctrl-C")
        raise typer.Exit(130)
    if failed:
        raise typer.Exit(2)


def _print_timeline(con, tl, smooth: int, plot: str | None) -> None:
    from rich import box
    from rich.table import Table

    w = tl.windows
    ms = sorted(r.ms for r in tl.results)
    title = (
        f"{tl.video}: {tl.duration:.1f} s, {len(tl.results)} windows of {w.window} frames "
        f"x{w.stride} ({w.span / tl.fps:.2f} s) every {w.hop / tl.fps:.2f} s"
        + (" [interrupted]" if tl.interrupted else "")
    )
    con.print(title)
    t = Table(box=box.SIMPLE_HEAD)
    for c, j in (("start", "right"), ("end", "right"), ("label", "left"), ("score", "right"),
                 ("windows", "right")):  # fmt: skip
        t.add_column(c, justify=j, no_wrap=True)
    for s in tl.segments(smooth):
        t.add_row(_clock(s.start), _clock(s.end), s.label, f"{s.score:.2f}", str(s.windows))
    con.print(t)
    con.print(
        f"[dim]model {ms[len(ms) // 2]:.1f} ms per window (median)"
        + (f"; plot: {plot}" if plot else "")
        + "[/dim]"
    )


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:05.2f}"


@app.command()
def evaluate(
    data: Annotated[
        str, typer.Argument(help="CSV of path,label; folder per class; synthetic[:N].")
    ],
    variant: EagerOpt = None,
    artifact: PteOpt = None,
    checkpoint: CheckpointOpt = None,
    batch_size: Annotated[int, typer.Option(help="Clips per forward (eager only).")] = 8,
    workers: Annotated[int, typer.Option(help="Decoding processes.")] = 2,
    views: ViewsOpt = "1x1",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Top-1/top-5 of a checkpoint or an exported .pte on a dataset (the .pte in
    the ExecuTorch runtime, one clip at a time, as on the phone).

    Example: `mobilevid evaluate synthetic --artifact artifacts/vmf-560m_xnnpack_int8.pte`.
    """
    from mobilevid.data.datasets import open_dataset
    from mobilevid.data.windows import parse_views
    from mobilevid.inference import load_predictor
    from mobilevid.train import evaluate as run_eval

    views_ = parse_views(views)
    pred = load_predictor(variant=variant, checkpoint=checkpoint, artifact=artifact)
    ds = open_dataset(data, pred.spec, train=False, classes=pred.labels, views=views_)
    if pred.batch_size:
        batch_size = pred.batch_size
    nviews = views_[0] * views_[1]
    with _progress() as bar:
        task = bar.add_task(f"evaluating {pred.description}", total=len(ds))
        r = run_eval(
            pred.view_logits, ds, batch_size, workers, progress=lambda n: bar.advance(task, n)
        )
    row = {"model": pred.description, "data": data, "views": views, "clips": r.clips,
           "skipped": r.skipped, "top1": r.top1, "top5": r.top5, "loss": r.loss}  # fmt: skip
    if as_json:
        _print_json(row)
        return
    from mobilevid.ui import stdout_console

    stdout_console().print(
        f"{pred.description} on {data}: top-1 {100 * r.top1:.2f}%  top-5 {100 * r.top5:.2f}%  "
        f"({r.clips} clips"
        + (f", {views} views each" if nviews > 1 else "")
        + (f", {r.skipped} unreadable skipped" if r.skipped else "")
        + ")"
    )


@app.command()
def devices(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Phones mobilevid knows by name, and which are connected (adb; Xcode on macOS)."""
    from rich import box
    from rich.table import Table

    from mobilevid.bench import DEVICES, list_devices
    from mobilevid.ui import stdout_console

    rows, notes = list_devices()
    if as_json:
        _print_json({"connected": rows, "notes": notes,
                     "known": [{"name": d.name, "platform": d.platform, "label": d.label,
                                "soc": d.soc} for d in DEVICES]})  # fmt: skip
        return
    con = stdout_console()
    t = Table(title="connected", box=box.SIMPLE_HEAD)
    for c in ("device", "platform", "serial", "model", "OS"):
        t.add_column(c, no_wrap=True)
    for r in rows:
        t.add_row(
            r["device"],
            r["platform"],
            r["serial"],
            r["model"],
            r.get("android") or r.get("ios", ""),
        )
    if rows:
        con.print(t)
    else:
        con.print("no phone connected")
    for n in notes:
        con.print(f"[yellow]{n}[/yellow]")
    k = Table(title="known devices (--device NAME)", box=box.SIMPLE_HEAD)
    for c in ("name", "platform", "label", "SoC"):
        k.add_column(c, no_wrap=True)
    for d in DEVICES:
        k.add_row(d.name, d.platform, d.label, d.soc)
    con.print(k)


def _print_verify(r) -> None:
    from rich import box
    from rich.table import Table

    from mobilevid.ui import stdout_console

    con = stdout_console()
    lim = ", ".join(f"{k} {v:g}" for k, v in r.thresholds.items() if v is not None)
    if r.checks:
        t = Table(title=f"{r.artifact}: {r.runtime} vs eager PyTorch ({lim})", box=box.SIMPLE_HEAD)
        for col in ("input", "max |diff|", "cosine", "top-1 ref / out", ""):
            t.add_column(col, justify="left" if col == "input" else "right", no_wrap=True)
        for c in r.checks:
            mark = "[green]ok[/green]" if c.passed else "[red]FAIL[/red]"
            if not c.gated:
                mark = "[dim]info[/dim]"
            t.add_row(
                c.name, f"{c.max_abs:.2e}", f"{c.cosine:.6f}", f"{c.top1_ref} / {c.top1_out}", mark
            )
        con.print(t)
        con.print(
            f"top-1 agreement {r.top1_agreement:.0%} over {len(r.checks)} inputs "
            "(meaningful only for a trained checkpoint)"
        )
    for name, ok in r.interface.get("checks", {}).items():
        con.print(f"  {'[green]ok[/green]  ' if ok else '[red]FAIL[/red]'} {name}")
    for note in r.notes:
        con.print(f"[yellow]{note}[/yellow]")
    verdict = "[green]PASSED[/green]" if r.passed else "[red]FAILED[/red]"
    if r.passed and r.runtime is None:
        verdict += " (interface only: numerics not run on this platform)"
    con.print(f"{r.artifact}: {verdict}")


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from mobilevid.ui import stderr_console

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr_console(), transient=True,
    )  # fmt: skip


def _fmt_dev(d: float | None) -> str:
    if d is None:
        return ""
    style = "green" if abs(d) <= 5 else "yellow" if abs(d) <= 10 else "red"
    return f"[{style}]{d:+.1f}%[/{style}]"


def _print_profile(rows) -> None:
    from rich import box
    from rich.table import Table

    from mobilevid.ui import stdout_console

    t = Table(
        title="ours vs paper (GMACs = multiply-adds per clip, BN/elementwise not counted)",
        box=box.SIMPLE_HEAD,
    )
    for col in ("model", "T x H x W", "params M", "paper", "dev", "GMACs", "paper", "dev", "top-1"):
        t.add_column(
            col, justify="left" if col in ("model", "T x H x W") else "right", no_wrap=True
        )
    for r in rows:
        t.add_row(
            r.label or r.variant,
            "x".join(str(s) for s in r.input_shape[2:]),
            f"{r.params / 1e6:.2f}",
            f"{r.paper_params / 1e6:.2f}" if r.paper_params else "",
            _fmt_dev(r.params_dev_pct),
            f"{r.gmacs:.3f}",
            f"{r.paper_gmacs:.2f}" if r.paper_gmacs else "",
            _fmt_dev(r.gmacs_dev_pct),
            f"{r.paper_top1:.1f}" if r.paper_top1 else "",
        )
    stdout_console().print(t)


def _print_views(rows) -> None:
    """TSNet's tables: GFLOPs over the papers' views and the cut vs dense."""
    from rich import box
    from rich.table import Table

    from mobilevid.ui import stdout_console

    t = Table(
        title="TSNet, Tables 1-3 and 5: GFLOPs (multiply-adds) per view x views, cut vs dense",
        box=box.SIMPLE_HEAD,
    )
    cols = ("row", "T x H x W", "views", "GFLOPs", "paper", "dev", "cut", "paper", "Δ pts",
            "top-1")  # fmt: skip
    for col in cols:
        t.add_column(col, justify="left" if col in cols[:2] else "right", no_wrap=True)
    for r in rows:
        paper_total = r.paper_gmacs * r.views if r.paper_gmacs else None
        delta = None if r.cut_pct is None else r.cut_pct - r.paper_cut_pct
        t.add_row(
            r.label,
            "x".join(str(s) for s in r.input_shape[2:]),
            f"{r.views}",
            f"{r.total_gmacs:.1f}",
            f"{paper_total:.1f}" if paper_total else "",
            _fmt_dev(r.gmacs_dev_pct),
            f"{r.cut_pct:+.1f}%" if r.cut_pct else "",
            f"{r.paper_cut_pct:+.1f}%" if r.paper_cut_pct else "",
            f"{delta:+.1f}" if r.cut_pct else "",
            f"{r.paper_top1:.1f}" if r.paper_top1 else "",
        )
    stdout_console().print(t)


def _print_json(obj) -> None:
    from mobilevid.ui import out

    print(json.dumps(obj, indent=2, default=str), file=out())


def _error(msg: str) -> None:
    from mobilevid.ui import err

    print(f"error: {msg}", file=err())


def _interruption(e: BaseException) -> Interrupted | None:
    """The signal behind ``e``, if ``e`` was raised while handling one."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, Interrupted):
            return cur
        if isinstance(cur, KeyboardInterrupt):
            return Interrupted(2)
        cur = cur.__context__
    return None


def main(argv: list[str] | None = None) -> int:
    # typer >= 0.24 vendors click; its exceptions live here (typer is pinned).
    from typer._click import exceptions as click_exc

    from mobilevid.ui import quiet

    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in args or "-v" in args
    interrupt.install()  # SIGTERM too unwinds (temp files go) and exits 143
    with quiet(enabled=not verbose):
        try:
            # standalone_mode=False returns the exit code of `raise typer.Exit(n)`
            rc = app(args=args, prog_name="mobilevid", standalone_mode=False)
        except MobilevidError as e:
            _error(str(e))
            return 2
        except click_exc.NoArgsIsHelpError:
            return 0
        except click_exc.UsageError as e:
            cmd = e.ctx.command_path if e.ctx else "mobilevid"
            _error(f"{e.format_message()} (see `{cmd} --help`)")
            return 2
        except typer.Exit as e:
            return e.exit_code
        except Interrupted as e:
            _error(e.message or f"interrupted by {e.name}: nothing partial was written")
            return e.exit_code
        except (typer.Abort, KeyboardInterrupt):
            _error("interrupted: nothing partial was written")
            return 130
        except Exception as e:
            # a signal lands anywhere, e.g. inside an import, and cleanup code can then
            # fail on the half-done state: that is still the signal's doing
            stop = _interruption(e)
            if stop is None:
                raise
            _error(f"interrupted by {stop.name}: nothing partial was written")
            return stop.exit_code
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())

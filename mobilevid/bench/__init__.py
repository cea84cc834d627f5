"""``mobilevid bench``: latency where the model will run, beside the paper.

``host`` times eager PyTorch, ONNX Runtime and the ExecuTorch .pte in one
interleaved run on this CPU; an Android phone runs the .pte over adb; an
iPhone runs the .mlpackage through Xcode. Every path returns a
:class:`BenchRun` that the same report code turns into a table, JSON,
Markdown and plots.
"""

from __future__ import annotations

from pathlib import Path

from mobilevid.bench.config import BenchConfig
from mobilevid.bench.devices import DEVICES, Device, find_device
from mobilevid.bench.results import BenchRun, Result
from mobilevid.errors import MobilevidError
from mobilevid.ui import Steps

__all__ = ["DEVICES", "BenchConfig", "BenchRun", "Device", "Result", "list_devices", "run_bench"]


def _phone_artifacts(cfg: BenchConfig, target: str, steps: Steps) -> list[Path]:
    """The files a phone runs: given with --artifact, or found/exported per
    --variant and --quantize."""
    from mobilevid.bench.host import find_or_export, subjects

    if not cfg.variants:
        if not cfg.artifacts:
            raise MobilevidError("nothing to bench: pass --variant NAME... or --artifact FILE...")
        return [Path(a) for a in cfg.artifacts]
    default = ["fp32", "int8"] if target == "executorch" else ["fp16"]
    quants = cfg.quantize or default
    files = [Path(a) for a in cfg.artifacts]
    for s in subjects(BenchConfig(variants=cfg.variants, frames=cfg.frames, size=cfg.size)):
        files += [find_or_export(s, target, q, cfg, steps) for q in quants]
    return files


def run_bench(cfg: BenchConfig, steps: Steps | None = None) -> BenchRun:
    """Latency per clip on the host or a phone; with ``over_time``, also the
    cost per update of recognition over time (bench/over_time.py)."""
    device = find_device(cfg.device)
    if cfg.over_time:
        from mobilevid.data.windows import parse_hop

        if not cfg.fps > 0:
            raise MobilevidError(f"--fps {cfg.fps}: must be positive")
        parse_hop(cfg.hop, cfg.fps)  # a bad hop fails before anything is timed
    run = _run_bench(cfg, steps)
    if cfg.over_time:
        from mobilevid.bench.over_time import add_over_time

        add_over_time(run, cfg.hop, cfg.fps, host=device.platform == "host")
    return run


def _run_bench(cfg: BenchConfig, steps: Steps | None = None) -> BenchRun:
    from mobilevid.bench.host import check_counts
    from mobilevid.export.artifact import read_sidecar
    from mobilevid.models import model_info

    steps = steps or Steps(enabled=False)
    device = find_device(cfg.device)
    check_counts(cfg)
    for v in cfg.variants:
        model_info(v)  # unknown names fail before a phone is searched for
    for a in cfg.artifacts:
        if not Path(a).exists():
            raise MobilevidError(f"{a}: no such artifact")
        read_sidecar(Path(a))
    if device.platform == "cuda":
        from mobilevid.bench.cuda import bench_cuda

        return bench_cuda(cfg, steps)
    if cfg.threads and len(cfg.threads) > 1 and device.platform != "host":
        raise MobilevidError(f"--threads: {device.label} runs one thread count at a time")
    if device.platform == "host":
        from mobilevid.bench.host import bench_host

        return bench_host(cfg, steps)
    if cfg.runtimes and set(cfg.runtimes) - {
        "executorch" if device.platform == "android" else "coreml"
    }:
        raise MobilevidError(
            f"--runtime: {device.label} runs "
            + ("ExecuTorch (.pte)" if device.platform == "android" else "Core ML (.mlpackage)")
        )
    if device.platform == "android":
        from mobilevid.bench import android

        if cfg.runner and not Path(cfg.runner).is_file():
            raise MobilevidError(f"--runner {cfg.runner}: no such file")
        transport = android.connect(device, cfg.serial)  # before any export: fail fast
        files = _phone_artifacts(cfg, "executorch", steps)
        return android.bench_android(transport, device, files, cfg, steps)
    from mobilevid.bench import ios

    ios._need_macos(device)
    files = _phone_artifacts(cfg, "coreml", steps)
    return ios.bench_iphone(device, files, cfg, steps)


def _known(platform: str, model: str) -> str:
    """The registry name of a connected phone, or the generic one."""
    from mobilevid.bench.devices import matches

    hit = (d.name for d in DEVICES if d.platform == platform and d.models and matches(d, model))
    return next(hit, "android" if platform == "android" else "iphone")


def list_devices() -> tuple[list[dict], list[str]]:
    """(connected phones, notes on what could not be asked)."""
    from mobilevid.bench import android, ios

    rows, notes = [], []
    try:
        phones = [("android", p) for p in android.connected()]
    except MobilevidError as e:
        phones = []
        notes.append(str(e))
    phones += [("ios", p) for p in ios.connected()]
    for platform, p in phones:
        rows.append({"device": _known(platform, p["model"]), "platform": platform, **p})
    return rows, notes

"""Latency on an Android phone over adb.

The .pte is pushed to the phone and run there by the Android demo app's
benchmark mode (``org.mobilevid.demo/.BenchmarkActivity``, modelled on
ExecuTorch's Minibench: warm-up, timed runs, results JSON in the app's external
files folder) or by a runner binary the user built for the phone (``--runner``).
Both write the same JSON (``DEVICE_FORMAT``): load time and every timed run,
so the median, p90 and trimmed mean are computed here, exactly as on the host.

Every command goes through a :class:`Transport` as an argument list; adbutils
quotes each argument, so nothing a user types is ever spliced into a shell line.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from mobilevid.bench.config import BenchConfig
from mobilevid.bench.devices import Device, matches
from mobilevid.bench.results import BenchRun, Result
from mobilevid.errors import MobilevidError
from mobilevid.ui import Steps

__all__ = [
    "APP_ID",
    "AdbTransport",
    "DEVICE_FORMAT",
    "Transport",
    "bench_android",
    "connect",
    "connected",
    "device_info",
    "parse_device_results",
]

APP_ID = "org.mobilevid.demo"
BENCH_ACTIVITY = f"{APP_ID}/.BenchmarkActivity"
REMOTE_DIR = "/data/local/tmp/mobilevid"
APP_RESULTS = f"/sdcard/Android/data/{APP_ID}/files/benchmark_results.json"
DEVICE_FORMAT = "mobilevid-device-bench/1"
NO_ADB = (
    "no adb server answers on {addr}: install Android platform-tools, run `adb start-server`, "
    "and connect the phone by USB with USB debugging on (or `adb connect IP:PORT`)"
)


class Transport(Protocol):
    """What bench needs from a phone connection."""

    serial: str

    def shell(self, args: Sequence[str], timeout: float = 60.0) -> tuple[int, str]: ...
    def push(self, local: Path, remote: str) -> None: ...
    def pull(self, remote: str, local: Path) -> None: ...


class AdbTransport:
    """A phone behind the adb server, through adbutils."""

    def __init__(self, device: Any):
        self._dev = device
        self.serial: str = device.serial

    def shell(self, args: Sequence[str], timeout: float = 60.0) -> tuple[int, str]:
        r = self._dev.shell2(list(args), timeout=timeout)
        return r.returncode, r.output

    def push(self, local: Path, remote: str) -> None:
        self._dev.sync.push(str(local), remote)

    def pull(self, remote: str, local: Path) -> None:
        self._dev.sync.pull(remote, str(local))


def _client():
    import adbutils

    host = os.environ.get("ANDROID_ADB_SERVER_HOST", "127.0.0.1")
    port = int(os.environ.get("ANDROID_ADB_SERVER_PORT", "5037"))
    return adbutils.AdbClient(host=host, port=port), f"{host}:{port}"


def _adb_devices() -> list[Any]:
    import adbutils

    client, addr = _client()
    try:
        return list(client.device_list())
    except (adbutils.AdbError, OSError) as e:
        raise MobilevidError(NO_ADB.format(addr=addr) + f" ({e})") from None


def getprops(t: Transport) -> dict[str, str]:
    rc, out = t.shell(["getprop"])
    if rc != 0:
        raise MobilevidError(f"{t.serial}: `getprop` failed: {out.strip()[:200]}")
    return dict(re.findall(r"^\[([^\]]+)\]: \[([^\]]*)\]", out, flags=re.M))


def connected() -> list[dict[str, str]]:
    """Phones adb sees, with what identifies them."""
    out = []
    for d in _adb_devices():
        props = getprops(AdbTransport(d))
        out.append(
            {
                "serial": d.serial,
                "model": props.get("ro.product.model", "?"),
                "manufacturer": props.get("ro.product.manufacturer", ""),
                "android": props.get("ro.build.version.release", ""),
            }
        )
    return out


def connect(
    device: Device, serial: str | None = None, devices: Callable[[], list[Any]] = _adb_devices
) -> AdbTransport:
    """The one connected phone that is ``device`` (or has ``serial``)."""
    found = devices()
    if serial:
        hit = [d for d in found if d.serial == serial]
        if not hit:
            seen = ", ".join(d.serial for d in found) or "none"
            raise MobilevidError(f"no phone with serial {serial!r} (adb sees: {seen})")
        return AdbTransport(hit[0])
    hits = []
    for d in found:
        t = AdbTransport(d)
        if matches(device, getprops(t).get("ro.product.model", "")):
            hits.append(t)
    if not hits:
        seen = ", ".join(d.serial for d in found) or "no phone"
        raise MobilevidError(
            f"no {device.label} connected (adb sees {seen}): plug it in with USB debugging on "
            "and accept the prompt, check `mobilevid devices`, or pass --serial; for numerics "
            f"on its CPU kernels without the phone: mobilevid verify FILE.pte --on {device.name}"
        )
    if len(hits) > 1:
        raise MobilevidError(
            f"{len(hits)} phones match {device.name}: pick one with --serial "
            + " | ".join(t.serial for t in hits)
        )
    return hits[0]


def thermal_state(t: Transport) -> dict[str, Any]:
    """Android's thermal status (0 none .. 6 shutdown) and the battery's
    temperature: a throttled phone's numbers are not the phone's numbers."""
    state: dict[str, Any] = {}
    rc, out = t.shell(["dumpsys", "thermalservice"])
    m = re.search(r"Thermal Status:\s*(\d+)", out) if rc == 0 else None
    state["thermal_status"] = int(m.group(1)) if m else None
    rc, out = t.shell(["dumpsys", "battery"])
    m = re.search(r"temperature:\s*(\d+)", out) if rc == 0 else None
    state["battery_celsius"] = int(m.group(1)) / 10 if m else None
    return state


def device_info(t: Transport, device: Device, threads: int | None) -> dict[str, Any]:
    p = getprops(t)
    rc, meminfo = t.shell(["cat", "/proc/meminfo"])
    m = re.search(r"MemTotal:\s*(\d+) kB", meminfo) if rc == 0 else None
    soc = " ".join(x for x in (p.get("ro.soc.manufacturer"), p.get("ro.soc.model")) if x)
    return {
        "device": device.name,
        "model": f"{p.get('ro.product.manufacturer', '')} {p.get('ro.product.model', '')}".strip(),
        "serial": t.serial,
        "soc": soc or p.get("ro.board.platform") or device.soc,
        "os": f"Android {p.get('ro.build.version.release', '?')} "
        f"(SDK {p.get('ro.build.version.sdk', '?')})",
        "abi": p.get("ro.product.cpu.abi"),
        "threads": threads,
        "total_mem_bytes": int(m.group(1)) * 1024 if m else None,
        "thermal": thermal_state(t),
    }


def parse_device_results(text: str) -> tuple[float | None, list[float]]:
    """(load time, timed runs) from the JSON the app or the runner writes."""
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise MobilevidError(f"the phone's results are not JSON ({e})") from None
    if not isinstance(d, dict) or d.get("format") != DEVICE_FORMAT:
        raise MobilevidError(f"the phone's results are not {DEVICE_FORMAT}")
    if d.get("error"):
        raise MobilevidError(f"on the phone: {d['error']}")
    times = d.get("times_ms")
    if (
        not isinstance(times, list)
        or not times
        or not all(isinstance(x, int | float) for x in times)
    ):
        raise MobilevidError("the phone's results have no timed runs")
    load = d.get("model_load_time_ms")
    return (float(load) if isinstance(load, int | float) else None), [float(x) for x in times]


def _run_app(
    t: Transport, remote: str, cfg: BenchConfig, timeout: float, sleep: Callable[[float], None]
) -> str:
    t.shell(["rm", "-f", APP_RESULTS])
    rc, out = t.shell(
        [
            "am",
            "start",
            "-W",
            "-S",
            "-n",
            BENCH_ACTIVITY,
            "--es",
            "model",
            remote,
            "--ei",
            "warmup",
            str(cfg.warmup),
            "--ei",
            "runs",
            str(cfg.runs),
            "--ei",
            "threads",
            str(cfg.thread_count or 0),
        ]
    )
    if rc != 0 or "Error" in out:
        raise MobilevidError(f"could not start {BENCH_ACTIVITY}: {out.strip()[-200:]}")
    waited = 0.0
    while t.shell(["ls", APP_RESULTS])[0] != 0:
        if waited >= timeout:
            raise MobilevidError(f"no results from the demo app after {timeout:.0f} s")
        sleep(1.0)
        waited += 1.0
    return APP_RESULTS


def _run_binary(t: Transport, runner: str, remote: str, cfg: BenchConfig, timeout: float) -> str:
    out_json = f"{REMOTE_DIR}/result.json"
    t.shell(["rm", "-f", out_json])
    rc, out = t.shell(
        [
            runner,
            "--model",
            remote,
            "--warmup",
            str(cfg.warmup),
            "--runs",
            str(cfg.runs),
            "--threads",
            str(cfg.thread_count or 0),
            "--json",
            out_json,
        ],
        timeout=timeout,
    )
    if rc != 0:
        last = out.strip().splitlines()[-1] if out.strip() else f"exit code {rc}"
        raise MobilevidError(f"the runner failed on the phone: {last}")
    return out_json


def bench_android(
    t: Transport,
    device: Device,
    artifacts: list[Path],
    cfg: BenchConfig,
    steps: Steps | None = None,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 900.0,
) -> BenchRun:
    from mobilevid.bench.machine import versions
    from mobilevid.export.artifact import read_sidecar

    steps = steps or Steps(enabled=False)
    metas = [read_sidecar(a) for a in artifacts]
    for a, m in zip(artifacts, metas, strict=True):
        if m.get("target") != "executorch":
            raise MobilevidError(f"{a}: Android runs .pte files (export with --target executorch)")
    with steps.step(f"reading {t.serial}"):
        info = device_info(t, device, cfg.thread_count)
    settings = {
        "threads": cfg.thread_count or "runtime default",
        "warmup": cfg.warmup,
        "runs": cfg.runs,
        "cooldown_s": cfg.cooldown,
        "interleaved": False,
        "runner": str(cfg.runner) if cfg.runner else BENCH_ACTIVITY,
    }
    run = BenchRun(info, versions(), settings)
    t.shell(["mkdir", "-p", REMOTE_DIR])
    runner = None
    if cfg.runner:
        runner = f"{REMOTE_DIR}/{Path(cfg.runner).name}"
        t.push(Path(cfg.runner), runner)
        t.shell(["chmod", "755", runner])
    else:
        _, out = t.shell(["pm", "list", "packages", APP_ID])
        if f"package:{APP_ID}" not in out.split():
            raise MobilevidError(
                f"the mobilevid demo app ({APP_ID}) is not installed on {t.serial}: install it "
                "(android_demo/README.md) or pass --runner with a runner built for the phone"
            )

    for i, (a, m) in enumerate(
        steps.track(
            list(zip(artifacts, metas, strict=True)),
            f"benchmarking on {info['model']}",
            len(artifacts),
        )
    ):
        r = Result(
            m["model"],
            "executorch",
            m.get("backend", "xnnpack"),
            m["quantize"],
            list(m["input"]["shape"]),
            m.get("gmacs"),
            str(a),
        )
        run.results.append(r)
        if i > 0 and cfg.cooldown > 0:
            sleep(cfg.cooldown)  # let the SoC cool between models, as Minibench does
        remote = f"{REMOTE_DIR}/{a.name}"
        try:
            t.push(a, remote)
            t.push(Path(str(a) + ".json"), remote + ".json")  # the app reads the input spec
            r.extra["thermal_before"] = thermal_state(t)
            if runner:
                remote_json = _run_binary(t, runner, remote, cfg, timeout)
            else:
                remote_json = _run_app(t, remote, cfg, timeout, sleep)
            r.extra["thermal_after"] = thermal_state(t)
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / "result.json"
                t.pull(remote_json, local)
                r.load_ms, r.times_ms = parse_device_results(local.read_text(encoding="utf-8"))
        except MobilevidError as e:
            r.error = str(e)
        finally:
            t.shell(["rm", "-f", remote, remote + ".json"])
    return run

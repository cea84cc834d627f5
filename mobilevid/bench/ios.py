"""Latency on an iPhone: the iOS demo's XCTest benchmark, run by xcodebuild.

Core ML models run only on Apple hardware, so this path needs macOS with Xcode
and a connected, trusted iPhone. The test target (``MobilevidBenchmarkTests``)
loads every .mlpackage copied into ``ios_demo/BenchModels/``, times warm-up and
timed predictions, and prints one ``MOBILEVID_BENCH {json}`` line per model in
the DEVICE_FORMAT the Android path reads; xcodebuild relays the line to us.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from mobilevid.bench.android import parse_device_results
from mobilevid.bench.config import BenchConfig
from mobilevid.bench.devices import Device, matches
from mobilevid.bench.results import BenchRun, Result
from mobilevid.errors import MobilevidError
from mobilevid.ui import Steps

__all__ = ["bench_iphone", "connected", "parse_xcodebuild_output", "xcodebuild_args"]

PROJECT = Path(__file__).resolve().parents[2] / "ios_demo"
SCHEME = "MobilevidBenchmark"
MARK = "MOBILEVID_BENCH "


def _need_macos(device: Device) -> None:
    if platform.system() != "Darwin":
        raise MobilevidError(
            f"{device.label}: iPhone benchmarks run the iOS demo's XCTest through Xcode, which "
            f"needs macOS (this is {platform.system()}); run this command on a Mac with the "
            "iPhone connected, or bench the .pte here with --device host"
        )
    if shutil.which("xcrun") is None or shutil.which("xcodebuild") is None:
        raise MobilevidError("xcodebuild not found: install Xcode and run `xcode-select --install`")


def connected() -> list[dict[str, str]]:
    """iPhones Xcode sees (``xcrun devicectl list devices``); [] off macOS."""
    if platform.system() != "Darwin" or shutil.which("xcrun") is None:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "devices.json"
        subprocess.run(
            ["xcrun", "devicectl", "list", "devices", "--json-output", str(out)],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if not out.is_file():
            return []
        data = json.loads(out.read_text())
    phones = []
    for d in data.get("result", {}).get("devices", []):
        hw = d.get("hardwareProperties", {})
        if hw.get("platform") != "iOS":
            continue
        phones.append(
            {
                "serial": hw.get("udid", ""),
                "model": hw.get("productType", ""),
                "name": d.get("deviceProperties", {}).get("name", ""),
                "ios": d.get("deviceProperties", {}).get("osVersionNumber", ""),
            }
        )
    return phones


def xcodebuild_args(udid: str, result_bundle: Path, cfg: BenchConfig) -> list[str]:
    return [
        "xcodebuild",
        "test",
        "-project",
        str(PROJECT / "MobilevidDemo.xcodeproj"),
        "-scheme",
        SCHEME,
        "-destination",
        f"platform=iOS,id={udid}",
        "-resultBundlePath",
        str(result_bundle),
        f"MOBILEVID_WARMUP={cfg.warmup}",
        f"MOBILEVID_RUNS={cfg.runs}",
    ]


def parse_xcodebuild_output(text: str) -> dict[str, tuple[float | None, list[float]]]:
    """{artifact name: (load ms, timed runs)} from the test's marked lines."""
    out = {}
    for line in text.splitlines():
        i = line.find(MARK)
        if i < 0:
            continue
        payload = line[i + len(MARK) :]
        try:
            name = json.loads(payload).get("model", "")
        except json.JSONDecodeError:
            continue
        out[name] = parse_device_results(payload)
    return out


def bench_iphone(
    device: Device, artifacts: list[Path], cfg: BenchConfig, steps: Steps | None = None
) -> BenchRun:
    from mobilevid.bench.machine import versions
    from mobilevid.checkpoint import atomic_write
    from mobilevid.export.artifact import read_sidecar

    _need_macos(device)
    steps = steps or Steps(enabled=False)
    metas = [read_sidecar(a) for a in artifacts]
    for a, m in zip(artifacts, metas, strict=True):
        if m.get("target") != "coreml":
            raise MobilevidError(f"{a}: iPhones run .mlpackage files (export with --target coreml)")
    phones = [
        p
        for p in connected()
        if (cfg.serial and p["serial"] == cfg.serial)
        or (not cfg.serial and matches(device, p["model"]))
    ]
    if not phones:
        raise MobilevidError(
            f"no {device.label} connected: plug it in, trust this Mac, enable Developer Mode, "
            "and check `xcrun devicectl list devices`"
        )
    phone = phones[0]
    models_dir = PROJECT / "BenchModels"  # a folder reference of the test target
    models_dir.mkdir(parents=True, exist_ok=True)
    for old in models_dir.glob("*.mlpackage"):  # keep the folder's README
        shutil.rmtree(old, ignore_errors=True)
    for a in artifacts:
        atomic_write(models_dir / a.name, lambda tmp, a=a: shutil.copytree(a, tmp))
    info: dict[str, Any] = {
        "device": device.name,
        "model": phone["model"],
        "serial": phone["serial"],
        "soc": device.soc,
        "os": f"iOS {phone['ios']}",
        "threads": None,
    }
    run = BenchRun(
        info,
        versions(),
        {"warmup": cfg.warmup, "runs": cfg.runs, "runner": f"xcodebuild test -scheme {SCHEME}"},
    )
    with tempfile.TemporaryDirectory() as tmp, steps.step(f"xcodebuild test on {phone['name']}"):
        proc = subprocess.run(
            xcodebuild_args(phone["serial"], Path(tmp) / "bench.xcresult", cfg),
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
    found = parse_xcodebuild_output(proc.stdout)
    for a, m in zip(artifacts, metas, strict=True):
        r = Result(
            m["model"],
            "coreml",
            "coreml",
            m["quantize"],
            list(m["input"]["shape"]),
            m.get("gmacs"),
            str(a),
        )
        if a.stem in found:
            r.load_ms, r.times_ms = found[a.stem]
        else:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
            r.error = f"no result from the XCTest (xcodebuild exit {proc.returncode}: {tail[0]})"
        run.results.append(r)
    return run

"""The adb path. There is no phone here, so the command sequence is checked
against ``StandInPhone``, a test double that answers like a phone would; the
real adb server (adbutils starts its bundled adb) is used for the no-phone case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mobilevid.bench import android
from mobilevid.bench.config import BenchConfig
from mobilevid.bench.devices import find_device
from mobilevid.errors import MobilevidError

GETPROP = """[ro.product.model]: [Pixel 7]
[ro.product.manufacturer]: [Google]
[ro.soc.manufacturer]: [Google]
[ro.soc.model]: [GS201]
[ro.build.version.release]: [14]
[ro.build.version.sdk]: [34]
[ro.product.cpu.abi]: [arm64-v8a]
"""


class StandInPhone:
    """Stand-in for an adb transport (no phone exists on this machine): records
    every command and plays the phone's side, including the demo app writing its
    results file when BenchmarkActivity is started."""

    def __init__(self, app_installed=True, result=None, thermal=0):
        self.serial = "STANDIN01"
        self.calls: list[tuple] = []
        self.files: dict[str, str] = {}
        self.app_installed = app_installed
        self.result = result or {
            "format": android.DEVICE_FORMAT,
            "model_load_time_ms": 41.5,
            "times_ms": [20.0 + i for i in range(12)],
        }
        self.thermal = thermal

    def shell(self, args, timeout=60.0):
        args = list(args)
        assert all(isinstance(a, str) for a in args), args  # an argv, never a shell line
        self.calls.append(("shell", *args))
        cmd = args[0]
        if cmd == "getprop":
            return 0, GETPROP
        if args[:2] == ["dumpsys", "thermalservice"]:
            return 0, f"IsStatusOverride: false\nThermal Status: {self.thermal}\n"
        if args[:2] == ["dumpsys", "battery"]:
            return 0, "  level: 90\n  temperature: 312\n"
        if cmd == "cat":
            return 0, "MemTotal:        7817180 kB\n"
        if cmd == "pm":
            return 0, f"package:{android.APP_ID}\n" if self.app_installed else ""
        if cmd == "am":
            self.files[android.APP_RESULTS] = json.dumps(self.result)
            return 0, "Status: ok\nLaunchState: COLD\n"
        if cmd == "ls":
            return (0, args[1]) if args[1] in self.files else (1, "No such file")
        if cmd == "rm":
            self.files.pop(args[-1], None)
            return 0, ""
        if cmd.endswith("mobilevid_runner"):
            self.files[args[args.index("--json") + 1]] = json.dumps(self.result)
            return 0, "ok"
        return 0, ""

    def push(self, local, remote):
        self.calls.append(("push", Path(local).name, remote))
        self.files[remote] = "<binary>"

    def pull(self, remote, local):
        self.calls.append(("pull", remote))
        Path(local).write_text(self.files[remote])


@pytest.fixture
def pte(tmp_path, fake_artifact):
    return fake_artifact(
        tmp_path / "vmf-560m_xnnpack_int8.pte", quantize="int8", shape=[1, 3, 64, 172, 172]
    )


def test_app_benchmark_mode_command_sequence(pte):
    phone = StandInPhone()
    cfg = BenchConfig(device="pixel7", warmup=3, runs=12, threads=4, cooldown=0)
    run = android.bench_android(phone, find_device("pixel7"), [pte], cfg, sleep=lambda s: None)
    remote = f"{android.REMOTE_DIR}/{pte.name}"
    shell = [c[1:] for c in phone.calls if c[0] == "shell"]
    assert ("mkdir", "-p", android.REMOTE_DIR) in shell
    assert ("pm", "list", "packages", android.APP_ID) in shell
    assert ("push", pte.name, remote) in phone.calls
    start = next(c for c in shell if c[0] == "am")
    assert start[:6] == ("am", "start", "-W", "-S", "-n", android.BENCH_ACTIVITY)
    assert list(start[6:]) == [
        "--es",
        "model",
        remote,
        "--ei",
        "warmup",
        "3",
        "--ei",
        "runs",
        "12",
        "--ei",
        "threads",
        "4",
    ]
    # order: push, clear old results, start, poll, pull, remove the model
    order = [c[0] if c[0] != "shell" else c[1] for c in phone.calls]
    i_push, i_am = order.index("push"), order.index("am")
    assert i_push < i_am < order.index("pull") < len(order) - 1
    assert ("push", pte.name + ".json", remote + ".json") in phone.calls  # the sidecar too
    assert phone.calls[-1] == ("shell", "rm", "-f", remote, remote + ".json")
    r = run.results[0]
    assert r.error is None and r.load_ms == 41.5 and len(r.times_ms) == 12
    assert r.stats.median == pytest.approx(25.5)
    assert r.extra["thermal_before"] == {"thermal_status": 0, "battery_celsius": 31.2}
    assert run.device["model"] == "Google Pixel 7" and run.device["soc"] == "Google GS201"
    assert run.device["os"] == "Android 14 (SDK 34)" and run.device["total_mem_bytes"] > 7e9


def test_runner_binary_mode(pte, tmp_path):
    runner = tmp_path / "mobilevid_runner"
    runner.write_bytes(b"\x7fELF")
    phone = StandInPhone(app_installed=False)  # the app is not needed with --runner
    cfg = BenchConfig(device="pixel7", runner=runner, cooldown=0)
    run = android.bench_android(phone, find_device("pixel7"), [pte], cfg, sleep=lambda s: None)
    remote_runner = f"{android.REMOTE_DIR}/mobilevid_runner"
    assert ("push", "mobilevid_runner", remote_runner) in phone.calls
    assert ("shell", "chmod", "755", remote_runner) in phone.calls
    call = next(c for c in phone.calls if c[0] == "shell" and c[1] == remote_runner)
    assert call[2:4] == ("--model", f"{android.REMOTE_DIR}/{pte.name}")
    assert "--threads" in call and call[call.index("--threads") + 1] == "0"  # runtime default
    assert run.results[0].error is None and len(run.results[0].times_ms) == 12
    assert not any(c[1] == "am" for c in phone.calls if c[0] == "shell")


def test_missing_app_says_how_to_install(pte):
    with pytest.raises(MobilevidError, match=r"not installed.*--runner"):
        android.bench_android(
            StandInPhone(app_installed=False),
            find_device("pixel7"),
            [pte],
            BenchConfig(cooldown=0),
            sleep=lambda s: None,
        )


def test_cooldown_between_models_and_errors_stay_per_model(pte, tmp_path, fake_artifact):
    other = fake_artifact(tmp_path / "vmf-1g_xnnpack_fp32.pte", data=b"\0", model="vmf-1g")
    slept = []
    phone = StandInPhone(result={"format": android.DEVICE_FORMAT, "error": "out of memory"})
    run = android.bench_android(
        phone, find_device("pixel7"), [pte, other], BenchConfig(cooldown=7), sleep=slept.append
    )
    assert 7 in slept
    assert [r.error for r in run.results] == ["on the phone: out of memory"] * 2


@pytest.mark.parametrize(
    "text,msg",
    [
        ("not json", "not JSON"),
        ('{"format": "x"}', "not mobilevid-device-bench"),
        (json.dumps({"format": android.DEVICE_FORMAT, "times_ms": []}), "no timed runs"),
    ],
)
def test_bad_results_from_the_phone(text, msg):
    with pytest.raises(MobilevidError, match=msg):
        android.parse_device_results(text)


def test_pte_only(tmp_path, fake_artifact):
    ml = fake_artifact(tmp_path / "m.mlpackage", target="coreml", backend="coreml")
    with pytest.raises(MobilevidError, match=r"Android runs \.pte"):
        android.bench_android(StandInPhone(), find_device("pixel7"), [ml], BenchConfig())


class _Dev:
    def __init__(self, serial, model):
        self.serial, self.model = serial, model

    def shell2(self, args, timeout=None):
        class R:
            returncode = 0
            output = f"[ro.product.model]: [{self.model}]\n"

        return R()


def test_connect_picks_the_matching_phone():
    devs = [_Dev("A1", "SM-S911B"), _Dev("B2", "Pixel 7")]
    assert android.connect(find_device("pixel7"), devices=lambda: devs).serial == "B2"
    assert android.connect(find_device("android"), "A1", devices=lambda: devs).serial == "A1"
    with pytest.raises(MobilevidError, match="2 phones match"):
        android.connect(find_device("android"), devices=lambda: devs)
    with pytest.raises(MobilevidError, match="no Google Pixel 8 connected"):
        android.connect(find_device("pixel8"), devices=lambda: devs)
    with pytest.raises(MobilevidError, match="no phone with serial 'Z9'"):
        android.connect(find_device("pixel7"), "Z9", devices=lambda: devs)


@pytest.mark.slow
def test_real_adb_server_without_a_phone(private_adb_port):
    """adbutils starts its bundled adb on a private port; it lists no phone, and
    asking for one fails with the one-line instruction."""
    assert android.connected() == []
    with pytest.raises(MobilevidError, match=r"no Google Pixel 7 connected.*verify .* --on pixel7"):
        android.connect(find_device("pixel7"))


def test_no_adb_server_is_one_clear_error(monkeypatch):
    # 192.0.2.0/24 is reserved for documentation: nothing answers there
    monkeypatch.setenv("ANDROID_ADB_SERVER_HOST", "192.0.2.1")
    monkeypatch.setattr("adbutils._adb.adb_path", lambda: "/bin/true", raising=False)
    with pytest.raises(MobilevidError, match=r"no adb server answers on 192\.0\.2\.1"):
        android.connected()

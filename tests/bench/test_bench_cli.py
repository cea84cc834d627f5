"""`mobilevid bench` / `mobilevid devices` as a user runs them (subprocess)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mobilevid", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def one_line_error(p: subprocess.CompletedProcess, needle: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert needle in lines[0]
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--device", "pixle7"], "Did you mean 'pixel7'"),
        (["--runs", "3"], "at least 10 timed runs"),
        (["--runtime", "tflite"], "unknown runtime 'tflite'"),
        (["--variant", "vmf-9g"], "unknown model 'vmf-9g'"),
        (["--artifact", "missing.pte"], "missing.pte: no such artifact"),
        (["--device", "pixel7", "--runner", "no-such-runner"], "--runner no-such-runner"),
    ],
)
def test_bad_arguments_are_one_line(args, needle):
    one_line_error(run("bench", *args), needle)


@pytest.mark.skipif(platform.system() == "Darwin", reason="the non-macOS message")
def test_iphone_needs_macos():
    one_line_error(run("bench", "--device", "iphone15"), "needs macOS")


@pytest.mark.slow
def test_pixel_without_a_phone_says_how_to_connect_one(private_adb_port):
    """Against a real adb server (adbutils' bundled adb on a private port)."""
    p = run("bench", "--device", "pixel7")
    one_line_error(p, "no Google Pixel 7 connected")
    assert "USB debugging" in p.stderr
    d = run("devices", "--json")
    assert d.returncode == 0, d.stderr
    got = json.loads(d.stdout)
    assert got["connected"] == [] and got["notes"] == []
    assert {"pixel7", "galaxys23", "iphone15", "host"} <= {k["name"] for k in got["known"]}


def test_multi_value_flags_of_bench():
    from typer.main import get_command

    from mobilevid.cli import app

    argv = ["--variant", "560m", "1g", "--runtime", "eager", "executorch", "-q", "fp32", "int8"]
    ctx = get_command(app).commands["bench"].make_context("bench", [*argv, "--runs", "10"])
    assert ctx.params["variant"] == ["560m", "1g"] and ctx.params["runs"] == 10
    assert ctx.params["runtime"] == ["eager", "executorch"]
    assert ctx.params["quantize"] == ["fp32", "int8"]


def test_help_lists_the_options():
    p = run("bench", "--help")
    assert p.returncode == 0
    for opt in (
        "--device",
        "--variant",
        "--artifact",
        "--runtime",
        "--quantize",
        "--threads",
        "--warmup",
        "--runs",
        "--json",
        "--report",
    ):
        assert opt in p.stdout


def test_host_bench_of_an_artifact_writes_the_report(fp32, tmp_path):
    rep = tmp_path / "rep"
    p = run(
        "bench",
        "--artifact",
        str(fp32.path),
        "--runtime",
        "executorch",
        "eager",
        "--runs",
        "10",
        "--warmup",
        "0",
        "--report",
        str(rep),
        "--json",
        str(tmp_path / "b.json"),
    )
    assert p.returncode == 0, p.stderr
    assert "executorch/fp32" in p.stdout and "eager/fp32" in p.stdout and "GEMM peak" in p.stdout
    assert "Traceback" not in p.stderr and "cpuinfo" not in p.stderr  # runtime noise kept out
    d = json.loads((tmp_path / "b.json").read_text())
    assert d == json.loads((rep / "bench.json").read_text())
    assert [r["runtime"] for r in d["results"]] == ["executorch", "eager"]  # as asked
    assert all(r["latency_ms"]["n"] == 10 for r in d["results"])
    assert (rep / "report.md").is_file() and (rep / "runtimes.png").is_file()

"""The C++ runner (runner/): built for real with cmake against the installed
executorch wheel and run on a real .pte (the session's small VMF-560M export).

The phone build is the same source cross-compiled; here it is checked on the
host, through the same JSON the Android path reads."""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mobilevid.bench import android, cpp_runner
from mobilevid.errors import MobilevidError

needs_toolchain = pytest.mark.skipif(
    shutil.which("cmake") is None or (shutil.which("g++") or shutil.which("c++")) is None,
    reason="cmake and a C++ compiler are needed to build the runner",
)


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> Path:
    return cpp_runner.build_runner(tmp_path_factory.mktemp("runner-build"))


def run(binary: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=600, check=False
    )


# ---------------------------------------------------------------- the binary --


@pytest.mark.slow
@needs_toolchain
def test_build_gives_a_binary_that_finds_its_libraries_without_ld_library_path(runner):
    assert runner.name == "mobilevid_runner" and os.access(runner, os.X_OK)
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    p = subprocess.run(
        [str(runner), "--help"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert p.returncode == 0, p.stderr
    assert "--model PATH" in p.stdout


@pytest.mark.slow
@needs_toolchain
def test_build_is_skipped_when_the_binary_is_newer_than_the_sources(runner):
    before = runner.stat().st_mtime_ns
    assert cpp_runner.build_runner(runner.parent) == runner
    assert runner.stat().st_mtime_ns == before


@pytest.mark.slow
@needs_toolchain
def test_runs_a_real_pte_and_writes_the_device_json(runner, fp32, tmp_path):
    out = tmp_path / "result.json"
    p = run(
        runner,
        "--model",
        str(fp32.path),
        "--warmup",
        "1",
        "--runs",
        "4",
        "--threads",
        "2",
        "--json",
        str(out),
    )
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.strip().splitlines()) == 1  # one summary line, no runtime logs
    assert not out.with_name(out.name + ".tmp").exists()
    d = json.loads(out.read_text())
    assert d["format"] == android.DEVICE_FORMAT == "mobilevid-device-bench/1"
    assert d["model"] == fp32.path.stem
    assert (d["threads"], d["warmup"], d["runs"]) == (2, 1, 4)
    assert d["error"] is None
    assert len(d["times_ms"]) == 4 and all(t > 0 for t in d["times_ms"])
    assert d["model_load_time_ms"] > 0
    assert d["output_shape"] == [1, 400]  # the input shape came from the method's metadata
    assert isinstance(d["output_checksum"], float) and math.isfinite(d["output_checksum"])
    load, times = android.parse_device_results(out.read_text())
    assert load == d["model_load_time_ms"] and times == d["times_ms"]


@pytest.mark.slow
@needs_toolchain
def test_the_input_pattern_is_fixed_so_the_checksum_repeats(runner, fp32, tmp_path):
    sums = []
    for threads in ("1", "0"):
        out = tmp_path / f"r{threads}.json"
        args = ["--model", str(fp32.path), "--warmup", "0", "--runs", "1", "--threads", threads]
        p = run(runner, *args, "--json", str(out))
        assert p.returncode == 0, p.stderr
        sums.append(json.loads(out.read_text())["output_checksum"])
    assert sums[0] == pytest.approx(sums[1], rel=1e-4, abs=1e-4)


@pytest.mark.slow
@needs_toolchain
@pytest.mark.parametrize("kind", ["missing", "not a program"])
def test_a_bad_model_exits_1_with_the_error_in_the_json(runner, tmp_path, kind):
    model = tmp_path / "broken.pte"
    if kind == "not a program":
        model.write_bytes(b"this is not a flatbuffer")
    out = tmp_path / "result.json"
    p = run(runner, "--model", str(model), "--json", str(out))
    assert p.returncode == 1
    d = json.loads(out.read_text())
    assert d["format"] == "mobilevid-device-bench/1" and d["model"] == "broken"
    assert d["times_ms"] == [] and isinstance(d["error"], str) and d["error"]
    assert p.stderr.strip().splitlines()[-1] == f"mobilevid_runner: {d['error']}"
    assert p.stdout == ""
    with pytest.raises(MobilevidError, match="on the phone"):
        android.parse_device_results(out.read_text())


@pytest.mark.slow
@needs_toolchain
@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--model", "m.pte"],  # no --json
        ["--json", "o.json"],  # no --model
        ["--model", "m.pte", "--json", "o.json", "--runs", "0"],
        ["--model", "m.pte", "--json", "o.json", "--warmup", "-1"],
        ["--model", "m.pte", "--json", "o.json", "--threads", "two"],
        ["--model", "m.pte", "--json", "o.json", "--frames", "8"],
        ["--model", "m.pte", "--json"],
    ],
)
def test_bad_arguments_exit_2_with_one_usage_line(runner, tmp_path, args):
    p = subprocess.run(
        [str(runner), *args], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False
    )
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "usage: mobilevid_runner --model PATH" in lines[0]
    assert not (tmp_path / "o.json").exists()


# ------------------------------------------------------------- the Python side --


@pytest.mark.slow
@needs_toolchain
def test_run_runner_end_to_end(runner, fp32):
    load, times = cpp_runner.run_runner(runner, fp32.path, warmup=1, runs=3, threads=2)
    assert load is not None and load > 0
    assert len(times) == 3 and all(t > 0 for t in times)


@pytest.mark.slow
@needs_toolchain
def test_run_runner_turns_failures_into_one_line_errors(runner, tmp_path):
    with pytest.raises(MobilevidError, match=r"failed on nothing\.pte: cannot open"):
        cpp_runner.run_runner(runner, tmp_path / "nothing.pte", warmup=0, runs=1, threads=0)
    # Exit 2, no JSON: the message is the runner's last stderr line.
    with pytest.raises(MobilevidError, match=r"--runs must be an integer >= 1"):
        cpp_runner.run_runner(runner, tmp_path / "nothing.pte", warmup=0, runs=0, threads=0)
    with pytest.raises(MobilevidError, match=r"cannot run the C\+\+ runner"):
        cpp_runner.run_runner(tmp_path / "no-binary", tmp_path / "x.pte", 0, 1, 0)


@pytest.mark.slow
@needs_toolchain
def test_a_failed_build_names_the_compiler_error(tmp_path, monkeypatch):
    src = tmp_path / "runner"
    src.mkdir()
    shutil.copy(cpp_runner.runner_sources() / "CMakeLists.txt", src / "CMakeLists.txt")
    (src / "mobilevid_runner.cpp").write_text("int main() { return not_declared_here; }\n")
    monkeypatch.setattr(cpp_runner, "runner_sources", lambda: src)
    with pytest.raises(MobilevidError, match=r"failed to build: .*not_declared_here") as e:
        cpp_runner.build_runner(tmp_path / "build")
    assert "\n" not in str(e.value)


def test_missing_cmake_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setattr(cpp_runner.shutil, "which", lambda name: None)
    with pytest.raises(MobilevidError, match="cmake is not installed"):
        cpp_runner.build_runner(tmp_path / "build")


def test_an_install_without_the_sources_says_so(tmp_path, monkeypatch):
    fake = tmp_path / "site-packages" / "mobilevid" / "bench" / "cpp_runner.py"
    monkeypatch.setattr(cpp_runner, "__file__", str(fake))
    with pytest.raises(MobilevidError, match=r"sources are not here.*source checkout"):
        cpp_runner.build_runner(tmp_path / "build")


def test_the_default_build_dir_is_per_installed_executorch(monkeypatch, tmp_path):
    d = cpp_runner.default_build_dir()
    assert d.parent == Path.home() / ".cache" / "mobilevid"
    assert d.name.startswith(f"runner-{importlib.metadata.version('executorch')}-")
    # the same version installed in another venv links another libexecutorch.so
    monkeypatch.setattr(cpp_runner, "_executorch", lambda: (tmp_path / "executorch", "1.5.1"))
    assert cpp_runner.default_build_dir() != d


def test_the_last_meaningful_line_of_a_failed_build():
    out = """[ 50%] Building CXX object CMakeFiles/mobilevid_runner.dir/mobilevid_runner.cpp.o
/src/runner/mobilevid_runner.cpp: In function 'int main()':
/src/runner/mobilevid_runner.cpp:3:10: error: 'x' was not declared in this scope
    3 |   return x;
      |          ^
gmake[2]: *** [CMakeFiles/mobilevid_runner.dir/build.make:76: x.o] Error 1
gmake[1]: *** [CMakeFiles/Makefile2:83: CMakeFiles/mobilevid_runner.dir/all] Error 2
gmake: *** [Makefile:136: all] Error 2
"""
    line = cpp_runner._last_meaningful_line(out)
    assert line.endswith("error: 'x' was not declared in this scope")
    link = "a.o: in function `main':\nmain.cpp:(.text+0x5): undefined reference to `foo()'\n"
    link += "collect2: error: ld returned 1 exit status\ngmake[2]: *** [x] Error 1\n"
    assert "undefined reference to `foo()'" in cpp_runner._last_meaningful_line(link)
    assert cpp_runner._last_meaningful_line("") == "no output"

"""A real host bench at a small shape: real exports, the real ExecuTorch runtime,
real ONNX Runtime, interleaved. Latency values are not asserted (benchmarks are
not tests); what a run must contain is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mobilevid.bench import BenchConfig, run_bench
from mobilevid.bench.report import write_report
from mobilevid.errors import MobilevidError


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, fp32, int8):
    """The session's small VMF-560M exports placed where `make run` leaves
    artifacts: bench must find and reuse them instead of exporting again."""
    root = tmp_path_factory.mktemp("bench")
    for r in (fp32, int8):
        shutil.copy(r.path, root / r.path.name)
        shutil.copy(r.sidecar, root / r.sidecar.name)
    cfg = BenchConfig(
        variants=["560m"],
        frames=16,
        size=64,
        warmup=1,
        runs=10,
        threads=2,
        artifacts_dir=root,
        runtimes=["eager", "executorch", "onnxruntime"],  # the peers: tests/bench/test_peers.py
    )
    return run_bench(cfg), root


def test_every_runtime_measured_on_the_same_shape(small_run):
    run, root = small_run
    keys = [r.key for r in run.results]
    assert keys == ["eager/fp32", "executorch/fp32", "executorch/int8", "onnxruntime/fp32"]
    for r in run.results:
        assert r.error is None, r.error
        assert r.input_shape == [1, 3, 16, 64, 64]
        assert len(r.times_ms) == 10 and all(t > 0 for t in r.times_ms)
        assert r.load_ms is not None and r.load_ms > 0
        s = r.stats
        assert s.min <= s.median <= s.p90 <= s.max
        assert run.ratio_to_reference(r) == pytest.approx(1.0)
    pte = [r for r in run.results if r.runtime == "executorch"]
    assert [Path(r.artifact).parent for r in pte] == [root, root]  # reused, not re-exported
    assert not list((root / "bench").glob("*.pte"))
    assert list((root / "bench").glob("vmf-560m_onnx_fp32_16x64_*.onnx"))
    assert run.gemm_peak_gflops > 1
    d = run.device
    assert d["threads"] == 2 and d["cpu"] and d["os"]
    assert run.versions["executorch"] and run.versions["onnxruntime"] and run.versions["torch"]
    assert run.settings["interleaved"] is True and run.settings["rest_s"] == 0.1


def test_second_run_reuses_the_onnx_file(small_run):
    _run, root = small_run
    before = {p: p.stat().st_mtime_ns for p in (root / "bench").iterdir()}
    cfg = BenchConfig(
        variants=["vmf-560m"],
        frames=16,
        size=64,
        warmup=0,
        runs=10,
        threads=1,
        runtimes=["executorch", "onnxruntime"],
        quantize=["fp32"],
        artifacts_dir=root,
    )
    import torch

    threads = torch.get_num_threads()
    again = run_bench(cfg)
    assert torch.get_num_threads() == threads  # process-wide state is given back
    assert [r.key for r in again.results] == ["executorch/fp32", "onnxruntime/fp32"]
    assert {p: p.stat().st_mtime_ns for p in (root / "bench").iterdir()} == before
    assert again.device["threads"] == 1


def test_artifact_mode_benches_that_file(small_run):
    _run, root = small_run
    pte = root / "vmf-560m_xnnpack_int8.pte"
    cfg = BenchConfig(artifacts=[pte], warmup=0, runs=10, runtimes=["eager", "executorch"])
    got = run_bench(cfg)
    assert [(r.key, r.artifact) for r in got.results] == [
        ("eager/fp32", None),
        ("executorch/int8", str(pte)),
    ]
    assert got.results[0].input_shape == [1, 3, 16, 64, 64]  # the shape in the sidecar


def test_report_of_a_real_run(small_run, tmp_path):
    run, _ = small_run
    paths = write_report(run, tmp_path / "r")
    d = json.loads(paths["json"].read_text())
    assert len(d["results"]) == 4 and len(d["metrics"]) == 4 * 7
    assert paths["runtimes"].stat().st_size > 10_000


@pytest.mark.parametrize(
    "kw,msg",
    [
        (dict(runs=5), "at least 10"),
        (dict(runtimes=["tflite"]), "unknown runtime"),
        (dict(quantize=["int4"]), "--quantize int4"),
        (dict(variants=["vmf-3g"]), "unknown model"),
        (dict(device="pixle7"), "Did you mean 'pixel7'"),
        (dict(threads=0), "--threads"),
        (dict(rest=-1), "--rest"),
        (dict(variants=[], artifacts=[Path("nope.pte")]), "no such artifact"),
        (dict(frames=4), "does not fit vmf-560m"),
    ],
)
def test_bad_arguments(kw, msg):
    cfg = BenchConfig(**{"variants": ["560m"], **kw})
    with pytest.raises(MobilevidError, match=msg):
        run_bench(cfg)


def test_coreml_runtime_off_macos():
    import platform

    if platform.system() == "Darwin":
        pytest.skip("Core ML runs on macOS")
    with pytest.raises(MobilevidError, match="macOS"):
        run_bench(BenchConfig(variants=["560m"], runtimes=["coreml"]))


def test_missing_artifact_is_exported_into_the_bench_folder(tmp_path):
    cfg = BenchConfig(
        variants=["560m"],
        frames=16,
        size=32,
        warmup=0,
        runs=10,
        runtimes=["executorch"],
        quantize=["fp32"],
        artifacts_dir=tmp_path,
    )
    run = run_bench(cfg)
    out = tmp_path / "bench" / "vmf-560m_xnnpack_fp32.pte"
    assert run.results[0].artifact == str(out) and out.is_file()
    assert json.loads(Path(str(out) + ".json").read_text())["input"]["shape"] == [1, 3, 16, 32, 32]


@pytest.mark.slow
def test_cpp_runner_as_a_host_runtime(fp32):
    run = run_bench(
        BenchConfig(
            artifacts=[fp32.path], runtimes=["executorch-cpp"], warmup=0, runs=10, threads=1
        )
    )
    (r,) = run.results
    assert r.key == "executorch-cpp/fp32" and r.error is None and len(r.times_ms) == 10
    assert r.load_ms > 0 and any("C++ runner" in n for n in run.notes)


def test_round_speed_shows_a_neighbour_taking_a_core_mid_run():
    from mobilevid.bench.host import DRIFT, drift_range, round_speed

    fast, slow = [30.0] * 6, [60.0] * 6  # one contender doubles from round 7 on
    other = [100.0 + (i % 2) for i in range(12)]  # another is steady but noisy
    speed = round_speed([fast + slow, other, [5.0] * 6 + [8.0] * 6])
    assert len(speed) == 12
    lo, hi = drift_range(speed)
    assert hi / lo > DRIFT  # flagged
    # one slow round (a hiccup, not a neighbour) is not a step
    blip = round_speed([[30.0] * 5 + [45.0] + [30.0] * 6, [50.0] * 5 + [70.0] + [50.0] * 6])
    lo, hi = drift_range(blip)
    assert max(blip) / min(blip) > DRIFT and hi / lo < DRIFT
    steady = round_speed([[30.0 + (i % 3) for i in range(12)], other])
    lo, hi = drift_range(steady)
    assert hi / lo < DRIFT
    assert round_speed([]) == [] and round_speed([[1.0, 2.0], [1.0]]) == []


def test_over_time_cost_per_update(small_run, tmp_path):
    """bench --over-time: forward + the hop's frames preprocessed, per result,
    in the JSON (read back whole), the terminal table and report.md."""
    import copy

    from rich.console import Console

    from mobilevid.bench.over_time import add_over_time
    from mobilevid.bench.report import markdown, print_table
    from mobilevid.bench.results import BenchRun

    run = copy.deepcopy(small_run[0])
    ot = add_over_time(run, "0.5", 30.0)
    assert ot["hop_frames"] == 15 and ot["hop_ms"] == 500.0 and ot["camera"] == "640x480"
    timed = [r for r in run.results if r.times_ms and not r.error]
    assert len(ot["rows"]) == len(timed) > 0
    per_frame = ot["preprocess_ms_per_frame"]["64"]
    assert per_frame > 0
    for row, r in zip(ot["rows"], timed, strict=True):
        assert row["forward_ms"] == pytest.approx(r.stats.median, abs=1e-3)
        assert row["preprocess_ms"] == pytest.approx(15 * per_frame, abs=1e-2)
        assert row["update_ms"] == pytest.approx(row["forward_ms"] + row["preprocess_ms"], abs=1e-2)
        assert row["real_time_factor"] == pytest.approx(row["update_ms"] / 500, abs=1e-3)
        assert row["keeps_up"] == (row["update_ms"] <= 500)
    back = BenchRun.from_json(json.loads(json.dumps(run.to_json())))
    assert back.over_time == json.loads(json.dumps(ot))
    assert "## Recognition over time" in markdown(run)
    con = Console(record=True, width=160)
    print_table(run, con)
    assert "real-time factor" in con.export_text()
    phone = add_over_time(copy.deepcopy(small_run[0]), "4f", 30.0, host=False)
    assert phone["preprocess"].endswith("forward only")
    assert all(r["preprocess_ms"] == 0 for r in phone["rows"])


def test_over_time_bad_hop_fails_before_timing():
    with pytest.raises(MobilevidError, match="--hop"):
        run_bench(BenchConfig(variants=["560m"], over_time=True, hop="0"))
    with pytest.raises(MobilevidError, match="--fps"):
        run_bench(BenchConfig(variants=["560m"], over_time=True, fps=0))

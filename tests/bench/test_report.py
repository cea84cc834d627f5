import json

import pytest

from mobilevid.bench.paper import TABLE12
from mobilevid.bench.report import markdown, print_table, write_report
from mobilevid.bench.results import METRIC_NAMES, SCHEMA, BenchRun, Result


def _run() -> BenchRun:
    run = BenchRun(
        {
            "device": "host",
            "cpu": "Test CPU",
            "os": "Linux",
            "threads": 2,
            "total_mem_bytes": 8 << 30,
        },
        {"mobilevid": "0.1.0", "torch": "2.13.0"},
        {"threads": 2, "warmup": 3, "runs": 10, "frames": 64, "interleaved": True},
        gemm_peak_gflops=100.0,
    )
    shape = [1, 3, 64, 172, 172]
    for model, gmacs, base in (("vmf-560m", 0.55, 40.0), ("vmf-1g", 1.41, 90.0)):
        for runtime, q, f in (("eager", "fp32", 1.0), ("executorch", "int8", 0.5)):
            times = [base * f + i for i in range(10)]
            backend = "pytorch" if runtime == "eager" else "xnnpack"
            run.results.append(Result(model, runtime, backend, q, shape, gmacs, None, 12.0, times))
    run.results.append(
        Result(
            "x3d-s",
            "onnxruntime",
            "onnxruntime-cpu",
            "fp32",
            [1, 3, 64, 160, 160],
            9.6,
            None,
            error="ONNX export failed: boom",
        )
    )
    return run


def test_json_schema_and_executorch_metric_names():
    run = _run()
    d = json.loads(json.dumps(run.to_json()))
    assert d["schema"] == SCHEMA
    for key in (
        "created",
        "device",
        "versions",
        "settings",
        "gemm_peak_gflops",
        "results",
        "metrics",
    ):
        assert key in d
    r = d["results"][2]  # vmf-1g eager
    assert r["model"] == "vmf-1g" and r["runtime"] == "eager"
    for k in ("median", "p90", "min", "max", "mean", "trimmean", "n"):
        assert k in r["latency_ms"]
    assert r["latency_ms"]["n"] == 10 and r["latency_ms"]["median"] == pytest.approx(94.5)
    assert r["ratio_to_vmf_560m"] == pytest.approx(94.5 / 44.5, rel=1e-3)
    assert r["floor_ms"] == pytest.approx(2 * 1.41 / 100 * 1e3, rel=1e-3)
    assert r["paper"]["Xeon Platinum 8168 (ms)"] == 603.5
    assert r["paper"]["cpu_ratio_to_vmf_560m"] == pytest.approx(603.5 / 192.1, rel=1e-3)
    assert d["results"][-1]["error"] and d["results"][-1]["latency_ms"] is None
    # ExecuTorch benchmark records: the names its dashboards read
    m = d["metrics"]
    assert {x["metric"] for x in m} == set(METRIC_NAMES)
    assert {
        "avg_inference_latency(ms)",
        "trimmean_inference_latency(ms)",
        "model_load_time(ms)",
    } <= set(METRIC_NAMES)
    first = m[0]
    assert set(first) == {"benchmarkModel", "metric", "actualValue", "targetValue", "deviceInfo"}
    assert set(first["benchmarkModel"]) == {"name", "backend", "quantization"}
    assert set(first["deviceInfo"]) == {"device", "arch", "os", "totalMem", "availMem"}
    failed = [
        x for x in m if x["benchmarkModel"]["name"] == "x3d-s" and x["metric"] == "load_status"
    ]
    assert failed[0]["actualValue"] == 1.0


def test_json_round_trip():
    run = _run()
    back = BenchRun.from_json(json.loads(json.dumps(run.to_json())))
    assert back.to_json() == run.to_json()
    with pytest.raises(ValueError):
        BenchRun.from_json({"schema": "other"})


def test_report_files(tmp_path):
    paths = write_report(_run(), tmp_path / "rep")
    assert set(paths) == {"json", "markdown", "latency_vs_top1", "runtimes"}
    for k in ("latency_vs_top1", "runtimes"):
        assert paths[k].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert paths[k].stat().st_size > 10_000
    md = paths["markdown"].read_text()
    assert "| vmf-1g | 64x172 | 1.41 | eager/fp32 | ref | 94.5 |" in md
    assert "3.14x" in md  # paper's VMF-1G / VMF-560M on the Xeon
    assert "error: ONNX export failed: boom" in md
    assert "![latency_vs_top1.png](latency_vs_top1.png)" in md
    assert not list((tmp_path / "rep").glob(".*tmp"))  # atomic writes leave no temp files


def test_terminal_table(capsys):
    from rich.console import Console

    console = Console(width=200, force_terminal=False)
    print_table(_run(), console)
    out = capsys.readouterr().out
    assert "vmf-560m" in out and "3.14x" in out and "GEMM peak: 100.0" in out
    assert "192.1" not in out  # the paper's ms stay in report.md: a row fits 120 columns
    assert max(len(line) for line in out.splitlines()) <= 200


def test_paper_table12_is_the_papers():
    vmf560 = next(p for p in TABLE12 if p.model == "vmf-560m")
    x3d = next(p for p in TABLE12 if p.model == "x3d-s")
    assert (vmf560.cpu_ms, vmf560.gpu_ms, vmf560.top1) == (192.1, 26.1, 62.6)
    assert x3d.cpu_ms / vmf560.cpu_ms == pytest.approx(26.6, abs=0.1)  # the paper's "26x"


def test_markdown_without_results_has_no_images():
    run = _run()
    run.results = []
    assert "![" not in markdown(run)

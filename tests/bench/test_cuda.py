"""`mobilevid bench --device cuda`: argument handling, the report and its JSON
on any machine (the timing code run on the CPU at a tiny shape), and the real
GPU path where a GPU is visible (skipped here, with the reason printed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from mobilevid.bench.config import BenchConfig
from mobilevid.bench.cuda import MODES, available, bench_cuda, check
from mobilevid.bench.report import markdown, write_report
from mobilevid.errors import MobilevidError

TINY = dict(frames=8, size=32, warmup=1, runs=10)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mobilevid", *args], capture_output=True,
                          text=True)  # fmt: skip


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible: the real path runs")
@pytest.mark.parametrize("alias", ["cuda", "gpu"])
def test_no_gpu_is_one_line_exit_2(alias):
    r = _cli("bench", "--device", alias, "--variant", "560m")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs an NVIDIA GPU" in lines[0] and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("cfg", "needle"),
    [
        (BenchConfig(device="cuda", runtimes=["onnxruntime"]), "on cuda choose from"),
        (BenchConfig(device="cuda", quantize=["int8"]), "on cuda choose from"),
        (BenchConfig(device="cuda", threads=[2]), "--threads is for CPUs"),
        (BenchConfig(device="cuda", artifacts=["m.pte"]), "not --artifact"),
    ],
)
def test_bad_arguments(cfg, needle):
    with pytest.raises(MobilevidError) as e:
        check(cfg)
    assert needle in str(e.value)


def test_modes():
    assert check(BenchConfig(device="cuda")) == list(MODES)
    assert check(BenchConfig(device="cuda", runtimes=["compile-max-autotune"])) == [
        ("compile-max-autotune", "bf16")
    ]
    assert check(BenchConfig(device="cuda", quantize=["fp16"])) == [
        ("eager", "fp16"), ("eager-cl", "fp16"), ("compile", "fp16")
    ]  # fmt: skip


@pytest.fixture(scope="module")
def cpu_run():
    """The whole GPU bench on the CPU (wall-clock timer, batches up to 4)."""
    cfg = BenchConfig(device="cuda", variants=["560m", "1g"], runtimes=["eager", "eager-cl"],
                      quantize=["fp32", "bf16"], **TINY)  # fmt: skip
    return bench_cuda(cfg, device=torch.device("cpu"))


def test_report_and_json_schema(cpu_run, tmp_path):
    run = cpu_run
    assert [(r.model, r.key) for r in run.results] == [
        (m, f"{rt}/{q}") for m in ("vmf-560m", "vmf-1g")
        for rt in ("eager", "eager-cl") for q in ("fp32", "bf16")
    ]  # fmt: skip
    assert all(len(r.times_ms) == 10 and r.error is None for r in run.results)
    paths = write_report(run, tmp_path)
    d = json.loads(paths["json"].read_text())
    assert d["schema"] == "mobilevid-bench/1" and d["device"]["device"] == "cuda"
    assert d["settings"]["timer"].startswith("wall clock") and d["settings"]["batch"] == 1
    r0 = d["results"][0]
    assert r0["paper"]["V100 (ms)"] == 26.1 and r0["paper"]["gpu_ratio_to_vmf_560m"] == 1.0
    one_g = next(r for r in d["results"] if r["model"] == "vmf-1g" and r["ratio_to_vmf_560m"])
    assert one_g["paper"]["gpu_ratio_to_vmf_560m"] == round(29.0 / 26.1, 4)
    tps = [r["extra"]["throughput"] for r in d["results"] if "throughput" in r.get("extra", {})]
    assert len(tps) == 2  # one per model, on its fastest eager mode
    assert all(t["best"]["clips_per_s"] > 0 and t["tried"][0]["batch"] == 1
               for t in tps)  # fmt: skip
    md = paths["markdown"].read_text()
    assert "V100" in md and "## Throughput" in md and "CPU stand-in" in md
    assert {m["metric"] for m in d["metrics"]} >= {"median_inference_latency(ms)"}
    assert paths["latency_vs_top1"].stat().st_size > 0


def test_markdown_compares_with_the_gpu_column(cpu_run):
    md = markdown(cpu_run)
    row = next(ln for ln in md.splitlines() if ln.startswith("| vmf-1g ") and "eager/fp32" in ln)
    assert "| 29 | 1.11x |" in row  # V100 ms and /560M, not the Xeon's 603.5


@pytest.mark.skipif(available() is not None, reason=f"GPU path: {available()}")
def test_on_the_gpu():
    cfg = BenchConfig(device="cuda", variants=["560m"], **TINY)
    run = bench_cuda(cfg)
    assert all(r.error is None for r in run.results), [r.error for r in run.results]
    assert run.device["gpu"] and run.settings["timer"] == "CUDA events"

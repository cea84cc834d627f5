"""A stream model on the host bench: timed per frame with its state carried,
gated against the whole-clip model, plotted at its clip's cost."""

from __future__ import annotations

import pytest
import torch

from mobilevid.bench import BenchConfig, run_bench
from mobilevid.bench.report import write_report


@pytest.fixture(scope="module")
def stream_run(tmp_path_factory, randomized):
    from mobilevid.export import ExportConfig, export

    root = tmp_path_factory.mktemp("sb")
    torch.save(randomized("movinet-a0-stream", num_classes=400).state_dict(), root / "w.pt")
    r = export(ExportConfig(variant="movinet-a0-stream", checkpoint=root / "w.pt",
                            frames=8, size=64, output=root))  # fmt: skip
    cfg = BenchConfig(
        artifacts=[r.path], warmup=1, runs=10, threads=2, artifacts_dir=root,
        runtimes=["eager", "executorch", "onnxruntime"],
    )  # fmt: skip
    return run_bench(cfg), root


def test_stream_model_is_timed_per_frame(stream_run):
    run, _ = stream_run
    rows = {r.key: r for r in run.results}
    assert set(rows) == {"eager/fp32", "executorch/fp32"}  # whole-clip runtimes left out
    assert any("timed per frame" in n and "onnxruntime" in n for n in run.notes)
    for r in rows.values():
        assert r.input_shape == [1, 3, 1, 64, 64] and len(r.times_ms) == 10
        assert r.extra["stream"] == {"step_frames": 1, "clip_frames": 8}
    gate = rows["executorch/fp32"].extra["gate"]
    assert gate["passed"] and gate["inputs"] == 13 and gate["max_abs"] <= 1e-4


def test_report_shows_per_frame_and_the_clip_cost(stream_run, tmp_path):
    run, _ = stream_run
    paths = write_report(run, tmp_path)
    md = paths["markdown"].read_text()
    assert "1x64 per frame" in md
    assert paths["latency_vs_top1"].stat().st_size > 10_000

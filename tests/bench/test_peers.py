"""Every peer runtime of the host bench, for real, on a small shape: each is
loaded, checked against eager PyTorch before it is timed, and either timed
with its gate recorded or reported as failing it, never timed silently.
Latency values are not asserted (benchmarks are not tests)."""

from __future__ import annotations

import pytest
import torch

from mobilevid.bench import BenchConfig, run_bench
from mobilevid.bench import runtimes as rt

PEERS = ["openvino", "openvino-int8", "openvino-ir", "onnxruntime-int8", "litert", "litert-int8"]
SMALL = dict(variants=["560m"], frames=8, size=64, warmup=1, runs=10)


def _installed(runtimes: list[str]) -> list[str]:
    """The peers whose extra is here; the others are skipped, saying why."""
    have = [r for r in runtimes if rt.available(r) is None]
    for r in set(runtimes) - set(have):
        print(f"skipping peer {r}: {rt.available(r)}")
    return have


@pytest.fixture(scope="module")
def peer_run(tmp_path_factory):
    peers = _installed(PEERS)
    if not peers:
        pytest.skip("no peer installed: pip install 'mobilevid[peers]' (make test installs them)")
    cfg = BenchConfig(runtimes=["eager", *peers], threads=2,
                      artifacts_dir=tmp_path_factory.mktemp("peers"), **SMALL)  # fmt: skip
    return run_bench(cfg), peers


def _rows(run, runtime):
    return [r for r in run.results if r.runtime == runtime]


@pytest.mark.parametrize("runtime", PEERS)
def test_each_peer_is_gated_then_timed_or_reported(peer_run, runtime):
    run, peers = peer_run
    if runtime not in peers:
        pytest.skip(f"{runtime}: {rt.available(runtime)}")
    rows = _rows(run, runtime)
    assert rows, runtime
    for r in rows:
        g = r.extra.get("gate")
        assert g is not None, r.error  # loaded and checked against eager
        assert g["inputs"] == (13 if g["threshold"]["max_abs"] else 12)  # real clips (+ noise)
        if g["passed"]:
            assert r.error is None and len(r.times_ms) == 10
        else:  # failing its gate: reported as such, with no time at all
            assert "numerics gate" in r.error and r.times_ms == [] and r.stats is None


def test_float_peers_match_eager(peer_run):
    run, peers = peer_run
    floats = [r for r in run.results if r.runtime in peers and r.quantize == "fp32"]
    assert floats
    for r in floats:  # f32 pinned (OpenVINO), XNNPACK fp32 (LiteRT): same math
        assert r.extra["gate"]["passed"], (r.key, r.extra["gate"])
        assert r.extra["gate"]["max_abs"] <= 1e-4


def test_openvino_rows_are_labelled_by_precision(peer_run):
    run, peers = peer_run
    if "openvino" not in peers:
        pytest.skip(rt.available("openvino"))
    default = rt.openvino_default_precision()
    quants = [r.quantize for r in _rows(run, "openvino")]
    assert quants == (["fp32"] if default == "f32" else ["fp32", default])
    if default != "f32":  # bf16 on AVX512_BF16/AMX CPUs: gated by cosine
        assert _rows(run, "openvino")[1].extra["gate"]["threshold"]["min_cosine"] == 0.999


def test_litert_runs_one_xnnpack_partition(peer_run):
    run, _peers = peer_run
    for r in _rows(run, "litert") + _rows(run, "litert-int8"):
        assert r.extra["delegation"] == {"xnnpack_partitions": 1}, r.key
    int8 = _rows(run, "litert-int8")
    if int8:
        from mobilevid.bench.litert import op_counts

        ops = op_counts(int8[0].artifact)
        assert ops["CONV_2D[INT8xINT8]"] > 0 and ops["FULLY_CONNECTED[INT8xINT8]"] > 0
        assert not any("FLOAT32xFLOAT32" in k for k in ops)  # every conv and linear int8


def test_a_peer_that_gives_other_answers_is_not_timed(monkeypatch, tmp_path):
    """The gate can fail: a peer whose outputs are off by 1% is reported."""
    if rt.available("openvino"):
        pytest.skip(rt.available("openvino"))
    real = rt.openvino

    def off(model, threads, precision):
        run = real(model, threads, precision)
        return lambda x: torch.as_tensor(run(x)) * 1.01

    monkeypatch.setattr(rt, "openvino", off)
    cfg = BenchConfig(runtimes=["eager", "openvino"], threads=1, artifacts_dir=tmp_path, **SMALL)
    run = run_bench(cfg)
    bad = _rows(run, "openvino")[0]
    assert "failed its numerics gate" in bad.error and bad.times_ms == []
    assert len(_rows(run, "eager")[0].times_ms) == 10


def test_thread_list_measures_each_count(tmp_path):
    from mobilevid.bench.report import markdown, scaling
    from mobilevid.bench.results import BenchRun

    cfg = BenchConfig(runtimes=["eager"], threads=[1, 2], artifacts_dir=tmp_path, **SMALL)
    run = run_bench(cfg)
    assert [(r.key, r.threads) for r in run.results] == [("eager/fp32", 1), ("eager/fp32", 2)]
    assert run.thread_counts == [1, 2] and set(run.gemm_peaks) == {1, 2}
    assert all(len(r.times_ms) == 10 for r in run.results)
    (row,) = scaling(run)
    assert row[:2] == ["vmf-560m", "eager/fp32"] and row[-1].endswith("x")
    assert "## Thread scaling" in markdown(run)
    again = BenchRun.from_json(run.to_json())
    assert [r.threads for r in again.results] == [1, 2] and again.thread_counts == [1, 2]


@pytest.mark.slow
def test_runtime_without_a_thread_count_is_timed_only_at_every_core(tmp_path, ov_pte):
    """ExecuTorch's OpenVINO backend takes no thread count: a 1-thread row of
    it would really run on every core, so it is not timed there."""
    import shutil

    from mobilevid.bench.machine import default_threads

    for f in (ov_pte.path, ov_pte.sidecar):  # found where `make run` leaves files
        shutil.copy(f, tmp_path / f.name)

    if rt.available("executorch-openvino"):
        pytest.skip(rt.available("executorch-openvino"))
    if default_threads() < 2:
        pytest.skip("needs 2 usable CPUs")
    cfg = BenchConfig(runtimes=["eager", "executorch-openvino"], threads=[1, default_threads()],
                      artifacts_dir=tmp_path, **SMALL)  # fmt: skip
    run = run_bench(cfg)
    one, every = _rows(run, "executorch-openvino")
    assert every.artifact == str(tmp_path / ov_pte.path.name)  # reused, not exported again
    assert "takes no thread count" in one.error and one.times_ms == []
    assert every.error is None and len(every.times_ms) == 10
    assert every.extra["gate"]["passed"] and one.extra.get("gate") is None


def test_missing_peer_is_one_line_with_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    hidden = {"ai_edge_litert", "openvino", "onnxruntime"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n in hidden else real(n, *a)
    )
    assert "requirements-litert.txt" in rt.available("litert-int8")
    assert "mobilevid[peers]" in rt.available("openvino")
    assert "mobilevid[peers]" in rt.available("onnxruntime-int8")
    from mobilevid.errors import MobilevidError

    with pytest.raises(MobilevidError, match=r"--runtime litert: .*not installed"):
        run_bench(BenchConfig(variants=["560m"], runtimes=["litert"]))
    notes = []
    from mobilevid.bench.host import _runtimes

    chosen = _runtimes(BenchConfig(variants=["560m"]), notes)
    assert "litert" not in chosen and "eager" in chosen
    assert any(n.startswith("litert skipped:") and "\n" not in n for n in notes)

"""The fuzz targets of `make fuzz`: every input they ever crashed on, replayed
(each one a fixed bug), and each target fuzzed for a few seconds from its
seeds, so a target that no longer runs, or a crash near the seeds, fails CI."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris is a dev extra: pip install -e '.[dev]'")

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
TARGETS = ("video", "sidecar")


def _target(name: str):
    sys.path.insert(0, str(FUZZ))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(FUZZ))


@pytest.mark.parametrize(
    "case",
    sorted((FUZZ / "regressions").glob("*/*")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_regressions_stay_fixed(case):
    _target(case.parent.name).test_one_input(case.read_bytes())


@pytest.mark.parametrize("name", TARGETS)
def test_fuzz_a_few_seconds(name, tmp_path):
    corpus = tmp_path / "corpus"
    r = subprocess.run(
        # no RSS limit: Linux carries ru_maxrss across fork+exec, so libFuzzer
        # would charge this pytest process's memory to the target (make fuzz,
        # run on its own, keeps a 4 GB limit)
        [sys.executable, f"{name}.py", "-max_total_time=6", "-timeout=30", "-rss_limit_mb=0",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        cwd=FUZZ, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Done" in r.stderr and not list(tmp_path.glob("crash-*"))

"""The training smoke test of `make check-gpu`, on the CPU at a tiny shape: the
same loop, data and report; AMP and NCCL only exist on the GPU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mobilevid.errors import MobilevidError
from mobilevid.train.smoke import smoke


def test_smoke_on_the_cpu(tmp_path):
    r = smoke(tmp_path / "run", steps=60, batch=8, frames=8, size=32, workers=0)
    assert r.device == "cpu" and r.world == 1 and r.amp is None
    assert r.steps == 60 and r.clips_per_s > 0
    assert r.fell, (r.first_loss, r.last_loss)  # 2.77 -> 2.03 here: a wide margin


def test_cli_prints_one_json_line_and_refuses_bad_options(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "mobilevid.train.smoke", "--frames", "8", "--size", "32",
            "--batch", "8", "--workers", "0"]  # fmt: skip
    p = subprocess.run([*args, "--steps", "20", "--out", str(out)], capture_output=True,
                       text=True)  # fmt: skip
    assert p.returncode in (0, 1), p.stderr[-2000:]  # 1: the loss did not fall in 20 steps
    d = json.loads(p.stdout.strip().splitlines()[-1])
    assert d["steps"] == 20 and "clips_per_s" in d and "loss_fell" in d
    p = subprocess.run([*args, "--steps", "5", "--out", str(tmp_path / "x")],
                       capture_output=True, text=True)  # fmt: skip
    assert p.returncode == 2 and "at least 10" in p.stderr
    with pytest.raises(MobilevidError, match="already holds a run"):
        smoke(out, steps=20, batch=8, frames=8, size=32, workers=0)

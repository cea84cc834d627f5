"""What recognition over time costs: latency per update and the real-time factor.

A live or streaming update (the apps' live mode, ``predict --over-time``) does
two things every hop: it preprocesses the ``hop`` new camera frames (crop,
resize, normalise, each frame once) and runs one window through the model. So
an update costs ``forward + hop x preprocess``, and the real-time factor is that
over the hop's duration: below 1 the device keeps up; above 1 windows are
dropped (the apps never queue them) and the label updates less often than asked.

The forward is each result's median from the same interleaved run; the per-frame
preprocessing is measured here, on this CPU, from a 640x480 camera frame (the
apps' analysis resolution) with the reference implementation. A phone's
preprocessing is not measured by the phone bench, so phone rows count the
forward alone and say so.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mobilevid.bench.results import BenchRun
from mobilevid.bench.stats import summarize
from mobilevid.data.video import preprocess_frames
from mobilevid.data.windows import parse_hop
from mobilevid.spec import KINETICS_MEAN, KINETICS_STD

__all__ = ["CAMERA", "add_over_time", "preprocess_ms"]

CAMERA = (480, 640)  # height, width: the apps' ImageAnalysis / AVCapture resolution


def preprocess_ms(size: int, runs: int = 30) -> float:
    """Median ms to crop, resize and normalise one 640x480 RGB frame to ``size``."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(1, *CAMERA, 3), dtype=np.uint8)
    preprocess_frames(frame, size, KINETICS_MEAN, KINETICS_STD)  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        preprocess_frames(frame, size, KINETICS_MEAN, KINETICS_STD)
        times.append(1000 * (time.perf_counter() - t0))
    return summarize(times).median


def add_over_time(run: BenchRun, hop: str, fps: float, host: bool = True) -> dict[str, Any]:
    """Adds ``run.over_time``: one row per timed result at a hop of ``hop``
    (seconds, or frames with ``f``) on a ``fps`` camera; ``host`` False for a
    phone's run (its preprocessing is not measured)."""
    hop_frames = parse_hop(hop, fps)
    hop_ms = 1000 * hop_frames / fps
    prep: dict[int, float] = {}
    rows = []
    for r in run.results:
        st = r.stats
        if st is None or r.error:
            continue
        size = int(r.input_shape[-1])
        if host and size not in prep:
            prep[size] = preprocess_ms(size)
        prep_ms = hop_frames * prep[size] if host else 0.0
        update = st.median + prep_ms
        rows.append(
            {
                "model": r.model,
                "runtime": r.runtime,
                "quantization": r.quantize,
                "threads": run.threads_of(r),
                "input_shape": r.input_shape,
                "forward_ms": round(st.median, 3),
                "preprocess_ms": round(prep_ms, 3),
                "update_ms": round(update, 3),
                "real_time_factor": round(update / hop_ms, 4),
                "updates_per_s": round(1000 / update, 2),
                "keeps_up": update <= hop_ms,
            }
        )
    run.over_time = {
        "hop": hop,
        "hop_frames": hop_frames,
        "fps": fps,
        "hop_ms": round(hop_ms, 3),
        "camera": f"{CAMERA[1]}x{CAMERA[0]}",
        "preprocess_ms_per_frame": {str(k): round(v, 4) for k, v in prep.items()},
        "preprocess": "measured on this CPU (reference implementation)"
        if host
        else "not measured on the phone: forward only",
        "rows": rows,
    }
    return run.over_time

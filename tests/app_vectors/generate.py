"""Test vectors the demo apps' platform-independent cores must reproduce.

The Python side is the reference (mobilevid.data.video, mobilevid.bench.stats,
the export sidecar); the Android Java core and the iOS Swift package read these
JSON files in their unit tests and must agree within 1e-5. Regenerate with

    .venv/bin/python tests/app_vectors/generate.py

and commit the result; tests/test_app_vectors.py fails when the committed files
drift from what this script produces.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

FORMAT = "mobilevid-app-vectors/1"
HERE = Path(__file__).resolve().parent


def sampling() -> dict:
    from mobilevid.data.video import sample_indices

    cases = []
    for n, frames, stride in [
        (250, 64, None),
        (120, 64, None),
        (10, 16, None),
        (64, 64, None),
        (7, 16, None),
        (300, 16, 4),
        (40, 16, 4),
        (5, 16, 4),
        (64, 16, 2),
    ]:
        cases.append(
            {
                "video_frames": n,
                "frames": frames,
                "frame_stride": stride,
                "indices": sample_indices(n, frames, stride),
            }
        )
    return {
        "format": FORMAT,
        "what": "sample_indices(video_frames, frames, frame_stride)",
        "cases": cases,
    }


def preprocess() -> dict:
    """Small frames with awkward sizes (odd sides, up- and down-scaling, wide and
    tall) so that crop offsets and bilinear borders are all exercised."""
    from mobilevid.data.video import preprocess_frames

    rng = np.random.default_rng(0)
    cases = []
    for t, h, w, size, mean, std in [
        (2, 9, 13, 5, (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
        (1, 16, 12, 7, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        (2, 6, 6, 10, (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
        (1, 31, 40, 8, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ]:
        frames = rng.integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)
        out = preprocess_frames(frames, size, mean, std)  # (3, T, S, S)
        cases.append(
            {
                "frames": t,
                "height": h,
                "width": w,
                "size": size,
                "mean": list(mean),
                "std": list(std),
                "rgb": frames.reshape(-1).tolist(),  # (T, H, W, 3) uint8, row-major
                "expected": [round(float(v), 7) for v in out.reshape(-1)],  # (3, T, S, S)
            }
        )
    return {
        "format": FORMAT,
        "what": "preprocess_frames: RGB uint8 (T,H,W,3) -> float32 "
        "(3,T,S,S): central square crop, bilinear resize (half-pixel centres, OpenCV "
        "INTER_LINEAR on float), /255, (x-mean)/std",
        "tolerance": 1e-5,
        "cases": cases,
    }


def topk() -> dict:
    g = torch.Generator().manual_seed(0)
    cases = []
    for n, k in [(400, 5), (10, 3), (6, 6)]:
        logits = torch.randn(n, generator=g) * 3
        if n == 10:
            logits[7] = logits[2]  # a tie: the lower index comes first
        probs = torch.softmax(logits.double(), 0)
        order = sorted(range(n), key=lambda i: (-float(logits[i]), i))[:k]
        cases.append(
            {
                "logits": [round(float(v), 6) for v in logits],
                "k": k,
                "indices": order,
                "probs": [round(float(probs[i]), 9) for i in order],
            }
        )
    return {
        "format": FORMAT,
        "what": "softmax (max-subtracted, double) then top-k; ties: lower index first",
        "tolerance": 1e-5,
        "cases": cases,
    }


def stats() -> dict:
    from mobilevid.bench.stats import summarize

    rng = np.random.default_rng(1)
    cases = []
    for n in (10, 12, 13, 50):
        xs = [round(float(v), 4) for v in 20 + rng.gamma(2.0, 2.0, n)]
        s = summarize(xs)
        cases.append(
            {"times_ms": xs, **{k: round(v, 6) for k, v in s.to_json().items() if k != "n"}}
        )
    return {
        "format": FORMAT,
        "what": "benchmark statistics: median, p90 (linear between "
        "closest ranks), min, max, mean, trimmean (mean of sorted[n/10 : 9n/10], "
        "Minibench), stdev (n-1)",
        "tolerance": 1e-5,
        "cases": cases,
    }


# The bytes a sidecar vector's `artifact` record was computed over: the apps
# hash them as their core hashes a real .pte and must get the same record.
STAND_IN = bytes(range(256)) * 3


def _stand_in_record() -> dict:
    from mobilevid.export.schema import artifact_record

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "stand-in.pte"
        f.write_bytes(STAND_IN)
        return artifact_record(f)


def sidecar() -> dict:
    """A real sidecar, as `mobilevid export` writes it, and what the apps must read."""
    from mobilevid.export import ExportConfig, build, plan
    from mobilevid.export.artifact import describe

    with tempfile.TemporaryDirectory() as tmp:
        p = plan(ExportConfig(variant="vmf-560m", frames=16, size=64, output=Path(tmp)))
        meta = describe(p, build(p.source))
    meta["artifact"] = _stand_in_record()
    meta["created"] = "2026-01-01T00:00:00Z"
    meta["versions"] = {k: "pinned" for k in meta["versions"]}
    inp = meta["input"]
    expected = {
        "model": meta["model"],
        "input_name": inp["name"],
        "output_name": meta["output"]["name"],
        "input_shape": inp["shape"],
        "frames": inp["frames"],
        "size": inp["size"],
        "frame_stride": inp["frame_stride"],
        "mean": inp["mean"],
        "std": inp["std"],
        "num_classes": meta["num_classes"],
        "labels_count": len(meta["labels"]),
        "label_0": meta["labels"][0],
        "label_399": meta["labels"][399],
        "artifact_sha256": meta["artifact"]["sha256"],
        "artifact_bytes": meta["artifact"]["bytes"],
    }
    return {
        "format": FORMAT,
        "what": "parse an artifact sidecar (<artifact>.json); `artifact_hex` is a stand-in "
        ".pte whose record is the sidecar's `artifact` block (check it; flip a byte: refused)",
        "sidecar": meta,
        "artifact_hex": STAND_IN.hex(),
        "expected": expected,
    }


def stream_sidecar() -> dict:
    """A streaming program's sidecar (MoViNet-A0-Stream at 8x64): the state an app
    carries between calls."""
    from mobilevid.export import ExportConfig, build, plan
    from mobilevid.export.artifact import describe

    with tempfile.TemporaryDirectory() as tmp:
        p = plan(ExportConfig(variant="movinet-a0-stream", frames=8, size=64, output=Path(tmp)))
        meta = describe(p, build(p.source))
    meta["artifact"] = _stand_in_record()
    meta["created"] = "2026-01-01T00:00:00Z"
    meta["versions"] = {k: "pinned" for k in meta["versions"]}
    meta["labels"] = meta["labels"][:3]
    meta["num_classes"] = 3
    meta["output"]["shape"] = [1, 3]
    st = meta["stream"]
    expected = {
        "input_shape": meta["input"]["shape"],
        "step_frames": st["step_frames"],
        "clip_frames": st["clip_frames"],
        "state_names": [s["name"] for s in st["state"]],
        "state_shapes": [s["shape"] for s in st["state"]],
        "state_floats": sum(int(np.prod(s["shape"])) for s in st["state"]),
        "input_length": int(np.prod(meta["input"]["shape"])),
    }
    return {
        "format": FORMAT,
        "what": "parse a streaming program's sidecar: its `stream` block",
        "sidecar": meta,
        "expected": expected,
    }


def windows() -> dict:
    """Live mode: when a window is due, which frames it takes, what is dropped
    while a classification is in flight, and the smoothing over windows."""
    from mobilevid.data.windows import LiveSchedule, Smoother, Windows, hop_frames

    hops = [
        {"seconds": s, "fps": f, "frames": hop_frames(s, f)}
        for s, f in [(0.5, 30.0), (0.5, 25.0), (1.0, 29.97), (0.1, 24.0), (0.01, 30.0), (2.0, 60.0)]
    ]
    cases = []
    # (frames, window, stride, hop, events): "f" a frame arrives, "d" a result returns
    for frames, window, stride, hop, events in [
        (4, 4, 1, 2, "ffffffffff"),
        (3, 3, 1, 2, "fffffdfffdffff"),
        (4, 8, 2, 3, "f" * 15 + "d" + "f" * 6 + "d" + "f" * 4),
        (16, 16, 1, 8, "f" * 16 + "f" * 8 + "d" + "f" * 16),
        (8, 8, 4, 5, "f" * 29 + "d" + "f" * 10),
    ]:
        w = Windows(frames=frames, window=window, stride=stride, hop=hop)
        live = LiveSchedule(w)
        actions = []
        for e in events:
            if e == "d":
                live.on_done()
                actions.append(None)
            else:
                action, start = live.on_frame()
                idx = w.indices(start, live.received) if start >= 0 else []
                actions.append({"action": action, "start": start, "indices": idx})
        cases.append(
            {
                "frames": frames, "window": window, "stride": stride, "hop": hop,
                "span": w.span, "events": events, "actions": actions,
                "started": live.started, "dropped": live.dropped,
            }
        )  # fmt: skip
    g = torch.Generator().manual_seed(3)
    smoothing = []
    for size in (1, 3):
        s = Smoother(size)
        inputs = [torch.softmax(torch.randn(5, generator=g) * 2, 0).tolist() for _ in range(6)]
        inputs = [[round(v, 6) for v in row] for row in inputs]
        outputs = [[round(v, 9) for v in s.add(row)] for row in inputs]
        smoothing.append({"size": size, "inputs": inputs, "outputs": outputs})
    return {
        "format": FORMAT,
        "what": "live mode: hop_frames(seconds, fps) = max(1, floor(seconds*fps + 0.5)); "
        "span = (window-1)*stride + 1; after `received` frames a window is due when received >= "
        "span and (received - span) % hop == 0, starting at received - span; it takes frames "
        "start + j*stride for j in sample_indices(window, frames) (all j when window == frames); "
        "LiveSchedule classifies a due window unless one is in flight, else drops it; "
        "Smoother: mean of the last `size` probability vectors",
        "tolerance": 1e-6,
        "hops": hops,
        "cases": cases,
        "smoothing": smoothing,
    }


FILES = {
    "sampling.json": sampling,
    "preprocess.json": preprocess,
    "topk.json": topk,
    "stats.json": stats,
    "sidecar.json": sidecar,
    "stream_sidecar.json": stream_sidecar,
    "windows.json": windows,
}


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, make in FILES.items():
        path = folder / name
        path.write_text(json.dumps(make(), indent=1) + "\n", encoding="utf-8")
        out.append(path)
    return out


if __name__ == "__main__":
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(p)

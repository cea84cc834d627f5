"""One way to get class scores for a clip, whatever holds the model: a
checkpoint in eager PyTorch (plain, or QAT), or an exported .pte in the
ExecuTorch runtime. ``predict`` and ``evaluate`` use it, so a .pte and the
checkpoint it came from are scored by the same code on the same clips."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mobilevid.errors import MobilevidError
from mobilevid.spec import InputSpec

__all__ = ["DEFAULT", "Predictor", "load_predictor", "top_labels"]

DEFAULT = "builtin:vmf-560m-motion"


@dataclass
class Predictor:
    description: str
    spec: InputSpec  # the clip the model was exported / trained for
    labels: list[str]
    logits: Callable[[torch.Tensor], torch.Tensor]
    batch_size: int | None = None  # a .pte takes one clip at a time
    warning: str | None = None

    def run(self, clips: torch.Tensor) -> torch.Tensor:
        """Logits (N, classes) of N clips, one forward at a time for a .pte."""
        with torch.no_grad():
            if self.batch_size == 1 and len(clips) > 1:
                return torch.cat([self.logits(c[None]).float() for c in clips])
            return self.logits(clips).float()

    def view_logits(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, S, S) -> logits; (B, V, 3, T, S, S), V views of each video
        -> the log of the views' mean probabilities, as the papers average the
        softmax scores of their clips x crops (a log-probability is a logit:
        softmax gives the mean back)."""
        if clips.dim() == 5:
            return self.run(clips)
        b, v = clips.shape[:2]
        probs = self.run(clips.flatten(0, 1)).softmax(1).view(b, v, -1).mean(1)
        return probs.clamp_min(1e-12).log()

    def predict(
        self, video: Path, topk: int = 5, views: tuple[int, int] = (1, 1)
    ) -> dict[str, Any]:
        from mobilevid.data.video import clip_tensor
        from mobilevid.data.windows import decode_views, view_clips

        if views == (1, 1):
            x = clip_tensor(video, self.spec)
        else:
            s = self.spec
            x = view_clips(decode_views(video, s.frames, s.frame_stride, views[0]), s, views[1])[
                None
            ]
        t0 = time.perf_counter()
        logits = self.view_logits(x)[0]
        ms = 1000 * (time.perf_counter() - t0)
        out = {"video": str(video), **top_labels(logits.softmax(0), self.labels, topk)}
        if views != (1, 1):
            out["views"] = f"{views[0]}x{views[1]}"
        return out | {"ms": round(ms, 1)}


def top_labels(probs: torch.Tensor, labels: list[str], k: int) -> dict[str, Any]:
    top = probs.topk(min(k, probs.numel()))
    return {
        "top": [
            {"label": labels[i], "index": int(i), "score": round(float(p), 4)}
            for p, i in zip(top.values, top.indices.tolist(), strict=True)
        ]
    }


def load_predictor(
    variant: str | None = None, checkpoint: Path | None = None, artifact: Path | None = None
) -> Predictor:
    if artifact is not None:
        if variant or checkpoint:
            raise MobilevidError("--artifact runs the exported file: drop --variant/--checkpoint")
        return _pte(Path(artifact))
    if variant is None and checkpoint is None:
        from mobilevid.checkpoint import resolve

        if not resolve(DEFAULT).is_file():
            raise MobilevidError(
                "pass --checkpoint (trained weights), --artifact (an exported .pte), or "
                "--variant (random weights, for a smoke test)"
            )
        pred = _eager(None, Path(DEFAULT))
        pred.warning = (
            f"no model given: {DEFAULT} (VMF-560M trained on the synthetic motion set; it "
            "knows 8 motion classes, not Kinetics)"
        )
        return pred
    return _eager(variant, checkpoint)


def _pte(path: Path) -> Predictor:
    from mobilevid.export.artifact import read_sidecar
    from mobilevid.export.verify import load_pte

    if path.suffix == ".mlpackage":
        raise MobilevidError(f"{path}: Core ML models run on macOS/iOS only; use the .pte here")
    if path.suffix != ".pte":
        raise MobilevidError(f"{path}: expected an ExecuTorch .pte")
    if not path.is_file():
        raise MobilevidError(f"{path}: no such file")
    meta = read_sidecar(path)
    inp = meta["input"]
    spec = InputSpec(
        frames=int(inp["frames"]), size=int(inp["size"]), mean=tuple(inp["mean"]),
        std=tuple(inp["std"]), frame_stride=inp.get("frame_stride"),
    )  # fmt: skip
    run = load_pte(path, meta.get("stream"))  # a streaming program is fed the clip frame by frame
    return Predictor(f"{path.name} (ExecuTorch)", spec, list(meta["labels"]), run, batch_size=1)


def _eager(variant: str | None, checkpoint: Path | None) -> Predictor:
    from mobilevid.export.source import build, resolve_source

    source = resolve_source(variant, checkpoint)
    model = build(source)
    name = source.name
    warning = None if checkpoint else f"{name} with random weights: the labels mean nothing"
    desc = f"{name}" + (f" ({Path(checkpoint).name})" if checkpoint else " (random)")
    if str(checkpoint).startswith("builtin:"):
        desc = f"{name} ({checkpoint})"
    return Predictor(desc, source.spec, source.labels, model.module, warning=warning)

"""The paper's Table 12 (arXiv 2208.12257): latency of one 64-frame clip.

Kept as the paper prints it, including the models mobilevid does not ship
(MViT, Video Swin), because the latency-vs-accuracy plot shows them as the
paper's reference points.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TABLE12", "PaperLatency", "paper_latency"]

CPU = "Xeon Platinum 8168"
GPU = "V100"


@dataclass(frozen=True)
class PaperLatency:
    label: str
    gpu_ms: float
    cpu_ms: float
    top1: float
    model: str | None = None  # the mobilevid model name, when the zoo has it


TABLE12: tuple[PaperLatency, ...] = (
    PaperLatency("VMF-560M", 26.1, 192.1, 62.6, "vmf-560m"),
    PaperLatency("VMF-1G", 29.0, 603.5, 67.4, "vmf-1g"),
    PaperLatency("VMF-2G", 32.9, 937.2, 71.1, "vmf-2g"),
    PaperLatency("VMF-5G", 57.9, 1855.0, 72.9, "vmf-5g"),
    PaperLatency("X3D-S", 26.9, 5117.0, 70.8, "x3d-s"),
    PaperLatency("MViT-43G", 73.1, 6820.0, 62.0),
    PaperLatency("MViT-80G", 82.6, 8492.0, 69.8),
    PaperLatency("VideoSwin-212G", 60.8, 6948.0, 71.7),
)
REFERENCE = "vmf-560m"  # ratios are taken to this model, so shapes compare across machines


def paper_latency(model: str) -> PaperLatency | None:
    return next((p for p in TABLE12 if p.model == model), None)

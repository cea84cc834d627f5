"""One bench request; field names are the CLI's flag names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BenchConfig"]


@dataclass
class BenchConfig:
    device: str = "host"
    variants: list[str] = field(default_factory=list)
    artifacts: list[Path] = field(default_factory=list)
    runtimes: list[str] | None = None  # host: None = every runtime that runs here
    quantize: list[str] | None = None  # ExecuTorch precisions; None = fp32 and int8
    # host: every count in turn (None = usable CPUs); phone: one count (None = the runtime's)
    threads: list[int] | None = None
    warmup: int = 3
    runs: int = 12
    frames: int | None = None  # None: 64 for the models Table 12 times, else the model's own
    paper_input: bool = False  # every model at its own paper's clip (X3D-S 13 frames, not 64)
    size: int | None = None  # None: each model's own resolution
    artifacts_dir: Path = Path("artifacts")
    reexport: bool = False
    serial: str | None = None  # a phone's adb serial / an iPhone's UDID
    runner: Path | None = None  # Android: a runner binary instead of the demo app
    cooldown: float = 10.0  # seconds between models on a phone
    rest: float = 0.1  # host: idle seconds before each timed call (see bench.host)
    over_time: bool = False  # also the cost per update of recognition over time (over_time.py)
    hop: str = "0.5"  # --over-time: seconds (0.5) or frames (8f) between updates
    fps: float = 30.0  # --over-time: the camera's frame rate

    def __post_init__(self) -> None:
        # one count is a list of one: BenchConfig(threads=4) reads as it should
        if isinstance(self.threads, int):
            self.threads = [self.threads]

    @property
    def thread_count(self) -> int | None:
        """The one thread count a phone run takes (``--threads`` with one value)."""
        return self.threads[0] if self.threads else None

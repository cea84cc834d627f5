"""What a clip looks like when it reaches a network.

This sits below both ``mobilevid.data`` (which decodes videos into clips of
this shape) and ``mobilevid.models`` (which declare the clip they take), so
that decoding a video never has to load the model zoo.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINETICS_MEAN", "KINETICS_STD", "InputSpec"]

# PySlowFast/X3D's Kinetics normalisation: the paper trains from scratch on
# Kinetics with that recipe, so it is every model's default.
KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)


@dataclass(frozen=True)
class InputSpec:
    """One clip: layout (B, 3, T, H, W), RGB in [0, 1] before normalisation.

    ``frame_stride`` None means one clip spread uniformly over the whole video
    (Video Mobile-Former); an integer means T consecutive samples that many
    frames apart (ViT's 16 x 4, X3D's 13 x 6)."""

    frames: int = 64
    size: int = 224
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD
    layout: str = "BCTHW"
    frame_stride: int | None = None

    def shape(self, batch: int = 1) -> tuple[int, int, int, int, int]:
        return (batch, 3, self.frames, self.size, self.size)

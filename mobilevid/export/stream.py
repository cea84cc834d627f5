"""Streaming programs: a stream model exported as one step over the next frames.

A stream model (``tags=("stream",)`` in the zoo: MoViNet-A0/A1/A2-Stream) is
exported as ``forward(frames, *state) -> (logits, *new_state)`` instead of a
whole clip: ``frames`` is (1, 3, k, H, W) with k = ``--step-frames`` (1 by
default), the state tensors start at zeros, and each call's returned state is
the next call's input, in the same order. The sidecar's ``stream`` block lists
them (name, shape, dtype, init) so an app can carry them without knowing the
network. After the n-th frame the logits are the whole-clip causal model's on
frames 0..n-1; ``verify`` feeds a clip through the file this way and compares
the last logits with the eager model run on the whole clip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from mobilevid.errors import MobilevidError

__all__ = [
    "feed_clip",
    "is_stream",
    "state_from_meta",
    "step_example",
    "step_program",
    "stream_metadata",
]


def is_stream(tags: Sequence[str] | dict[str, Any]) -> bool:
    """A zoo entry's tags, or a sidecar: is this a streaming program?"""
    if isinstance(tags, dict):
        return bool(tags.get("stream"))
    return "stream" in tags


def step_program(model: nn.Module, step_frames: int) -> nn.Module:
    """The frames-major step of a stream model (BN and ReZero folded)."""
    from mobilevid.deploy import DeployMoViNetStep
    from mobilevid.models.movinet import MoViNet

    if not isinstance(model, MoViNet):
        raise MobilevidError(f"no streaming program for {type(model).__name__}")
    return DeployMoViNetStep(model, step_frames).eval()


def step_example(model: nn.Module, size: int, step_frames: int) -> tuple[torch.Tensor, ...]:
    """Example inputs of the step: k random frames, then the zero state."""
    frames = torch.rand(1, 3, step_frames, size, size)
    return (frames, *model.init_state(size))


def stream_metadata(model: nn.Module, size: int, step_frames: int, clip_frames: int) -> dict:
    """The sidecar's ``stream`` block."""
    specs = model.state_specs(size)
    return {
        "step_frames": step_frames,
        "clip_frames": clip_frames,
        "inputs": ["frames", *(s.name for s in specs)],
        "outputs": ["logits", *(s.name for s in specs)],
        "state": [
            dict(name=s.name, shape=list(s.shape), dtype="float32", init="zeros", what=s.what)
            for s in specs
        ],
        "protocol": (
            "call forward(frames, *state) with frames (1, 3, step_frames, H, W), "
            "preprocessed like a clip's; start with every state tensor at zeros and pass "
            "each call's returned state (outputs 1..) back in the same order. The logits "
            "after a call are the model's over every frame fed so far; start a new video "
            "from zeros again"
        ),
    }


def state_from_meta(meta: dict[str, Any]) -> list[torch.Tensor]:
    """The zero state a sidecar describes."""
    return [torch.zeros(s["shape"]) for s in meta["stream"]["state"]]


def feed_clip(
    execute: Callable[[list[torch.Tensor]], Sequence[torch.Tensor]],
    clip: torch.Tensor,
    state: list[torch.Tensor],
    step_frames: int,
    every: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Feed a (1, 3, T, H, W) clip through a step program ``step_frames`` at a
    time from ``state``; returns the last logits. ``every(n, logits)`` sees the
    logits after each call (n = frames fed). T must be a multiple of k."""
    t = clip.shape[2]
    if t % step_frames:
        raise MobilevidError(f"a {t}-frame clip does not split into steps of {step_frames} frames")
    logits = None
    for i in range(0, t, step_frames):
        out = execute([clip[:, :, i : i + step_frames].contiguous(), *state])
        logits, state = torch.as_tensor(out[0]), [torch.as_tensor(s) for s in out[1:]]
        if every is not None:
            every(i + step_frames, logits)
    assert logits is not None
    return logits

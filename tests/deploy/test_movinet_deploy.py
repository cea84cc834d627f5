"""MoViNet's frames-major forms compute the eager model's function: the whole
clip (base and causal) and the streaming step with its carried state."""

import pytest
import torch

from mobilevid.deploy import DeployMoViNet, DeployMoViNetStep, to_deployable


@pytest.mark.parametrize("name", ["movinet-a0", "movinet-a0-stream", "movinet-a1"])
@pytest.mark.parametrize("batch", [1, 2])
def test_clip_form_equals_eager(name, batch, randomized):
    m = randomized(name)
    d = to_deployable(m)
    assert isinstance(d, DeployMoViNet)
    x = torch.rand(batch, 3, 5, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(d(x), m(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k", [1, 2])
def test_step_carries_state_like_the_eager_stream(k, randomized):
    m = randomized("movinet-a0-stream")
    step = DeployMoViNetStep(m, k)
    x = torch.rand(1, 3, 6, 48, 48)
    state, ref_state = m.init_state(48), m.init_state(48)
    with torch.no_grad():
        for t in range(0, 6, k):
            out, *state = step(x[:, :, t : t + k], *state)
            ref, ref_state = m.stream(x[:, :, t : t + k], ref_state)
            torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(out, m(x[:, :, : t + k]), rtol=1e-4, atol=1e-5)
        for a, b in zip(state, ref_state, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="frame"):
        step(torch.rand(1, 3, k + 1, 48, 48), *state)


def test_step_needs_a_stream_model(randomized):
    with pytest.raises(ValueError, match="stream"):
        DeployMoViNetStep(randomized("movinet-a0"))


def test_running_means_stay_bounded_over_a_long_stream(randomized):
    """States are means, not sums: after 300 frames they are no larger than a
    frame's values, so an int8 program calibrated on 50 frames still fits them."""
    m = randomized("movinet-a0-stream")
    step = DeployMoViNetStep(m, 1)
    state = m.init_state(32)
    frames = torch.rand(1, 3, 10, 32, 32)
    peaks = []
    with torch.no_grad():
        for t in range(300):
            _, *state = step(frames[:, :, t % 10 : t % 10 + 1], *state)
            peaks.append(max(s.abs().max().item() for s in state[:-1]))
    assert state[-1].item() == 300
    assert max(peaks[50:]) <= 1.5 * max(peaks[:50])

"""MoViNet-A0/A1/A2 base and stream: shapes, gradients, causality, streaming
state, and the paper's params/MACs.

Shapes run on 6x64x64 clips; the counts run at the paper's 50x172^2 / 50x224^2
because that is what the figures describe (A0 and A1 take ~2 s each here)."""

from __future__ import annotations

import pytest
import torch

from mobilevid.counting import profile
from mobilevid.models import create_model, list_models, model_info
from mobilevid.models.movinet import A0, A1, A2, make_divisible

SMALL = (2, 3, 6, 64, 64)


def test_zoo_has_base_and_stream_for_a0_a1_a2():
    names = list_models(family="movinet")
    assert names == [
        "movinet-a0", "movinet-a1", "movinet-a2",
        "movinet-a0-stream", "movinet-a1-stream", "movinet-a2-stream",
    ]  # fmt: skip
    assert list_models(tag="stream") == names[3:]
    for n in names:
        spec = model_info(n).input
        assert (spec.frames, spec.size) == (50, 224 if "a2" in n else 172)
        assert spec.mean == (0.0, 0.0, 0.0) and spec.std == (1.0, 1.0, 1.0)  # RGB in [0, 1]


@pytest.mark.parametrize("name", ["movinet-a0", "movinet-a1-stream"])
def test_forward_shape_and_every_param_learns(name, randomized):
    m = randomized(name).train()
    out = m(torch.rand(SMALL))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.logsumexp(dim=1).sum().backward()
    assert not [n for n, p in m.named_parameters() if p.grad is None]


def test_stream_model_is_causal_and_base_is_not(randomized):
    x = torch.rand(1, 3, 6, 64, 64)
    y = x.clone()
    y[:, :, 4:] = torch.rand(1, 3, 2, 64, 64)  # change the future
    with torch.no_grad():
        for name, causal in (("movinet-a0-stream", True), ("movinet-a0", False)):
            m = randomized(name)
            a, b = m(x[:, :, :4]), m(y[:, :, :4])
            torch.testing.assert_close(a, b)  # same frames in, same answer
            # the first 4 frames' features, inside a 6-frame clip
            fa = m.blocks(m.stem(x))[:, :, :4]
            fb = m.blocks(m.stem(y))[:, :, :4]
            assert torch.allclose(fa, fb, atol=1e-6) is causal


@pytest.mark.parametrize("k", [1, 2, 3])
def test_streaming_frame_by_frame_equals_the_whole_clip(k, randomized):
    m = randomized("movinet-a0-stream")
    x = torch.rand(2, 3, 6, 64, 64)
    with torch.no_grad():
        state = m.init_state(64, batch=2)
        for t in range(0, 6, k):
            out, state = m.stream(x[:, :, t : t + k], state)
            ref = m(x[:, :, : t + k])  # the whole-clip model on the frames so far
            torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert state[-1].item() == 6


def test_state_specs_match_what_stream_returns(randomized):
    m = randomized("movinet-a0-stream")
    specs = m.state_specs(64)
    with torch.no_grad():
        _, state = m.stream(torch.rand(1, 3, 1, 64, 64), m.init_state(64))
    assert [tuple(s.shape) for s in state] == [s.shape for s in specs]
    buffers = [s for s in specs if s.name.endswith("_buffer")]
    # one buffer per temporal kernel > 1 (A0: 3+3+4+1 = 11 layers), one SE mean per block
    assert len(buffers) == sum(kt > 1 for _, layers in A0.stages for _, (kt, _), _ in layers)
    assert len([s for s in specs if s.name.endswith("_se_mean")]) == len(m.blocks) == 15
    assert specs[-2].name == "head_mean" and specs[-1].name == "frames_seen"
    with pytest.raises(ValueError, match="stream"):
        create_model("movinet-a0").state_specs(64)


def test_block_specs_follow_the_reference():
    """TF Model Garden's BLOCK_SPECS: layers per stage and head widths."""
    for cfg, depths, project in (
        (A0, (1, 3, 3, 4, 4), 480),
        (A1, (2, 4, 5, 6, 7), 600),
        (A2, (3, 5, 5, 6, 7), 640),
    ):
        assert tuple(len(layers) for _, layers in cfg.stages) == depths
        assert cfg.project == project and cfg.head == 2048
    assert [make_divisible(v / 4) for v in (24, 80, 184, 344, 544)] == [8, 24, 48, 88, 136]


@pytest.mark.parametrize("name", ["movinet-a0", "movinet-a1", "movinet-a0-stream"])
def test_counts_match_the_movinet_paper_within_5pct(name):
    r = profile(name)
    assert r.input_shape == (1, 3, 50, 172, 172)
    assert abs(r.params_dev_pct) <= 5.0 and abs(r.gmacs_dev_pct) <= 5.0, r


def test_a2_counts_are_the_released_spec():
    """A2's released spec counts 5.25M / 11.56 G at 50x224^2 (600 classes), over
    the paper's 4.8M / 10.3 G (documented in models/movinet.py and the model card):
    pin our count so a change to the spec is noticed."""
    r = profile("movinet-a2")
    assert r.input_shape == (1, 3, 50, 224, 224)
    assert abs(r.params / 5_249_562 - 1) < 1e-6 and abs(r.gmacs / 11.558 - 1) < 1e-3


def test_stream_costs_a_little_more_than_base():
    """Causal SE runs its two 1x1x1 convs on every frame instead of once per
    clip: the paper's 2.71 -> 2.73 G for A0."""
    base, stream = profile("movinet-a0"), profile("movinet-a0-stream")
    assert base.params == stream.params
    assert 0 < stream.gmacs - base.gmacs < 0.05

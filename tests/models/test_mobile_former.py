"""Behaviour of the Video Mobile-Former pieces, on small clips."""

import pytest
import torch

from mobilevid.models import create_model, list_models
from mobilevid.models.mobile_former import (
    DynamicReLU,
    FormerToMobile,
    MobileFormerBlock,
    MobileToFormer,
    VideoMobileFormer,
)

SMALL = (2, 3, 16, 64, 64)


def test_tokens_are_for_the_whole_clip_not_per_frame():
    m = create_model("vmf-1g").eval()
    for t in (8, 16):
        _, z = m.forward_features(torch.randn(1, 3, t, 64, 64))
        assert z.shape == (1, 6, 128)


def test_stem_temporal_stride():
    for name, s in (("vmf-560m", 8), ("vmf-1g", 4)):
        m = create_model(name).eval()
        assert m.stem(torch.randn(1, 3, 64, 32, 32)).shape[2] == 64 // s


def test_temporal_downsampling_at_each_stage_ends_at_the_same_length():
    stem = create_model("vmf-560m").eval()
    stages = create_model("vmf-560m", temporal_downsample="stages").eval()
    x = torch.randn(1, 3, 32, 64, 64)
    (a, _), (b, _) = stem.forward_features(x), stages.forward_features(x)
    assert a.shape == b.shape == (1, 128, 4, 2, 2)
    assert stages.stem(x).shape[2] == 32  # no temporal stride at the stem


def test_frame_level_dyrelu_gives_each_frame_its_own_slopes():
    act = DynamicReLU(8, token_dim=16, reduction=4, frame_level=True)
    torch.nn.init.normal_(act.fc2.weight, std=1.0)
    x = torch.randn(1, 8, 1, 4, 4).repeat(1, 1, 2, 1, 1)  # two identical frames ...
    x[:, :, 1] += 3.0  # ... but different per-frame statistics
    y = act(x, torch.randn(1, 16))
    ratio0, ratio1 = y[:, :, 0] / x[:, :, 0], y[:, :, 1] / x[:, :, 1]
    assert not torch.allclose(ratio0, ratio1)
    clip = DynamicReLU(8, token_dim=16, reduction=4, frame_level=False)
    assert clip.fc1.in_features == 16 and act.fc1.in_features == 24


def test_dyrelu_starts_as_relu():
    act = DynamicReLU(8, 16, 4, frame_level=True)
    torch.nn.init.zeros_(act.fc2.weight)
    torch.nn.init.zeros_(act.fc2.bias)
    x = torch.randn(2, 8, 3, 4, 4)
    torch.testing.assert_close(act(x, torch.randn(2, 16)), torch.relu(x))


def test_bridges_project_only_the_token_side():
    m2f, f2m = MobileToFormer(32, 128), FormerToMobile(48, 128)
    assert {n for n, _ in m2f.named_parameters()} == {
        "q.weight",
        "q.bias",
        "proj.weight",
        "proj.bias",
    }
    assert {n for n, _ in f2m.named_parameters()} == {"k.weight", "k.bias", "v.weight", "v.bias"}
    x, z = torch.randn(2, 32, 2, 4, 4), torch.randn(2, 6, 128)
    assert m2f(x, z).shape == z.shape
    y = torch.randn(2, 48, 2, 4, 4)
    assert f2m(y, z).shape == y.shape


def test_former_to_mobile_attends_over_tokens_per_position():
    """Each local position attends over the tokens on its own: changing one
    position's features changes only that position's update."""
    f2m = FormerToMobile(8, 16).eval()
    z = torch.randn(1, 6, 16)
    x = torch.randn(1, 8, 2, 3, 3)
    x2 = x.clone()
    x2[0, :, 1, 2, 2] += 1.0
    d = (f2m(x2, z) - f2m(x, z)) - (x2 - x)
    mask = torch.zeros_like(d, dtype=torch.bool)
    mask[0, :, 1, 2, 2] = True
    assert d[~mask].abs().max() < 1e-6 and d[mask].abs().max() > 1e-4


@pytest.mark.parametrize("dw", ["3d", "2+1d", "2d"])
def test_depthwise_conv_types(dw):
    m = create_model("vmf-2g", dw_conv=dw).eval()
    kernels = {tuple(c.kernel_size) for c in m.blocks[0].mobile.dw}
    expected = {"3d": {(3, 3, 3)}, "2+1d": {(1, 3, 3), (3, 1, 1)}, "2d": {(1, 3, 3)}}[dw]
    assert kernels == expected
    assert m(torch.randn(*SMALL)).shape == (2, 400)


@pytest.mark.parametrize("act", ["relu", "dyrelu", "frame_dyrelu"])
def test_activation_knob(act):
    m = create_model("vmf-2g", activation=act).eval()
    dys = [x for x in m.modules() if isinstance(x, DynamicReLU)]
    assert (len(dys) == 0) == (act == "relu")
    assert all(d.frame_level == (act == "frame_dyrelu") for d in dys)
    assert m(torch.randn(*SMALL)).shape == (2, 400)


def test_number_of_tokens_knob():
    m = create_model("vmf-2g", num_tokens=2)
    assert m.tokens.shape == (1, 2, 128)


def test_mobile3d_is_vmf_without_former_and_bridges():
    m = create_model("mobile3d-2g")
    assert isinstance(m, VideoMobileFormer) and not m.cfg.former
    assert not hasattr(m, "tokens")
    assert not any(
        isinstance(x, (MobileToFormer, FormerToMobile, DynamicReLU)) for x in m.modules()
    )
    assert all(isinstance(b, MobileFormerBlock) and not b.has_former for b in m.blocks)
    assert m.head.fc.in_features == m.head.conv.out_channels  # no token concat


@pytest.mark.parametrize("name", [n for n in list_models() if not n.startswith("vit")])
def test_every_model_small_forward_backward(name):
    m = create_model(name, num_classes=7).train()
    y = m(torch.randn(*SMALL))
    assert y.shape == (2, 7)
    y.square().mean().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None]
    assert not missing


def test_rejects_wrong_input_rank():
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        create_model("vmf-560m")(torch.randn(1, 3, 64, 64))


def test_deterministic_init():
    torch.manual_seed(0)
    a = create_model("vmf-560m").state_dict()
    torch.manual_seed(0)
    b = create_model("vmf-560m").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_per_frame_tokens_table6():
    """token_scope='frame': M tokens for each frame after the stem, each frame's
    tokens reading only that frame. With one frame after the stem it is the
    global-token model with the same weights."""
    import torch

    from mobilevid.deploy import to_deployable
    from mobilevid.errors import MobilevidError
    from mobilevid.models import create_model

    per_frame = create_model("vmf-2g", num_classes=5, token_scope="frame").eval()
    glob = create_model("vmf-2g", num_classes=5).eval()
    glob.load_state_dict(per_frame.state_dict())
    with torch.no_grad():
        one = torch.rand(2, 3, 4, 64, 64)  # stem stride 4: one frame
        torch.testing.assert_close(per_frame(one), glob(one))
        many = torch.rand(2, 3, 8, 64, 64)  # two frames: now they differ
        (xf, zf), (xg, zg) = per_frame.forward_features(many), glob.forward_features(many)
        assert zf.shape[0] == 2 * zg.shape[0] == 4
        assert (xf - xg).abs().max() > 1e-3
        # frame 1's tokens never see frame 0: change frame 0, frame 1's features hold
        # (the 3x3x3 depthwise convs mix frames, so only the first block is checked)
        x = per_frame.stem(many)
        z = per_frame.tokens.expand(2 * x.shape[2], -1, -1)
        z1 = per_frame.blocks[0].mobile_to_former(x, z)
        y = x.clone()
        y[:, :, 0] += 1.0
        z2 = per_frame.blocks[0].mobile_to_former(y, z)
        torch.testing.assert_close(
            z1.view(2, 2, *z1.shape[1:])[:, 1], z2.view(2, 2, *z2.shape[1:])[:, 1]
        )
    with pytest.raises(MobilevidError, match="temporal_downsample"):
        create_model("vmf-2g", token_scope="frame", temporal_downsample="stages")
    with pytest.raises(MobilevidError, match="no deployable form"):
        to_deployable(per_frame)


@pytest.mark.parametrize("scope", ["video", "frame"])
def test_fx_symbolic_trace_for_both_token_scopes(scope):
    """Core ML's QAT traces the model with torch.fx: the token layout must come
    from the config, not from a Python `if` on a traced shape (CI once failed
    on exactly that)."""
    model = create_model("vmf-2g", num_classes=5, token_scope=scope).eval()
    traced = torch.fx.symbolic_trace(model)
    clip = torch.rand(1, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(traced(clip), model(clip))

"""The frames-major form computes the same function as the 3D model."""

import itertools

import pytest
import torch
from torch import nn

from mobilevid.deploy import FramesConv, is_deployable, to_deployable
from mobilevid.deploy.ops import clip_to_frames, frames_to_clip
from mobilevid.errors import MobilevidError
from mobilevid.models import create_model, list_models, model_info


def _randomize(model: nn.Module) -> nn.Module:
    """BN statistics and DY-ReLU slopes away from their init, so folding and the
    dynamic activation are really exercised."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d | nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.uniform_(-0.2, 0.2, generator=g)
    for n, p in model.named_parameters():
        if ".act" in n and "fc2" in n:
            p.data.normal_(0, 0.3, generator=g)
    return model.eval()


CONV_CASES = [
    # (in, out, kernel, stride, padding, groups)
    (4, 6, (1, 1, 1), (1, 1, 1), (0, 0, 0), 1),
    (3, 8, (1, 3, 3), (1, 2, 2), (0, 1, 1), 1),
    (8, 8, (3, 3, 3), (1, 1, 1), (1, 1, 1), 8),
    (8, 8, (3, 3, 3), (2, 2, 2), (1, 1, 1), 8),
    (8, 8, (3, 1, 1), (1, 1, 1), (1, 0, 0), 8),
    (8, 8, (8, 1, 1), (8, 1, 1), (0, 0, 0), 8),
    (8, 8, (4, 1, 1), (4, 1, 1), (0, 0, 0), 8),
    (8, 8, (5, 1, 1), (1, 1, 1), (2, 0, 0), 8),
    (4, 6, (3, 3, 3), (2, 1, 1), (1, 1, 1), 1),
    (8, 8, (1, 3, 3), (2, 1, 1), (0, 1, 1), 8),
]


@pytest.mark.parametrize(("cin", "cout", "k", "s", "p", "g"), CONV_CASES)
@pytest.mark.parametrize(("b", "t"), [(1, 16), (2, 11)])
def test_frames_conv_equals_conv3d_with_bn(cin, cout, k, s, p, g, b, t):
    conv = nn.Conv3d(cin, cout, k, s, p, groups=g, bias=True)
    bn = _randomize(nn.Sequential(nn.BatchNorm3d(cout)))[0]
    x = torch.randn(b, cin, t, 9, 10)
    with torch.no_grad():
        ref = bn(conv(x))
        fc = FramesConv(conv, bn)
        y = fc(x.transpose(1, 2).reshape(b * t, cin, 9, 10), b)
        phases = fc.phases(t, b)  # > 1: taps as blocks of phase-major frames
        y3 = fc(clip_to_frames(x, phases), b, phases)
        fc.pad_frames_axis = False  # the general reshape path
        y2 = fc(x.transpose(1, 2).reshape(b * t, cin, 9, 10), b)
    torch.testing.assert_close(frames_to_clip(y, b), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y2, y, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y3, y, rtol=1e-5, atol=1e-5)
    assert fc.out_frames(t) == ref.shape[2]
    assert phases == (k[0] if b == 1 and k[0] == s[0] > 1 and t % s[0] == 0 else 1)


VARIANTS = (
    # vit: tests/deploy/test_vit_deploy.py (its clips must tile into tubelets, and
    # STA's default r = 64 needs larger clips than these); uniformer, swin: no deployable
    # form yet (the TSNet-backbones issue)
    [(n, {}) for n in list_models() if model_info(n).family not in ("vit", "uniformer", "swin")]
    + [
        ("vmf-1g", dict(dw_conv=dw, activation=a))
        for dw, a in itertools.product(("2d", "2+1d"), ("relu", "dyrelu"))
    ]
    + [("vmf-560m", dict(temporal_downsample="stages")), ("vmf-2g", dict(num_tokens=2))]
)


@pytest.mark.parametrize(("name", "overrides"), VARIANTS, ids=lambda v: str(v))
def test_deployable_matches_the_3d_model(name, overrides):
    model = _randomize(create_model(name, num_classes=11, **overrides))
    deploy = to_deployable(model)
    assert not any(isinstance(m, nn.Conv3d | nn.BatchNorm3d) for m in deploy.modules())
    for shape in [(2, 3, 16, 64, 64), (1, 3, 13, 48, 40)]:
        x = torch.randn(shape)
        with torch.no_grad():
            torch.testing.assert_close(deploy(x), model(x), rtol=1e-5, atol=2e-5)


def test_callers_model_is_untouched_and_conversion_is_idempotent():
    model = create_model("vmf-560m").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    deploy = to_deployable(model)
    assert model.training and not deploy.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert is_deployable(deploy) and to_deployable(deploy) is deploy
    # metadata travels in records (mobilevid.export.BuiltModel), never on modules
    assert not any(hasattr(m, a) for m in (model, deploy) for a in ("model_name", "input_spec"))


def test_unknown_model_type_is_a_user_error():
    with pytest.raises(MobilevidError):
        to_deployable(nn.Linear(2, 2))

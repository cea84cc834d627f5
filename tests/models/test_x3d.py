"""X3D-S: shape, gradients, registry, export and the paper's params/MACs.

Shape/backward/export run on a 4x64x64 clip so CI's 2-core CPU stays fast; the
count runs at the paper's 13x160x160 because that is what the figures describe.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import mobilevid.models.x3d  # noqa: F401  (registers x3d-s)
from mobilevid.counting import count
from mobilevid.errors import MobilevidError
from mobilevid.models._registry import create_model, model_info
from mobilevid.models.x3d import X3D, x3d_s

SMALL = (2, 3, 4, 64, 64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_forward_shape() -> None:
    model = x3d_s(num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.randn(SMALL))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("zero_init_last_bn", [True, False])
def test_backward_reaches_every_param(zero_init_last_bn: bool) -> None:
    model = x3d_s(num_classes=5, zero_init_last_bn=zero_init_last_bn).train()
    model(torch.randn(SMALL)).logsumexp(dim=1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    if not zero_init_last_bn:  # zero-init BN legitimately blocks branch grads at step 0
        dead = [n for n, p in model.named_parameters() if not p.grad.abs().sum() > 0]
        assert not dead


def test_registry() -> None:
    model = create_model("x3d-s", num_classes=10)
    assert isinstance(model, X3D)
    assert model.fc.out_features == 10
    assert model_info("x3d-s").input.shape() == (1, 3, 13, 160, 160)
    assert model_info("X3D_S").family == "x3d"


def test_overrides() -> None:
    assert x3d_s(dropout=0.0).dropout.p == 0.0
    with pytest.raises(TypeError):
        x3d_s(not_an_option=1)
    with pytest.raises(MobilevidError):
        create_model("x3d-s", not_an_option=1)


def test_only_exportable_ops() -> None:
    """The Conv3d -> Conv2d rewrite and Core ML only handle these module types."""
    leaves = (nn.Conv3d, nn.BatchNorm3d, nn.ReLU, nn.SiLU, nn.Linear, nn.Dropout)
    allowed = (X3D, nn.Sequential, nn.Identity, *leaves)
    model = x3d_s()
    odd = {type(m).__name__ for m in model.modules() if not isinstance(m, allowed)}
    assert odd <= {"Stem", "Bottleneck", "SqueezeExcite"}


def test_torch_export() -> None:
    model = x3d_s().eval()
    ep = torch.export.export(model, (torch.randn(1, 3, 4, 64, 64),))
    targets = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert not any("adaptive" in t for t in targets)


def test_paper_counts() -> None:
    model = x3d_s()
    info = model_info("x3d-s")
    counts = count(model, info.input.shape(1))
    assert counts.params_m == pytest.approx(info.paper.params_m, rel=0.02)
    assert counts.gmacs == pytest.approx(info.paper.gmacs, rel=0.05)

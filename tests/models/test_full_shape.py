"""The claim "every variant works at the paper's input" needs the paper's input:
(1, 3, 64, R, R) forward, backward and torch.export, once per registered model."""

import pytest
import torch

from mobilevid.models import create_model, list_models, model_info

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list_models())
def test_full_shape_forward_backward_export(name):
    spec = model_info(name).input
    frames = 64  # the paper's clip for every model, X3D-S included (Table 12)
    x = torch.randn(1, 3, frames, spec.size, spec.size)
    m = create_model(name).eval()  # eval: BN1d in the head cannot train on batch 1
    logits = m(x)
    assert logits.shape == (1, 400) and torch.isfinite(logits).all()
    logits.logsumexp(-1).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    ep = torch.export.export(m, (x,))
    torch.testing.assert_close(ep.module()(x), logits, rtol=1e-4, atol=1e-4)

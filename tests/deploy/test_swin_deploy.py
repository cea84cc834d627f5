"""Video Swin-T and TSNet(VideoSwin-T) in XNNPACK form: the same function as
eager (windows, shifts, padding, per-window selection), and a .pte the real
ExecuTorch runtime runs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mobilevid.deploy import DeploySwin, to_deployable
from mobilevid.errors import MobilevidError
from mobilevid.models import create_model


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("videoswin-t", {}),
        ("tsnet-videoswin-t", {"keep": 0.5}),
        ("tsnet-videoswin-t", {"keep": 0.3, "sparse_stages": [1, 2, 3, 4]}),
        ("tsnet-videoswin-t", {"policy": "ffn"}),
    ],
    ids=str,
)
@pytest.mark.parametrize("batch", [1, 2])
def test_deployable_matches_eager(name, overrides, batch, randomize):
    """16x56²: 8x14x14 tokens, whole 8x7x7 windows in stage 1 (shifted every second
    block), windows shrunk to the map later. Padding is not used here: padded
    tokens are equal zeros, whose tied scores the eager argsort and the runtime's
    topk may break differently."""
    torch.manual_seed(0)
    model = randomize(create_model(name, num_classes=11, **overrides))
    deploy = to_deployable(model)
    assert isinstance(deploy, DeploySwin)
    assert not any(isinstance(m, nn.Conv3d | nn.LayerNorm) for m in deploy.modules())
    x = torch.randn(batch, 3, 16, 56, 56)
    with torch.no_grad():
        torch.testing.assert_close(deploy(x), model(x), rtol=1e-4, atol=1e-6)


def test_dense_padding_matches_eager():
    """A clip that tiles into neither patches nor windows (6x56x72)."""
    model = create_model("videoswin-t", num_classes=5).eval()
    x = torch.randn(1, 3, 6, 56, 72)
    with torch.no_grad():
        torch.testing.assert_close(to_deployable(model)(x), model(x), rtol=1e-4, atol=1e-6)


def test_random_selection_has_no_deployable_form():
    with pytest.raises(MobilevidError, match="training baseline"):
        to_deployable(create_model("tsnet-videoswin-t", selection="random"))


def test_pte_runs_in_the_runtime_and_matches_eager(tmp_path):
    from mobilevid.export import ExportConfig, export
    from mobilevid.export.verify import verify

    r = export(
        ExportConfig(
            variant="tsnet-videoswin-t",
            target="executorch",
            frames=16,
            size=56,
            output=tmp_path,
            overrides={"depths": [2, 2, 2, 2]},  # a plain and a shifted block per stage
        )
    )
    report = verify(r.path, real=False, n_random=2)
    # gated by cosine: a near-tied score may keep another token (export/verify.py)
    assert report.runtime == "executorch" and report.passed
    assert report.thresholds == {"max_abs": None, "min_cosine": 0.9999}
    assert all(c.top1_ref == c.top1_out for c in report.checks)
    heavy = ("linear", "bmm", "convolution", "softmax", "gelu", "mul", "rsqrt")
    portable = r.delegation["portable_ops"]
    assert not [op for op in portable if any(f"aten_{h}" in op for h in heavy)], portable
    # 6 sparsified blocks (2 per stage 1-3) x (attention, FFN) x (order, inverse)
    assert portable["aten_topk_default"] == 6 * 2 * 2

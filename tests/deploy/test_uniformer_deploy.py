"""UniFormer-S and TSNet(UniFormer-S) in frames-major form: the same function as
eager (dense, and every TSNet policy), and a .pte the real ExecuTorch runtime
runs, where only TSNet's sorts and row copies leave XNNPACK."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mobilevid.deploy import DeployUniFormer, to_deployable
from mobilevid.errors import MobilevidError
from mobilevid.models import create_model

# two blocks per attention stage and narrow stages keep the export small
SMALL = {"depths": [1, 1, 2, 2], "dims": [32, 64, 128, 128]}


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("uniformer-s", {}),
        ("tsnet-uniformer-s", {"keep": 0.5}),
        ("tsnet-uniformer-s", {"keep": 0.3, "policy": "shared"}),
        ("tsnet-uniformer-s", {"policy": "ffn"}),
        ("tsnet-uniformer-s", {"keep": 1.0, "stage_keep": [0.8, 0.6, 0.5, 0.5]}),
    ],
    ids=str,
)
@pytest.mark.parametrize("batch", [1, 2])
def test_deployable_matches_eager(name, overrides, batch, randomize):
    torch.manual_seed(0)
    model = randomize(create_model(name, num_classes=11, **overrides))
    deploy = to_deployable(model)
    assert isinstance(deploy, DeployUniFormer)
    gone = (nn.Conv3d, nn.BatchNorm3d, nn.LayerNorm)  # XNNPACK has none of them
    assert not any(isinstance(m, gone) for m in deploy.modules())
    x = torch.randn(batch, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(deploy(x), model(x), rtol=1e-4, atol=2e-5)


def test_random_selection_has_no_deployable_form():
    with pytest.raises(MobilevidError, match="training baseline"):
        to_deployable(create_model("tsnet-uniformer-s", selection="random"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """TSNet/0.5 only: its program holds every dense op too (stages 1-2, the DPE,
    the head); the dense .pte is checked in `make check-full`."""
    from mobilevid.export import ExportConfig, export

    return export(
        ExportConfig(
            variant="tsnet-uniformer-s",
            target="executorch",
            frames=4,
            size=64,
            output=tmp_path_factory.mktemp("uniformer"),
            overrides={**SMALL, "keep": 0.5},
        )
    )


def test_pte_runs_in_the_runtime_and_matches_eager(exported):
    from mobilevid.export.verify import verify

    report = verify(exported.path, real=False, n_random=2)
    assert report.runtime == "executorch" and report.passed
    assert max(c.max_abs for c in report.checks) <= 1e-4


def test_only_selection_leaves_xnnpack(exported):
    # per sparsified block and sub-layer: the order and its inverse, two row copies
    assert exported.delegation["portable_ops"] == {
        "aten_topk_default": 2 * 2 * 4,
        "aten_index_select_default": 2 * 2 * 4,
    }

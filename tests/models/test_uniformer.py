"""UniFormer-S: the paper's counts, the reference code's parameter names (so its
released state dicts load), and the local/global split TSNet relies on."""

from __future__ import annotations

import torch

from mobilevid.counting import count
from mobilevid.models import create_model, model_info
from mobilevid.models.uniformer import CBlock, SABlock, load_reference_state_dict


def test_counts_match_the_paper():
    """21.4M params and 41.8 GFLOPs (multiply-adds) per 16x224x224 view."""
    paper = model_info("uniformer-s").paper
    c = count(create_model("uniformer-s").eval(), (1, 3, 16, 224, 224))
    assert abs(c.params / 1e6 - paper.params_m) / paper.params_m < 0.01
    assert abs(c.gmacs - paper.gmacs) / paper.gmacs < 0.01  # 41.66 here


def _reference_keys(depths=(3, 4, 8, 3)) -> set[str]:
    """The state-dict keys of the reference implementation (Sense-X/UniFormer,
    video_classification/slowfast/models/uniformer.py, split=False, std=False),
    written out from its module layout."""
    keys = set()
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    for i in range(1, 5):
        keys |= {f"patch_embed{i}.proj.{p}" for p in ("weight", "bias")}
        keys |= {f"patch_embed{i}.norm.{p}" for p in ("weight", "bias")}
        for j in range(depths[i - 1]):
            b = f"blocks{i}.{j}"
            keys |= {f"{b}.pos_embed.{p}" for p in ("weight", "bias")}
            keys |= {f"{b}.mlp.fc{k}.{p}" for k in (1, 2) for p in ("weight", "bias")}
            if i <= 2:  # CBlock
                keys |= {f"{b}.norm{k}.{p}" for k in (1, 2) for p in bn}
                convs = ("conv1", "conv2", "attn")
                keys |= {f"{b}.{c}.{p}" for c in convs for p in ("weight", "bias")}
            else:  # SABlock
                keys |= {f"{b}.norm{k}.{p}" for k in (1, 2) for p in ("weight", "bias")}
                keys |= {f"{b}.attn.{c}.{p}" for c in ("qkv", "proj") for p in ("weight", "bias")}
    keys |= {f"norm.{p}" for p in bn} | {"head.weight", "head.bias"}
    return keys


def test_parameter_names_are_the_reference_codes():
    m = create_model("uniformer-s")
    assert set(m.state_dict()) == _reference_keys()


def test_a_reference_checkpoint_loads_unchanged():
    """As the reference trainer saves it (PySlowFast: {"model_state": ...},
    DDP's "module." prefixes): unwrapped, it loads strictly and gives the same
    outputs as the model that wrote it."""
    torch.manual_seed(3)
    src = create_model("uniformer-s", num_classes=5).eval()
    saved = {"model_state": {f"module.{k}": v for k, v in src.state_dict().items()}}
    dst = create_model("uniformer-s", num_classes=5).eval()
    dst.load_state_dict(load_reference_state_dict(saved), strict=True)
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(dst(x), src(x))


def test_local_then_global_stages():
    m = create_model("uniformer-s")
    assert all(isinstance(b, CBlock) for b in [*m.blocks1, *m.blocks2])
    assert all(isinstance(b, SABlock) for b in [*m.blocks3, *m.blocks4])
    assert [len(getattr(m, f"blocks{i}")) for i in range(1, 5)] == [3, 4, 8, 3]
    assert [b.attn.heads for b in m.blocks3] == [5] * 8  # 320 / 64

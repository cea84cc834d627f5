"""Video Swin-T: the paper's counts, the reference checkpoint layout, and the
shifted windows (a window no larger than the map is global attention)."""

from __future__ import annotations

import torch

from mobilevid.counting import count
from mobilevid.models import create_model, model_info
from mobilevid.models.swin import _shift_mask, load_reference_state_dict


def test_counts_match_the_paper():
    """28.2M params and 88 GFLOPs (multiply-adds) per 32x224x224 view."""
    paper = model_info("videoswin-t").paper
    c = count(create_model("videoswin-t").eval(), (1, 3, 32, 224, 224))
    assert abs(c.params / 1e6 - paper.params_m) / paper.params_m < 0.01  # 28.16
    assert abs(c.gmacs - paper.gmacs) / paper.gmacs < 0.01  # 87.76


def test_an_mmaction_checkpoint_loads():
    """As mmaction saves it: {"state_dict": {"backbone.…", "cls_head.fc_cls.…"}}
    with the relative position indices as buffers; mapped, it loads strictly
    and gives the outputs of the model that wrote it."""
    torch.manual_seed(5)
    src = create_model("videoswin-t", num_classes=6).eval()
    ref = {}
    for k, v in src.state_dict().items():
        ref["cls_head.fc_cls." + k[5:] if k.startswith("head.") else "backbone." + k] = v
    for name, mod in src.named_modules():
        if hasattr(mod, "relative_position_index"):
            ref[f"backbone.{name}.relative_position_index"] = mod.relative_position_index
    dst = create_model("videoswin-t", num_classes=6).eval()
    dst.load_state_dict(load_reference_state_dict({"state_dict": ref}), strict=True)
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(dst(x), src(x))


def test_shift_mask_separates_regions():
    """A 4x4x4 map, 2x2x2 windows shifted by 1: an inner window is one region
    (no mask); a window on one wrapped face holds two regions of 4 tokens
    (2 x 16 unmasked pairs); the wrapped corner holds 8 regions of one token
    (only each token with itself)."""
    m = _shift_mask((4, 4, 4), (2, 2, 2), (1, 1, 1))
    assert m.shape == (8, 8, 8)
    assert [int((w == 0).sum()) for w in m] == [64, 32, 32, 16, 32, 16, 16, 8]
    assert (m[-1] == 0).equal(torch.eye(8, dtype=torch.bool))
    assert set(m.unique().tolist()) == {-100.0, 0.0}

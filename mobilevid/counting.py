"""Parameters and multiply-adds, counted the way the papers count them.

The papers report "FLOPs" that are multiply-adds (Mobile-Former's convention), so
we count MACs = FlopCounterMode FLOPs / 2. BN, activations and other elementwise
work are not counted, as in the papers. Attention must be visible to the counter:
mobilevid writes attention as explicit matmuls, and the count also forces the
MATH SDPA kernel because the fused CPU kernels report 0 FLOPs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["Counts", "ProfileRow", "count", "count_params", "profile", "tsnet_table"]


@dataclass(frozen=True)
class Counts:
    params: int
    macs: int

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count(model: nn.Module, input_shape: tuple[int, ...]) -> Counts:
    """Count one forward pass on a zero clip of ``input_shape`` (a registered
    model's is ``model_info(name).input.shape(1)``). The model's train/eval
    mode is restored."""
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(input_shape)
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
            model(x)  # with autograd on: FlopCounterMode's module tracker breaks under no_grad
        flops = fc.get_total_flops()
    finally:
        model.train(was_training)
    return Counts(params=count_params(model), macs=flops // 2)


@dataclass(frozen=True)
class ProfileRow:
    """A model's counts beside the paper's; JSON-ready through ``asdict``."""

    variant: str
    family: str
    input_shape: tuple[int, ...]
    params: int
    gmacs: float
    paper_params: int | None
    paper_gmacs: float | None
    params_dev_pct: float | None
    gmacs_dev_pct: float | None
    paper_top1: float | None
    overrides: dict[str, object] | None = None
    label: str | None = None
    # multi-view rows (TSNet's tables): the paper's figures are per clip x views
    views: int = 1
    cut_pct: float | None = None  # vs the dense backbone, ours
    paper_cut_pct: float | None = None

    @property
    def total_gmacs(self) -> float:
        return self.gmacs * self.views


def _dev(ours: float, paper: float | None) -> float | None:
    return None if not paper else round((ours / paper - 1.0) * 100.0, 2)


def profile(
    name: str,
    input_shape: tuple[int, ...] | None = None,
    paper_gmacs: float | None = None,
    paper_top1: float | None = None,
    label: str | None = None,
    **overrides: object,
) -> ProfileRow:
    """Count a registered model (with overrides) against the paper's figures.
    ``paper_gmacs``/``paper_top1`` replace the registry's figures, for ablation rows."""
    from mobilevid.models import create_model, model_info

    info = model_info(name)
    p = info.paper
    classes = p.num_classes if p and not overrides and paper_gmacs is None else 400
    model = create_model(info.name, num_classes=classes, **overrides)
    shape = tuple(input_shape or info.input.shape(1))
    c = count(model, shape)
    if overrides or paper_gmacs is not None:  # an ablation: the variant's params no longer apply
        pp, pg, pt = None, paper_gmacs, paper_top1
    else:
        pp = round(p.params_m * 1e6) if p and p.params_m else None
        pg, pt = (p.gmacs, p.top1) if p else (None, None)
    return ProfileRow(
        variant=info.name,
        family=info.family,
        input_shape=shape,
        params=c.params,
        gmacs=round(c.gmacs, 4),
        paper_params=pp,
        paper_gmacs=pg,
        params_dev_pct=_dev(c.params, pp),
        gmacs_dev_pct=_dev(c.gmacs, pg),
        paper_top1=pt,
        overrides=dict(overrides) or None,
        label=label,
    )


def tsnet_table(rows=None, progress=None) -> list[ProfileRow]:
    """TSNet's Tables 1, 2, 3 and 5 recounted, as the papers count them: GFLOPs
    (multiply-adds) per view times the views, and the cut against the dense
    backbone in percent, beside the paper's. ``progress(label)`` is called
    before each count."""
    from mobilevid.models.tsnet import TSNET_TABLES

    rows = TSNET_TABLES if rows is None else rows
    out: list[ProfileRow] = []
    dense: dict[str, tuple[float, float]] = {}  # name -> (ours, paper) per view
    for r in rows:
        if progress:
            progress(f"Table {r.table}: {r.label}")
        per_view = r.paper_gflops / r.views
        p = profile(r.model, paper_gmacs=per_view, paper_top1=r.paper_top1,
                    label=f"Table {r.table}: {r.label}", **dict(r.overrides))  # fmt: skip
        if r.model == r.dense and not r.overrides:
            dense[r.dense] = (p.gmacs, per_view)
        if r.dense not in dense:
            base = profile(r.dense)
            dense[r.dense] = (base.gmacs, base.paper_gmacs or per_view)
        ours0, paper0 = dense[r.dense]
        out.append(dataclasses.replace(
            p, views=r.views,
            cut_pct=round((p.gmacs / ours0 - 1) * 100, 2),
            paper_cut_pct=round((per_view / paper0 - 1) * 100, 2),
        ))  # fmt: skip
    return out

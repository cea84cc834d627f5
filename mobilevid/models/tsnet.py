"""TSNet's selector for hierarchical backbones (UniFormer-S, Video Swin-T).

Wang et al., "TSNet: Token Sparsification for Efficient Video Transformer",
Appl. Sci. 2023. Each sparsified block has a selector before its attention (MSA)
and one before its FFN: ``score = Z·W`` on the pre-norm tokens. In training a
Gumbel-softmax over {keep, drop} gives a mask M; attention is masked (a dropped
token is no key) and the branch is ``layer(X)·M + Linear(X)·(1 − M)``. At
inference the tokens are split by score with a static k = round(γ·N): the kept
ones take the sub-layer, the rest a Linear(dim, dim), and both groups are
**reassembled at their original positions**, the step a hierarchical backbone
needs (its next block starts with a convolution over the map, or a window
partition of it).

The ablation knobs of the paper's Tables 3-5 are config fields (``--set``):

- ``policy``: ``separate`` (TSNet: own MSA and FFN selectors), ``shared`` (one
  selector, the FFN reuses the MSA's tokens: "MSA/FFN"), ``msa`` (MSA_only),
  ``ffn`` (FFN_only);
- ``stage_keep``: (R1, R2) per sparsified stage, flat: Table 5's
  ``L R1 R2 H R1 R2`` is ``stage_keep=[R1, R2, R1, R2]``;
- ``blocks``: only these sparsified blocks (1-based over all of them, e.g.
  UniFormer-S's 11) get selectors: Table 4's single-block placement.

A ratio of 1 puts no selector at all, so ``keep=1`` is the dense backbone
exactly. The ViT-S family keeps its own copy of this (``models/vit.py``), whose
parameter names these blocks share (``select_attn``, ``linear_mlp``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mobilevid.errors import MobilevidError
from mobilevid.models.vit import usage_loss

__all__ = [
    "POLICIES",
    "TSNET_TABLES",
    "TSNetRow",
    "TSNetFields",
    "TSNetModel",
    "TSNetSparse",
    "block_ratios",
    "is_tsnet_param",
]

POLICIES = ("separate", "shared", "msa", "ffn")
SELECTIONS = ("learned", "random")


@dataclass(frozen=True)
class TSNetFields:
    """TSNet's fields, mixed into a backbone's config (see the module docstring)."""

    keep: float = 0.5  # γ: the share of tokens each selector keeps
    policy: str = "separate"
    stage_keep: tuple[float, ...] | None = None
    blocks: tuple[int, ...] | None = None
    selection: str = "learned"  # "random": Table 1's baseline (same counts, random tokens)
    tau: float = 1.0  # Gumbel-softmax temperature
    hard: bool = True  # straight-through 0/1 masks in training, as the inference split
    usage_weight: float = 10.0  # λ of the usage loss

    def check_tsnet(self, depths: Sequence[int]) -> None:
        """Validate against the sparsified stages' depths; lists from ``--set``
        become tuples (the config stays hashable)."""
        for name in ("stage_keep", "blocks"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                if not isinstance(value, list | tuple):
                    raise MobilevidError(f"TSNet {name} must be a list, got {value!r}")
                object.__setattr__(self, name, tuple(value))
        ratios = [self.keep, *(self.stage_keep or ())]
        if any(not isinstance(r, int | float) or not 0.0 < r <= 1.0 for r in ratios):
            raise MobilevidError(f"TSNet keep ratios must be in (0, 1], got {ratios}")
        if self.stage_keep is not None and len(self.stage_keep) != 2 * len(depths):
            raise MobilevidError(
                f"stage_keep holds (MSA, FFN) ratios for each of the {len(depths)} sparsified "
                f"stages: {2 * len(depths)} numbers, e.g. [0.8, 0.6, 1, 1]; got {self.stage_keep}"
            )
        n = sum(depths)
        if self.blocks is not None and any(
            not isinstance(b, int) or not 1 <= b <= n for b in self.blocks
        ):
            raise MobilevidError(
                f"TSNet blocks are 1-based among the {n} sparsified, got {self.blocks}"
            )
        if self.policy not in POLICIES:
            raise MobilevidError(
                f"policy must be one of {', '.join(POLICIES)}, got {self.policy!r}"
            )
        if (
            self.policy == "shared"
            and self.stage_keep
            and any(
                self.stage_keep[i] != self.stage_keep[i + 1]
                for i in range(0, len(self.stage_keep), 2)
            )
        ):
            raise MobilevidError("policy=shared uses one ratio per stage: R1 must equal R2")
        if self.selection not in SELECTIONS:
            raise MobilevidError(
                f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}"
            )
        if self.tau <= 0:
            raise MobilevidError(f"Gumbel temperature tau must be > 0, got {self.tau}")


def block_ratios(cfg: TSNetFields, depths: Sequence[int]) -> list[tuple[float, float]]:
    """(MSA, FFN) keep ratio of every block of the sparsified stages, in order."""
    out: list[tuple[float, float]] = []
    for s, depth in enumerate(depths):
        r1, r2 = cfg.stage_keep[2 * s : 2 * s + 2] if cfg.stage_keep else (cfg.keep, cfg.keep)
        if cfg.policy == "msa":
            r2 = 1.0
        elif cfg.policy == "ffn":
            r1 = 1.0
        for _ in range(depth):
            on = cfg.blocks is None or len(out) + 1 in cfg.blocks
            out.append((float(r1), float(r2)) if on else (1.0, 1.0))
    return out


def _take(x: Tensor, idx: Tensor) -> Tensor:
    """x (B, N, C), idx (B, M) -> (B, M, C)."""
    return x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


# layer(tokens, training mask or None, kept positions or None) -> tokens
Layer = Callable[[Tensor, Tensor | None, Tensor | None], Tensor]


class TSNetSparse:
    """Mixin for a block with TSNet selectors: ``add_selectors`` creates them,
    ``branch`` runs one sub-layer the TSNet way. The block keeps its own
    backbone forward; a ratio of 1 calls the sub-layer unchanged."""

    cfg: TSNetFields
    ratios: tuple[float, float]

    def add_selectors(self, dim: int, cfg: TSNetFields, ratios: tuple[float, float]) -> None:
        self.cfg, self.ratios = cfg, ratios
        self.masks: list[tuple[Tensor, float]] = []  # the last training forward's (B, K) masks
        for which, r in zip(("attn", "mlp"), ratios, strict=True):
            if r >= 1.0:
                continue
            if which == "attn" or cfg.policy != "shared":
                setattr(self, f"select_{which}", nn.Linear(dim, 1))
            setattr(self, f"linear_{which}", nn.Linear(dim, dim))

    def zero_init(self) -> None:
        """Dropped tokens start by skipping the sub-layer (the linears are 0), so
        fine-tuning starts from the pretrained function of the kept tokens."""
        for name in ("linear_attn", "linear_mlp"):
            lin = getattr(self, name, None)
            if lin is not None:
                nn.init.zeros_(lin.weight)
                nn.init.zeros_(lin.bias)

    def _mask(self, score: Tensor) -> Tensor:
        """Gumbel-softmax over {keep, drop} with P(keep) = sigmoid(score): (B, N)."""
        logp = torch.stack([F.logsigmoid(score), F.logsigmoid(-score)], dim=-1)
        return F.gumbel_softmax(logp, tau=self.cfg.tau, hard=self.cfg.hard)[..., 0]

    def branch(self, which: str, h: Tensor, layer: Layer, batch: int,
               policy: Tensor | None = None) -> tuple[Tensor, Tensor | None]:  # fmt: skip
        """The residual update of sub-layer ``which`` for tokens h (B', N, C), B' a
        multiple of the clip batch (windows), at h's positions; and the decisions
        (training mask or inference order) that ``policy=shared`` hands the FFN."""
        r = self.ratios[0 if which == "attn" else 1]
        if which == "attn":
            self.masks = []
        if r >= 1.0:
            return layer(h, None, None), policy
        select: nn.Module | None = getattr(self, f"select_{which}", None)
        linear: nn.Module = getattr(self, f"linear_{which}")
        if self.training and self.cfg.selection == "learned":
            m = policy  # shared: the MSA's decisions
            if select is not None:
                m = self._mask(select(h).squeeze(-1))
                self.masks.append((m.reshape(batch, -1), r))
            mk = m.unsqueeze(-1)
            return layer(h, m, None) * mk + linear(h) * (1 - mk), m
        b, n, _ = h.shape
        k = max(1, round(r * n))  # static: depends on the shape only
        order = policy
        if select is not None:
            if self.cfg.selection == "random":
                score = torch.rand(b, n, device=h.device)
            else:
                score = select(h).squeeze(-1)  # sigmoid is monotone: rank the logits
            order = score.argsort(dim=1, descending=True)  # (B', N), kept first
        hs = _take(h, order)
        out = torch.cat([layer(hs[:, :k], None, order[:, :k]), linear(hs[:, k:])], dim=1)
        return _take(out, order.argsort(dim=1)), order  # reassembled at the original positions


def is_tsnet_param(name: str) -> bool:
    return any(f".{m}." in name for m in ("select_attn", "select_mlp", "linear_attn", "linear_mlp"))


class TSNetModel:
    """Training contract of a TSNet backbone, as ViT-S's: ``param_groups(lr)``
    (the new modules at lr, the backbone at 0.01x), ``aux_loss()`` after each
    forward, ``usage()`` for logging."""

    cfg: TSNetFields

    def tsnet_blocks(self) -> Iterator[TSNetSparse]:
        return (m for m in self.modules() if isinstance(m, TSNetSparse))  # type: ignore[attr-defined]

    def _masks(self) -> list[tuple[Tensor, float]]:
        return [mr for blk in self.tsnet_blocks() for mr in blk.masks]

    def usage(self) -> Tensor | None:
        """Per clip, the share of tokens kept over all selectors of the last
        training forward (B,), or None outside learned training."""
        masks = self._masks()
        return torch.cat([m for m, _ in masks], dim=1).mean(dim=1) if masks else None

    def aux_loss(self) -> Tensor:
        """λ·(mean(M) − γ)²: the paper's loss over every selector's tokens. With
        several targets (Table 5's per-stage ratios) one term per target,
        weighted by its share of the tokens."""
        groups: dict[float, list[Tensor]] = {}
        for m, r in self._masks():
            groups.setdefault(r, []).append(m)
        if not groups:
            return self.head.bias.new_zeros(())  # type: ignore[attr-defined]
        cat = {r: torch.cat(ms, dim=1) for r, ms in groups.items()}
        total = sum(m.shape[1] for m in cat.values())
        return sum(
            m.shape[1] / total * usage_loss(m, r, self.cfg.usage_weight) for r, m in cat.items()
        )  # type: ignore[return-value]

    def selector_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if is_tsnet_param(n)]  # type: ignore[attr-defined]

    def backbone_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not is_tsnet_param(n)]  # type: ignore[attr-defined]

    def param_groups(self, lr: float = 1e-4, backbone_lr_scale: float = 0.01) -> list[dict]:
        """Optimizer groups as in TSNet §4.2: selectors and dropped-token linears
        at ``lr`` (1e-4), the pretrained backbone at ``backbone_lr_scale``·lr."""
        return [
            {"name": "tsnet", "params": self.selector_parameters(), "lr": lr},
            {
                "name": "backbone",
                "params": self.backbone_parameters(),
                "lr": lr * backbone_lr_scale,
            },
        ]


# ------------------------------------------------------------------------- paper tables
@dataclass(frozen=True)
class TSNetRow:
    """One GFLOPs row of TSNet's tables: a registered model plus overrides, the
    views the paper sums over, and its figures (GFLOPs over all views)."""

    table: str
    label: str
    model: str
    overrides: tuple[tuple[str, object], ...]
    views: int
    paper_gflops: float
    paper_top1: float | None
    dense: str  # the backbone the cut is measured against


def _row(table: str, label: str, model: str, views: int, gflops: float, top1: float | None,
         dense: str, **kw: object) -> TSNetRow:  # fmt: skip
    return TSNetRow(table, label, model, tuple(kw.items()), views, gflops, top1, dense)


_U, _S = "tsnet-uniformer-s", "tsnet-videoswin-t"
# `mobilevid profile --pruning`: UniFormer-S at 16x224², 1 clip x 4 crops;
# VideoSwin-T at 32x224², 3 clips x 4 crops (the papers' testing views).
TSNET_TABLES: tuple[TSNetRow, ...] = (
    _row("1", "UniFormer-S", "uniformer-s", 4, 167.0, 80.8, "uniformer-s"),
    *(
        _row("1", f"TSNet/{k}", _U, 4, g, t, "uniformer-s", keep=k)
        for k, g, t in ((0.8, 144.4, 80.5), (0.5, 99.2, 79.5), (0.3, 74.0, 79.1))
    ),
    _row("2", "VideoSwin-T", "videoswin-t", 12, 1056.0, 78.8, "videoswin-t"),
    *(
        _row("2", f"TSNet(VideoSwin-T)/{k}", _S, 12, g, t, "videoswin-t", keep=k)
        for k, g, t in ((0.8, 871.9, 78.3), (0.5, 628.1, 77.0), (0.3, 484.8, 76.2))
    ),
    _row("3", "MSA_only/0.5", _U, 4, 121.4, 79.8, "uniformer-s", policy="msa"),
    _row("3", "FFN_only/0.5", _U, 4, 140.5, 80.2, "uniformer-s", policy="ffn"),
    _row("3", "MSA/FFN/0.5 (shared)", _U, 4, 98.4, 79.3, "uniformer-s", policy="shared"),
    _row("3", "TSNet/0.5 (separate)", _U, 4, 99.2, 79.5, "uniformer-s"),
    *(
        _row(
            "5",
            f"L {a} {b} H {c} {d}",
            _U,
            4,
            g,
            t,
            "uniformer-s",
            keep=1.0,
            stage_keep=(a, b, c, d),
        )
        for a, b, c, d, g, t in (
            (0.6, 1, 1, 1, 134.8, 79.0),
            (1, 0.2, 1, 1, 134.2, 79.5),
            (0.8, 0.6, 1, 1, 132.4, 79.3),
            (0.8, 0.8, 0.5, 0.5, 134.1, 79.6),
            (0.9, 0.6, 0.5, 0.5, 134.9, 80.0),
        )
    ),
)

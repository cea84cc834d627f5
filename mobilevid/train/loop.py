"""Fine-tuning, as one function: AdamW, warm-up + cosine, label smoothing, AMP on
GPUs, DDP under torchrun, top-1/top-5 every epoch.

Resuming is exact. Everything random is a function of saved state: the shuffle
of epoch e is seeded by (seed, e), a clip's augmentation by (seed, e, index),
the DataLoader draws its worker seeds from its own generator, and the global
torch RNG (dropout) is saved with the optimizer and scheduler. A run killed at
step k and resumed takes the same steps, on the same clips, as one that was
never stopped. Checkpoints are written atomically, so the file under the final
name is always a complete one.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from mobilevid.checkpoint import atomic_write, load_checkpoint, load_training_state
from mobilevid.data.datasets import collate, dataset_spec, open_dataset
from mobilevid.errors import MobilevidError
from mobilevid.train import distributed as D

__all__ = ["EvalResult", "TrainConfig", "TrainResult", "evaluate", "train"]

QAT_BACKENDS = ("xnnpack", "coreml")
SYNTHETIC_INPUT = (16, 64)  # frames, size: what the built-in set is made for


@dataclass
class TrainConfig:
    """One training run; field names are the CLI's flags."""

    variant: str = "vmf-560m"
    train: str = "synthetic"  # CSV, folder per class, or synthetic[:N]
    val: str | None = "synthetic"
    out: Path = Path("runs/train")
    epochs: int = 10
    batch_size: int = 16  # global: split across torchrun processes
    lr: float = 2e-3  # peak, after warm-up
    weight_decay: float = 0.05
    warmup: float = 0.1  # fraction of all steps
    label_smoothing: float = 0.1
    frames: int | None = None  # default: the model's input spec
    size: int | None = None
    workers: int = 2
    save_every: int = 100  # steps, besides every epoch
    resume: bool = False
    init: Path | None = None  # weights to start from (e.g. a Kinetics checkpoint)
    qat: str | None = None  # xnnpack | coreml
    flip: bool = True
    seed: int = 0
    amp: bool = True  # GPU only
    max_steps: int | None = None  # stop after this many steps (smoke runs, tests)
    overrides: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        for name in ("epochs", "batch_size", "save_every"):
            if getattr(self, name) < 1:
                raise MobilevidError(f"--{name.replace('_', '-')} must be positive")
        if self.lr <= 0:
            raise MobilevidError("--lr must be positive")
        if not 0 <= self.warmup < 1:
            raise MobilevidError("--warmup is a fraction of the steps, in [0, 1)")
        if not 0 <= self.label_smoothing < 1:
            raise MobilevidError("--label-smoothing must be in [0, 1)")
        if self.qat and self.qat not in QAT_BACKENDS:
            raise MobilevidError(f"--qat must be one of {', '.join(QAT_BACKENDS)}")
        if self.init and self.resume:
            raise MobilevidError("--init starts a new run and --resume continues one: pick one")


@dataclass
class EvalResult:
    top1: float
    top5: float
    loss: float
    clips: int
    skipped: int


@dataclass
class TrainResult:
    out: Path
    best: Path
    last: Path
    history: list[dict]
    seconds: float
    skipped: int


class _ResumableSampler(Sampler[int]):
    """DistributedSampler (seeded shuffle, one shard per rank) that can start
    part-way through an epoch. With drop_last, step s of world W at per-rank
    batch b covers the same global clips as step s of world 1 at batch W*b."""

    def __init__(self, n: int, d: D.Dist, seed: int):
        self.inner = DistributedSampler(
            range(n), num_replicas=d.world, rank=d.rank, shuffle=True, seed=seed, drop_last=True
        )
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.inner.set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[int]:
        it = iter(self.inner)
        for _ in range(self.start):
            next(it)
        return it

    def __len__(self) -> int:
        return len(self.inner) - self.start


def _schedule(total: int, warmup: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f


def _param_groups(model: nn.Module, weight_decay: float, lr: float) -> list[dict]:
    """The model's own groups if it has them (TSNet: new selectors at lr, the
    pretrained backbone at 0.01 lr), each split so that biases and norm scales
    (1-D) get no weight decay, as timm does."""
    groups = model.param_groups(lr) if hasattr(model, "param_groups") else [
        {"params": list(model.parameters()), "lr": lr}
    ]  # fmt: skip
    out = []
    for g in groups:
        ps = [p for p in g["params"] if p.requires_grad]
        out.append({**g, "params": [p for p in ps if p.ndim > 1], "weight_decay": weight_decay})
        out.append({**g, "params": [p for p in ps if p.ndim <= 1], "weight_decay": 0.0})
    return [g for g in out if g["params"]]


def _load_init(model: nn.Module, path: Path) -> list[str]:
    """Start from pretrained weights; a classifier of another size (Kinetics-400
    -> your classes) is left freshly initialised. Returns the keys not loaded."""
    ckpt = load_checkpoint(path)
    own = model.state_dict()
    take = {k: v for k, v in ckpt.state_dict.items() if k in own and v.shape == own[k].shape}
    if len(take) < len(own) // 2:
        raise MobilevidError(
            f"{path} shares only {len(take)} of {len(own)} tensors with "
            f"{getattr(model, 'model_name', 'the model')}: is it for another variant?"
        )
    model.load_state_dict(take, strict=False)
    return sorted(set(own) - set(take))


def _loader(ds: Dataset, batch: int, sampler, workers: int, seed: int, drop_last: bool):
    return DataLoader(
        ds, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=collate,
        drop_last=drop_last, generator=torch.Generator().manual_seed(seed),
        persistent_workers=False, prefetch_factor=2 if workers else None,
    )  # fmt: skip


@torch.no_grad()
def evaluate(
    predict: Callable[[torch.Tensor], torch.Tensor],
    ds: Dataset,
    batch_size: int = 8,
    workers: int = 0,
    d: D.Dist | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """Top-1/top-5 of any ``clips -> logits`` function: an eager model, a QAT
    graph, an ExecuTorch or Core ML runner. Each rank takes every world-th clip
    and the counts are summed, so no clip is counted twice."""
    d = d or D.Dist()
    idx = list(range(d.rank, len(ds), d.world))
    loader = _loader(torch.utils.data.Subset(ds, idx), batch_size, None, workers, 0, False)
    sums = torch.zeros(5, dtype=torch.float64)  # correct1, correct5, loss, n, skipped
    for b in loader:
        sums[4] += b.skipped
        n = len(b.labels)
        if n:
            logits = predict(b.clips).float().cpu()
            k = min(5, logits.shape[1])
            top = logits.topk(k, dim=1).indices
            hit = top == b.labels[:, None]
            sums[0] += hit[:, 0].sum()
            sums[1] += hit.any(1).sum()
            sums[2] += F.cross_entropy(logits, b.labels, reduction="sum")
            sums[3] += n
        if progress:
            progress(n + b.skipped)
    if d.enabled:
        torch.distributed.all_reduce(sums)
    n = max(1.0, float(sums[3]))
    return EvalResult(
        float(sums[0] / n), float(sums[1] / n), float(sums[2] / n), int(sums[3]), int(sums[4])
    )


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    m = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    return {k: v.detach().cpu() for k, v in m.state_dict().items()}


def train(cfg: TrainConfig, ui: Any = None) -> TrainResult:
    """Run (or resume) one training run; returns where the checkpoints are.

    ``ui`` receives progress callbacks (see :class:`mobilevid.train.TrainUI`);
    only rank 0 reports."""
    from mobilevid.models import create_model, model_info
    from mobilevid.train.qat import prepare_qat

    cfg.check()
    d = D.setup()
    try:
        if cfg.batch_size % d.world:
            raise MobilevidError(
                f"--batch-size {cfg.batch_size} is the global batch: it must divide by the "
                f"{d.world} processes"
            )
        info = model_info(cfg.variant)
        frames, size = cfg.frames, cfg.size
        if str(cfg.train).startswith("synthetic"):  # a reduced input unless asked otherwise
            frames, size = frames or SYNTHETIC_INPUT[0], size or SYNTHETIC_INPUT[1]
        spec = dataset_spec(info.input, frames, size)
        train_ds = open_dataset(cfg.train, spec, train=True, flip=cfg.flip, seed=cfg.seed)
        classes = train_ds.classes
        val_ds = (
            open_dataset(cfg.val, spec, train=False, classes=classes, seed=cfg.seed)
            if cfg.val
            else None
        )
        per_rank = cfg.batch_size // d.world
        steps_per_epoch = len(train_ds) // cfg.batch_size
        if steps_per_epoch == 0:
            raise MobilevidError(
                f"{len(train_ds)} training clips make no full batch of {cfg.batch_size}"
            )
        total = cfg.epochs * steps_per_epoch
        out = Path(cfg.out)
        last, best_path = out / "last.pt", out / "best.pt"

        if d.main:  # temp files of checkpoints a killed run was writing
            for tmp in out.glob(".*.tmp"):
                shutil.rmtree(tmp, ignore_errors=True)
        resume_state = None
        if cfg.resume:
            if not last.is_file():
                raise MobilevidError(f"--resume: {last} does not exist (nothing to resume)")
            resume_state = load_training_state(last)
            _check_resumable(resume_state, cfg, last)
        elif last.exists():
            raise MobilevidError(
                f"{out} already holds a run: pass --resume to continue it or choose another --out"
            )

        torch.manual_seed(cfg.seed)
        model = create_model(info.name, num_classes=len(classes), **cfg.overrides)
        notes = []
        if cfg.init:
            fresh = _load_init(model, cfg.init)
            if fresh:
                notes.append(f"--init: {len(fresh)} tensors not taken (e.g. {fresh[0]})")
        example = torch.zeros(per_rank, 3, spec.frames, spec.size, spec.size)
        if cfg.qat:
            # activation ranges from a few training clips (same on every rank)
            calib = [train_ds[i] for i in range(min(16, len(train_ds)))]
            calib = [c[0] for c in calib if c is not None]
            model = prepare_qat(model, cfg.qat, example, calib)
        model = D.convert_sync_batchnorm(model, d).to(d.device)
        opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay, cfg.lr), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(total, int(cfg.warmup * total)))
        use_amp = cfg.amp and d.device.type == "cuda"
        amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

        step, history, best_top1, skipped_total = 0, [], -1.0, 0
        if resume_state is not None:
            model.load_state_dict(resume_state["model"])
            opt.load_state_dict(resume_state["optimizer"])
            sched.load_state_dict(resume_state["scheduler"])
            if "scaler" in resume_state:
                scaler.load_state_dict(resume_state["scaler"])
            ts = resume_state["train_state"]
            step, best_top1 = int(ts["step"]), float(ts["best_top1"])
            skipped_total = int(ts.get("skipped", 0))
            history = json.loads(ts.get("history", "[]"))
            torch.set_rng_state(ts["torch_rng"][d.rank % len(ts["torch_rng"])])
        else:
            torch.manual_seed(cfg.seed + d.rank)  # per-rank dropout masks
        if d.enabled:
            model = nn.parallel.DistributedDataParallel(
                model, device_ids=[d.device.index] if d.device.type == "cuda" else None
            )

        meta = {
            "variant": info.name, "num_classes": len(classes), "labels": classes,
            "overrides": dict(cfg.overrides), "frames": spec.frames, "size": spec.size,
            "qat": cfg.qat,
        }  # fmt: skip

        def save(path: Path, full: bool, epoch_done: bool = False) -> None:
            rngs = _gather_rng(d)
            if not d.main:
                return
            obj: dict[str, Any] = {"model": _state(model), **meta, "step": step}
            if full:
                obj |= {
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "scaler": scaler.state_dict(),
                    "train_state": {
                        "step": step,
                        "best_top1": best_top1,
                        "torch_rng": rngs,
                        "skipped": skipped_total,
                        "history": json.dumps(history),
                        "world": d.world,
                    },
                    "config": _jsonable(cfg),
                }
            atomic_write(path, lambda tmp: torch.save(obj, tmp))

        aux_loss = getattr(model.module if d.enabled else model, "aux_loss", None)
        sampler = _ResumableSampler(len(train_ds), d, cfg.seed)
        limit = min(total, cfg.max_steps) if cfg.max_steps else total
        if d.main and ui:
            ui.start(
                cfg,
                info.name,
                spec,
                len(train_ds),
                len(val_ds) if val_ds else 0,
                total,
                step,
                notes,
            )
        t0 = time.perf_counter()
        crit = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        while step < limit:
            epoch, in_epoch = divmod(step, steps_per_epoch)
            train_ds.set_epoch(epoch)
            sampler.set_epoch(epoch, start=in_epoch * per_rank)
            loader = _loader(
                train_ds, per_rank, sampler, cfg.workers, cfg.seed * 1000 + epoch, True
            )
            model.train()
            seen: list[float] = []
            for b in loader:
                x, y = b.clips.to(d.device), b.labels.to(d.device)
                with torch.autocast(d.device.type, dtype=amp_dtype, enabled=use_amp):
                    if len(y) == 0:  # every clip of this shard was broken: keep DDP in step
                        loss = sum(p.sum() * 0.0 for p in model.parameters())
                        acc = float("nan")
                    else:
                        logits = model(x)
                        loss = crit(logits.float(), y)
                        if aux_loss is not None:  # TSNet's usage loss for the last forward
                            loss = loss + aux_loss()
                        acc = (logits.argmax(1) == y).float().mean().item()
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                sched.step()
                if cfg.qat == "coreml":
                    _qat_step(model)
                step += 1
                skipped_total += b.skipped
                if d.main and ui:
                    ui.step(step, epoch, loss.item(), acc, sched.get_last_lr()[0], b.skipped)
                if len(y):
                    seen += [loss.item(), acc]
                done_epoch = step % steps_per_epoch == 0
                if step % cfg.save_every == 0 and not done_epoch:
                    save(last, full=True)
                if done_epoch or step >= limit:
                    break
            if step % steps_per_epoch == 0 or step >= limit:
                row = {
                    "epoch": round(step / steps_per_epoch, 3),
                    "step": step,
                    "seconds": round(time.perf_counter() - t0, 1),
                    **_mean_over_processes(seen, d),
                    "lr": sched.get_last_lr()[0],
                }
                if val_ds is not None:
                    r = _eval_model(model, val_ds, per_rank, cfg, d, ui)
                    row |= {"val_top1": r.top1, "val_top5": r.top5, "val_loss": r.loss}
                    if r.top1 > best_top1:
                        best_top1 = r.top1
                        save(best_path, full=False)
                history.append(row)
                if d.main and ui:
                    ui.epoch(row)
                save(last, full=True)
        if val_ds is None or not best_path.exists():
            save(best_path, full=False)
        if d.main:
            _write_history(out, history)
        return TrainResult(out, best_path, last, history, time.perf_counter() - t0, skipped_total)
    finally:
        D.teardown(d)


def _eval_model(model, ds, per_rank, cfg, d, ui) -> EvalResult:
    model.eval()
    if d.main and ui:
        ui.eval_start(len(ds))

    def tick(n: int) -> None:
        if d.main and ui:
            ui.eval_advance(n * d.world)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(d.device.type, enabled=cfg.amp and d.device.type == "cuda"):
            return model(x.to(d.device))

    r = evaluate(run, ds, per_rank, cfg.workers, d, tick)
    model.train()
    return r


def _qat_step(model: nn.Module) -> None:
    q = getattr(model.module if hasattr(model, "module") else model, "_mobilevid_quantizer", None)
    if q is not None:
        q.step()


def _mean_over_processes(seen: list[float], d: D.Dist) -> dict[str, float]:
    """Training loss and top-1 since the last row, over every process's clips."""
    t = torch.tensor([sum(seen[0::2]), sum(seen[1::2]), len(seen) // 2], dtype=torch.float64)
    if d.enabled:
        torch.distributed.all_reduce(t)
    n = max(1.0, float(t[2]))
    return {"train_loss": float(t[0]) / n, "train_top1": float(t[1]) / n}


def _gather_rng(d: D.Dist) -> list[torch.Tensor]:
    """Every rank's torch RNG state (dropout masks differ per rank)."""
    mine = torch.get_rng_state()
    if not d.enabled:
        return [mine]
    out = [torch.empty_like(mine) for _ in range(d.world)]
    torch.distributed.all_gather(out, mine)
    return out


def _jsonable(cfg: TrainConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(cfg), default=str))


def _check_resumable(state: dict, cfg: TrainConfig, path: Path) -> None:
    """A resumed run must be the run that was stopped: same model, data, global
    batch and schedule, or the "exact" resume would silently be something else."""
    old = state.get("config")
    if not isinstance(old, dict) or "train_state" not in state:
        raise MobilevidError(f"{path} is not a training checkpoint (no optimizer state)")
    new = _jsonable(cfg)
    keys = ("variant", "train", "val", "epochs", "batch_size", "lr", "weight_decay", "warmup",
            "label_smoothing", "frames", "size", "qat", "flip", "seed", "overrides")  # fmt: skip
    diff = [k for k in keys if old.get(k) != new.get(k)]
    if diff:
        k = diff[0]
        raise MobilevidError(
            f"--resume: {path} was run with {k}={old.get(k)!r}, now {new.get(k)!r}; "
            "resume with the same options (or start a new --out)"
        )


def _write_history(out: Path, history: list[dict]) -> None:
    """history.json for machines, curves.png for people."""
    atomic_write(out / "history.json", lambda t: t.write_text(json.dumps(history, indent=1)))
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ep = [h["epoch"] for h in history]
    ax[0].plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    if "val_loss" in history[0]:
        ax[0].plot(ep, [h["val_loss"] for h in history], "o-", label="val")
        ax[1].plot(ep, [100 * h["train_top1"] for h in history], "o--", label="train top-1")
        ax[1].plot(ep, [100 * h["val_top1"] for h in history], "o-", label="top-1")
        ax[1].plot(ep, [100 * h["val_top5"] for h in history], "o-", label="top-5")
        ax[1].set_ylim(0, 100)
    ax[0].set(xlabel="epoch", ylabel="loss")
    ax[1].set(xlabel="epoch", ylabel="val accuracy %")
    for a in ax:
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend()
    fig.tight_layout()
    atomic_write(out / "curves.png", lambda t: fig.savefig(t, dpi=110, format="png"))
    plt.close(fig)

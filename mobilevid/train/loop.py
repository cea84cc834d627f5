"""Fine-tuning: AdamW, warm-up + cosine, label smoothing, AMP on GPUs, DDP under
torchrun, top-1/top-5 every epoch.

:func:`train` reads as its outline: :func:`_setup` builds the data, model and
optimizer (and takes back a stopped run's :class:`TrainState`), then
:func:`train_epoch` and :func:`_end_epoch` alternate until the last step.

Resuming is exact. Everything random is a function of saved state: the shuffle
of epoch e is seeded by (seed, e), a clip's augmentation by (seed, e, index),
the DataLoader draws its worker seeds from its own generator, and the global
torch RNG (dropout) is saved with the optimizer and scheduler. A run killed at
step k and resumed takes the same steps, on the same clips, as one that was
never stopped. Checkpoints are written atomically, so the file under the final
name is always a complete one.
"""

from __future__ import annotations

import math
import shutil
import signal
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from mobilevid import interrupt
from mobilevid.checkpoint import load_checkpoint, load_training_state
from mobilevid.data.datasets import Batch, dataset_spec, open_dataset
from mobilevid.errors import MobilevidError
from mobilevid.files import exclusive
from mobilevid.interrupt import Interrupted, graceful
from mobilevid.quantize import QATModel, prepare_qat
from mobilevid.spec import InputSpec
from mobilevid.train import distributed as D
from mobilevid.train.config import SYNTHETIC_INPUT, TrainConfig
from mobilevid.train.data import ResumableSampler, make_loader
from mobilevid.train.evaluation import evaluate_model
from mobilevid.train.history import mean_over_processes, write_history
from mobilevid.train.state import TrainState, check_resumable, config_dict, save_checkpoint

__all__ = ["TrainResult", "TrainRun", "train", "train_epoch"]


@dataclass
class TrainResult:
    out: Path
    best: Path
    last: Path
    history: list[dict]
    seconds: float
    skipped: int


@dataclass
class TrainRun:
    """What :func:`_setup` builds and the epochs read; only ``state`` changes."""

    cfg: TrainConfig
    d: D.Dist
    name: str  # the registered variant
    spec: InputSpec  # the clips' frames and size
    train_ds: Dataset
    val_ds: Dataset | None
    state: TrainState
    net: nn.Module  # state.model, in DDP under torchrun: what the steps call
    qat: QATModel | None  # stepped after each optimizer step (coreml's schedule)
    aux_loss: Callable[[], torch.Tensor] | None  # TSNet's usage loss of its last forward
    sampler: ResumableSampler
    steps_per_epoch: int
    total: int  # steps of the whole schedule
    limit: int  # steps this invocation stops at (--max-steps)
    amp_dtype: torch.dtype | None  # None: no autocast
    meta: dict[str, Any]  # what every checkpoint says about its model
    config: dict[str, Any]  # what last.pt records and --resume compares
    notes: list[str]  # for the person watching

    @property
    def per_rank(self) -> int:
        return self.cfg.batch_size // self.d.world

    @property
    def last(self) -> Path:
        return Path(self.cfg.out) / "last.pt"

    @property
    def best(self) -> Path:
        return Path(self.cfg.out) / "best.pt"


def train(cfg: TrainConfig, ui: Any = None) -> TrainResult:
    """Run (or resume) one training run; returns where the checkpoints are.

    ``ui`` receives progress callbacks (see :class:`mobilevid.train.progress.TrainUI`);
    only rank 0 reports."""
    cfg.check()
    d = D.setup()
    # rank 0 holds the writer lock of --out: a second run on it is refused
    lock = exclusive(Path(cfg.out), "training into") if d.main else nullcontext()
    try:
        with graceful(), lock:
            run = _setup(cfg, d)
            state = run.state
            if d.main and ui:
                ui.start(cfg, run.name, run.spec, len(run.train_ds),
                         len(run.val_ds) if run.val_ds else 0, run.total, state.step,
                         run.notes)  # fmt: skip
            t0 = time.perf_counter()
            while state.step < run.limit:
                _stop_if_asked(run)
                seen = train_epoch(run, ui)
                _end_epoch(run, seen, time.perf_counter() - t0, ui)
            if run.val_ds is None or not run.best.exists():
                save_checkpoint(run.best, state, run.meta)
            if d.main:
                write_history(Path(cfg.out), state.history)
            return TrainResult(Path(cfg.out), run.best, run.last, state.history,
                               time.perf_counter() - t0, state.skipped)  # fmt: skip
    finally:
        D.teardown(d)


def _stop_if_asked(run: TrainRun) -> None:
    """After a step: if SIGINT/SIGTERM came (on any rank), write ``last.pt``
    at this step, a checkpoint --resume continues exactly as after a kill -9,
    and stop with :class:`Interrupted` (exit 130/143)."""
    sig = D.agree_max(run.d, interrupt.pending() or 0)
    if not sig:
        return
    save_checkpoint(run.last, run.state, run.meta, run.config)
    if run.d.main:
        write_history(Path(run.cfg.out), run.state.history)
    name = signal.Signals(sig).name
    raise Interrupted(
        sig,
        f"stopped by {name} after step {run.state.step}: {run.last} holds it; "
        "continue with --resume",
    )


def _setup(cfg: TrainConfig, d: D.Dist) -> TrainRun:
    """Check the request, open the data, build the model, optimizer, schedule
    and grad scaler, and take back the stopped run's state under --resume.
    Every step here is in the order that fixes the initial weights and RNG."""
    from mobilevid.models import model_info

    if cfg.batch_size % d.world:
        raise MobilevidError(
            f"--batch-size {cfg.batch_size} is the global batch: it must divide by the "
            f"{d.world} processes"
        )
    info = model_info(cfg.variant)
    spec, train_ds, val_ds = _open_data(cfg, info.input)
    steps_per_epoch = len(train_ds) // cfg.batch_size
    if steps_per_epoch == 0:
        raise MobilevidError(
            f"{len(train_ds)} training clips make no full batch of {cfg.batch_size}"
        )
    total = cfg.epochs * steps_per_epoch
    stopped = _stopped_run(cfg, d)

    per_rank = cfg.batch_size // d.world
    model, qat, notes = _build_model(cfg, info.name, train_ds, spec, per_rank)
    model = D.convert_sync_batchnorm(model, d).to(d.device)
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay, cfg.lr), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(total, int(cfg.warmup * total)))
    amp_dtype = None
    if cfg.amp and d.device.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # float16 needs loss scaling against underflow; bfloat16 has float32's range
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    state = TrainState(model, opt, sched, scaler, d)
    if stopped is not None:
        state.load_state_dict(stopped)
    else:
        torch.manual_seed(cfg.seed + d.rank)  # per-rank dropout masks
    net = model
    if d.enabled:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[d.device.index] if d.device.type == "cuda" else None
        )
    meta = {
        "variant": info.name, "num_classes": len(train_ds.classes), "labels": train_ds.classes,
        "overrides": dict(cfg.overrides), "frames": spec.frames, "size": spec.size,
        "qat": cfg.qat,
    }  # fmt: skip
    return TrainRun(
        cfg=cfg, d=d, name=info.name, spec=spec, train_ds=train_ds, val_ds=val_ds, state=state,
        net=net, qat=qat, aux_loss=getattr(model, "aux_loss", None),
        sampler=ResumableSampler(len(train_ds), d, cfg.seed), steps_per_epoch=steps_per_epoch,
        total=total, limit=min(total, cfg.max_steps) if cfg.max_steps else total,
        amp_dtype=amp_dtype, meta=meta, config=config_dict(cfg), notes=notes,
    )  # fmt: skip


def _open_data(
    cfg: TrainConfig, model_input: InputSpec
) -> tuple[InputSpec, Dataset, Dataset | None]:
    """The clip spec (the model's, unless --frames/--size say otherwise) and
    the training and validation sets, validation with the training classes."""
    frames, size = cfg.frames, cfg.size
    if str(cfg.train).startswith("synthetic"):  # a reduced input unless asked otherwise
        frames, size = frames or SYNTHETIC_INPUT[0], size or SYNTHETIC_INPUT[1]
    spec = dataset_spec(model_input, frames, size)
    train_ds = open_dataset(cfg.train, spec, train=True, flip=cfg.flip, seed=cfg.seed)
    val_ds = None
    if cfg.val:
        val_ds = open_dataset(cfg.val, spec, train=False, classes=train_ds.classes, seed=cfg.seed)
    return spec, train_ds, val_ds


def _stopped_run(cfg: TrainConfig, d: D.Dist) -> dict[str, Any] | None:
    """The state in ``last.pt`` under --resume (checked to be the same run);
    None for a new run, which must not overwrite one."""
    out = Path(cfg.out)
    last = out / "last.pt"
    if d.main:  # temp files of checkpoints a killed run was writing
        for tmp in out.glob(".*.tmp"):
            shutil.rmtree(tmp, ignore_errors=True)
    if cfg.resume:
        if not last.is_file():
            raise MobilevidError(f"--resume: {last} does not exist (nothing to resume)")
        stopped = load_training_state(last)
        check_resumable(stopped, cfg, last)
        return stopped
    if last.exists():
        raise MobilevidError(
            f"{out} already holds a run: pass --resume to continue it or choose another --out"
        )
    return None


def _build_model(
    cfg: TrainConfig, name: str, train_ds: Dataset, spec: InputSpec, per_rank: int
) -> tuple[nn.Module, QATModel | None, list[str]]:
    """The model to train, from seed ``cfg.seed`` on every rank (so the same
    initial weights everywhere), from --init weights if given, prepared for
    QAT under --qat. Returns it, its QAT record, and notes for the user."""
    from mobilevid.models import create_model

    torch.manual_seed(cfg.seed)
    model = create_model(name, num_classes=len(train_ds.classes), **cfg.overrides)
    notes = []
    if cfg.init:
        fresh = _load_init(model, cfg.init, name)
        if fresh:
            notes.append(f"--init: {len(fresh)} tensors not taken (e.g. {fresh[0]})")
    if not cfg.qat:
        return model, None, notes
    example = torch.zeros(per_rank, 3, spec.frames, spec.size, spec.size)
    # activation ranges from a few training clips (the same on every rank)
    calib = [train_ds[i] for i in range(min(16, len(train_ds)))]
    qat = prepare_qat(model, cfg.qat, example, [c[0] for c in calib if c is not None])
    return qat.module, qat, notes


def _load_init(model: nn.Module, path: Path, name: str) -> list[str]:
    """Start from pretrained weights; a classifier of another size (Kinetics-400
    -> your classes) is left freshly initialised. Returns the keys not loaded."""
    from mobilevid.models import model_info

    ckpt = load_checkpoint(path)
    adapt = model_info(name).adapt_state_dict  # a released checkpoint's own key names
    sd = adapt(ckpt.state_dict) if adapt else ckpt.state_dict
    own = model.state_dict()
    take = {k: v for k, v in sd.items() if k in own and v.shape == own[k].shape}
    if len(take) < len(own) // 2:
        raise MobilevidError(
            f"{path} shares only {len(take)} of {len(own)} tensors with {name}: "
            "is it for another variant?"
        )
    model.load_state_dict(take, strict=False)
    return sorted(set(own) - set(take))


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


def _schedule(total: int, warmup: int) -> Callable[[int], float]:
    """Linear warm-up over ``warmup`` steps, then cosine to zero at ``total``."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f


def train_epoch(run: TrainRun, ui: Any = None) -> list[tuple[float, float]]:
    """Train from ``run.state.step`` to the end of its epoch, or to the step
    limit. A resumed run starts part-way through an epoch: the sampler skips
    the clips the stopped run had taken. Saves ``last.pt`` every --save-every
    steps (the epoch's end is :func:`_end_epoch`'s). Returns the (loss, top-1)
    of each batch that had clips."""
    state, cfg, d = run.state, run.cfg, run.d
    epoch, in_epoch = divmod(state.step, run.steps_per_epoch)
    run.train_ds.set_epoch(epoch)
    run.sampler.set_epoch(epoch, start=in_epoch * run.per_rank)
    loader = make_loader(
        run.train_ds, run.per_rank, run.sampler, cfg.workers, cfg.seed * 1000 + epoch, True
    )
    run.net.train()
    seen: list[tuple[float, float]] = []
    for b in loader:
        loss, acc = _train_step(run, b)
        state.step += 1
        state.skipped += b.skipped
        if d.main and ui:
            lr = state.scheduler.get_last_lr()[0]
            ui.step(state.step, epoch, loss, acc, lr, b.skipped)
        if len(b.labels):
            seen.append((loss, acc))
        epoch_done = state.step % run.steps_per_epoch == 0
        if state.step % cfg.save_every == 0 and not epoch_done:
            save_checkpoint(run.last, state, run.meta, run.config)
        _stop_if_asked(run)
        if epoch_done or state.step >= run.limit:
            break
    return seen


def _train_step(run: TrainRun, b: Batch) -> tuple[float, float]:
    """One optimizer step on one batch; returns its loss and top-1."""
    state, d = run.state, run.d
    x, y = b.clips.to(d.device), b.labels.to(d.device)
    with torch.autocast(d.device.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None):
        if len(y) == 0:  # every clip of this shard was broken: keep DDP in step
            loss = sum(p.sum() * 0.0 for p in run.net.parameters())
            acc = float("nan")
        else:
            logits = run.net(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=run.cfg.label_smoothing)
            if run.aux_loss is not None:
                loss = loss + run.aux_loss()
            acc = (logits.argmax(1) == y).float().mean().item()
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.scheduler.step()
    if run.qat is not None:
        run.qat.step()
    return loss.item(), acc


def _end_epoch(run: TrainRun, seen: list[tuple[float, float]], seconds: float, ui: Any) -> None:
    """After an epoch (or the part of one before the step limit): evaluate,
    keep ``best.pt`` if top-1 improved, add the history row, save ``last.pt``."""
    state, d = run.state, run.d
    row = {
        "epoch": round(state.step / run.steps_per_epoch, 3),
        "step": state.step,
        "seconds": round(seconds, 1),
        **mean_over_processes(seen, d),
        "lr": state.scheduler.get_last_lr()[0],
    }
    if run.val_ds is not None:
        r = evaluate_model(run.net, run.val_ds, run.per_rank, run.cfg.workers, run.cfg.amp, d, ui)
        row |= {"val_top1": r.top1, "val_top5": r.top5, "val_loss": r.loss}
        if r.top1 > state.best_top1:
            state.best_top1 = r.top1
            save_checkpoint(run.best, state, run.meta)
    state.history.append(row)
    if d.main and ui:
        ui.epoch(row)
    save_checkpoint(run.last, state, run.meta, run.config)

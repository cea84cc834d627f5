"""The training loop: exact resume (also after kill -9), torchrun on gloo
against one process, checkpoints that are always whole, bad options."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mobilevid.checkpoint import load_training_state
from mobilevid.errors import MobilevidError
from mobilevid.train import TrainConfig, train

TINY = dict(variant="vmf-560m", frames=8, size=32, workers=0)
CLI = [sys.executable, "-m", "mobilevid", "train", "--frames", "8", "--size", "32",
       "--workers", "0"]  # fmt: skip


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_training_state(path)["model"]


def _same(a: dict, b: dict, atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0 if atol == 0 else 1e-4, atol=atol, msg=k)


def test_resume_takes_the_same_steps_as_an_uninterrupted_run(tmp_path):
    common = dict(TINY, train="synthetic:24", val="synthetic:8", batch_size=8, epochs=2)
    full = train(TrainConfig(**common, out=tmp_path / "full"))
    assert [h["step"] for h in full.history] == [3, 6]
    assert (tmp_path / "full" / "curves.png").stat().st_size > 0
    cut = train(TrainConfig(**common, out=tmp_path / "cut", max_steps=4))  # stops mid-epoch 2
    assert load_training_state(cut.last)["train_state"]["step"] == 4
    train(TrainConfig(**common, out=tmp_path / "cut", resume=True))
    a, b = load_training_state(full.last), load_training_state(cut.last)
    _same(a["model"], b["model"])
    assert a["train_state"]["step"] == b["train_state"]["step"] == 6
    assert a["scheduler"] == b["scheduler"]
    states = zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True)
    for sa, sb in states:
        torch.testing.assert_close(sa["exp_avg_sq"], sb["exp_avg_sq"], rtol=0, atol=0)


def test_kill_9_then_resume(tmp_path):
    """SIGKILL while training (checkpoints every step): the last checkpoint is
    whole, and resuming ends with the weights of a run that was never killed."""
    args = [*CLI, "--train", "synthetic:64", "--val", "none", "--batch-size", "8",
            "--epochs", "2", "--save-every", "1"]  # fmt: skip
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*args, "--out", str(killed)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    last, deadline = killed / "last.pt", time.time() + 240
    try:
        while time.time() < deadline:
            if last.exists() and load_training_state(last)["train_state"]["step"] >= 3:
                break
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint within 4 minutes")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    step = load_training_state(last)["train_state"]["step"]
    assert 3 <= step < 16, step
    r = subprocess.run([*args, "--out", str(killed), "--resume"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not list(killed.glob(".*.tmp"))  # the killed writer's temp files are gone
    clean = tmp_path / "clean"
    r = subprocess.run([*args, "--out", str(clean)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    _same(_weights(killed / "last.pt"), _weights(clean / "last.pt"))
    assert load_training_state(killed / "last.pt")["train_state"]["step"] == 16


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_the_step_then_resume_is_exact(tmp_path, sig):
    """SIGTERM (a scheduler) or SIGINT (Ctrl-C) mid-run: the step in flight
    finishes, last.pt holds it, the exit is 143/130 with one line and no
    traceback, and --resume ends with the weights of a run never stopped. No
    --save-every: the checkpoint is the signal's, not a periodic one. Two
    workers, so the DataLoader's processes see the signal too."""
    # 128 steps: long enough that the signal lands mid-run on a fast CPU too (CI once
    # finished a 16-step run inside the wait below)
    args = [*CLI[:-1], "2", "--train", "synthetic:1024", "--val", "none", "--batch-size", "8",
            "--epochs", "1"]  # fmt: skip
    out = tmp_path / "stopped"
    proc = subprocess.Popen([*args, "--out", str(out), "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    lock, deadline = tmp_path / ".stopped.lock", time.time() + 240
    try:
        while not lock.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)  # the run holds its lock: from here a signal is deferred
        time.sleep(2.0)  # into the steps, most likely (step 0 is a valid stop too)
        os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--resume" in lines[0] and "Traceback" not in err, err[-2000:]
    step = load_training_state(out / "last.pt")["train_state"]["step"]
    assert 0 <= step < 128, step
    assert not list(out.glob(".*.tmp")) and not lock.exists()
    r = subprocess.run([*args, "--out", str(out), "--resume"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    clean = tmp_path / "clean"
    r = subprocess.run([*args, "--out", str(clean)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    _same(_weights(out / "last.pt"), _weights(clean / "last.pt"))


def test_torchrun_two_processes_match_one(tmp_path):
    """Same global batch (8 = 2 x 4), gloo: the same clips per step, BN over the
    whole batch (CPUSyncBatchNorm), gradients averaged, so the same loss and the
    same gradients as one process. Compared after the first step: Adam turns
    float noise in gradients that are mathematically zero (a key bias under
    softmax, a bias before BN) into lr-sized moves, so weights after many steps
    differ by more than the computation does."""
    args = ["--train", "synthetic:32", "--val", "none", "--batch-size", "8", "--epochs", "1",
            "--dropout", "0", "--max-steps", "1", "--json"]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "mobilevid", *CLI[3:], *args, "--out", str(tmp_path / "ddp")]  # fmt: skip
    r = subprocess.run(run, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run(CLI + args + ["--out", str(tmp_path / "one")], capture_output=True,
                       text=True, env=env, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    ddp, one = (load_training_state(tmp_path / p / "last.pt") for p in ("ddp", "one"))
    assert ddp["train_state"]["world"] == 2 and one["train_state"]["world"] == 1
    hd, ho = (json.loads(s["train_state"]["history"])[-1] for s in (ddp, one))
    assert hd["train_loss"] == pytest.approx(ho["train_loss"], rel=1e-5)  # the global mean
    sd, so = ddp["optimizer"]["state"], one["optimizer"]["state"]
    grads = [(sd[i]["exp_avg"], so[i]["exp_avg"]) for i in so]  # (1 - beta1) x the gradient
    top = max(float(g.norm()) for _, g in grads)
    rel = sorted(
        float((a - b).norm() / b.norm()) for a, b in grads if float(b.norm()) > 1e-5 * top
    )  # gradients above float noise
    assert len(rel) > 0.9 * len(grads)
    # BN statistics from all-reduced sums (E[x^2] - E[x]^2) round differently
    # from the single-process kernel: that is the whole difference
    assert rel[len(rel) // 2] < 1e-4 and rel[-1] < 1e-2, (rel[len(rel) // 2], rel[-1])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(batch_size=0), "--batch-size must be positive"),
        (dict(qat="tflite"), "--qat must be one of"),
        (dict(warmup=1.5), "--warmup"),
        (dict(train="synthetic:4", batch_size=8), "make no full batch"),
        (dict(variant="vmf-9g"), "unknown model"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, overrides, message):
    cfg = TrainConfig(**{**TINY, "train": "synthetic:8", "val": None, "out": tmp_path, **overrides})
    with pytest.raises(MobilevidError, match=message) as e:
        train(cfg)
    assert "\n" not in str(e.value)


def test_resume_guards(tmp_path):
    base = dict(TINY, train="synthetic:8", val=None, batch_size=8, epochs=1, out=tmp_path)
    with pytest.raises(MobilevidError, match="nothing to resume"):
        train(TrainConfig(**base, resume=True))
    train(TrainConfig(**base))
    with pytest.raises(MobilevidError, match="already holds a run"):
        train(TrainConfig(**base))
    with pytest.raises(MobilevidError, match=r"was run with lr=0\.002, now 0\.1"):
        train(TrainConfig(**{**base, "lr": 0.1}, resume=True))
    (tmp_path / "last.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(MobilevidError, match="not a readable PyTorch checkpoint"):
        train(TrainConfig(**base, resume=True))


def test_init_from_a_checkpoint_with_another_classifier(tmp_path):
    from mobilevid.checkpoint import save_checkpoint
    from mobilevid.models import create_model

    src = create_model("vmf-560m", num_classes=400)
    save_checkpoint(tmp_path / "k400.pt", src, variant="vmf-560m", num_classes=400)
    ft = tmp_path / "ft"
    cfg = TrainConfig(**TINY, train="synthetic:8", val=None, batch_size=8, epochs=1,
                      init=tmp_path / "k400.pt", lr=1e-9, warmup=0.0, out=ft)  # fmt: skip
    r = train(cfg)
    got = load_training_state(r.last)["model"]
    stem = next(k for k in got if k.startswith("stem") and k.endswith("weight"))
    torch.testing.assert_close(got[stem], src.state_dict()[stem], atol=1e-6, rtol=0)
    assert got["head.classifier.weight"].shape[0] == 8
    x3d = create_model("x3d-s", num_classes=8)
    save_checkpoint(tmp_path / "x3d.pt", x3d)
    with pytest.raises(MobilevidError, match="another variant"):
        train(TrainConfig(**TINY, train="synthetic:8", val=None, batch_size=8,
                          init=tmp_path / "x3d.pt", out=tmp_path / "bad"))  # fmt: skip


def test_tsnet_selectors_train_in_the_same_loop(tmp_path):
    """TSNet through `mobilevid train`: its own optimizer groups (selectors at
    lr, backbone at 0.01 lr) and its usage loss added to the task loss."""
    from mobilevid.models import create_model

    cfg = TrainConfig(variant="vit-s-tsnet", train="synthetic:4", val=None, frames=16, size=32,
                      workers=0, batch_size=2, epochs=1, lr=1e-4, out=tmp_path)  # fmt: skip
    r = train(cfg)
    st = load_training_state(r.last)
    lrs = sorted({g["initial_lr"] for g in st["optimizer"]["param_groups"]})
    assert lrs == pytest.approx([1e-6, 1e-4])
    fresh = create_model("vit-s-tsnet", num_classes=8)
    fresh.train()
    fresh(torch.randn(2, 3, 16, 32, 32))
    assert float(fresh.aux_loss().detach()) > 0  # what the loop adds


def test_train_state_round_trips_the_checkpoint_keys():
    """TrainState.state_dict is what last.pt holds (export, inference and
    resume read these keys) and load_state_dict takes every part back,
    including the RNG that sets the next dropout mask."""
    from mobilevid.train.state import TrainState

    def make() -> TrainState:
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        opt = torch.optim.AdamW(model.parameters(), lr=0.1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 / (s + 1))
        return TrainState(model, opt, sched, torch.amp.GradScaler("cuda", enabled=False))

    a = make()
    a.model(torch.ones(4, 3)).sum().backward()
    a.optimizer.step()
    a.scheduler.step()
    a.step, a.best_top1, a.skipped, a.history = 1, 0.5, 2, [{"epoch": 1, "step": 1}]
    sd = a.state_dict()
    assert list(sd) == ["model", "step", "optimizer", "scheduler", "scaler", "train_state"]
    assert list(sd["train_state"]) == ["step", "best_top1", "torch_rng", "skipped", "history",
                                       "world"]  # fmt: skip
    assert sd["train_state"]["world"] == 1 and len(sd["train_state"]["torch_rng"]) == 1
    expect = torch.rand(3)
    b = make()
    b.load_state_dict(sd)
    assert (b.step, b.best_top1, b.skipped, b.history) == (1, 0.5, 2, a.history)
    _same(b.model.state_dict(), a.model.state_dict())
    assert b.scheduler.state_dict() == a.scheduler.state_dict()
    torch.testing.assert_close(torch.rand(3), expect, rtol=0, atol=0)


def test_init_from_a_released_mmaction_checkpoint_leaves_only_tsnet_fresh(tmp_path):
    """--init with Video Swin's own checkpoint layout ({"state_dict": "backbone.…",
    "cls_head.fc_cls.…"}) into TSNet(VideoSwin-T): the backbone loads through the
    family's key mapping, the selectors and the other-size head stay fresh."""
    from mobilevid.models import create_model
    from mobilevid.train.loop import _load_init

    torch.manual_seed(3)
    src = create_model("videoswin-t", num_classes=400)
    ref = {("cls_head.fc_cls." + k[5:] if k.startswith("head.") else "backbone." + k): v
           for k, v in src.state_dict().items()}  # fmt: skip
    torch.save({"state_dict": ref, "meta": {"epoch": 30}}, tmp_path / "swin_tiny_k400.pth")
    dst = create_model("tsnet-videoswin-t", num_classes=5)
    fresh = _load_init(dst, tmp_path / "swin_tiny_k400.pth", "tsnet-videoswin-t")
    assert fresh and all(".select_" in k or ".linear_" in k or k.startswith("head.") for k in fresh)
    own = dst.state_dict()
    assert torch.equal(
        own["layers.2.blocks.3.attn.qkv.weight"], ref["backbone.layers.2.blocks.3.attn.qkv.weight"]
    )

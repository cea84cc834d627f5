"""int8 keeps the answers of a trained model.

Randomly initialised logits are too flat for top-1 agreement to mean anything,
so VMF-560M is first fitted on the built-in synthetic motion clips (reduced
input, 16 x 64 x 64) until it is confident; the int8 .pte is then exported
through the real path (checkpoint file, calibration *videos* decoded from mp4),
run in the ExecuTorch runtime, and compared with fp32 eager on held-out clips.
"""

import pytest
import torch
import torch.nn.functional as F

from mobilevid.checkpoint import save_checkpoint
from mobilevid.data.synthetic import CLASSES, SyntheticMotion
from mobilevid.export import ExportConfig, export
from mobilevid.export.verify import load_pte
from mobilevid.models import create_model

pytestmark = pytest.mark.slow
FRAMES, SIZE = 16, 64
# VMF-560M runs in CI; the larger variants take 10-30 min each on 2 cores and run
# with `make check-full` (pytest -m full).
VARIANTS = [
    "vmf-560m",
    *(pytest.param(v, marks=pytest.mark.full) for v in ("vmf-1g", "vmf-2g", "vmf-5g")),
]


def _fit(model, steps: int = 320, batch: int = 16) -> float:
    data = SyntheticMotion(n=steps * batch, frames=FRAMES, size=SIZE, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.15)
    model.train()
    acc = 0.0
    for s in range(steps):
        xs, ys = zip(*(data[s * batch + i] for i in range(batch)), strict=True)
        x, y = torch.stack(xs), torch.tensor(ys)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        acc = 0.9 * acc + 0.1 * (logits.argmax(1) == y).float().mean().item()
    return acc


@pytest.mark.parametrize("variant", VARIANTS)
def test_int8_top1_agrees_with_fp32_on_a_trained_model(tmp_path, variant, motion_video):
    torch.manual_seed(0)
    model = create_model(variant, num_classes=len(CLASSES))
    train_acc = _fit(model)
    assert train_acc > 0.9, f"the fit did not converge ({train_acc:.2f})"
    model.eval()
    ckpt = tmp_path / f"{variant}_motion.pt"
    save_checkpoint(ckpt, model, variant=variant, num_classes=len(CLASSES), labels=CLASSES)
    (tmp_path / "calib").mkdir()
    for i in range(16):
        motion_video(tmp_path / "calib" / f"c{i}.mp4", i % len(CLASSES), FRAMES, SIZE, 10_000 + i)
    r = export(
        ExportConfig(variant=variant, quantize="int8", checkpoint=ckpt, output=tmp_path,
                     calibration=[tmp_path / "calib"], frames=FRAMES, size=SIZE)
    )  # fmt: skip
    assert r.metadata["labels"] == CLASSES and r.delegation["portable_nodes"] == 0
    print(f"\nfit: train top-1 (EMA) {train_acc:.3f}")
    run = load_pte(r.path)
    val = SyntheticMotion(n=200, frames=FRAMES, size=SIZE, seed=1)
    refs, outs, labels = [], [], []
    with torch.no_grad():
        for i in range(len(val)):
            x, y = val[i]
            refs.append(model(x[None])[0])
            outs.append(run(x[None])[0])
            labels.append(y)
    ref, out, y = torch.stack(refs), torch.stack(outs), torch.tensor(labels)
    top1 = ref.argmax(1)
    correct = (top1 == y).float().mean().item()
    confident = ref.softmax(1).amax(1) >= 0.9
    agree = int((out.argmax(1) == top1)[confident].sum())
    n_conf = int(confident.sum())
    cosines = F.cosine_similarity(ref, out, dim=1)
    print(_describe(ref, out, cosines))
    print(f"fp32 val top-1 {correct:.3f}; int8 agrees on {agree}/{n_conf} confident")
    assert correct >= 0.9, f"fp32 val top-1 {correct:.2f}"
    assert n_conf >= 150, n_conf
    assert agree / n_conf >= 0.99, f"int8 top-1 agreement {agree}/{n_conf}"  # the claim
    # Below: guards against broken quantization, not tolerances. The int8 error
    # of a fit is not a property of the export alone: fits that differ only in
    # float summation order (the CPU's kernels, the thread count) end with int8
    # errors 3-5x apart, and the worst of 200 clips is the tail of that. Logit
    # cosine, int8 .pte vs fp32 eager, 200 held-out clips, VMF-560M at 16x64x64:
    #   fit                                      mean    worst  (1 - cos: mean, worst)
    #   AMD EPYC (Zen 4), 2 threads, seed 0      0.9981  0.9711  (0.002, 0.029)
    #   AMD EPYC, 1 thread, seed 0               0.9943  0.9493  (0.006, 0.051)
    #   AMD EPYC, 2 threads, seed 1              0.9983  0.9823  (0.002, 0.018)
    #   Intel Xeon (AVX-512, AMX), seed 0        0.9914  0.892   (0.009, 0.108)
    # On every fit here the worst clips are confident ones (p(top-1) >= 0.999,
    # top-2 margin 7-10) whose top-1 int8 keeps, not near-ties; the logits are
    # not flat (mean ~0, std ~5: centring them changes nothing); the output's
    # calibration range (16 clips) saturates 5-12% of clips, <= 0.012 of cosine.
    # Probabilities are no steadier: their worst cosine on confident clips went
    # from 0.997 (2 threads) to 0.956 (1 thread), and 0.63 on a near-tie. So the
    # floors sit at about twice the largest error measured, Intel's: 1 - cos <=
    # 0.02 on average, <= 0.2 on any clip (half the calibrated output range
    # would take the mean to 0.977; a wrong top-1 fails the claim above).
    assert cosines.mean() >= 0.98 and cosines.min() >= 0.8, _describe(ref, out, cosines)


def _describe(ref: torch.Tensor, out: torch.Tensor, cosines: torch.Tensor) -> str:
    """The cosines, and the worst clip's fp32 confidence and top-2 margin: a near-tie
    (small margin) is a different failure from a confident clip int8 distorts."""
    w = int(cosines.argmin())
    p, top2 = ref[w].softmax(0).max().item(), ref[w].topk(2).values
    return (
        f"int8 vs fp32 logit cosine: mean {cosines.mean():.4f}, min {cosines[w]:.4f} "
        f"(clip {w}: fp32 p(top-1) {p:.3f}, top-2 margin {float(top2[0] - top2[1]):.2f}, "
        f"int8 top-1 {'agrees' if out[w].argmax() == ref[w].argmax() else 'differs'})"
    )

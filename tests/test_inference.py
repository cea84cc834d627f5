"""`mobilevid predict` and `mobilevid evaluate` as a user runs them: a trained
checkpoint and the .pte exported from it give the same answers on real files;
broken files and wrong options are one-line errors with a non-zero exit."""

import json
import subprocess
import sys

import pytest

from mobilevid.data.synthetic import CLASSES
from mobilevid.export import ExportConfig, export
from mobilevid.train import TrainConfig, train

pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mobilevid", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, motion_video):
    """A few steps on motion clips: enough for a checkpoint with labels and a
    reduced input, not for accuracy (that is `make check-train`)."""
    d = tmp_path_factory.mktemp("run")
    r = train(TrainConfig(variant="vmf-560m", train="synthetic:16", val=None, frames=8, size=32,
                          batch_size=8, epochs=1, workers=0, out=d / "run"))  # fmt: skip
    pte = export(ExportConfig(variant="560m", checkpoint=r.best, output=d)).path
    videos = []
    for i in range(3):
        videos.append(d / f"{CLASSES[i].replace(' ', '_')}.mp4")
        motion_video(videos[-1], i, 16, 32, seed=100 + i)
    return r.best, pte, videos


def test_predict_checkpoint_and_pte_agree_on_real_files(trained):
    ckpt, pte, videos = trained
    a = run("predict", *map(str, videos), "--checkpoint", str(ckpt), "--json", "--topk", "3")
    b = run("predict", *map(str, videos), "--artifact", str(pte), "--json", "--topk", "3")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    pa, pb = json.loads(a.stdout)["predictions"], json.loads(b.stdout)["predictions"]
    assert len(pa) == len(pb) == 3
    for x, y in zip(pa, pb, strict=False):
        assert [t["label"] for t in x["top"]] == [t["label"] for t in y["top"]]
        assert all(t["label"] in CLASSES for t in x["top"])
        for s, t in zip(x["top"], y["top"], strict=False):
            assert abs(s["score"] - t["score"]) < 1e-3
    table = run("predict", str(videos[0]), "--checkpoint", str(ckpt))
    assert table.returncode == 0 and videos[0].name in table.stdout


def test_evaluate_checkpoint_and_pte(trained):
    ckpt, pte, _ = trained
    a = run("evaluate", "synthetic:8", "--checkpoint", str(ckpt), "--json", "--workers", "0")
    b = run("evaluate", "synthetic:8", "--artifact", str(pte), "--json", "--workers", "0")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    assert ra["clips"] == rb["clips"] == 8 and ra["top1"] == rb["top1"]


def test_predict_broken_file_is_one_line_and_nonzero(trained, tmp_path):
    ckpt, pte, videos = trained
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(videos[0].read_bytes()[:300])
    for model in (["--checkpoint", str(ckpt)], ["--artifact", str(pte)]):
        p = run("predict", str(bad), *model)
        assert p.returncode == 2 and "Traceback" not in p.stderr
        assert p.stderr.count("\n") == 1 and "broken.mp4" in p.stderr
    mixed = run("predict", str(videos[0]), str(bad), "--checkpoint", str(ckpt), "--json")
    assert mixed.returncode == 2  # the good one is still answered
    assert len(json.loads(mixed.stdout)["predictions"]) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x.mp4"], "x.mp4: no such video file"),  # the built-in checkpoint, a missing file
        (["x.mp4", "--variant", "vmf-9g"], "unknown model"),
        (["x.mp4", "--artifact", "model.mlpackage"], "Core ML models run on macOS"),
        (["x.mp4", "--artifact", "nope.pte"], "no such file"),
        (["x.mp4", "--checkpoint", "nope.pt"], "no such checkpoint"),
    ],
)
def test_predict_bad_options(args, message):
    p = run("predict", *args)
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr


def test_train_cli_errors(tmp_path):
    p = run("train", "--variant", "560m", "--qat", "tflite", "--out", str(tmp_path))
    assert p.returncode == 2 and "--qat must be one of" in p.stderr
    p = run("train", "--train", str(tmp_path / "none.csv"), "--out", str(tmp_path))
    assert p.returncode == 2 and "no such dataset" in p.stderr and "Traceback" not in p.stderr


def test_builtin_checkpoint_tells_the_motions_apart(tmp_path, motion_video):
    """`mobilevid predict` with no model runs the shipped checkpoint; on mp4
    files of held-out motion clips it names the direction and speed."""
    videos = []
    for label in range(len(CLASSES)):
        videos.append(tmp_path / f"{label}.mp4")
        motion_video(videos[-1], label, 16, 64, seed=50_000 + label)
    p = run("predict", *map(str, videos), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert "builtin:vmf-560m-motion" in out["model"]
    got = [r["top"][0]["label"] for r in out["predictions"]]
    assert sum(g == c for g, c in zip(got, CLASSES, strict=True)) >= 7, got
    print(f"\nbuilt-in checkpoint: {got}")

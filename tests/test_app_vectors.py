"""The committed app test vectors are what the Python reference produces now."""

import importlib.util
import json
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "app_vectors"


def _generator():
    spec = importlib.util.spec_from_file_location("generate", HERE / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _close(a, b, path=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-6), path
    else:
        assert a == b, path


def test_committed_vectors_are_current(tmp_path):
    gen = _generator()
    gen.write(tmp_path)
    for name in gen.FILES:
        _close(
            json.loads((HERE / name).read_text()), json.loads((tmp_path / name).read_text()), name
        )


def test_sidecar_vector_matches_the_exporter_interface():
    d = json.loads((HERE / "sidecar.json").read_text())
    assert d["expected"]["input_name"] == "video" and d["expected"]["output_name"] == "logits"
    assert d["sidecar"]["format"] == "mobilevid-artifact" and d["sidecar"]["schema_version"] == 2


def test_sidecar_vectors_follow_the_schema():
    """What the apps are tested on is what mobilevid itself accepts."""
    from mobilevid.export.schema import validate

    for name in ("sidecar.json", "stream_sidecar.json"):
        validate(json.loads((HERE / name).read_text())["sidecar"], HERE / name)

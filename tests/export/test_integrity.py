"""A sidecar belongs to one artifact: the three tampering cases of the
reliability issue, refused by `verify` and `predict` with one line and exit 2,
and the schema's own promises (strict types, versions, the JSON Schema file)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mobilevid.data.samples import sample_video_paths
from mobilevid.errors import MobilevidError
from mobilevid.export import ExportConfig, export
from mobilevid.export.artifact import read_sidecar, sidecar_path
from mobilevid.export.schema import artifact_record, json_schema

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mobilevid", *args], capture_output=True,
                          text=True)  # fmt: skip


def _refused(pte: Path, needle: str) -> None:
    """`verify` and `predict` both refuse ``pte`` in one line naming the fault."""
    video = str(sample_video_paths()[0])
    for args in (["verify", str(pte)], ["predict", video, "--artifact", str(pte)]):
        r = _cli(*args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2, (args, r.stderr[-2000:])
        assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def other(tmp_path_factory):
    """A second, different real model (X3D-XS, the quickest to export)."""
    out = tmp_path_factory.mktemp("other")
    return export(ExportConfig(variant="x3d-xs", frames=4, size=32, output=out))


def _copy(pte: Path, to: Path, sidecar_of: Path | None = None) -> Path:
    dst = to / pte.name
    shutil.copyfile(pte, dst)
    shutil.copyfile(sidecar_path(sidecar_of or pte), sidecar_path(dst))
    return dst


def test_another_models_sidecar_is_refused(fp32, other, tmp_path):
    pte = _copy(fp32.path, tmp_path, sidecar_of=other.path)
    _refused(pte, "does not belong to")
    assert str(pte) in _cli("verify", str(pte)).stderr  # both files named


def test_flipped_bytes_in_the_weights_are_refused(fp32, tmp_path):
    """The .pte still loads (same size, the flips are in a weight buffer) and
    would run, giving other answers; the sha256 refuses it first."""
    pte = _copy(fp32.path, tmp_path)
    data = bytearray(pte.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(b ^ 0x5A for b in data[mid : mid + 64])
    pte.write_bytes(bytes(data))
    from executorch.runtime import Runtime

    Runtime.get().load_program(str(pte))  # still a loadable program
    _refused(pte, "sha256 differs")


def test_a_wrongly_typed_field_is_refused(fp32, tmp_path):
    pte = _copy(fp32.path, tmp_path)
    meta = json.loads(sidecar_path(pte).read_text())
    meta["input"]["size"] = str(meta["input"]["size"])  # "64": strict, not coerced
    sidecar_path(pte).write_text(json.dumps(meta))
    _refused(pte, "field input.size")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda m: m.pop("artifact"), "field artifact: Field required"),
        (lambda m: m.update(schema_version=3), "upgrade mobilevid"),
        (lambda m: m.update(format="mobilevid-artifact/1"), "re-export"),
        (lambda m: m.update(format="something-else"), "not a mobilevid sidecar"),
        (lambda m: m.update(labels=["a", "b"]), "2 labels for"),
        (lambda m: m["input"].update(mean=[0.5, 0.5]), "field input.mean"),
        (lambda m: m["input"].update(frames=True), "field input.frames"),
        (lambda m: m["artifact"].update(sha256="0" * 63), "field artifact.sha256"),
    ],
    ids=["no-record", "newer", "legacy", "format", "labels", "mean", "bool", "sha"],
)
def test_schema_rules(fp32, tmp_path, change, needle):
    pte = _copy(fp32.path, tmp_path)
    meta = json.loads(sidecar_path(pte).read_text())
    change(meta)
    sidecar_path(pte).write_text(json.dumps(meta))
    with pytest.raises(MobilevidError) as e:
        read_sidecar(pte)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_renaming_the_pair_together_keeps_it_valid(fp32, tmp_path):
    dst = tmp_path / "renamed.pte"
    shutil.copyfile(fp32.path, dst)
    shutil.copyfile(fp32.sidecar, sidecar_path(dst))
    assert read_sidecar(dst)["model"] == "vmf-560m"


def test_a_package_record_covers_every_file_inside(tmp_path, fake_artifact):
    pkg = fake_artifact(tmp_path / "m.mlpackage", target="coreml", backend="coreml")
    (pkg / "Data").mkdir()
    (pkg / "Data" / "weight.bin").write_bytes(b"w" * 100)
    with pytest.raises(MobilevidError, match="does not belong"):
        read_sidecar(pkg)  # a file added after export
    rec = artifact_record(pkg)
    assert rec["files"] == ["Data/weight.bin", "Manifest.json"]


def test_committed_json_schema_is_current():
    """docs/sidecar.schema.json is what app developers read: it must be the
    schema mobilevid enforces."""
    committed = json.loads((ROOT / "docs" / "sidecar.schema.json").read_text())
    assert committed == json_schema(), "regenerate: python -m mobilevid.export.schema"

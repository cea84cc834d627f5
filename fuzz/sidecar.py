"""Fuzz what mobilevid parses from files users hand it besides videos: the
artifact sidecar (schema validation, then the model source it names, as
verify/predict/bench rebuild it) and export recipes (YAML).

Seeds are real sidecars (a clip program's and a streaming program's, from
tests/app_vectors) and the shipped recipes. The first input byte picks the
parser. Allowed outcomes: a value, or MobilevidError in one line.

    python fuzz/sidecar.py -max_total_time=60 [corpus_dir ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["mobilevid"]):
    from mobilevid.errors import MobilevidError
    from mobilevid.export.artifact import read_sidecar
    from mobilevid.export.recipes import load_recipe
    from mobilevid.export.source import source_from_sidecar

from common import as_file, check_message

ROOT = Path(__file__).resolve().parents[1]


def make_seeds(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("sidecar.json", "stream_sidecar.json"):
        meta = json.loads((ROOT / "tests" / "app_vectors" / name).read_text())["sidecar"]
        (folder / f"seed-{name}").write_bytes(b"\0" + json.dumps(meta, indent=1).encode())
    for f in sorted((ROOT / "export_recipes").glob("*.yaml")):
        (folder / f"seed-{f.name}").write_bytes(b"\1" + f.read_bytes())


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    try:
        if data[0] % 2 == 0:
            artifact = as_file(b"stand-in", ".pte")
            as_file(data[1:], ".pte.json")
            meta = read_sidecar(artifact, check=False)
            source_from_sidecar(meta)
        else:
            load_recipe(as_file(data[1:], ".yaml"))
    except MobilevidError as e:
        check_message(e)


def main() -> None:
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpus:
        make_seeds(Path(corpus[-1]))
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

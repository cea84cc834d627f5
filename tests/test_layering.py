"""The package's import graph: imports point down, and no two parts import
each other.

    cli -> bench, inference -> export -> quantize -> deploy -> models
    train -> quantize, data, models
    data, models: nothing above them (data not even the models)

Every ``import``/``from ... import`` of a mobilevid module counts, including the
lazy ones inside functions (a lazy import is still a dependency). A new edge
that crosses the layers fails here with the file and line that made it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import mobilevid

ROOT = Path(mobilevid.__file__).parent

# Small modules every part may use: errors, the clip spec, terminal output,
# checkpoint files, safe writes. They import nothing of mobilevid above them (checked below).
BASE = {"errors", "spec", "ui", "checkpoint", "files", "interrupt"}

# What each part may import besides BASE and itself.
ALLOWED: dict[str, set[str]] = {
    "cli": {
        "bench",
        "inference",
        "train",
        "export",
        "quantize",
        "deploy",
        "models",
        "data",
        "counting",
        "cli_options",
        "emulate",
    },
    "cli_options": set(),
    "bench": {"export", "deploy", "models", "data", "counting"},
    "inference": {"export", "data", "models"},
    "export": {"quantize", "deploy", "models", "data", "counting", "emulate"},
    "emulate": set(),
    "train": {"quantize", "data", "models"},
    "quantize": {"deploy", "models"},
    "deploy": {"models"},
    "counting": {"models"},
    "models": set(),
    "data": set(),
    **{b: set() for b in BASE},
}


def _part(module: str) -> str:
    """``mobilevid.export.executorch`` -> ``export``; ``mobilevid.cli`` -> ``cli``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_part(name: str) -> bool:
    return (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file()


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported mobilevid module, line) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.startswith("mobilevid")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("mobilevid"):
                # `from mobilevid import models` imports the part `models`;
                # `from mobilevid import __version__` the package root
                names = [mod]
                if mod == "mobilevid":
                    names = [f"{mod}.{a.name}" if _is_part(a.name) else mod for a in node.names]
                out += [(m, node.lineno) for m in names]
    return out


def _edges() -> dict[tuple[str, str], list[str]]:
    """(from part, to part) -> ["file:line", ...], for imports across parts."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        src = _part(_module_name(path))
        for mod, line in _imports(path):
            dst = _part(mod)
            if dst != src and dst != "__init__":
                edges[(src, dst)].append(f"{path.relative_to(ROOT.parent)}:{line}")
    return edges


EDGES = _edges()


def test_every_part_is_declared():
    parts = {_part(_module_name(p)) for p in ROOT.rglob("*.py")} - {"__init__", "__main__"}
    assert parts <= set(ALLOWED), f"add these to ALLOWED: {sorted(parts - set(ALLOWED))}"


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_imports_point_down(part):
    allowed = ALLOWED[part] | (BASE - {part} if part not in BASE else set())
    if part == "checkpoint":  # a file format: below everything but errors and safe writes
        allowed = {"errors", "files"}
    if part in BASE - {"checkpoint"}:
        allowed = {"errors"}
    bad = {dst: where for (src, dst), where in EDGES.items() if src == part and dst not in allowed}
    assert not bad, "; ".join(f"{part} imports {d} at {', '.join(w)}" for d, w in bad.items())


def test_no_cycles_between_parts():
    graph: dict[str, set[str]] = defaultdict(set)
    for src, dst in EDGES:
        graph[src].add(dst)
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                cycle = " -> ".join([*path[path.index(m) :], m]) if m in path else f"{n} -> {m}"
                pytest.fail(f"import cycle: {cycle} ({EDGES[(n, m)][0]})")
            if m not in state:
                visit(m, [*path, m])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])


def test_the_rules_the_issue_names():
    """Spelled out, so a change to ALLOWED that breaks them fails too."""
    for low in ("data", "models"):
        for high in ("export", "bench", "train", "cli", "inference", "quantize", "deploy"):
            assert high not in ALLOWED[low]
    assert "models" not in ALLOWED["data"]
    assert "train" not in ALLOWED["export"] and "export" not in ALLOWED["train"]
    assert "quantize" in ALLOWED["export"] and "quantize" in ALLOWED["train"]


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    f = ROOT / "data" / "video.py"
    found = _imports(f)
    assert ("mobilevid.errors", next(line for m, line in found if m == "mobilevid.errors")) in found
    lazy = ROOT / "export" / "executorch.py"
    assert any(m.startswith("mobilevid.deploy") for m, _ in _imports(lazy))  # inside a function

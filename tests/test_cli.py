"""The CLI as a user runs it: a real subprocess, real exit codes, real stderr."""

import dataclasses
import json
import re
import subprocess
import sys

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from mobilevid.cli import BENCH_FIELDS, EXPORT_FIELDS, NOT_FLAGS, TRAIN_FIELDS, app
from mobilevid.cli_options import expand_multi_value, multi_value
from mobilevid.errors import MobilevidError


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mobilevid", *args], capture_output=True, text=True, timeout=300
    )


def test_profile_json_schema():
    p = run("profile", "--variant", "560m", "mobile3d-1g", "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [r["variant"] for r in rows] == ["vmf-560m", "mobile3d-1g"]
    for key in ("variant", "params", "gmacs", "paper_params", "paper_gmacs",
                "params_dev_pct", "gmacs_dev_pct", "input_shape"):  # fmt: skip
        assert key in rows[0]
    assert rows[0]["paper_params"] == 4_700_000 and rows[1]["paper_params"] is None
    assert abs(rows[0]["gmacs_dev_pct"]) <= 5


def test_profile_table_shows_paper_beside_ours():
    p = run("profile", "-m", "1g")
    assert p.returncode == 0, p.stderr
    assert "vmf-1g" in p.stdout and "1.43" in p.stdout and "4.70" in p.stdout


def test_profile_ablations_json():
    p = run("profile", "--ablations", "--json")
    rows = json.loads(p.stdout)
    six = [r for r in rows if r["label"].startswith("Table 6")]
    o = [r["overrides"] for r in six]
    scopes = [(x.get("token_scope", "video"), x["num_tokens"]) for x in o]
    assert scopes == [(s, m) for s in ("video", "frame") for m in (2, 4, 6, 8)]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["profile", "--variant", "nope"], "vmf-560m"),
        (["profile", "--bogus"], "--bogus"),
        (["profile", "--all", "--variant", "1g"], "either"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_user_errors_are_one_line_exit_2(args, needle):
    p = run(*args)
    assert p.returncode == 2
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in p.stderr


def test_help_and_version_are_fast_and_clean():
    p = run("--help")
    assert p.returncode == 0 and "profile" in p.stdout
    v = run("--version")
    assert v.returncode == 0 and v.stdout.startswith("mobilevid ")


def test_help_imports_no_heavy_library():
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mobilevid", "export", "--help"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 0 and "--backend" in p.stdout
    modules = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if "|" in line}
    assert "mobilevid.cli" in modules
    assert not {m for m in modules if m.split(".")[0] in ("torch", "numpy", "yaml")}


# ------------------------------------------------------------ multi-value options
@pytest.mark.parametrize(
    ("args", "want"),
    [
        (
            ["--variant", "a", "b", "--json", "x"],
            ["--variant", "a", "--variant", "b", "--json", "x"],
        ),
        (["-m", "a", "-m", "b"], ["-m", "a", "-m", "b"]),
        (["--variant=a", "b"], ["--variant=a", "--variant", "b"]),
        (["-ma", "b"], ["-ma", "-m", "b"]),
        (["-q", "int8", "x", "--variant", "a"], ["-q", "int8", "x", "--variant", "a"]),
        (["--variant", "a", "--", "b"], ["--variant", "a", "--", "b"]),
        (["--variant", "a", "--json", "-"], ["--variant", "a", "--json", "-"]),
    ],
)
def test_expand_multi_value(args, want):
    assert expand_multi_value(args, ("--variant", "-m")) == want


def _parse(command: str, *args: str) -> dict:
    cmd = get_command(app).commands[command]
    return cmd.make_context(command, list(args)).params


def test_each_command_parses_its_own_multi_value_options():
    p = _parse("bench", "--variant", "560m", "1g", "-m", "2g", "--runtime", "eager",
               "executorch", "-q", "fp32", "int8", "-a", "x.pte", "--runs", "10")  # fmt: skip
    assert p["variant"] == ["560m", "1g", "2g"] and p["runtime"] == ["eager", "executorch"]
    assert p["quantize"] == ["fp32", "int8"] and [str(a) for a in p["artifact"]] == ["x.pte"]
    assert p["runs"] == 10
    p = _parse("export", "-m", "560m", "1g", "--calibration", "a", "b", "-q", "int8")
    assert p["variant"] == ["560m", "1g"] and p["quantize"] == "int8"
    assert [str(c) for c in p["calibration"]] == ["a", "b"]
    assert _parse("profile", "--variant", "560m", "1g", "--json")["variant"] == ["560m", "1g"]


def test_single_model_commands_stop_at_positionals():
    p = _parse("evaluate", "-m", "560m", "synthetic:64")
    assert p["variant"] == "560m" and p["data"] == "synthetic:64"
    p = _parse("predict", "a.mp4", "-m", "560m", "b.mp4")
    assert p["variant"] == "560m" and [str(v) for v in p["videos"]] == ["a.mp4", "b.mp4"]
    p = _parse("train", "-m", "1g", "--epochs", "2")
    assert p["variant"] == "1g" and p["epochs"] == 2


def test_export_quantize_stays_single_valued():
    r = CliRunner().invoke(app, ["export", "-q", "int8", "fp32"])
    assert r.exit_code == 2 and "unexpected extra argument" in r.output


def test_multi_value_command_rejects_what_it_cannot_parse():
    import typer

    bad = typer.Typer()

    @bad.command(cls=multi_value("names"))
    def f(names: list[str], other: list[str] | None = None) -> None: ...

    with pytest.raises(TypeError, match="not a list option"):
        get_command(bad)

    clash = typer.Typer()

    @clash.command(cls=multi_value("names"))
    def g(files: list[str], names: list[str] | None = None) -> None: ...

    with pytest.raises(TypeError, match="positional"):
        get_command(clash)


def test_evaluate_model_before_data():
    p = run("evaluate", "-m", "560m", "synthetic:64", "--workers", "0")
    assert p.returncode == 0, p.stderr
    assert re.search(r"vmf-560m \(random\) on synthetic:64: top-1 \d+\.\d\d%", p.stdout)
    assert "(64 clips)" in p.stdout


def test_predict_model_between_videos(tmp_path, motion_video):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    motion_video(a, 0, 16, 64, 0)
    motion_video(b, 1, 16, 64, 1)
    p = run("predict", str(a), "-m", "560m", str(b), "--topk", "2", "--json")
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["model"].startswith("vmf-560m")
    assert [r["video"] for r in got["predictions"]] == [str(a), str(b)]
    assert all(len(r["top"]) == 2 for r in got["predictions"])


# ------------------------------------------------------------ flags -> config dataclasses
def _configs():
    from mobilevid.bench.config import BenchConfig
    from mobilevid.export.config import ExportConfig
    from mobilevid.train.config import TrainConfig

    return [
        ("export", ExportConfig, EXPORT_FIELDS),
        ("bench", BenchConfig, BENCH_FIELDS),
        ("train", TrainConfig, TRAIN_FIELDS),
    ]


@pytest.mark.parametrize(
    ("command", "cls", "renames"), _configs(), ids=["export", "bench", "train"]
)
def test_every_config_field_has_a_flag(command, cls, renames):
    """Flags and config fields cannot drift: each field is set by a flag (of its
    name, or renamed) or listed in NOT_FLAGS; a flag's default is None (the
    config decides) or the field's own."""
    params = {p.name: p for p in get_command(app).commands[command].params}
    assert set(renames) <= set(params)
    by_field = {renames.get(name, name): p for name, p in params.items()}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    missing = {n for n in fields if n not in by_field and f"{cls.__name__}.{n}" not in NOT_FLAGS}
    assert not missing, f"{cls.__name__} fields without a flag: {sorted(missing)}"
    for name, f in fields.items():
        p = by_field.get(name)
        if p is None or f.default is dataclasses.MISSING or p.default is None:
            continue
        assert p.default == f.default, f"--{p.name}: default {p.default!r}, {name} {f.default!r}"


def _capture(monkeypatch, module, attr):
    """Replace module.attr by a stub that records its first argument and stops."""
    seen = []

    def stub(arg, *rest, **kw):
        seen.append(arg)
        raise MobilevidError("stop")

    monkeypatch.setattr(module, attr, stub)
    return seen


def test_export_flags_fill_export_config(monkeypatch, tmp_path):
    import mobilevid.export

    seen = _capture(monkeypatch, mobilevid.export, "plan")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("quantize: int8\nforce: true\nframes: 8\noverrides: {r: 16}\n")
    args = ["export", "-m", "560m", "1g", "--recipe", str(recipe), "-q", "fp32",
            "--backend", "xnnpack", "--calibration", "a", "b", "--set", "keep=0.3",
            "-o", str(tmp_path)]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert isinstance(r.exception, MobilevidError), r.output
    a = seen[0]
    assert (a.variant, a.quantize, a.backend, a.frames, a.force) == (
        "560m",
        "fp32",
        "xnnpack",
        8,
        True,
    )
    assert [str(c) for c in a.calibration] == ["a", "b"] and a.output == tmp_path
    assert a.overrides == {"r": 16, "keep": 0.3}
    assert (a.calibration_clips, a.ios_target, a.seed, a.target) == (24, "iOS17", 0, "executorch")


def test_bench_flags_fill_bench_config(monkeypatch):
    import mobilevid.bench

    seen = _capture(monkeypatch, mobilevid.bench, "run_bench")
    args = ["bench", "-m", "560m", "1g", "--runtime", "eager", "-q", "int8", "--runs", "20"]
    r = CliRunner().invoke(app, args)
    assert isinstance(r.exception, MobilevidError), r.output
    c = seen[0]
    assert (c.device, c.variants, c.artifacts, c.runtimes, c.quantize) == (
        "host", ["560m", "1g"], [], ["eager"], ["int8"],
    )  # fmt: skip
    assert (c.runs, c.warmup, c.threads, c.cooldown) == (20, 3, None, 10.0)


def test_train_flags_fill_train_config(monkeypatch, tmp_path):
    import mobilevid.train

    seen = _capture(monkeypatch, mobilevid.train, "train")
    args = ["train", "-m", "1g", "--val", "none", "--dropout", "0.2", "--epochs", "2",
            "--no-flip", "--out", str(tmp_path)]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert isinstance(r.exception, MobilevidError), r.output
    c = seen[0]
    assert (c.variant, c.val, c.overrides, c.epochs, c.flip) == (
        "vmf-1g",
        None,
        {"dropout": 0.2},
        2,
        False,
    )
    assert (c.out, c.lr, c.train, c.amp) == (tmp_path, 2e-3, "synthetic", True)


def test_train_takes_the_papers_recipe_and_model_options(monkeypatch, tmp_path):
    """TSNet's recipe (20 epochs, 3 warm-up, selectors at 1e-4, batch 8 / 4) is the
    default for its models; flags the user gives win; --set reaches the model."""
    import mobilevid.train

    seen = _capture(monkeypatch, mobilevid.train, "train")
    for args in (
        ["-m", "tsnet-uniformer-s", "--set", "keep=0.3", "--set", "stage_keep=[0.8,0.6,1,1]"],
        ["-m", "tsnet-videoswin-t", "--epochs", "2"],
        ["-m", "1g"],
    ):
        CliRunner().invoke(app, ["train", *args, "--out", str(tmp_path)])
    u, s, v = seen
    assert (u.epochs, u.warmup, u.lr, u.batch_size) == (20, 0.15, 1e-4, 8)
    assert u.overrides == {"keep": 0.3, "stage_keep": [0.8, 0.6, 1, 1]}
    assert (s.epochs, s.batch_size, s.lr) == (2, 4, 1e-4)
    assert (v.epochs, v.lr, v.batch_size) == (10, 2e-3, 16)  # no recipe: the flags' defaults

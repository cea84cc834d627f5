"""The CLI as a user runs it: a real subprocess, real exit codes, real stderr."""

import json
import subprocess
import sys

import pytest

from mobilevid.cli import _expand_multi


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
    assert [r["overrides"]["num_tokens"] for r in six] == [2, 4, 6, 8]


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


def test_multi_value_options_expand():
    assert _expand_multi(["bench", "--variant", "a", "b", "--json", "x"]) == [
        "bench", "--variant", "a", "--variant", "b", "--json", "x",
    ]  # fmt: skip
    assert _expand_multi(["p", "-m", "a", "-m", "b"]) == ["p", "-m", "a", "-m", "b"]

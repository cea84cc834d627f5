"""Load one model into one host runtime and hand back a ``run(x)`` callable.

Each loader returns the callable only after everything a real app does once
(reading the file, planning memory, compiling) has happened, so the caller can
time loading and inference separately, as ExecuTorch's benchmark apps do.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mobilevid.errors import MobilevidError
from mobilevid.ui import muted

__all__ = [
    "DEFAULT_RUNTIMES",
    "RUNTIMES",
    "available",
    "eager",
    "executorch",
    "onnxruntime",
    "coreml",
    "set_threads",
]

RUNTIMES = ("eager", "executorch", "onnxruntime", "coreml", "executorch-cpp")
# executorch-cpp (the C++ runner, built with cmake on first use) is opt-in
DEFAULT_RUNTIMES = RUNTIMES[:4]
Run = Callable[[torch.Tensor], Any]


def available(runtime: str) -> str | None:
    """None if ``runtime`` can run here, else the reason it cannot."""
    if runtime == "onnxruntime":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "onnxruntime is not installed: pip install 'mobilevid[onnx]'"
    if runtime == "executorch-cpp":
        import shutil

        if shutil.which("cmake") is None or shutil.which("c++") is None:
            return "executorch-cpp builds the C++ runner: install cmake and a C++ compiler"
    if runtime == "coreml" and platform.system() != "Darwin":
        return (
            "Core ML runs only on macOS; on Linux, bench the .pte or use --device iphone15 on a Mac"
        )
    return None


def set_threads(threads: int) -> None:
    """One thread count for every runtime in the process: PyTorch's intra-op
    pool and ExecuTorch's XNNPACK threadpool are process-wide."""
    torch.set_num_threads(threads)
    from executorch.extension.pybindings import portable_lib

    with muted():
        portable_lib._unsafe_reset_threadpool(threads)


def eager(model: torch.nn.Module) -> Run:
    model.eval()

    def run(x: torch.Tensor):
        with torch.inference_mode():
            return model(x)

    return run


def executorch(path: Path) -> Run:
    from mobilevid.export.verify import load_pte

    return load_pte(path)


def onnxruntime(path: Path, threads: int) -> Run:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise MobilevidError(f"{path}: ONNX Runtime cannot load it ({e})") from None
    name = sess.get_inputs()[0].name

    def run(x: torch.Tensor):
        return sess.run(None, {name: x.numpy()})[0]

    return run


def coreml(path: Path) -> Run:
    import coremltools as ct

    model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.ALL)

    def run(x: torch.Tensor):
        return model.predict({"video": x.numpy()})["logits"]

    return run


def export_onnx(model: torch.nn.Module, shape: tuple[int, ...], path: Path) -> None:
    """The eager 3D model as ONNX (dynamo exporter): ONNX Runtime runs Conv3d
    natively, so it gets the same network the paper times, not our 2D form."""
    from mobilevid.checkpoint import atomic_write

    x = torch.zeros(shape)

    def write(tmp: Path) -> None:
        with muted():
            torch.onnx.export(
                model,
                (x,),
                str(tmp),
                dynamo=True,
                external_data=False,
                input_names=["video"],
                output_names=["logits"],
                verbose=False,
            )

    atomic_write(path, write)

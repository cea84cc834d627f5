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
    "coreml",
    "StreamRun",
    "eager",
    "eager_stream",
    "executorch",
    "executorch_stream",
    "onnxruntime",
    "openvino",
    "openvino_convert",
    "openvino_default_precision",
    "openvino_nncf_int8",
    "quantize_onnx",
    "set_threads",
]

# mobilevid's own files first, then the peers a CPU user would otherwise pick.
RUNTIMES = (
    "eager",  # PyTorch, the reference
    "executorch",  # mobilevid .pte, XNNPACK (fp32, int8): what a phone runs
    "openvino-ir",  # mobilevid OpenVINO IR (`export --target openvino`): the x86 artifact
    "executorch-openvino",  # mobilevid .pte through ExecuTorch's OpenVINO delegate (fp32)
    "openvino",  # peer: OpenVINO's own conversion, f32 pinned and its default precision
    "openvino-int8",  # peer: NNCF post-training int8 out of the box
    "onnxruntime",  # peer: ONNX Runtime fp32 (the 3D model)
    "onnxruntime-int8",  # peer: ONNX Runtime static QDQ int8, per-channel
    "litert",  # peer: LiteRT (TFLite) fp32 on XNNPACK, converted from the deployable form
    "litert-int8",  # peer: LiteRT static int8 (ai-edge-quantizer) on XNNPACK
    "coreml",
    "executorch-cpp",
)
# executorch-cpp (the C++ runner, built with cmake on first use) is opt-in
DEFAULT_RUNTIMES = RUNTIMES[:-1]
PEERS = "pip install 'mobilevid[peers]'"
Run = Callable[[torch.Tensor], Any]


def available(runtime: str) -> str | None:
    """None if ``runtime`` can run here, else the reason it cannot."""
    import importlib.util

    needs = {
        "onnxruntime": ("onnxruntime",),
        "onnxruntime-int8": ("onnxruntime",),
        "openvino": ("openvino",),
        "openvino-ir": ("openvino", "nncf"),
        "openvino-int8": ("openvino", "nncf"),
        "executorch-openvino": ("openvino", "nncf"),
    }.get(runtime, ())
    absent = [p for p in needs if importlib.util.find_spec(p) is None]
    if absent:
        return f"{' and '.join(absent)} not installed: {PEERS}"
    if runtime in ("litert", "litert-int8"):
        from mobilevid.bench.litert import missing

        return missing("int8" if runtime == "litert-int8" else "convert")
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


class StreamRun:
    """A streaming program as the bench runs it. A call is one step: the next
    frames, with the state the previous calls left (as on a camera feed), so
    the timed work is what a phone does per frame. ``clip(x)`` feeds a whole
    clip from the zero state, for the numerics gate against the whole-clip
    model."""

    def __init__(self, execute: Callable[[list[torch.Tensor]], Any], zero: list[torch.Tensor],
                 step_frames: int, whole_clip: Run | None = None) -> None:  # fmt: skip
        self.execute, self.zero, self.k = execute, zero, step_frames
        self.whole_clip = whole_clip  # a faster equal reference for the gate (eager)
        self.state = list(zero)

    def __call__(self, frames: torch.Tensor):
        out = self.execute([frames, *self.state])
        self.state = list(out[1:])
        return out[0]

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        from mobilevid.export.stream import feed_clip

        if self.whole_clip is not None:
            return self.whole_clip(x)
        return feed_clip(self.execute, x, self.zero, self.k)


def executorch_stream(path: Path) -> StreamRun:
    """A streaming .pte, its zero state read from the sidecar."""
    from mobilevid.export.artifact import read_sidecar
    from mobilevid.export.stream import state_from_meta
    from mobilevid.export.verify import pte_method

    meta = read_sidecar(path)
    return StreamRun(pte_method(path), state_from_meta(meta), meta["stream"]["step_frames"])


def eager_stream(model: torch.nn.Module, size: int, step_frames: int) -> StreamRun:
    """The eager stream model, a step at a time (``MoViNet.stream``)."""
    model.eval()

    def execute(xs: list[torch.Tensor]) -> list[torch.Tensor]:
        with torch.inference_mode():
            logits, state = model.stream(xs[0], list(xs[1:]))
        return [logits, *state]

    return StreamRun(execute, model.init_state(size), step_frames, whole_clip=eager(model))


def eager(model: torch.nn.Module) -> Run:
    model.eval()

    def run(x: torch.Tensor):
        with torch.inference_mode():
            return model(x)

    return run


def executorch(path: Path) -> Run:
    from mobilevid.export.verify import load_pte

    return load_pte(path)


def openvino(model: Any, threads: int, precision: str | None) -> Run:
    """An OpenVINO model (an IR path or an ``openvino.Model``) compiled for
    the CPU at ``threads`` and ``precision`` (None: OpenVINO's default)."""
    from mobilevid.export import openvino as ov_backend

    return ov_backend.load(model, threads, precision)


def openvino_default_precision() -> str:
    """What OpenVINO's CPU plugin runs an fp32 model in on this machine
    (bf16 on CPUs with AVX512_BF16 or AMX, else f32)."""
    import openvino as ov

    return ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()


def openvino_convert(model: torch.nn.Module, shape: tuple[int, ...]) -> Any:
    """OpenVINO's own conversion of the eager 3D model, as a user would do it."""
    from mobilevid.export.openvino import convert

    return convert(model, shape)


def openvino_nncf_int8(ov_model: Any, clips: list[torch.Tensor]) -> Any:
    """NNCF's post-training int8 with its defaults (every conv and matmul),
    on the same calibration clips as mobilevid's int8 files."""
    import logging

    import nncf

    nncf.set_log_level(logging.ERROR)
    with muted():
        return nncf.quantize(
            ov_model, nncf.Dataset(clips, lambda c: c.numpy()), subset_size=len(clips)
        )


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


class _Clips:
    """ONNX Runtime's calibration reader over in-memory clips."""

    def __init__(self, clips: list[torch.Tensor]):
        self._it = iter([{"video": c.numpy()} for c in clips])

    def get_next(self):
        return next(self._it, None)


def quantize_onnx(fp32: Path, path: Path, clips: list[torch.Tensor]) -> None:
    """ONNX Runtime's static int8 as its docs recommend for CPUs: shape
    inference and optimization first, then QDQ with per-channel weights (int8)
    and activations (uint8), calibrated (min-max) on ``clips``."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from mobilevid.checkpoint import atomic_write

    class Reader(_Clips, CalibrationDataReader):
        pass

    def write(tmp: Path) -> None:
        pre = tmp.with_suffix(".pre.onnx")
        with muted():
            quant_pre_process(str(fp32), str(pre))
            quantize_static(
                str(pre), str(tmp), Reader(clips), quant_format=QuantFormat.QDQ, per_channel=True
            )

    atomic_write(path, write)

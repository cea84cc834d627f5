"""ExecuTorch (.pte) with the OpenVINO backend: one .pte format for phones and
x86 servers (experimental).

ExecuTorch's host runtime registers ``OpenvinoBackend`` beside XNNPACK and loads
``libopenvino_c.so`` from the installed ``openvino`` package at run time. The 3D
model lowers as one OpenVINO delegate (OpenVINO runs Conv3d natively; the
frames-major form was slower through it: 35.9 against 26.7 ms on a Xeon).

Limits of the released wheels (executorch 1.5.1), measured:

- openvino must be 2025.x (executorch's ``[openvino]`` extra pins <2026; a .pte
  lowered and run with 2026.4.1 segfaults in ``execute``);
- the compile specs reach the runtime as strings and only ``device`` is read, so
  neither the thread count nor the inference precision can be set: on CPUs
  with AVX512_BF16 or AMX it runs in bf16 (cosine 0.9999 against PyTorch, so
  ``mobilevid verify`` gates it on cosine, not on 1e-4), and it takes
  OpenVINO's default thread count;
- int8: the backend's NNCF ``quantize_model`` fails in calibration on the 3D
  model (an observer IndexError) and gave no speed-up on the 2D form (37.7
  against 35.9 ms fp32, cosine 0.976), and ``OpenVINOQuantizer`` with PT2E does
  not compile. int8 for x86 is ``--target openvino --quantize int8``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mobilevid.checkpoint import atomic_write
from mobilevid.errors import MobilevidError
from mobilevid.export.backends import Backend, BackendOutput, Plan, register_backend
from mobilevid.export.executorch import check_loads, delegation_summary
from mobilevid.export.openvino import missing
from mobilevid.export.source import BuiltModel
from mobilevid.ui import Steps, muted

__all__ = ["OpenvinoPteBackend"]

OPENVINO_RANGE = ("2025.", "executorch 1.5.1 runs OpenVINO 2025.x only")


@register_backend
class OpenvinoPteBackend(Backend):
    """The 3D model lowered to ExecuTorch's OpenVINO delegate (fp32)."""

    target = "executorch"
    name = "openvino"
    ext = ".pte"
    precisions = ("fp32",)
    summary = "ExecuTorch .pte for x86 CPUs through OpenVINO (experimental, fp32)"

    def check(self, plan: Plan) -> None:
        why = missing("openvino", "nncf")  # the partitioner imports nncf
        if why:
            raise MobilevidError(f"--backend openvino: {why}")
        from importlib.metadata import version

        v = version("openvino")
        if not v.startswith(OPENVINO_RANGE[0]):
            raise MobilevidError(
                f"--backend openvino: openvino {v} is installed, but {OPENVINO_RANGE[1]}: "
                "pip install 'mobilevid[peers]'"
            )

    def metadata(self, plan: Plan) -> dict[str, Any]:
        from importlib.metadata import version

        return {"openvino": {"version": version("openvino"), "device": "CPU"}}

    def export(
        self, model: BuiltModel, plan: Plan, meta: dict[str, Any], steps: Steps
    ) -> BackendOutput:
        from executorch.backends.openvino.partitioner import OpenvinoPartitioner
        from executorch.exir import to_edge_transform_and_lower
        from executorch.exir.backend.compile_spec_schema import CompileSpec

        example = torch.randn(plan.input_shape)
        with steps.step("torch.export (the 3D model: OpenVINO runs Conv3d)"):
            ep = torch.export.export(model.module.eval(), (example,))
        with steps.step("lowering to OpenVINO"), muted():
            edge = to_edge_transform_and_lower(
                ep, partitioner=[OpenvinoPartitioner([CompileSpec("device", b"CPU")])]
            )
        summary = delegation_summary(edge.exported_program().graph_module)
        if summary["delegated_subgraphs"] != 1 or summary["portable_nodes"]:
            raise MobilevidError(
                f"{plan.name}: OpenVINO took {summary['delegated_subgraphs']} subgraph(s) and "
                f"left {summary['portable_nodes']} op(s) on portable kernels "
                f"({summary['portable_ops']}); use --target openvino for this model"
            )
        with steps.step("serializing to ExecuTorch"):
            program = edge.to_executorch()

        def write(tmp: Path) -> None:
            tmp.write_bytes(program.buffer)
            check_loads(tmp, plan.name)

        with steps.step(f"saving {Path(plan.output).name} (after a load check in the runtime)"):
            atomic_write(Path(plan.output), write)
        return BackendOutput(
            summary, ["runs at OpenVINO's default precision (bf16 on AVX512_BF16/AMX CPUs)"]
        )

"""Core ML (.mlpackage, ML program) for iOS 17+.

Core ML runs Conv3d natively, so the 3D model is converted as it is, through
``torch.export`` with the default decompositions. The input is declared float32
(with fp16 precision Core ML would otherwise make it FLOAT16) and named
``video``; the output is float32 ``logits``. Labels and the preprocessing spec
go into the model's metadata, as in the JSON sidecar.

int8 = ``linear_quantize_weights`` (symmetric, per-channel): weights are stored
as int8 and dequantized on load; activations stay fp16. int8 weights are half
of fp16 weights by construction (~52% of the fp16 file with the scales), so for
a package near a quarter of fp16 there is int4 = the same with 4-bit weights,
per output channel (iOS 18). Per-block scales (blocks of 32 input channels)
would be more accurate but cost 39% of fp16 here: most of this network's
weights are depthwise or narrow, so a block is nearly a row. 4-bit weights
without fine-tuning lose accuracy; check them on a Mac (``mobilevid verify``)
before shipping. Activation calibration needs macOS and is not done here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mobilevid.checkpoint import atomic_write
from mobilevid.errors import MobilevidError
from mobilevid.export.backends import Backend, BackendOutput, Plan, register_backend
from mobilevid.export.source import BuiltModel
from mobilevid.ui import Steps

__all__ = ["IOS_TARGETS", "METADATA_KEYS", "CoreMLBackend"]

# user_defined_metadata keys (all strings), mirrored by the iOS demo
METADATA_KEYS = ("mobilevid.model", "mobilevid.input", "mobilevid.labels", "mobilevid.meta")


IOS_TARGETS = ("iOS17", "iOS18")


@register_backend
class CoreMLBackend(Backend):
    """An ML program for iOS 17+: the 3D model as it is (Core ML runs Conv3d)."""

    target = "coreml"
    name = "coreml"
    ext = ".mlpackage"
    precisions = ("fp16", "fp32", "int8", "int4")
    qat = "coreml"
    summary = "Core ML .mlpackage for iPhones (ML program)"

    def check(self, plan: Plan) -> None:
        ios = plan.cfg.ios_target
        if ios not in IOS_TARGETS:
            raise MobilevidError(f"--ios-target must be one of {', '.join(IOS_TARGETS)}")
        if plan.quantize == "int4" and ios < "iOS18":
            raise MobilevidError(
                "Core ML int4 weights (per-block) need iOS 18: add --ios-target iOS18"
            )

    def metadata(self, plan: Plan) -> dict[str, Any]:
        return {"ios_target": plan.cfg.ios_target}

    def export(
        self, model: BuiltModel, plan: Plan, meta: dict[str, Any], steps: Steps
    ) -> BackendOutput:
        import coremltools as ct

        if plan.source.stream:
            return self._export_stream(model, plan, meta, steps)
        example = torch.randn(plan.input_shape)
        net = model.module
        if model.qat is not None:
            with steps.step("finalizing the QAT model (int8 weights + scales)"):
                net = model.qat.convert()
            # quantize/dequantize ops: torch.export has no fake tensors for them
            with steps.step("torch.jit.trace (the QAT model's int8 weights)"), torch.no_grad():
                ep = torch.jit.trace(net, example)
        else:
            with steps.step("torch.export (3D model, default decompositions)"):
                ep = torch.export.export(net, (example,)).run_decompositions({})
        precision = ct.precision.FLOAT32 if plan.quantize == "fp32" else ct.precision.FLOAT16
        ios = plan.cfg.ios_target
        with steps.step(f"converting to Core ML ({ios}, mlprogram)"):
            mlmodel = ct.convert(
                ep,
                inputs=[ct.TensorType(name="video", shape=example.shape, dtype=np.float32)],
                outputs=[ct.TensorType(name="logits", dtype=np.float32)],
                convert_to="mlprogram",
                minimum_deployment_target=getattr(ct.target, ios),
                compute_precision=precision,
            )
        return self._finish(mlmodel, model, plan, meta, steps)

    def _export_stream(
        self, model: BuiltModel, plan: Plan, meta: dict[str, Any], steps: Steps
    ) -> BackendOutput:
        """The streaming step (:mod:`mobilevid.export.stream`) as an ML program
        with one input and one output per state tensor, named as the sidecar's
        ``stream`` block names them. The frames-major step, not the 3D model:
        the state layout is the one the .pte carries, so both apps share it."""
        import coremltools as ct

        from mobilevid.export import stream

        if model.qat is not None:
            raise MobilevidError(f"{plan.name}: QAT checkpoints of stream models are not supported")
        k, size = plan.cfg.step_frames, plan.input_shape[-1]
        with steps.step(f"torch.export (streaming step, {k} frame(s) per call)"):
            step = stream.step_program(model.module, k)
            example = stream.step_example(model.module, size, k)
            ep = torch.export.export(step, example).run_decompositions({})
        names = meta["stream"]["inputs"]
        precision = ct.precision.FLOAT32 if plan.quantize == "fp32" else ct.precision.FLOAT16
        ios = plan.cfg.ios_target
        with steps.step(f"converting to Core ML ({ios}, mlprogram)"):
            mlmodel = ct.convert(
                ep,
                inputs=[
                    ct.TensorType(name=n, shape=x.shape, dtype=np.float32)
                    for n, x in zip(names, example, strict=True)
                ],
                outputs=[
                    ct.TensorType(name=n if i else "logits", dtype=np.float32)
                    for i, n in enumerate(f"{n}_out" for n in names)
                ],
                convert_to="mlprogram",
                minimum_deployment_target=getattr(ct.target, ios),
                compute_precision=precision,
            )
        return self._finish(mlmodel, model, plan, meta, steps)

    def _finish(self, mlmodel, model: BuiltModel, plan: Plan, meta, steps: Steps) -> BackendOutput:
        from mobilevid.quantize.coreml import quantize_weights

        if plan.quantize in ("int8", "int4") and model.qat is None:
            with steps.step(f"quantizing weights to {plan.quantize} (per-channel, symmetric)"):
                mlmodel = quantize_weights(mlmodel, plan.quantize)
        _describe(mlmodel, meta)
        with steps.step(f"saving {Path(plan.output).name}"):
            atomic_write(Path(plan.output), lambda tmp: mlmodel.save(str(tmp)))
        return BackendOutput()


def _describe(mlmodel, meta: dict[str, Any]) -> None:
    mlmodel.short_description = (
        f"{meta['model']} video classifier ({meta['num_classes']} classes), exported by mobilevid"
    )
    mlmodel.version = meta["mobilevid_version"]
    mlmodel.author = "mobilevid"
    s = meta.get("stream")
    if s:
        mlmodel.input_description["frames"] = (
            f"the next {s['step_frames']} RGB frame(s) (1, 3, k, H, W), normalised as in "
            "mobilevid.input"
        )
        for x in s["state"]:
            mlmodel.input_description[x["name"]] = f"state: {x['what']} (zeros at the start)"
            mlmodel.output_description[f"{x['name']}_out"] = f"the next {x['name']}"
    else:
        mlmodel.input_description["video"] = (
            "RGB clip (1, 3, T, H, W), float32, normalised as in mobilevid.input"
        )
    mlmodel.output_description["logits"] = (
        "class scores (1, num_classes); labels in mobilevid.labels"
    )
    md = mlmodel.user_defined_metadata
    md["mobilevid.model"] = meta["model"]
    md["mobilevid.input"] = json.dumps(meta["input"])
    md["mobilevid.labels"] = json.dumps(meta["labels"])
    md["mobilevid.meta"] = json.dumps(
        {k: v for k, v in meta.items() if k not in ("labels", "input")}
    )

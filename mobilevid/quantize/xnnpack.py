"""int8 for the ExecuTorch XNNPACK backend: PT2E with the XNNPACK quantizer
(symmetric, per-channel weights), on the frames-major deployable form.

Post-training quantization (export) and quantization-aware training (``mobilevid
train --qat xnnpack``) share one quantizer setup (:func:`prepare`), so a QAT
checkpoint converts to exactly the graph PTQ would lower. Attention activations
stay fp32 (their linears are int8): on a trained VMF-560M quantizing them too
took the worst per-clip cosine from 0.977 to 0.955, for a small share of the
MACs (docs/export.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from mobilevid.ui import Steps

__all__ = ["PerClip", "calibrate_activations", "convert", "prepare", "prepare_qat", "ptq"]


def _is_zero_pad(n: torch.fx.Node) -> bool:
    if n.op != "call_function":
        return False
    if n.target == torch.ops.aten.constant_pad_nd.default:
        return len(n.args) < 3 or n.args[2] == 0
    if n.target == torch.ops.aten.pad.default:
        mode = n.args[2] if len(n.args) > 2 else n.kwargs.get("mode", "constant")
        value = n.args[3] if len(n.args) > 3 else n.kwargs.get("value")
        return mode == "constant" and not value
    return False


def _annotate_zero_pads(gm: torch.fx.GraphModule, act_qspec) -> None:
    """Quantize every zero pad (the temporal pads of FramesConv) as an int8 copy
    whose output shares its input's qparams (zero is exact in any affine int8
    scheme); an fp32 input (DY-ReLU's maximum) is quantized once, before the pad.

    Left unannotated, a pad of an int8 activation stays fp32 between a dequantize
    and a quantize, XNNPACK's InsertPadQDQPass gives it an int8 output beside its
    fp32 input, and the runtime rejects the program at load ("Failed to create
    StaticConstantPad"); and every temporal tap sliced from the pad would get its
    own scale and its own fp32 slice and requantization."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer_utils import (
        _has_annotated_qparam_source,
    )
    from torchao.quantization.pt2e.quantizer import (
        QuantizationAnnotation,
        SharedQuantizationSpec,
    )

    for n in gm.graph.nodes:
        src = n.args[0] if _is_zero_pad(n) else None
        if not isinstance(src, torch.fx.Node) or "quantization_annotation" in n.meta:
            continue
        if _has_annotated_qparam_source(src):
            shared = SharedQuantizationSpec(src)
            inputs = {src: shared}
        else:
            shared = SharedQuantizationSpec((src, n))
            inputs = {src: act_qspec}
        n.meta["quantization_annotation"] = QuantizationAnnotation(
            input_qspec_map=inputs, output_qspec=shared, _annotated=True
        )


def _quantizer():
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer_utils import (
        get_input_act_qspec,
        propagate_annotation,
    )

    class PadSharingQuantizer(XNNPACKQuantizer):
        """The XNNPACK quantizer, plus zero pads that share their input's qparams
        (annotated before the view/slice propagation, so the temporal taps sliced
        from a pad share them too and run as int8 copies)."""

        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            model = self._annotate_for_quantization_config(model)
            _annotate_zero_pads(model, get_input_act_qspec(self.global_config))
            propagate_annotation(model)
            return model

    return PadSharingQuantizer()


def prepare(
    deploy: torch.nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], qat: bool = False
) -> torch.fx.GraphModule:
    """The deployable model exported with int8 observers (PTQ) or fake-quant
    modules (QAT, ``mobilevid train --qat xnnpack``): one quantizer setup for
    both, so a QAT checkpoint converts to exactly the graph PTQ would lower."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, prepare_qat_pt2e

    from mobilevid.deploy import KEEP_FP32

    quantizer = _quantizer()
    quantizer.set_global(get_symmetric_quantization_config(is_per_channel=True, is_qat=qat))
    keep = tuple(f"{c.__module__}.{c.__qualname__}" for c in KEEP_FP32)

    # Attention activations stay fp32 (their linears are still int8): on a trained
    # VMF-560M, quantizing them too took the worst per-clip cosine from 0.977 to
    # 0.955, for a small share of the MACs (docs/export.md). So do a streaming
    # program's running means (the state it carries; see deploy.movinet.RunningMean).
    def quantize_node(n: torch.fx.Node) -> bool:
        in_attention = any(k in str(n.meta.get("nn_module_stack", "")) for k in keep)
        return not in_attention or n.target == torch.ops.aten.linear.default

    quantizer.set_filter_function(quantize_node)
    args = example if isinstance(example, tuple) else (example,)
    gm = torch.export.export(deploy, args).module()
    return prepare_qat_pt2e(gm, quantizer) if qat else prepare_pt2e(gm, quantizer)


def ptq(
    deploy: nn.Module,
    example: torch.Tensor | tuple[torch.Tensor, ...],
    clips: list[torch.Tensor],
    steps: Steps | None = None,
    feed: Callable[[nn.Module, torch.Tensor], object] | None = None,
) -> nn.Module:
    """Post-training int8: observers, a pass over the calibration clips, convert.
    ``feed(observed, clip)`` runs one clip (default: one call; a streaming
    program is fed the clip frame by frame, carrying its state)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    steps = steps or Steps(enabled=False)
    with steps.step("inserting observers (PT2E, XNNPACK quantizer, per-channel weights)"):
        gm = prepare(deploy, example)
    with torch.no_grad():
        for clip in steps.track(clips, f"calibrating on {len(clips)} real clips", len(clips)):
            gm(clip) if feed is None else feed(gm, clip)
    with steps.step("converting to int8"):
        return convert_pt2e(gm)


class PerClip(nn.Module):
    """The batch-1 QAT graph applied to each clip of a batch. The graph trained
    is then exactly the graph exported (the deployable form takes batch-1
    shortcuts, so a batch-B graph would differ), and with BN folded the clips of
    a batch are independent: the gradient is the batch gradient, exactly."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.net(x[i : i + 1]) for i in range(x.shape[0])])


def _observers(gm: torch.fx.GraphModule) -> dict[str, nn.Module]:
    """Activation observers / fake-quants by the name of the node they watch
    (the same in the PTQ and the QAT graph: both come from one export)."""
    out = {}
    for n in gm.graph.nodes:
        if n.op == "call_module" and n.target.startswith("activation_post_process"):
            src = n.args[0]
            if isinstance(src, torch.fx.Node) and src.op != "get_attr":  # weights aside
                out[src.name] = gm.get_submodule(n.target)
    return out


def calibrate_activations(qat_gm: torch.fx.GraphModule, deploy: nn.Module, clips) -> int:
    """Start QAT from the activation ranges post-training quantization would
    use, and keep them. The QAT config's moving-average min/max ranges are
    stretched by rare outliers: on a trained VMF-560M they took the fake-quant
    model from 100% to 29% top-1 before any training, while PTQ's histogram
    ranges (outliers clipped) kept 100%. So the histogram search runs on a few
    training clips, its ranges are written into the fake-quant modules and
    their observers are switched off; QAT then adapts the weights to them."""
    ptq = prepare(deploy, clips[0][None], qat=False)
    with torch.no_grad():
        for c in clips:
            ptq(c[None])
    hist, fq = _observers(ptq), _observers(qat_gm)
    done = 0
    for name, f in fq.items():
        h = hist.get(name)
        if h is None or not hasattr(h, "_non_linear_param_search"):
            continue
        lo, hi = h._non_linear_param_search()
        obs = f.activation_post_process
        obs.min_val.copy_(lo)
        obs.max_val.copy_(hi)
        scale, zero_point = obs.calculate_qparams()
        f.scale.copy_(scale)
        f.zero_point.copy_(zero_point)
        f.disable_observer()
        done += 1
    return done


def prepare_qat(model: nn.Module, example: torch.Tensor, clips=None) -> PerClip:
    """The fake-quant graph of ``model``'s deployable form, trained per clip.
    ``clips`` (3, T, S, S): calibration for the activation ranges (none when the
    state comes from a checkpoint)."""
    from torchao.quantization.pt2e import allow_exported_model_train_eval

    from mobilevid.deploy import to_deployable

    deploy = to_deployable(model.eval())
    gm = prepare(deploy, example[:1], qat=True)
    if clips:
        calibrate_activations(gm, deploy, clips)
    # exported graphs refuse .train()/.eval(); this lets the loop switch
    # modes as for any model (the folded graph has no BN or dropout left)
    return PerClip(allow_exported_model_train_eval(gm))


def convert(trained: PerClip) -> nn.Module:
    """The int8 graph of a QAT model, ready for lowering."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    return convert_pt2e(trained.net)

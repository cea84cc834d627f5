"""Quantization-aware fine-tuning for the two deployment targets.

- ``xnnpack``: PT2E QAT on the *deployable* frames-major form (BN folded), with
  the very quantizer setup the int8 export uses (``prepare_int8``), at batch 1
  (:class:`PerClip`), so the fake-quant graph trained here is the graph that
  becomes the .pte.
- ``coreml``: coremltools.optimize.torch ``LinearQuantizer`` on the 3D model
  (Core ML runs Conv3d), int8 per-channel symmetric weights; activations stay
  float (Core ML activation quantization needs macOS to calibrate and run).

Both checkpoints are state_dicts of the prepared model plus ``qat`` in the
metadata; :func:`qat_model` rebuilds the prepared model and loads them, which
is what ``mobilevid export --checkpoint`` does.
"""

from __future__ import annotations

import torch
from torch import nn

from mobilevid.errors import MobilevidError

__all__ = ["PerClip", "calibrate_activations", "coreml_finalize", "prepare_qat", "qat_model"]


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


def _coreml_config():
    import coremltools.optimize.torch.quantization as q

    # milestones: fake-quant weights from step 0; observers never freeze by
    # step count (the fine-tune is short); BN stats freeze at step 0 is not
    # wanted either, so the large values switch those transitions off
    return q.LinearQuantizerConfig(
        global_config=q.ModuleLinearQuantizerConfig(
            quantization_scheme="symmetric",
            weight_dtype=torch.qint8,
            activation_dtype=torch.float32,
            milestones=[0, 10**9, 10**9, 10**9],
        )
    )


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
    from mobilevid.export.executorch import prepare_int8

    ptq = prepare_int8(deploy, clips[0][None], qat=False)
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


def prepare_qat(
    model: nn.Module, backend: str, example: torch.Tensor, clips: list[torch.Tensor] | None = None
) -> nn.Module:
    """``clips`` (3, T, S, S): calibration for the xnnpack activation ranges
    (none when the state comes from a checkpoint)."""
    if backend == "xnnpack":
        from torchao.quantization.pt2e import allow_exported_model_train_eval

        from mobilevid.deploy import to_deployable
        from mobilevid.export.executorch import prepare_int8

        gm = prepare_int8(to_deployable(model.eval()), example[:1], qat=True)
        if clips:
            calibrate_activations(gm, to_deployable(model.eval()), clips)
        # exported graphs refuse .train()/.eval(); this lets the loop switch
        # modes as for any model (the folded graph has no BN or dropout left)
        return PerClip(allow_exported_model_train_eval(gm))
    if backend == "coreml":
        import coremltools.optimize.torch.quantization as q

        quantizer = q.LinearQuantizer(model, _coreml_config())
        prepared = quantizer.prepare(example_inputs=(example[:1],), inplace=False)
        prepared._mobilevid_quantizer = quantizer  # stepped by the training loop
        return prepared
    raise MobilevidError(f"unknown QAT backend {backend!r}; choose xnnpack or coreml")


def qat_model(
    name: str, num_classes: int, overrides: dict, ckpt, example: torch.Tensor
) -> nn.Module:
    """The prepared QAT model of a checkpoint written by ``mobilevid train --qat``,
    with its trained weights and quantization parameters."""
    from mobilevid.models import create_model

    backend = ckpt.meta.get("qat")
    model = create_model(name, num_classes=num_classes, **overrides)
    prepared = prepare_qat(model, backend, example)
    own, got = set(prepared.state_dict()), set(ckpt.state_dict)
    if own != got:
        raise MobilevidError(
            f"{ckpt.path}: QAT state does not match a fresh {backend} QAT graph of {name} "
            f"({len(own - got)} missing, {len(got - own)} unexpected keys); "
            "was it written by another mobilevid version?"
        )
    prepared.load_state_dict(ckpt.state_dict)
    return prepared


def coreml_finalize(prepared: nn.Module) -> nn.Module:
    """Fold the fake quantization into weights + ``_COREML_`` scale buffers that
    ``ct.convert`` turns into int8 constants. The scales of 5-D (Conv3d) weights
    come out rank 2 and conversion refuses them ("weight should have same rank
    as scale"): they are reshaped to rank 5 (PLATFORM.md)."""
    quantizer = getattr(prepared, "_mobilevid_quantizer", None)
    if quantizer is None:
        import coremltools.optimize.torch.quantization as q

        quantizer = q.LinearQuantizer(prepared, _coreml_config())
    model = quantizer.finalize(prepared, inplace=False)
    for mod in model.modules():
        w = getattr(mod, "weight", None)
        if not isinstance(w, torch.Tensor) or w.dim() != 5:
            continue
        for key in ("_COREML_/weight/quantization_scale", "_COREML_/weight/zero_point"):
            buf = getattr(mod, key, None)
            if isinstance(buf, torch.Tensor) and buf.dim() != 5:
                setattr(mod, key, buf.reshape(w.shape[0], *([1] * 4)))
    return model.eval()

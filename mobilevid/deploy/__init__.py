"""The deployable, frames-major form of every model (see ``ops.py``).

``to_deployable(model)`` returns a new module and never touches the caller's
model: trained weights in, an inference-only network out whose convolutions
are all Conv2d, with BN folded."""

from __future__ import annotations

from torch import nn

from mobilevid.deploy.mobile_former import (
    DeployVMF,
    FramesFormer,
    FramesFormerToMobile,
    FramesMobileToFormer,
)
from mobilevid.deploy.movinet import DeployMoViNet, DeployMoViNetStep, RunningMean
from mobilevid.deploy.ops import FramesConv
from mobilevid.deploy.swin import DeploySwin
from mobilevid.deploy.uniformer import DeployUniFormer
from mobilevid.deploy.vit import DeployViT
from mobilevid.deploy.x3d import DeployX3D
from mobilevid.errors import MobilevidError
from mobilevid.models.mobile_former import VideoMobileFormer
from mobilevid.models.movinet import MoViNet
from mobilevid.models.swin import VideoSwin
from mobilevid.models.uniformer import UniFormer
from mobilevid.models.vit import VisionTransformer
from mobilevid.models.x3d import X3D

__all__ = [
    "KEEP_FP32",
    "DeployMoViNet",
    "DeployMoViNetStep",
    "DeploySwin",
    "DeployUniFormer",
    "DeployVMF",
    "DeployViT",
    "DeployX3D",
    "FramesConv",
    "is_deployable",
    "to_deployable",
]

# Modules int8 export leaves in fp32: the attention of the bridges and the Former
# (sensitive to 8-bit activations, a small share of the MACs).
KEEP_FP32 = (FramesMobileToFormer, FramesFormerToMobile, FramesFormer, RunningMean)

_CONVERTERS: dict[type, type[nn.Module]] = {
    VideoMobileFormer: DeployVMF,
    X3D: DeployX3D,
    MoViNet: DeployMoViNet,
    VisionTransformer: DeployViT,  # also STA and TSNet
    UniFormer: DeployUniFormer,  # also TSNet
    VideoSwin: DeploySwin,  # also TSNet
}


def is_deployable(model: nn.Module) -> bool:
    return isinstance(model, (*_CONVERTERS.values(), DeployMoViNetStep))


def to_deployable(model: nn.Module) -> nn.Module:
    if is_deployable(model):
        return model  # converting twice would be a no-op at best
    for src, dst in _CONVERTERS.items():
        if isinstance(model, src):
            return dst(model).eval()
    raise MobilevidError(f"no deployable form for {type(model).__name__}")

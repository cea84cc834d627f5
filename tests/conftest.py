import pytest
import torch
from torch import nn


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _randomized_movinet(name: str, num_classes: int = 7, seed: int = 1) -> nn.Module:
    """A MoViNet whose every branch matters: ReZero starts at 0 in the reference
    init (each block an identity), and BN statistics away from their init."""
    torch.manual_seed(seed)
    from mobilevid.models import create_model

    m = create_model(name, num_classes=num_classes)
    g = torch.Generator().manual_seed(seed)
    for blk in m.blocks:
        blk.rezero.data.uniform_(0.3, 1.0, generator=g)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm3d):
            mod.running_mean.uniform_(-0.3, 0.3, generator=g)
            mod.running_var.uniform_(0.5, 2.0, generator=g)
            mod.weight.data.uniform_(0.5, 1.5, generator=g)
            mod.bias.data.uniform_(-0.2, 0.2, generator=g)
    return m.eval()


@pytest.fixture(scope="session")
def randomized():
    """``randomized(name, num_classes=7, seed=1)``: a MoViNet with live branches."""
    return _randomized_movinet


# VMF-560M exported at a small shape, once per session: the export tests check
# them, the bench tests time them (exporting costs ~1 min each on 2 cores).
SMALL = dict(frames=16, size=64)


@pytest.fixture(scope="session")
def fp32(tmp_path_factory):
    from mobilevid.export import ExportConfig, export

    out = tmp_path_factory.mktemp("et")
    return export(ExportConfig(variant="560m", target="executorch", output=out, **SMALL))


@pytest.fixture(scope="session")
def int8(tmp_path_factory):
    from mobilevid.export import ExportConfig, export

    out = tmp_path_factory.mktemp("et8")
    return export(
        ExportConfig(variant="560m", target="executorch", quantize="int8", output=out, **SMALL)
    )


@pytest.fixture(scope="session")
def ov_pte(tmp_path_factory):
    """VMF-560M at 8x64 through ExecuTorch's OpenVINO backend, exported once
    (~40 s): the export tests check it, the bench tests time it."""
    import importlib.util

    from mobilevid.export import ExportConfig, export

    if importlib.util.find_spec("openvino") is None or importlib.util.find_spec("nncf") is None:
        pytest.skip("openvino/nncf not installed (pip install 'mobilevid[peers]')")
    out = tmp_path_factory.mktemp("etov")
    return export(
        ExportConfig(variant="560m", target="executorch", backend="openvino", output=out,
                     frames=8, size=64)
    )  # fmt: skip


def _write_motion_video(path, label: int, frames: int, size: int, seed: int) -> None:
    """A synthetic motion clip as a real mp4 file (OpenCV, mp4v, 25 fps)."""
    import cv2
    import numpy as np

    from mobilevid.data.synthetic import motion_clip

    clip = motion_clip(label, frames, size, seed=seed)  # (3, T, S, S) in [0, 1]
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (size, size))
    for f in (clip.permute(1, 2, 3, 0).numpy() * 255).round().astype(np.uint8):
        w.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    w.release()


@pytest.fixture(scope="session")
def motion_video():
    """``motion_video(path, label, frames, size, seed)`` writes one mp4."""
    return _write_motion_video


@pytest.fixture(scope="session")
def builtin_pte(tmp_path_factory):
    """The built-in motion checkpoint exported as fp32 and int8 .pte (~2 min):
    recognition over time and multi-view evaluation compare them with eager."""
    from mobilevid.export import ExportConfig, export

    out = tmp_path_factory.mktemp("builtin")
    ckpt = "builtin:vmf-560m-motion"
    return {
        q: export(ExportConfig(checkpoint=ckpt, quantize=q, output=out)).path
        for q in ("fp32", "int8")
    }


def write_motion_sequence(path, labels, seconds: float, fps: int = 25, height: int = 128,
                          width: int = 160, seed: int = 0) -> list[float]:  # fmt: skip
    """An mp4 of synthetic motions back to back, ``seconds`` each, 4:3-ish
    landscape at twice the built-in model's 64 px (so its texture cells are 16
    px, and 8 px once the centre square is resized, as in training). Returns
    the times of the cuts."""
    import cv2
    import numpy as np

    from mobilevid.data.synthetic import motion_frames

    n = round(seconds * fps)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for k, label in enumerate(labels):
        for first in range(0, n, 250):  # in pieces: a long video never sits in memory
            clip = motion_frames(label, min(250, n - first), height, width, seed=seed + k,
                                 cell=8 * height // 64, first=first)  # fmt: skip
            for f in (clip.permute(1, 2, 3, 0).numpy() * 255).round().astype(np.uint8):
                w.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    w.release()
    return [k * n / fps for k in range(1, len(labels))]


@pytest.fixture(scope="session")
def motion_sequence():
    return write_motion_sequence


def write_fake_artifact(path, data: bytes = b"\0" * 16, **fields):
    """A stand-in artifact (bytes that no runtime loads, for the transports that
    never open them: a phone over adb) with a complete, valid sidecar written by
    the real writer, so it carries the artifact's true size and sha256.
    ``fields`` replace top-level sidecar fields; ``shape`` sets the input."""
    from pathlib import Path

    from mobilevid.export.artifact import write_sidecar

    path = Path(path)
    if path.suffix == ".mlpackage":
        path.mkdir(parents=True, exist_ok=True)
        (path / "Manifest.json").write_bytes(data)
    else:
        path.write_bytes(data)
    t, s = fields.pop("shape", [1, 3, 16, 64, 64])[2:4]
    n = fields.get("num_classes", 400)
    meta = {
        "format": "mobilevid-artifact", "schema_version": 2, "mobilevid_version": "0.1.0",
        "created": "2026-12-05T00:00:00Z", "model": "vmf-560m", "family": "VideoMobileFormer",
        "overrides": {}, "num_classes": n, "target": "executorch", "backend": "xnnpack",
        "quantize": "fp32", "qat": None, "ios_target": None,
        "input": {
            "name": "video", "shape": [1, 3, t, s, s], "dtype": "float32", "layout": "BCTHW",
            "frames": t, "size": s, "sampling": "uniform", "frame_stride": None,
            "crop": "centre", "resize": "bilinear", "color": "RGB", "scale": 1 / 255,
            "mean": [0.45] * 3, "std": [0.225] * 3,
        },
        "output": {"name": "logits", "shape": [1, n], "dtype": "float32"},
        "labels": None, "weights": {"init": "deterministic", "seed": 0},
        "params": 0, "gmacs": 0.551, "versions": {},
    } | fields  # fmt: skip
    write_sidecar(path, meta)
    return path


@pytest.fixture(scope="session")
def fake_artifact():
    """``fake_artifact(path, data=..., **sidecar_fields)``: see write_fake_artifact."""
    return write_fake_artifact


@pytest.fixture
def randomize():
    """Move a model's BN statistics and TSNet's dropped-token linears off their
    inits (seeded), so BN folding and the linear branch of a deployable form are
    exercised; returns the model in eval mode."""
    from torch import nn

    from mobilevid.models.tsnet import TSNetSparse

    def apply(model: nn.Module) -> nn.Module:
        g = torch.Generator().manual_seed(0)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.weight.data.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.bias.data.copy_(0.1 * torch.randn(m.num_features, generator=g))
            if isinstance(m, TSNetSparse):
                for name in ("linear_attn", "linear_mlp"):
                    if hasattr(m, name):
                        nn.init.normal_(getattr(m, name).weight, std=0.05, generator=g)
        return model.eval()

    return apply

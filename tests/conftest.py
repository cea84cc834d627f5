import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


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

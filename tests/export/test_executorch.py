"""Real ExecuTorch: export small clips, run the .pte in the runtime, compare."""

import json

import pytest
import torch

from mobilevid.export import ExportConfig, export
from mobilevid.export.verify import verify

SMALL = dict(frames=16, size=64)
# fixtures fp32 / int8: VMF-560M at 16x64, exported once per session (tests/conftest.py)


def test_fp32_pte_runs_in_the_runtime_and_matches_eager(fp32):
    assert fp32.path.name == "vmf-560m_xnnpack_fp32.pte"
    d = fp32.delegation
    assert d["portable_nodes"] == 0 and d["delegated_subgraphs"] >= 1
    assert d["delegated_ops"]["aten_convolution_default"] > 0
    report = verify(fp32.path)
    assert report.runtime == "executorch" and report.passed
    assert len(report.checks) == 14  # 12 real clips + 2 random
    assert max(c.max_abs for c in report.checks) <= 1e-4


def test_sidecar_describes_the_artifact(fp32):
    meta = json.loads(fp32.sidecar.read_text())
    assert meta == fp32.metadata
    assert meta["input"]["name"] == "video" and meta["input"]["shape"] == [1, 3, 16, 64, 64]
    assert meta["output"] == {"name": "logits", "shape": [1, 400], "dtype": "float32"}
    assert len(meta["labels"]) == 400 and meta["weights"] == {"init": "deterministic", "seed": 0}
    assert meta["versions"]["executorch"] == "1.5.1"


def test_int8_pte_is_close_on_every_real_clip(int8, fp32):
    assert int8.delegation["portable_nodes"] == 0
    assert int8.size_bytes < fp32.size_bytes / 3
    report = verify(int8.path, n_random=0)
    assert report.passed and len(report.checks) == 12
    assert min(c.cosine for c in report.checks) >= 0.99


def test_verify_catches_a_wrong_reference(fp32, tmp_path):
    """The check can fail: the same .pte against a differently seeded model."""
    meta = json.loads(fp32.sidecar.read_text())
    meta["weights"]["seed"] = 1
    pte = tmp_path / fp32.path.name
    pte.write_bytes(fp32.path.read_bytes())
    (tmp_path / (pte.name + ".json")).write_text(json.dumps(meta))
    report = verify(pte, n_random=1, real=False)
    assert not report.passed and report.checks[0].max_abs > 1e-3


def test_export_from_checkpoint_and_verify_by_sha(tmp_path):
    from mobilevid.models import create_model

    torch.manual_seed(7)
    m = create_model("mobile3d-1g", num_classes=5)
    torch.save(m.state_dict(), tmp_path / "w.pt")
    r = export(
        ExportConfig(variant="mobile3d-1g", checkpoint=tmp_path / "w.pt", num_classes=5,
                     output=tmp_path, frames=8, size=32)
    )  # fmt: skip
    assert r.metadata["weights"]["checkpoint"].endswith("w.pt")
    assert r.metadata["labels"] == [f"class_{i}" for i in range(5)]
    assert verify(r.path, real=False).passed
    torch.save(create_model("mobile3d-1g", num_classes=5).state_dict(), tmp_path / "x.pt")
    from mobilevid.errors import MobilevidError

    with pytest.raises(MobilevidError, match="not the checkpoint"):
        verify(r.path, checkpoint=tmp_path / "x.pt")


def test_a_program_that_does_not_load_is_never_saved(tmp_path):
    """XNNPACK compiles at load time and may reject what lowering accepted (an
    int8 pad with mismatched scales, as X3D-S int8 did): the export checks a
    load before the file gets its name."""
    from mobilevid.errors import MobilevidError
    from mobilevid.export.executorch import check_loads

    bad = tmp_path / "x.pte"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(MobilevidError, match="does not load in the ExecuTorch runtime"):
        check_loads(bad, "x3d-s")


def test_int8_temporal_pads_run_as_int8_in_xnnpack(tmp_path):
    """Batch-1 temporal taps pad time on the frames axis, also in int8: the pad
    shares its input's qparams (fed by an int8 conv, or quantized once after an
    fp32 maximum as in DY-ReLU), the partitioner takes it as an int8 pad, and
    XNNPACK loads it (before, "Failed to create StaticConstantPad")."""
    import torch.nn.functional as F
    from torch import nn

    from mobilevid.deploy.ops import FramesConv, clip_to_frames
    from mobilevid.export.executorch import check_loads, lower
    from mobilevid.quantize.xnnpack import ptq
    from mobilevid.ui import Steps

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pw = FramesConv(nn.Conv3d(8, 16, 1))
            self.dw = FramesConv(nn.Conv3d(16, 16, 3, 1, 1, groups=16))
            self.dw2 = FramesConv(nn.Conv3d(16, 16, (3, 3, 3), 1, 1, groups=16))

        def forward(self, x):
            y = F.relu(self.pw(clip_to_frames(x), 1))
            y = F.relu(self.dw(y, 1))  # pad of an int8 activation
            return self.dw2(torch.maximum(y * 0.5, y * -0.25), 1)  # pad of an fp32 one

    net = Net().eval()
    x = torch.randn(1, 8, 8, 12, 12)
    q = ptq(net, x, [torch.randn_like(x) for _ in range(4)])
    program, summary = lower(q, x, Steps())
    assert summary["portable_nodes"] == 0
    assert summary["delegated_ops"]["aten_constant_pad_nd_default"] == 2
    pte = tmp_path / "pads.pte"
    pte.write_bytes(program.buffer)
    check_loads(pte, "pads")
    from executorch.runtime import Runtime

    out = Runtime.get().load_program(str(pte)).load_method("forward").execute([x])[0]
    with torch.no_grad():
        ref = net(x)
    assert F.cosine_similarity(out.flatten(), ref.flatten(), dim=0) > 0.999


def test_int8_quantizes_the_clip_before_the_frames_layout(tmp_path):
    """int8: the clip is quantized where it enters the graph, and the reshape and
    permutes of clip_to_frames (phase-major for the stem's temporal conv) run on
    int8 (XNNPACK copies a reshaped external input; quantizing it first takes
    that copy's place), with the same values as quantizing after them."""
    import torch.nn.functional as F
    from executorch.exir import to_edge
    from torch import nn

    from mobilevid.deploy.ops import FramesConv, clip_to_frames
    from mobilevid.export.executorch import _quantize_input_first, lower
    from mobilevid.quantize.xnnpack import ptq
    from mobilevid.ui import Steps

    class Stem(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = FramesConv(nn.Conv3d(3, 8, (1, 3, 3), (1, 2, 2), (0, 1, 1)))
            self.temporal = FramesConv(nn.Conv3d(8, 8, (4, 1, 1), (4, 1, 1), groups=8))

        def forward(self, x):
            p = self.temporal.phases(x.shape[2], 1)
            y = F.relu(self.conv(clip_to_frames(x, p), 1))
            return F.relu(self.temporal(y, 1, p))

    net = Stem().eval()
    x = torch.randn(1, 3, 8, 12, 12)
    assert net.temporal.phases(8, 1) == 4
    q = ptq(net, x, [torch.randn_like(x) for _ in range(4)])

    gm = to_edge(torch.export.export(q, (x,))).exported_program().graph_module
    assert _quantize_input_first(gm).modified

    def op(n):
        return n.target.__name__.split(".")[-2] if n.op == "call_function" else n.op

    (ph,) = [n for n in gm.graph.nodes if n.op == "placeholder" and n.name == "x"]
    assert [op(u) for u in ph.users] == ["quantize_per_tensor"]
    layout = [n for n in gm.graph.nodes if op(n) in ("view_copy", "permute_copy")][:3]
    assert [op(n) for n in layout] == ["view_copy", "permute_copy", "view_copy"]
    assert all(op(n.args[0]) == "dequantize_per_tensor" for n in layout)
    assert not any("clone" in n.name for n in gm.graph.nodes)

    program, summary = lower(q, x, Steps())
    assert summary["portable_nodes"] == 0
    pte = tmp_path / "stem.pte"
    pte.write_bytes(program.buffer)
    from executorch.runtime import Runtime

    out = Runtime.get().load_program(str(pte)).load_method("forward").execute([x])[0]
    with torch.no_grad():
        ref = q(x)
    assert torch.allclose(out, ref, atol=1e-5)

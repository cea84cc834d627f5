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

import re
from dataclasses import replace

import pytest
import torch

import mobilevid
from mobilevid.errors import MobilevidError
from mobilevid.models import create_model, list_models, model_info, resolve_name

VMF = ["vmf-560m", "vmf-1g", "vmf-2g", "vmf-5g"]


def test_zoo_lists_the_papers_models_in_table_order():
    assert list_models(family="vmf") == VMF
    m3d = list_models(family="mobile3d")
    assert {"mobile3d-1g", "mobile3d-2g", "mobile3d-5g"} <= set(m3d)
    assert all(f"{b}-{k}" in m3d for b in ("mobile3d-1g", "mobile3d-2g", "mobile3d-5g")
               for k in ("wider", "deeper"))  # fmt: skip
    assert "x3d-s" in list_models()


@pytest.mark.parametrize(
    ("typed", "name"),
    [("560m", "vmf-560m"), ("1G", "vmf-1g"), ("VMF_2G", "vmf-2g"), (" 5g ", "vmf-5g"),
     ("x3d_s", "x3d-s")],
)  # fmt: skip
def test_names_as_users_type_them(typed, name):
    assert resolve_name(typed) == name


def test_unknown_name_lists_valid_names_and_closest():
    with pytest.raises(MobilevidError) as e:
        resolve_name("vmf-1gg")
    msg = str(e.value)
    assert "'vmf-1g'" in msg and "vmf-560m" in msg and "x3d-s" in msg
    assert "\n" not in msg


def test_input_specs_and_paper_figures():
    assert model_info("560m").input.shape() == (1, 3, 64, 172, 172)
    for n in VMF[1:]:
        assert model_info(n).input.shape(2) == (2, 3, 64, 224, 224)
    assert [model_info(n).paper.params_m for n in VMF] == [4.7, 4.7, 6.9, 13.8]
    assert [model_info(n).paper.gmacs for n in VMF] == [0.56, 1.43, 2.61, 5.61]


def test_create_model_drops_none_overrides_and_attaches_nothing():
    m = create_model("560m", num_classes=10, num_tokens=None).eval()
    assert m.cfg.num_tokens == 6 and not hasattr(m, "model_name")  # metadata: model_info
    assert m(torch.randn(1, 3, 16, 64, 64)).shape == (1, 10)


@pytest.mark.parametrize(
    ("name", "overrides", "needle"),
    [
        ("vmf-1g", {"num_tokns": 4}, "unknown option 'num_tokns'. Did you mean 'num_tokens'?"),
        ("vmf-1g", {"num_tokens": "four"}, "num_tokens must be an integer"),
        ("vmf-1g", {"num_tokens": True}, "num_tokens must be an integer"),
        ("vmf-1g", {"blocks": [1, "x"]}, "blocks must be a list of integers"),
        ("vit-s-tsnet", {"keep": "half"}, "keep must be a number"),
        ("x3d-s", {"r": 8}, "unknown option 'r'"),
    ],
)
def test_overrides_are_checked_against_the_config(name, overrides, needle):
    with pytest.raises(MobilevidError, match=re.escape(needle)):
        create_model(name, **overrides)


def test_overrides_take_yaml_shapes_and_ints_for_floats():
    m = create_model("vmf-560m", blocks=[1, 2, 2, 2], expansion=2)  # --set blocks=[1,2,2,2]
    assert m.cfg.blocks == (1, 2, 2, 2) and m.cfg.expansion == 2


def test_a_bug_in_a_builder_keeps_its_traceback(monkeypatch):
    from mobilevid.models import _registry

    info = model_info("vmf-560m")

    def broken(num_classes: int = 400, **overrides):
        raise TypeError("a real bug")

    monkeypatch.setitem(_registry._REGISTRY, info.name, replace(info, builder=broken))
    with pytest.raises(TypeError, match="a real bug") as e:
        create_model("vmf-560m")
    assert not isinstance(e.value, MobilevidError)


@pytest.mark.parametrize(
    "overrides",
    [{"nope": 1}, {"activation": "gelu"}, {"dw_conv": "4d"}, {"stem_temporal_stride": 3},
     {"temporal_downsample": "head"}],
)  # fmt: skip
def test_bad_overrides_are_user_errors(overrides):
    with pytest.raises(MobilevidError):
        create_model("vmf-1g", **overrides)


def test_mobile3d_rejects_token_activations():
    with pytest.raises(MobilevidError, match="Mobile3D"):
        create_model("mobile3d-1g", activation="frame_dyrelu")


def test_top_level_api_is_lazy_and_complete():
    assert mobilevid.create_model is create_model
    assert callable(mobilevid.count) and mobilevid.__version__

from pathlib import Path

import pytest

from mobilevid.errors import MobilevidError
from mobilevid.export import ExportConfig, plan
from mobilevid.export.recipes import list_recipes, load_recipe

BUNDLED = [
    "coreml-fp16",
    "coreml-int4w",
    "coreml-int8w",
    "executorch-openvino-fp32",
    "openvino-bf16",
    "openvino-fp32",
    "openvino-int8",
    "xnnpack-fp32",
    "xnnpack-int8",
]


def test_bundled_recipes_are_valid_and_plan():
    assert sorted(list_recipes()) == BUNDLED
    for name in BUNDLED:
        fields = load_recipe(name)
        p = plan(ExportConfig(**fields, output=Path("/nonexistent/out")))
        assert p.target == fields["target"] and p.quantize == fields["quantize"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("target: executorch\n  quantize: [\n", "malformed YAML at line"),
        ("- a\n- b\n", "must be a mapping"),
        ("target: executorch\nquantise: int8\n", "unknown key 'quantise'"),
        ("calibration_clips: many\n", "must be an integer"),
        ("force: yes please\n", "true or false"),
        ("checkpoint: 3\n", "path string"),
    ],
)
def test_malformed_recipes(tmp_path, text, needle):
    f = tmp_path / "r.yaml"
    f.write_text(text)
    with pytest.raises(MobilevidError, match=needle) as e:
        load_recipe(f)
    assert "\n" not in str(e.value)


def test_unknown_recipe_lists_the_bundled_ones():
    with pytest.raises(MobilevidError, match="xnnpack-int8"):
        load_recipe("xnnpack-int4")


def test_recipe_paths_and_lists(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text("target: coreml\ncalibration: [a.mp4, b.mp4]\ndescription: x\n")
    assert load_recipe(f) == {"target": "coreml", "calibration": [Path("a.mp4"), Path("b.mp4")]}

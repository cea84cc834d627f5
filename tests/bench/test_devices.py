import pytest

from mobilevid.bench.devices import DEVICES, find_device, matches
from mobilevid.errors import MobilevidError


@pytest.mark.parametrize(
    "typed,name",
    [
        ("pixel7", "pixel7"),
        ("Pixel 7", "pixel7"),
        ("galaxy-s23", "galaxys23"),
        ("cpu", "host"),
        ("HOST", "host"),
        ("iPhone 15", "iphone15"),
    ],
)
def test_find_device_forgives_spelling(typed, name):
    assert find_device(typed).name == name


def test_unknown_device_suggests_the_close_one():
    with pytest.raises(MobilevidError, match="Did you mean 'pixel7'"):
        find_device("pixle7")


def test_registry_covers_the_phones_users_ask_for():
    names = {d.name for d in DEVICES}
    assert {"pixel6", "pixel7", "pixel8", "galaxys22", "galaxys23", "galaxys24"} <= names
    assert {"iphone13", "iphone14", "iphone15", "iphone15pro"} <= names
    for d in DEVICES:
        assert d.platform in ("host", "cuda", "android", "ios")
        if d.platform in ("android", "ios") and d.name not in ("android", "iphone"):
            assert d.models and d.soc, d.name
    assert find_device("gpu").platform == "cuda"


def test_matching_a_connected_phone():
    assert matches(find_device("pixel7"), "Pixel 7")
    assert not matches(find_device("pixel7"), "Pixel 7 Pro")  # exact for Pixels
    assert matches(find_device("galaxys23"), "SM-S911B")  # Samsung: one number per region
    assert matches(find_device("galaxys23"), "SM-S911U1")
    assert not matches(find_device("galaxys23"), "SM-S921B")
    assert matches(find_device("iphone15"), "iPhone15,4")
    assert matches(find_device("android"), "anything")

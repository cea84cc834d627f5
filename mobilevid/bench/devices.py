"""The phones mobilevid knows by name, and how to recognise them when plugged in.

An Android phone is matched on ``ro.product.model`` (Samsung ships one model
number per region, hence the prefixes); an iPhone on its ProductType. A phone
not listed here still works: ``--device android --serial SERIAL``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from mobilevid.errors import MobilevidError

__all__ = ["DEVICES", "Device", "find_device", "matches"]


@dataclass(frozen=True)
class Device:
    name: str
    platform: str  # host | cuda | android | ios
    label: str
    soc: str = ""
    models: tuple[str, ...] = ()  # ro.product.model / ProductType; "X*" is a prefix
    aliases: tuple[str, ...] = ()
    # the emulated aarch64 CPU closest to the big cores' ISA (mobilevid.emulate.arm64.CPUS),
    # for `mobilevid verify --on NAME`
    emulated_cpu: str = ""


# Big cores -> XNNPACK's int8 kernels: Tensor G1/G2 (Cortex-X1, A76/A78) are ARMv8.2 with
# dot product (sdot); Snapdragon 8 Gen 1 and later, Tensor G3+ and Exynos 2200+ (Cortex-X2
# and later, ARMv9) add i8mm (smmla). None of these phones has SME.
_ISA = {
    "Google Tensor": "cortex-a76",
    "Google Tensor G2": "cortex-a76",
}


def _android(name: str, label: str, soc: str, *models: str) -> Device:
    return Device(name, "android", label, soc, models, emulated_cpu=_ISA.get(soc, "i8mm"))


def _iphone(name: str, label: str, soc: str, *types: str) -> Device:
    return Device(name, "ios", label, soc, types)


DEVICES: tuple[Device, ...] = (
    Device("host", "host", "this machine's CPU", aliases=("cpu",)),
    Device("cuda", "cuda", "this machine's NVIDIA GPU (PyTorch eager/compile)", aliases=("gpu",)),
    Device("android", "android", "any connected Android phone (pick one with --serial)"),
    Device("iphone", "ios", "any connected iPhone (pick one with --serial UDID)"),
    _android("pixel6", "Google Pixel 6", "Google Tensor", "Pixel 6"),
    _android("pixel6pro", "Google Pixel 6 Pro", "Google Tensor", "Pixel 6 Pro"),
    _android("pixel7", "Google Pixel 7", "Google Tensor G2", "Pixel 7"),
    _android("pixel7pro", "Google Pixel 7 Pro", "Google Tensor G2", "Pixel 7 Pro"),
    _android("pixel8", "Google Pixel 8", "Google Tensor G3", "Pixel 8"),
    _android("pixel8pro", "Google Pixel 8 Pro", "Google Tensor G3", "Pixel 8 Pro"),
    _android("pixel9", "Google Pixel 9", "Google Tensor G4", "Pixel 9"),
    _android("galaxys22", "Samsung Galaxy S22", "Snapdragon 8 Gen 1 / Exynos 2200", "SM-S901*"),
    _android("galaxys23", "Samsung Galaxy S23", "Snapdragon 8 Gen 2 for Galaxy", "SM-S911*"),
    _android("galaxys24", "Samsung Galaxy S24", "Exynos 2400 / Snapdragon 8 Gen 3", "SM-S921*"),
    _android("galaxys24ultra", "Samsung Galaxy S24 Ultra", "Snapdragon 8 Gen 3", "SM-S928*"),
    _android("oneplus12", "OnePlus 12", "Snapdragon 8 Gen 3", "CPH2581", "CPH2583", "PJD110"),
    _iphone("iphone13", "iPhone 13", "A15 Bionic", "iPhone14,5"),
    _iphone("iphone14", "iPhone 14", "A15 Bionic", "iPhone14,7"),
    _iphone("iphone14pro", "iPhone 14 Pro", "A16 Bionic", "iPhone15,2"),
    _iphone("iphone15", "iPhone 15", "A16 Bionic", "iPhone15,4"),
    _iphone("iphone15pro", "iPhone 15 Pro", "A17 Pro", "iPhone16,1"),
    _iphone("iphone16", "iPhone 16", "A18", "iPhone17,3"),
    _iphone("iphone16pro", "iPhone 16 Pro", "A18 Pro", "iPhone17,1"),
)


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def find_device(name: str) -> Device:
    """``pixel7``, ``Pixel 7``, ``galaxy-s23``, ``cpu``..."""
    key = _key(name)
    for d in DEVICES:
        if key == d.name or key in (_key(a) for a in d.aliases):
            return d
    names = [d.name for d in DEVICES]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise MobilevidError(
        f"unknown device {name!r}.{hint} Known: {', '.join(names)} "
        "(`mobilevid devices` lists them and what is connected)"
    )


def matches(device: Device, model: str) -> bool:
    """Does a connected phone reporting ``model`` belong to ``device``?"""
    if device.name in ("android", "iphone"):
        return True
    return any((m.endswith("*") and model.startswith(m[:-1])) or model == m for m in device.models)

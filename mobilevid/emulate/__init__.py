"""Running artifacts on CPUs this machine does not have, under emulation.

Today: aarch64 (the phone's XNNPACK kernels) through QEMU user mode, with the
C++ runner cross-compiled against the aarch64 executorch wheel
(:mod:`mobilevid.emulate.arm64`). Below export (``verify --arch arm64`` uses
it), above nothing but the base modules.
"""

"""mobilevid: efficient video recognition on phones.

The public API is loaded lazily (PEP 562) so that ``mobilevid --help`` and other
light commands do not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "create_model": "mobilevid.models",
    "list_models": "mobilevid.models",
    "model_info": "mobilevid.models",
    "count": "mobilevid.counting",
    "Counts": "mobilevid.counting",
    "MobilevidError": "mobilevid.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mobilevid' has no attribute {name!r}")

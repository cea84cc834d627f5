"""The model zoo. Importing this package registers every family."""

from mobilevid.models import mobile_former, movinet, swin, uniformer, vit, x3d  # noqa: F401  (registration)
from mobilevid.models._registry import (
    InputSpec,
    ModelInfo,
    PaperFigures,
    create_model,
    list_models,
    model_info,
    resolve_name,
)

__all__ = [
    "InputSpec",
    "ModelInfo",
    "PaperFigures",
    "create_model",
    "list_models",
    "model_info",
    "resolve_name",
]

"""Fine-tuning and quantization-aware fine-tuning (``mobilevid train``)."""

from mobilevid.train.loop import EvalResult, TrainConfig, TrainResult, evaluate, train

__all__ = ["EvalResult", "TrainConfig", "TrainResult", "evaluate", "train"]

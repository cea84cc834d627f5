"""Fine-tuning and quantization-aware fine-tuning (``mobilevid train``).

:mod:`.loop` is the outline (setup, epochs, end of epoch); :mod:`.state` what a
checkpoint holds; :mod:`.data` the resumable batches; :mod:`.evaluation`
top-1/top-5; :mod:`.history` the per-epoch rows and curves; :mod:`.distributed`
torchrun.
"""

from mobilevid.train.config import TrainConfig
from mobilevid.train.evaluation import EvalResult, evaluate
from mobilevid.train.loop import TrainResult, train

__all__ = ["EvalResult", "TrainConfig", "TrainResult", "evaluate", "train"]

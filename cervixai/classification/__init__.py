"""Binary risk classifiers (parametrial invasion, lymph node metastasis, recurrence, death).

Serving-safe modules (numpy only): :mod:`cervixai.classification.inputs` builds the one float32
tensor that every exported ONNX pipeline reads, for training parity checks and the service alike.
Everything that needs scikit-learn, imbalanced-learn or skl2onnx lives in
:mod:`cervixai.classification.training` and is imported lazily by :mod:`.cli`.
"""

from cervixai.classification.inputs import (
    TASK_STAGE,
    TASKS_BY_STAGE,
    InputLayout,
    input_layout,
    model_input,
)

__all__ = ["TASKS_BY_STAGE", "TASK_STAGE", "InputLayout", "input_layout", "model_input"]

"""Survival models: recurrence-free (RFS) and overall survival (OS) from clinical and image data.

Two families sit side by side:

* the study's *paper models* — weighted KNN, SVR, random forest and regression tree fitted to the
  observed months, ignoring censoring (kept as the reproducible baseline);
* *censoring-aware models* — Cox proportional hazards with a ridge penalty and a random survival
  forest — that treat a censored time as "at least this long".

Serving-safe modules (numpy only): :mod:`cervixai.survival.inputs` (the ONNX graph's input
layout, built the same way in training and in the service) and :mod:`cervixai.survival.curves`
(survival curves from a risk score and a baseline table). Everything that needs scikit-learn or
scikit-survival lives in :mod:`cervixai.survival.training` and is imported only when training.
"""

OUTCOMES = ("rfs", "os")

__all__ = ["OUTCOMES"]

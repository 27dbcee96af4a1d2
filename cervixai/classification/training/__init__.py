"""Training of the classifiers: ``run`` (the command's ``train``), ``data`` (a cohort as training
data), ``estimators``, ``algorithms``, ``protocol``, ``metrics``, ``report``, ``export`` (ONNX).
Imports scikit-learn and friends; never imported by serving code."""

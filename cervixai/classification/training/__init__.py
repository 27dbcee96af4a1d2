"""Training of the classifiers: estimators, dataset assembly, protocol, metrics, report, ONNX
export. Imports scikit-learn and friends; never imported by serving code."""

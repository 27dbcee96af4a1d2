"""Survival service: recurrence-free and overall survival estimates and curves (ONNX models).
Wire contract: protos/cervix/v1/survival.proto."""

"""Classifier service: probabilities of parametrial invasion, lymph node metastasis, recurrence and
death from fused image and clinical features (ONNX pipelines). Wire contract:
protos/cervix/v1/classifier.proto."""

"""Segmenter service: contours the lesion in a normalised MR volume (ONNX 3D SE-U-Net on
onnxruntime, CUDA when present). Wire contract: protos/cervix/v1/segmenter.proto."""

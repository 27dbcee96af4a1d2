"""Training of the segmenter: data from a cohort, the network, losses, the loop, ONNX export.

Everything here may import torch; serving code never imports this package.
"""

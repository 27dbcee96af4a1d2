"""Lesion segmentation: training of the 3D SE-U-Net and its ONNX export (the `train` extra).

Training code lives in :mod:`cervixai.segmentation.training` and imports torch; it is never
imported by serving code. The model is served by :mod:`services.segmenter` from the ONNX file that
training writes into a model bundle. ``cervixai train segmenter`` is registered by
:func:`cervixai.segmentation.cli.add_train_command`.
"""

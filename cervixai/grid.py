"""The model grid, fixed by the study's network: every volume the models see has slices of
256 × 256 voxels (ingestion crops or resamples each series to it, the segmenter reads it, the
``paper`` feature set flattens one such slice into 65,536 pixel features). One constant, so
that nothing pretends the size is configurable while another place assumes 256."""

from __future__ import annotations

IN_PLANE = 256
SLICE_SHAPE = (IN_PLANE, IN_PLANE)
SLICE_PIXELS = IN_PLANE * IN_PLANE
# The deepest volume the served segmenter takes by default (CERVIXAI_SEGMENTER_MAX_SLICES): a
# 64-slice volume is 16 MiB of float32, within the 64 MiB gRPC message limit with its reply.
# The study's series have 18-30 slices.
MODEL_MAX_SLICES = 64

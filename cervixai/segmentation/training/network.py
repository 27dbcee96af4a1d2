"""The 3D U-Net with squeeze-and-excitation blocks (the study's segmentation network).

Written in plain torch (MONAI's SE layer and U-Net blocks, re-stated in a few lines so that the
`train` extra needs no MONAI). Each level is two 3×3×3 convolutions with batch normalisation and
ReLU, followed by a squeeze-and-excitation gate; the decoder upsamples with transposed
convolutions and concatenates the encoder's skip connection. The head is one 1×1×1 convolution to
a single logit; :class:`SEUNet3d` returns logits and the exported graph ends in a sigmoid.

Batch normalisation rather than instance normalisation: onnxruntime folds it into the preceding
convolution at load time, so it costs nothing when serving, and its statistics do not depend on the
crop size, so training on crops and serving whole volumes see the same normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class Conv3x3x3(nn.Conv3d):
    """A 3×3×3 convolution (no bias) that trains fast on CPU.

    torch's CPU backward of a 3×3×3 Conv3d takes a slow path (4–6× its forward here); while
    training on CPU the same weights are applied as one 2-D convolution over the three stacked
    neighbouring slices, whose backward is fast. Evaluation, export and GPUs use the ordinary
    Conv3d, so the exported graph is a plain Conv and the parameters are the same tensor.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and x.device.type == "cpu"):
            return super().forward(x)
        n, c, d, h, w = x.shape
        padded = F.pad(x, (0, 0, 0, 0, 1, 1))
        stacked = torch.cat([padded[:, :, k:k + d] for k in range(3)], 1)
        stacked = stacked.permute(0, 2, 1, 3, 4).reshape(n * d, 3 * c, h, w)
        weight = self.weight.permute(0, 2, 1, 3, 4).reshape(self.out_channels, 3 * c, 3, 3)
        out = F.conv2d(stacked, weight, padding=1)
        return out.reshape(n, d, self.out_channels, h, w).permute(0, 2, 1, 3, 4)


class SqueezeExcitation3d(nn.Module):
    """Channel gate: global average → bottleneck MLP → sigmoid → scale (Hu et al. 2018)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ValueError(f"channels and reduction must be ≥ 1, got {channels}, {reduction}")
        hidden = max(1, channels // reduction)
        self.squeeze = nn.AdaptiveAvgPool3d(1)
        self.excite = nn.Sequential(nn.Conv3d(channels, hidden, 1), nn.ReLU(inplace=True),
                                    nn.Conv3d(hidden, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate: torch.Tensor = self.excite(self.squeeze(x))
        return x * gate


class ConvBlock(nn.Module):
    """Two 3×3×3 (or 1×3×3, ``planar``) conv → BN → ReLU, then an SE gate (unless ``gated`` is
    false)."""

    def __init__(self, in_channels: int, out_channels: int, se_reduction: int,
                 planar: bool = False, gated: bool = True) -> None:
        super().__init__()

        def conv(cin: int, cout: int) -> nn.Conv3d:
            if planar:
                return nn.Conv3d(cin, cout, (1, 3, 3), padding=(0, 1, 1), bias=False)
            return Conv3x3x3(cin, cout)

        self.body = nn.Sequential(
            conv(in_channels, out_channels), nn.BatchNorm3d(out_channels), nn.ReLU(inplace=True),
            conv(out_channels, out_channels),
            nn.BatchNorm3d(out_channels), nn.ReLU(inplace=True),
        )
        self.se: nn.Module = (SqueezeExcitation3d(out_channels, se_reduction) if gated
                              else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.se(self.body(x))
        return out


class SEUNet3d(nn.Module):
    """3D SE-U-Net: ``len(channels)`` resolutions, ``channels[i]`` features at level ``i``.

    The first ``planar_levels`` levels convolve in plane only (1×3×3) and downsample in plane
    only: the study's slices are 4–6 mm thick against < 1 mm in plane, so at full resolution a
    3×3×3 kernel mostly mixes slices 10 mm apart, at three times the cost (nnU-Net does the same
    for anisotropic data). ``planar_levels=0`` is the isotropic 3D U-Net. The input depth must be
    a multiple of :attr:`depth_multiple` (serving pads and crops back).

    The first ``ungated_levels`` levels (encoder and decoder block) have no squeeze-and-excitation
    gate. At full resolution the gate re-weights a handful of channels by one number each per
    volume, yet on onnxruntime's CPU provider it costs two copies of the largest tensors out of
    and back into the blocked layout its convolutions run in (docs/segmenter.md, Speed).
    ``ungated_levels=0`` gates every level, as the study's network does.
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 64, 128), planar_levels: int = 0,
                 se_reduction: int = 4, ungated_levels: int = 0) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 2 or min(channels) < 1:
            raise ValueError(f"channels needs ≥ 2 positive widths, got {channels}")
        if not 0 <= planar_levels < len(channels):
            raise ValueError(f"planar_levels must be in 0..{len(channels) - 1}, "
                             f"got {planar_levels}")
        if not 0 <= ungated_levels < len(channels):
            raise ValueError(f"ungated_levels must be in 0..{len(channels) - 1}, "
                             f"got {ungated_levels}")
        self.channels = channels
        self.planar_levels = planar_levels
        self.ungated_levels = ungated_levels
        pooling = tuple(i >= planar_levels for i in range(len(channels) - 1))
        self.depth_pooling = pooling
        self.depth_multiple = 2 ** sum(pooling)
        self.encoders = nn.ModuleList()
        self.pools = nn.ModuleList()
        previous = 1
        for i, width in enumerate(channels):
            self.encoders.append(ConvBlock(previous, width, se_reduction,
                                           planar=i < planar_levels, gated=i >= ungated_levels))
            previous = width
            if i < len(pooling):
                self.pools.append(nn.MaxPool3d(self._factor(i)))
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for i in reversed(range(len(channels) - 1)):
            self.ups.append(nn.ConvTranspose3d(channels[i + 1], channels[i], self._factor(i),
                                               stride=self._factor(i)))
            self.decoders.append(ConvBlock(2 * channels[i], channels[i], se_reduction,
                                           planar=i < planar_levels, gated=i >= ungated_levels))
        self.head = nn.Conv3d(channels[0], 1, 1)

    def _factor(self, level: int) -> tuple[int, int, int]:
        return (2 if self.depth_pooling[level] else 1, 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(x)
            if i < len(self.pools):
                skips.append(x)
                x = self.pools[i](x)
        for up, decoder in zip(self.ups, self.decoders, strict=True):
            x = decoder(torch.cat([up(x), skips.pop()], dim=1))
        logits: torch.Tensor = self.head(x)
        return logits


class SigmoidOutput(nn.Module):
    """The network as exported: probabilities in [0, 1]."""

    def __init__(self, network: SEUNet3d) -> None:
        super().__init__()
        self.network = network

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.network(volume))


def multiply_accumulates(network: SEUNet3d, depth: int, height: int, width: int) -> int:
    """Multiply-accumulate operations of one forward pass (convolutions only; the rest is <1%)."""
    total = 0
    voxels = depth * height * width
    pooling = network.depth_pooling
    c = network.channels
    level_voxels = [voxels]
    for p in pooling:
        level_voxels.append(level_voxels[-1] // ((2 if p else 1) * 4))
    taps = [9 if i < network.planar_levels else 27 for i in range(len(c))]
    previous = 1
    for i, width_i in enumerate(c):
        total += level_voxels[i] * taps[i] * (previous * width_i + width_i * width_i)
        previous = width_i
    for i in range(len(c) - 1):
        factor = (2 if pooling[i] else 1) * 4
        total += level_voxels[i + 1] * c[i + 1] * c[i] * factor              # transposed conv
        total += level_voxels[i] * taps[i] * (2 * c[i] * c[i] + c[i] * c[i])  # decoder block
    total += level_voxels[0] * c[0]
    return total

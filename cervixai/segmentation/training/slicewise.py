"""The trained 3D SE-U-Net re-stated with 2-D operators only, for export.

onnxruntime's CPU provider runs a 3-D convolution as im2col + SGEMM. With this network's narrow
levels (8–64 channels) that GEMM has 8–64 rows against ~400 k columns, so packing the im2col
matrix dominates and the convolution runs at about a third of the machine's matmul rate. Its 2-D
convolutions, by contrast, go through the NCHWc transformation: a blocked memory layout and direct
convolution kernels that reach a much larger share of peak.

:class:`SliceMajorUNet` computes exactly the function of a trained :class:`SEUNet3d` (inference
mode, batch norm folded into the convolutions) on tensors laid out slice-major, ``(N·D, C, H, W)``:

- a 1×3×3 convolution is a 2-D convolution of every slice;
- a 3×3×3 convolution is one 2-D convolution over the three neighbouring slices stacked along the
  channels (zero slices beyond either end), its kernel reshaped to ``(out, 3·in, 3, 3)``;
- max pooling by (2, 2, 2) is a 2-D max pool followed by the maximum of slice pairs;
- a transposed convolution by (2, 2, 2) is one 2-D transposed convolution producing both output
  slices of each input slice as two channel groups, then a reshape that interleaves them;
- the squeeze-and-excitation gate averages over slices and pixels per volume (ungated levels
  have none).

The exported ONNX graph therefore contains no 3-D operator. The training code keeps the ordinary
:class:`SEUNet3d`; the export's parity check compares this graph with it.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from cervixai.segmentation.training.network import (
    ConvBlock,
    SEUNet3d,
    SqueezeExcitation3d,
)


def _folded(conv: nn.Conv3d, norm: nn.BatchNorm3d) -> tuple[torch.Tensor, torch.Tensor]:
    """The convolution's weight and bias with the (inference-mode) batch norm folded in."""
    assert norm.running_mean is not None and norm.running_var is not None
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    weight = conv.weight * scale[:, None, None, None, None]
    bias = norm.bias - norm.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return weight, bias


def _as_2d(weight: torch.Tensor) -> torch.Tensor:
    """A (out, in, k, 3, 3) kernel as (out, k·in, 3, 3), slice offset major (k = 1 or 3)."""
    out, cin, k, h, w = weight.shape
    return weight.permute(0, 2, 1, 3, 4).reshape(out, k * cin, h, w).contiguous()


def stack_neighbours(x: torch.Tensor, batch: int) -> torch.Tensor:
    """(N·D, C, H, W) → (N·D, 3·C, H, W): slices d−1, d, d+1 of each volume along the channels."""
    nd, c, h, w = x.shape
    volumes = x.reshape(batch, nd // batch, c, h, w)
    depth = volumes.shape[1]
    padded = F.pad(volumes, (0, 0, 0, 0, 0, 0, 1, 1))
    # One gather (slices d, d+1, d+2 of the padded volume for every d) instead of three slices
    # and a concatenation: half the copies.
    index = (torch.arange(depth)[:, None] + torch.arange(3)).reshape(-1)
    return padded.index_select(1, index).reshape(nd, 3 * c, h, w)


class _Block(nn.Module):
    """A :class:`ConvBlock` in slice-major layout."""

    weight1: torch.Tensor
    bias1: torch.Tensor
    weight2: torch.Tensor
    bias2: torch.Tensor
    squeeze_weight: torch.Tensor
    squeeze_bias: torch.Tensor
    excite_weight: torch.Tensor
    excite_bias: torch.Tensor

    def __init__(self, block: ConvBlock) -> None:
        super().__init__()
        conv1, norm1, _, conv2, norm2, _ = block.body
        self.volumetric = cast(nn.Conv3d, conv1).kernel_size[0] == 3
        for name, conv, norm in (("1", conv1, norm1), ("2", conv2, norm2)):
            weight, bias = _folded(cast(nn.Conv3d, conv), cast(nn.BatchNorm3d, norm))
            self.register_buffer(f"weight{name}", _as_2d(weight))
            self.register_buffer(f"bias{name}", bias.contiguous())
        self.gated = isinstance(block.se, SqueezeExcitation3d)
        if isinstance(block.se, SqueezeExcitation3d):
            squeeze, _, excite, _ = (cast(nn.Conv3d, m) for m in block.se.excite)
            for name, conv in (("squeeze", squeeze), ("excite", excite)):
                assert conv.bias is not None
                self.register_buffer(f"{name}_weight", conv.weight.flatten(1).contiguous())
                self.register_buffer(f"{name}_bias", conv.bias.contiguous())

    def _conv(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
              batch: int) -> torch.Tensor:
        if self.volumetric:
            x = stack_neighbours(x, batch)
        return F.relu(F.conv2d(x, weight, bias, padding=1))

    def forward(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        x = self._conv(x, self.weight1, self.bias1, batch)
        x = self._conv(x, self.weight2, self.bias2, batch)
        if not self.gated:
            return x
        nd, c, h, w = x.shape
        volumes = x.reshape(batch, nd // batch, c, h * w)
        pooled = volumes.mean(dim=(1, 3))
        hidden = F.relu(F.linear(pooled, self.squeeze_weight, self.squeeze_bias))
        gate = torch.sigmoid(F.linear(hidden, self.excite_weight, self.excite_bias))
        return (volumes * gate[:, None, :, None]).reshape(nd, c, h, w)


class _Up(nn.Module):
    """A ConvTranspose3d with kernel = stride = (k, 2, 2), k ∈ {1, 2}, in slice-major layout."""

    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, up: nn.ConvTranspose3d) -> None:
        super().__init__()
        weight = up.weight                                  # (in, out, k, 2, 2)
        cin, cout, k = weight.shape[:3]
        self.slices = k
        self.out_channels = cout
        self.register_buffer("weight", weight.permute(0, 2, 1, 3, 4)
                             .reshape(cin, k * cout, 2, 2).contiguous())
        assert up.bias is not None
        self.register_buffer("bias", up.bias.repeat(k).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose2d(x, self.weight, self.bias, stride=2)
        if self.slices == 1:
            return y
        nd, _, h, w = y.shape
        return y.reshape(nd * self.slices, self.out_channels, h, w)


class SliceMajorUNet(nn.Module):
    """A trained :class:`SEUNet3d` as 2-D operators, ending in a sigmoid (what is exported).

    Input and output are ``(N, 1, D, H, W)`` like the 3-D network's; only inference is supported
    (batch norm uses the running statistics, folded into the convolutions).
    """

    head_weight: torch.Tensor
    head_bias: torch.Tensor

    def __init__(self, network: SEUNet3d) -> None:
        super().__init__()
        if network.training:
            raise ValueError("SliceMajorUNet needs the network in eval() mode")
        self.depth_multiple = network.depth_multiple
        self.depth_pooling = network.depth_pooling
        self.encoders = nn.ModuleList(_Block(b) for b in network.encoders)  # type: ignore[arg-type]
        self.decoders = nn.ModuleList(_Block(b) for b in network.decoders)  # type: ignore[arg-type]
        self.ups = nn.ModuleList(_Up(u) for u in network.ups)  # type: ignore[arg-type]
        head = network.head
        self.register_buffer("head_weight", head.weight.flatten(1)[:, :, None, None].contiguous())
        assert head.bias is not None
        self.register_buffer("head_bias", head.bias.contiguous())

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        batch, _, depth, height, width = volume.shape
        x = volume.reshape(batch * depth, 1, height, width)
        skips = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(x, batch)
            if i < len(self.depth_pooling):
                skips.append(x)
                x = F.max_pool2d(x, 2)
                if self.depth_pooling[i]:
                    nd, c, h, w = x.shape
                    x = x.reshape(nd // 2, 2, c, h, w).amax(dim=1)
        for up, decoder in zip(self.ups, self.decoders, strict=True):
            x = decoder(torch.cat([up(x), skips.pop()], dim=1), batch)
        logits = F.conv2d(x, self.head_weight, self.head_bias)
        return torch.sigmoid(logits).reshape(batch, 1, depth, height, width)


__all__ = ["SliceMajorUNet", "stack_neighbours"]

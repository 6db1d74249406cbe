"""ResNet-18 with torchvision's parameter names, any number of input channels and a width knob.

torchvision does not run with the CPU build of torch on the project machines, so the
network is written here (after torchvision.models.resnet, BSD-3) with exactly the same
module names (``conv1``, ``bn1``, ``layer1.0.conv1`` ... ``fc``): a torchvision
``resnet18`` state_dict loads into ``ResNet18()`` unchanged, and into a CSI backbone
with ``strict=False`` after dropping ``conv1``/``fc`` when the channel counts differ.
"""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding, no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, used by the shortcut when the shape changes."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual shortcut (torchvision's ``BasicBlock``)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(conv1x1(in_planes, planes, stride), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The strided 1x1 shortcut gets its input in the default layout: oneDNN's backward of a
        # strided 1x1 convolution on channels-last input with fewer input channels than its
        # block (8 on AVX2, 16 on AVX-512) writes past its workspace (uxlfoundation/oneDNN#6035):
        # wrong weight gradients or a crash (reproduced here with torch 2.13: 4 -> 8 channels).
        identity = x if self.downsample is None else self.downsample(x.contiguous())
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """A 4-D conv input in channels-last memory order (same values; only the layout changes).

    Why: oneDNN's CPU convolutions run on it far faster than on the default layout, for the
    narrow networks the tiny presets use: forward and backward of the CSI student's ResNet-18
    (width 8) on a batch of 64 [9, 63, 30] maps took 46 ms against 84 ms, and the teacher's
    frame CNN 0.23 s against 0.31 s (one thread, measured). GPUs prefer it too. The weights
    keep their default layout, so checkpoints are unchanged.
    """
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


class ResNet18(nn.Module):
    """ResNet-18: stem, four stages of two ``BasicBlock`` each, global average pooling, ``fc``.

    Args:
        in_channels: input channels (3 for RGB; antenna pairs A for a CSI ``[A, T, S]`` map).
        num_classes: size of ``fc``; 0 means no classifier (``fc`` is ``nn.Identity``) and
            ``forward`` returns the pooled features of size ``feature_dim``.
        width: channels of the first stage (64 in the paper network); the stages use
            width, 2*width, 4*width, 8*width, so ``feature_dim = 8 * width``.
        zero_init_residual: start every block as the identity (last BN weight 0).

    ``forward(x [N, in_channels, H, W]) -> [N, num_classes or feature_dim]``.
    ``forward_features(x)`` returns the pooled features before ``fc``.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 1000, width: int = 64,
                 zero_init_residual: bool = False):
        super().__init__()
        if in_channels < 1 or width < 1 or num_classes < 0:
            raise ValueError(f"ResNet18 needs in_channels >= 1, width >= 1, num_classes >= 0; "
                             f"got {in_channels}, {width}, {num_classes}")
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.feature_dim = widths[-1]
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_stage(width, widths[0], stride=1)
        self.layer2 = self._make_stage(widths[0], widths[1], stride=2)
        self.layer3 = self._make_stage(widths[1], widths[2], stride=2)
        self.layer4 = self._make_stage(widths[2], widths[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc: nn.Module = nn.Linear(self.feature_dim, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights(zero_init_residual)

    @staticmethod
    def _make_stage(in_planes: int, planes: int, stride: int) -> nn.Sequential:
        return nn.Sequential(BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1))

    def _init_weights(self, zero_init_residual: bool) -> None:
        # Same initialisation as torchvision, so training curves are comparable.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, BasicBlock):
                    nn.init.zeros_(module.bn2.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features ``[N, feature_dim]``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(channels_last(x)))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))

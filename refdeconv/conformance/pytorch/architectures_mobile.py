"""The mobile and ReLU-free families of :mod:`refdeconv.conformance.pytorch.architectures`, written as torchvision does.

- MobileNetV2: ``Conv2dNormActivation`` with ``nn.ReLU6(inplace=True)``; inverted residuals (1x1
  expand, 3x3 depthwise, linear 1x1 project, the shortcut at stride 1); ``F.adaptive_avg_pool2d``.
- ShuffleNetV2: ``x.chunk(2, dim=1)``, branches with ``nn.ReLU(inplace=True)``, the channel
  shuffle written as ``view``/``transpose``/``contiguous``/``view``; ``x.mean([2, 3])``.
- EfficientNet (no ReLU): ``nn.SiLU`` everywhere, squeeze-excitation with ``SiLU`` and a
  ``Sigmoid`` scale, MBConv blocks with the shortcut (stochastic depth is the identity in eval).
- ConvNeXt (no ReLU): a patchify stem with ``LayerNorm2d`` (channels-last ``F.layer_norm``), blocks of
  7x7 depthwise conv, permute, ``nn.LayerNorm``, ``Linear``, ``nn.GELU`` (exact), ``Linear``,
  layer scale, permute back, the shortcut.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: The number of outputs of every network here and in :mod:`refdeconv.conformance.pytorch.architectures`.
CLASSES = 5


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, activation=None) -> nn.Sequential:
    """torchvision's ``Conv2dNormActivation``: conv (no bias, "same" padding for odd kernels), BN, activation."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([activation(inplace=True)] if activation else []))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand + ReLU6, 3x3 depthwise + ReLU6, linear 1x1 project; shortcut at stride 1."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        self.conv = nn.Sequential(*([_conv_bn(cin, hidden, 1, activation=nn.ReLU6)] if expand != 1 else []),
                                  _conv_bn(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
                                  _conv_bn(hidden, cout, 1))

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """Stem, inverted residuals (one with its shortcut), a 1x1 ReLU6 head, pooling, dropout, linear."""

    def __init__(self, classes: int = CLASSES):
        super().__init__()
        self.features = nn.Sequential(_conv_bn(3, 8, 3, 2, activation=nn.ReLU6), InvertedResidual(8, 8, 1, 1),
                                      InvertedResidual(8, 12, 2, 6), InvertedResidual(12, 12, 1, 6),
                                      _conv_bn(12, 24, 1, activation=nn.ReLU6))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(24, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), (1, 1)), 1))


def channel_shuffle(x, groups: int):
    """ShuffleNet's shuffle, as torchvision writes it: view, transpose, contiguous, view."""
    batch, channels, height, width = x.size()
    x = x.view(batch, groups, channels // groups, height, width)
    return torch.transpose(x, 1, 2).contiguous().view(batch, -1, height, width)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2's unit: at stride 1 half the channels pass, at stride 2 both halves are convolved; shuffled."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride, half = stride, cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(_conv_bn(cin, cin, 3, stride, groups=cin),
                                         _conv_bn(cin, half, 1, activation=nn.ReLU))
        first = cin if stride > 1 else half
        self.branch2 = nn.Sequential(_conv_bn(first, half, 1, activation=nn.ReLU),
                                     _conv_bn(half, half, 3, stride, groups=half),
                                     _conv_bn(half, half, 1, activation=nn.ReLU))

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """Stem conv + max-pool, a stride-2 and a stride-1 unit, a 1x1 conv, ``mean([2, 3])``, linear."""

    def __init__(self, classes: int = CLASSES):
        super().__init__()
        self.conv1, self.maxpool = _conv_bn(3, 8, 3, 2, activation=nn.ReLU), nn.MaxPool2d(3, 2, 1)
        self.stage2 = nn.Sequential(ShuffleUnit(8, 16, 2), ShuffleUnit(16, 16, 1))
        self.conv5 = _conv_bn(16, 24, 1, activation=nn.ReLU)
        self.fc = nn.Linear(24, classes)

    def forward(self, x):
        return self.fc(self.conv5(self.stage2(self.maxpool(self.conv1(x)))).mean([2, 3]))


class SqueezeExcitation(nn.Module):
    """Average pool, 1x1 conv, SiLU, 1x1 conv, sigmoid: a per-channel scale of the input."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)
        self.activation, self.scale_activation = nn.SiLU(), nn.Sigmoid()

    def forward(self, x):
        return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x


class MBConv(nn.Module):
    """EfficientNet's block: 1x1 expand + SiLU, depthwise + SiLU, squeeze-excitation, linear project, shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        self.block = nn.Sequential(*([_conv_bn(cin, hidden, 1, activation=nn.SiLU)] if expand != 1 else []),
                                   _conv_bn(hidden, hidden, 3, stride, groups=hidden, activation=nn.SiLU),
                                   SqueezeExcitation(hidden, max(1, cin // 4)), _conv_bn(hidden, cout, 1))

    def forward(self, x):
        return x + self.block(x) if self.use_res_connect else self.block(x)


class EfficientNet(nn.Module):
    """Stem (SiLU), three MBConv blocks, a 1x1 SiLU head, pooling, dropout, linear: no ReLU anywhere."""

    def __init__(self, classes: int = CLASSES):
        super().__init__()
        self.features = nn.Sequential(_conv_bn(3, 8, 3, 2, activation=nn.SiLU), MBConv(8, 8, 1, 1),
                                      MBConv(8, 12, 2, 6), MBConv(12, 12, 1, 6),
                                      _conv_bn(12, 24, 1, activation=nn.SiLU))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(24, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class LayerNorm2d(nn.LayerNorm):
    """torchvision's channels-first layer norm: permute to channels last, ``F.layer_norm``, permute back."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    """ConvNeXt's block: 7x7 depthwise, channels last, LayerNorm, Linear(4x), GELU, Linear, layer scale, shortcut."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1, self.act, self.pwconv2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        self.layer_scale = nn.Parameter(torch.full((dim, 1, 1), 0.5))

    def forward(self, x):
        y = self.pwconv2(self.act(self.pwconv1(self.norm(self.dwconv(x).permute(0, 2, 3, 1)))))
        return x + self.layer_scale * y.permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    """Patchify stem (4x4/4) + LayerNorm2d, a block, a LayerNorm2d + 2x2/2 downsample, a block, pool, norm, linear."""

    def __init__(self, classes: int = CLASSES):
        super().__init__()
        self.features = nn.Sequential(nn.Sequential(nn.Conv2d(3, 8, 4, 4), LayerNorm2d(8, eps=1e-6)), CNBlock(8),
                                      nn.Sequential(LayerNorm2d(8, eps=1e-6), nn.Conv2d(8, 16, 2, 2)), CNBlock(16))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(LayerNorm2d(16, eps=1e-6), nn.Flatten(1), nn.Linear(16, classes))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))

"""Small PyTorch networks written as torchvision writes each family's ReLUs (torchvision cannot be
loaded here: its registry build does not load against this CPU torch, ``torchvision::nms``).

Widths and depths are cut down so that the oracle runs them in a fraction of a second; what is kept
is how each family writes its nonlinearities and the ops around them, which is what decides the rule
a peer applies (torchvision 0.2x, ``torchvision/models/*.py``):

- ResNet: one ``nn.ReLU(inplace=True)`` per block, called after each convolution and after the sum
  (BasicBlock twice, Bottleneck three times), a stride-2 ``downsample``; the stem's max-pool.
- VGG: ``nn.ReLU(inplace=True)`` after each convolution and in the classifier, max-pools,
  ``AdaptiveAvgPool2d``, dropout.
- DenseNet: BN-ReLU-conv layers concatenated, transitions with average pooling, and a *functional*
  ``F.relu(features, inplace=True)`` before the head.
- SqueezeNet 1.1: Fire modules (squeeze, two expands concatenated), ``ceil_mode=True`` max-pools,
  a convolutional classifier with ``nn.ReLU`` and ``AdaptiveAvgPool2d``.
- GoogLeNet: ``BasicConv2d`` = conv, BN (eps 1e-3), *functional* ``F.relu(inplace=True)``;
  four-branch Inception modules with a ``ceil_mode`` max-pool branch.

:mod:`refdeconv.conformance.pytorch.architectures_mobile` has the mobile and ReLU-free families;
:data:`ARCHITECTURES` lists them all as ``name -> (factory, input shape)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .architectures_mobile import CLASSES, ConvNeXt, EfficientNet, MobileNetV2, ShuffleNetV2


class BasicBlock(nn.Module):
    """ResNet's basic block: conv-BN-ReLU-conv-BN, plus the shortcut, ReLU; one in-place ReLU reused."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.downsample = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """ResNet's bottleneck: 1x1, 3x3 (stride), 1x1 (x4), the shortcut; one in-place ReLU used three times."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * self.expansion
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """A stem, a BasicBlock stage, a Bottleneck stage (stride 2), global average pooling, a linear head."""

    def __init__(self, classes: int = CLASSES):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 7, 2, 3, bias=False), nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.layer2 = nn.Sequential(Bottleneck(8, 4, stride=2), Bottleneck(16, 4))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(x, 1))


class VGG(nn.Module):
    """Two conv-ReLU blocks with max-pools, ``AdaptiveAvgPool2d((2, 2))``, a ReLU/dropout classifier."""

    def __init__(self, classes: int = CLASSES):
        super().__init__()
        layers, cin = [], 3
        for v in (8, "M", 12, 12, "M"):
            layers += [nn.MaxPool2d(2, 2)] if v == "M" else [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
            cin = cin if v == "M" else v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(nn.Linear(12 * 4, 16), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(16, 16), nn.ReLU(True), nn.Dropout(), nn.Linear(16, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv-BN-ReLU-3x3 conv on the concatenation of the earlier features."""

    def __init__(self, cin: int, growth: int):
        super().__init__()
        self.norm1, self.relu1 = nn.BatchNorm2d(cin), nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, 2 * growth, 1, bias=False)
        self.norm2, self.relu2 = nn.BatchNorm2d(2 * growth), nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(2 * growth, growth, 3, padding=1, bias=False)

    def forward(self, features):
        x = torch.cat(features, 1)
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.ModuleDict):
    """Dense layers, each fed every earlier feature map; the block returns their concatenation."""

    def __init__(self, layers: int, cin: int, growth: int):
        super().__init__({f"denselayer{i + 1}": DenseLayer(cin + i * growth, growth) for i in range(layers)})

    def forward(self, x):
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class DenseNet(nn.Module):
    """Stem, dense block, transition (BN-ReLU-1x1 conv-avg pool), dense block, BN, ``F.relu``, pool, linear."""

    def __init__(self, classes: int = CLASSES, growth: int = 4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 7, 2, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1),
            DenseBlock(2, 8, growth),
            nn.Sequential(nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.Conv2d(16, 8, 1, bias=False),
                          nn.AvgPool2d(2, 2)),
            DenseBlock(2, 8, growth), nn.BatchNorm2d(16))
        self.classifier = nn.Linear(16, classes)

    def forward(self, x):
        out = F.relu(self.features(x), inplace=True)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1))


class Fire(nn.Module):
    """SqueezeNet's Fire module: a 1x1 squeeze and ReLU, then 1x1 and 3x3 expands, each with its ReLU, concatenated."""

    def __init__(self, cin: int, squeeze: int, expand: int):
        super().__init__()
        self.squeeze, self.squeeze_activation = nn.Conv2d(cin, squeeze, 1), nn.ReLU(inplace=True)
        self.expand1x1, self.expand1x1_activation = nn.Conv2d(squeeze, expand, 1), nn.ReLU(inplace=True)
        self.expand3x3, self.expand3x3_activation = nn.Conv2d(squeeze, expand, 3, padding=1), nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    """SqueezeNet 1.1's layout: ``ceil_mode=True`` max-pools between Fire modules, a convolutional classifier."""

    def __init__(self, classes: int = CLASSES):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(8, 4, 6), Fire(12, 4, 6), nn.MaxPool2d(3, 2, ceil_mode=True), Fire(12, 6, 8))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(16, classes, 1), nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


class BasicConv2d(nn.Module):
    """GoogLeNet's convolution: conv (no bias), BN with eps 1e-3, then the functional ``F.relu(inplace=True)``."""

    def __init__(self, cin: int, cout: int, kernel: int, **kwargs):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(cin, cout, kernel, bias=False, **kwargs), nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    """Four branches concatenated: 1x1; 1x1 then 3x3; 1x1 then 3x3; a ``ceil_mode`` 3x3 max-pool then 1x1."""

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool: int):
        super().__init__()
        self.branch1 = BasicConv2d(cin, c1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(cin, c3r, 1), BasicConv2d(c3r, c3, 3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(cin, c5r, 1), BasicConv2d(c5r, c5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv2d(cin, pool, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    """The stem (7x7/2, ceil-mode pools, 1x1, 3x3), two Inception modules, global average pooling, dropout, linear."""

    def __init__(self, classes: int = CLASSES):
        super().__init__()
        self.stem = nn.Sequential(BasicConv2d(3, 8, 7, stride=2, padding=3), nn.MaxPool2d(3, 2, ceil_mode=True),
                                  BasicConv2d(8, 8, 1), BasicConv2d(8, 12, 3, padding=1),
                                  nn.MaxPool2d(3, 2, ceil_mode=True))
        self.inception3a = Inception(12, 4, 4, 6, 2, 3, 3)
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a = Inception(16, 6, 4, 6, 2, 2, 2)
        self.avgpool, self.dropout = nn.AdaptiveAvgPool2d((1, 1)), nn.Dropout(0.2)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = self.inception4a(self.maxpool3(self.inception3a(self.stem(x))))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


_IMAGE = (3, 32, 32)
#: ``name -> (factory, input shape (C, H, W))``; each factory builds the network with random weights
#: (seed it with ``torch.manual_seed``) and :data:`CLASSES` outputs.
ARCHITECTURES = {"ResNet": (ResNet, _IMAGE), "VGG": (VGG, _IMAGE), "MobileNetV2": (MobileNetV2, _IMAGE),
                 "DenseNet": (DenseNet, _IMAGE), "SqueezeNet": (SqueezeNet, _IMAGE), "GoogLeNet": (GoogLeNet, _IMAGE),
                 "ShuffleNetV2": (ShuffleNetV2, _IMAGE), "EfficientNet": (EfficientNet, _IMAGE),
                 "ConvNeXt": (ConvNeXt, _IMAGE)}

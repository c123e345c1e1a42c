"""PyTorch versions of the zoo's networks that neither the notes nor torchvision define, written from the papers."""
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.resnet import BasicBlock, ResNet

from notes_networks import ResNet as NotesResNet


def mobilenet_v1(in_channels=3, classes=1000, alpha=1.0):
    """Howard et al. 2017, Table 1: every conv followed by BN and ReLU; width multiplier alpha."""
    def width(channels):
        return max(1, int(channels * alpha))

    def separable(inp, out, stride):
        return nn.Sequential(
            nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp), nn.ReLU(),
            nn.Conv2d(inp, out, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU())

    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    channels = width(32)
    layers = [nn.Sequential(nn.Conv2d(in_channels, channels, 3, 2, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())]
    for out, stride in plan:
        layers.append(separable(channels, width(out), stride))
        channels = width(out)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes))


class SqueezeExcite(nn.Module):
    """Hu et al. 2018: global average, FC (C/16) + ReLU, FC (C) + sigmoid, scale."""
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, x):
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3))))))
        return x * gate[:, :, None, None]


class CBAM(nn.Module):
    """Woo et al. 2018: channel gate from avg- and max-pooled features through a shared MLP, then a 7x7 spatial gate."""
    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(channels, channels // reduction), nn.ReLU(), nn.Linear(channels // reduction, channels))
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        gate = torch.sigmoid(self.mlp(x.mean((2, 3))) + self.mlp(x.amax((2, 3))))
        x = x * gate[:, :, None, None]
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(pooled))


def attentive_resnet18(attention, classes=1000):
    """torchvision's ResNet-18 with the attention module on each residual branch, before the addition."""
    class Block(BasicBlock):
        def __init__(self, inplanes, planes, *args, **kwargs):
            super().__init__(inplanes, planes, *args, **kwargs)
            self.attention = attention(planes)

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.attention(self.bn2(self.conv2(out)))
            return self.relu(out + identity)

    return ResNet(Block, [2, 2, 2, 2], num_classes=classes)


class PreActResidual(nn.Module):
    """The notes' Residual with BN and ReLU moved before each conv (He et al. 2016b); projections see the activated input."""
    def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(input_channels)
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
        self.bn2 = nn.BatchNorm2d(num_channels)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides) if use_1x1conv else None

    def forward(self, X):
        P = F.relu(self.bn1(X))
        Y = self.conv2(F.relu(self.bn2(self.conv1(P))))
        return Y + (self.conv3(P) if self.conv3 is not None else X)


def preact_resnet18(in_channels=1, classes=10):
    """The notes' ResNet-18 layout with pre-activation blocks and a final BN-ReLU before pooling."""
    def stage(inp, out, first):
        return nn.Sequential(PreActResidual(inp, out, use_1x1conv=not first, strides=1 if first else 2), PreActResidual(out, out))

    b1 = NotesResNet(in_channels, classes).model[0]
    return nn.Sequential(b1, stage(64, 64, True), stage(64, 128, False), stage(128, 256, False), stage(256, 512, False),
                         nn.BatchNorm2d(512), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(512, classes))

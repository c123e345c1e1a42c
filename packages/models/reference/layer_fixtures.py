#!/usr/bin/python3
"""Prints the expected outputs of packages/models/test/layers.test.ts, computed with PyTorch.

PyTorch pads symmetrically; TF's 'same' does not for strided layers. These fixtures pin the values (not
only the shapes) of the zoo's padded convolutions and poolings, and of its custom layers (ShuffleNet's
channel shuffle as torchvision writes it, CBAM's channel pool). Inputs and weights are a fixed function
of their logical indices, so the test can rebuild them in channels-last layout:
    x[c, h, w] = ((3h + 5w + 7c) mod 11 - 5) / 10,   kernel[o, i, kh, kw] = ((2kh + 3kw + 5i + 7o) mod 13 - 6) / 10
    (depthwise kernels: i = 0)
"""
import json

import torch
from torch.nn import functional as F
from torchvision.models.shufflenetv2 import channel_shuffle


def pattern_input(channels, height, width):
    x = torch.empty(1, channels, height, width)
    for c in range(channels):
        for h in range(height):
            for w in range(width):
                x[0, c, h, w] = ((3 * h + 5 * w + 7 * c) % 11 - 5) / 10
    return x


def pattern_kernel(out_channels, in_channels, size):
    k = torch.empty(out_channels, in_channels, size, size)
    for o in range(out_channels):
        for i in range(in_channels):
            for kh in range(size):
                for kw in range(size):
                    k[o, i, kh, kw] = ((2 * kh + 3 * kw + 5 * i + 7 * o) % 13 - 6) / 10
    return k


def channels_last(t):
    return [[[round(v, 5) for v in pixel] for pixel in row] for row in t[0].permute(1, 2, 0).tolist()]


def conv_case(label, channels, size, filters, kernel, stride, padding):
    out = F.conv2d(pattern_input(channels, size, size), pattern_kernel(filters, channels, kernel), stride=stride, padding=padding)
    return {"label": label, "kind": "conv", "input": [size, size, channels], "filters": filters, "kernelSize": kernel,
            "strides": stride, "padding": padding, "expected": channels_last(out)}


def depthwise_case(label, channels, size, kernel, stride):
    out = F.conv2d(pattern_input(channels, size, size), pattern_kernel(channels, 1, kernel), stride=stride,
                   padding=(kernel - 1) // 2, groups=channels)
    return {"label": label, "kind": "depthwise", "input": [size, size, channels], "kernelSize": kernel, "strides": stride,
            "expected": channels_last(out)}


def max_pool_case(label, channels, size, pool, stride, padding):
    # the zoo's padded max pools follow a ReLU
    out = F.max_pool2d(F.relu(pattern_input(channels, size, size)), pool, stride, padding)
    return {"label": label, "kind": "maxPoolAfterRelu", "input": [size, size, channels], "poolSize": pool, "strides": stride,
            "padding": padding, "expected": channels_last(out)}


def channel_shuffle_case(label, channels, groups):
    out = channel_shuffle(pattern_input(channels, 2, 2), groups)
    return {"label": label, "kind": "channelShuffle", "input": [2, 2, channels], "groups": groups, "expected": channels_last(out)}


def channel_pool_case(label, channels):
    x = pattern_input(channels, 3, 3)
    out = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
    return {"label": label, "kind": "channelPool", "input": [3, 3, channels], "expected": channels_last(out)}


CASES = [
    conv_case("3×3 stride 2 padding 1, even input (ResNet downsampling)", 2, 6, 2, 3, 2, 1),
    conv_case("7×7 stride 2 padding 3 (ResNet/GoogLeNet/DenseNet stem)", 1, 8, 2, 7, 2, 3),
    conv_case("11×11 stride 4 padding 2 (AlexNet)", 1, 15, 1, 11, 4, 2),
    conv_case("5×5 stride 1 padding 2 (TF 'same')", 2, 5, 1, 5, 1, 2),
    depthwise_case("depthwise 5×5 stride 2 (EfficientNet)", 2, 8, 5, 2),
    depthwise_case("depthwise 3×3 stride 2 (MobileNet, ShuffleNet)", 2, 6, 3, 2),
    max_pool_case("max pool 3×3 stride 2 padding 1 (stems)", 2, 6, 3, 2, 1),
    max_pool_case("max pool 3×3 stride 1 padding 1 (Inception branch 4)", 1, 4, 3, 1, 1),
    channel_shuffle_case("channel shuffle, 2 groups of 3 (ShuffleNet v2)", 6, 2),
    channel_shuffle_case("channel shuffle, 3 groups of 2", 6, 3),
    channel_pool_case("channel mean and max (CBAM spatial gate)", 5),
]

if __name__ == "__main__":
    for case in CASES:
        print(f"  {json.dumps(case, ensure_ascii=False)},")

#!/usr/bin/python3
"""Prints the expected rows of packages/models/test/zoo.test.ts, computed with PyTorch.

    apt-get install -y python3-torch python3-torchvision
    /usr/bin/python3 packages/models/reference/shape_table.py

For each configuration: trainable parameters and the output shapes (channels-last, batch dropped) at
checkpoints named after the TF.js layer that computes the same tensor. The printed rows are pasted as
they are into `shapeTable` of the test; the comment lines at the end back the minimum input sizes in
registry.test.ts. Nothing here reads the TF.js models; the tests never run this script.
"""
import json

import torch
import torchvision.models as tv
from torch import nn

import notes_networks as notes
import paper_networks as paper

VGG11 = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
VGG16 = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def channels_last(tensor):
    return list(tensor.shape[2:]) + [tensor.shape[1]] if tensor.dim() == 4 else list(tensor.shape[1:])


def measure(model, shape, checkpoints):
    height, width, channels = shape
    seen = []
    handles = [module.register_forward_hook(lambda _m, _i, out, name=name: seen.append([name, channels_last(out)]))
               for name, module in checkpoints]
    model.eval()
    with torch.no_grad():
        model(torch.rand(1, channels, height, width))
    for handle in handles:
        handle.remove()
    return sum(p.numel() for p in model.parameters() if p.requires_grad), seen


def pick(container, names_by_index):
    return [(name, container[index]) for index, name in names_by_index]


def lenet_points(net):
    return pick(net, [(1, "features_conv1_sigmoid"), (2, "features_pool1"), (4, "features_conv2_sigmoid"), (5, "features_pool2"),
                      (6, "features_flatten"), (8, "classifier_fc1_sigmoid"), (10, "classifier_fc2_sigmoid"), (11, "head_fc")])


def lenet_bn_points(net):
    return pick(net, [(2, "features_conv1_sigmoid"), (3, "features_pool1"), (6, "features_conv2_sigmoid"), (7, "features_pool2"),
                      (8, "features_flatten"), (11, "classifier_fc1_sigmoid"), (14, "classifier_fc2_sigmoid"), (15, "head_fc")])


def alexnet_points(net):
    return pick(net, [(1, "features_conv1"), (2, "features_pool1"), (4, "features_conv2"), (5, "features_pool2"), (7, "features_conv3"),
                      (9, "features_conv4"), (11, "features_conv5"), (12, "features_pool3"), (13, "features_flatten"),
                      (15, "classifier_fc1"), (18, "classifier_fc2"), (20, "head_fc")])


def vgg_points(net):
    blocks = [(i, f"block{i + 1}_pool") for i in range(5)]
    return pick(net.model, blocks + [(5, "features_flatten"), (7, "classifier_fc1"), (10, "classifier_fc2"), (12, "head_fc")])


def nin_points(net):
    return pick(net, [(0, "block1_conv3"), (1, "block1_pool"), (2, "block2_conv3"), (3, "block2_pool"), (4, "block3_conv3"),
                      (5, "block3_pool"), (7, "head_conv3"), (9, "head_pool")])


def googlenet_points(net):
    return pick(net, [(0, "stage1_pool"), (1, "stage2_pool")]) + [("stage3_block1_concat", net[2][0])] + \
        pick(net, [(2, "stage3_pool"), (3, "stage4_pool"), (4, "global_pool"), (5, "head_fc")])


def notes_resnet_points(net):
    stages = [(i, f"stage{i}_block2_out") for i in range(1, 5)]
    return pick(net.model, [(0, "stem_pool")] + stages + [(6, "global_pool"), (7, "head_fc")])


def preact_resnet_points(net):
    stages = [(i, f"stage{i}_block2_add") for i in range(1, 5)]
    return pick(net, [(0, "stem_pool")] + stages + [(6, "final_relu"), (8, "global_pool"), (9, "head_fc")])


def densenet_points(net):
    blocks = [(1, "stage1_layer4_concat"), (2, "transition1_pool"), (3, "stage2_layer4_concat"), (4, "transition2_pool"),
              (5, "stage3_layer4_concat"), (6, "transition3_pool"), (7, "stage4_layer4_concat")]
    return pick(net, [(0, "stem_pool")] + blocks + [(11, "global_pool"), (12, "head_fc")])


def tv_resnet_points(net, blocks):
    stages = [(f"stage{i}_block{blocks[i - 1]}_out", getattr(net, f"layer{i}")) for i in range(1, 5)]
    return [("stem_pool", net.maxpool)] + stages + [("head_fc", net.fc)]


def tv_densenet121_points(net):
    f = net.features
    return [("stem_pool", f.pool0), ("stage1_layer6_concat", f.denseblock1), ("transition1_pool", f.transition1),
            ("stage2_layer12_concat", f.denseblock2), ("transition2_pool", f.transition2), ("stage3_layer24_concat", f.denseblock3),
            ("transition3_pool", f.transition3), ("stage4_layer16_concat", f.denseblock4), ("final_bn", f.norm5), ("head_fc", net.classifier)]


def mobilenet_v1_points(net):
    blocks = [(i, f"block{i}_pw_relu") for i in (1, 2, 4, 6, 12, 13)]
    return pick(net, [(0, "stem_conv_relu")] + blocks + [(15, "global_pool"), (16, "head_fc")])


def mobilenet_v2_points(net):
    ends = [(1, "stage1_block1_project_bn"), (3, "stage2_block2_add"), (6, "stage3_block3_add"), (10, "stage4_block4_add"),
            (13, "stage5_block3_add"), (16, "stage6_block3_add"), (17, "stage7_block1_project_bn")]
    return pick(net.features, [(0, "stem_conv_relu6")] + ends + [(18, "final_conv_relu6")]) + [("head_fc", net.classifier[1])]


def shufflenet_points(net):
    return [("stem_conv_relu", net.conv1), ("stem_pool", net.maxpool), ("stage1_block4_shuffle", net.stage2),
            ("stage2_block8_shuffle", net.stage3), ("stage3_block4_shuffle", net.stage4), ("final_conv_relu", net.conv5), ("head_fc", net.fc)]


def efficientnet_points(net):
    ends = [(1, "stage1_block1_project_bn"), (2, "stage2_block2_add"), (3, "stage3_block2_add"), (4, "stage4_block3_add"),
            (5, "stage5_block3_add"), (6, "stage6_block4_add"), (7, "stage7_block1_project_bn")]
    return pick(net.features, [(0, "stem_conv_swish")] + ends + [(8, "final_conv_swish")]) + [("head_fc", net.classifier[1])]


def small_vgg(arch, divisor):
    return tuple((convs, channels // divisor) for convs, channels in arch)


# (architecture, options, input H×W×C, classes, network, checkpoints, where the network comes from)
CONFIGURATIONS = [
    ("lenet", None, [28, 28, 1], 10, notes.lenet(), lenet_points, "notes: LeNet"),
    ("lenet", None, [32, 32, 3], 10, notes.lenet(3, 10, 16 * 6 * 6), lenet_points, "notes' LeNet on 32×32 RGB"),
    ("lenet-bn", None, [28, 28, 1], 10, notes.lenet_bn(), lenet_bn_points, "notes: concise batch-norm LeNet"),
    ("alexnet", None, [224, 224, 3], 1000, notes.alexnet(), alexnet_points, "notes: AlexNet"),
    ("alexnet", None, [224, 224, 1], 10, notes.alexnet(1, 10), alexnet_points, "notes' AlexNet on Fashion-MNIST resized"),
    ("vgg11", None, [224, 224, 3], 176, notes.VGGNet11(VGG11, 3), vgg_points, "notes: VGGNet11, 176 classes"),
    ("vgg11", {"widthDivisor": 4}, [224, 224, 1], 10, notes.VGGNet11(small_vgg(VGG11, 4), 1, 10), vgg_points,
     "notes' VGG-11 with the book's channels ÷ 4"),
    ("vgg16", {"hiddenUnits": 256}, [64, 64, 3], 10, notes.VGGNet11(VGG16, 3, 10, 2, 256), vgg_points,
     "notes' VGG code with configuration D, 256 hidden units"),
    ("nin", None, [224, 224, 1], 10, notes.nin(), nin_points, "notes: NiN"),
    ("nin", None, [67, 67, 3], 5, notes.nin(3, 5), nin_points, "notes' NiN at its smallest input"),
    ("googlenet", None, [96, 96, 1], 10, notes.googlenet(), googlenet_points, "notes: GoogLeNet"),
    ("googlenet", None, [224, 224, 3], 1000, notes.googlenet(3, 1000), googlenet_points, "notes' GoogLeNet on ImageNet-sized input"),
    ("resnet18", None, [96, 96, 1], 10, notes.ResNet(1), notes_resnet_points, "notes: ResNet-18"),
    ("resnet18", None, [32, 32, 3], 100, notes.ResNet(3, 100), notes_resnet_points, "notes' ResNet-18 on 32×32 RGB"),
    ("resnet18", {"widthMultiplier": 0.25}, [64, 64, 1], 10, notes.ResNet(1, 10, 16), notes_resnet_points,
     "notes' ResNet-18 with base width 16 instead of 64"),
    ("resnet18", {"preActivation": True}, [96, 96, 1], 10, paper.preact_resnet18(), preact_resnet_points,
     "notes' ResNet-18 with pre-activation blocks (reference/paper_networks.py)"),
    ("resnet34", None, [224, 224, 3], 1000, tv.resnet34(), lambda n: tv_resnet_points(n, [3, 4, 6, 3]), "torchvision resnet34"),
    ("resnet50", None, [224, 224, 3], 1000, tv.resnet50(), lambda n: tv_resnet_points(n, [3, 4, 6, 3]), "torchvision resnet50"),
    ("se-resnet18", None, [224, 224, 3], 1000, paper.attentive_resnet18(paper.SqueezeExcite),
     lambda n: tv_resnet_points(n, [2, 2, 2, 2]), "torchvision resnet18 + SE (reference/paper_networks.py)"),
    ("resnet18-cbam", None, [224, 224, 3], 1000, paper.attentive_resnet18(paper.CBAM),
     lambda n: tv_resnet_points(n, [2, 2, 2, 2]), "torchvision resnet18 + CBAM (reference/paper_networks.py)"),
    ("densenet", None, [96, 96, 1], 10, notes.densenet(), densenet_points, "notes: DenseNet"),
    ("densenet", None, [29, 29, 1], 10, notes.densenet(), densenet_points, "notes' DenseNet at its smallest input"),
    ("densenet121", None, [224, 224, 3], 1000, tv.densenet121(), tv_densenet121_points, "torchvision densenet121"),
    ("densenet121", {"growthRate": 8}, [64, 64, 3], 10, tv.DenseNet(8, (6, 12, 24, 16), 16, num_classes=10), tv_densenet121_points,
     "torchvision DenseNet-121 layout with growth rate 8 and a 16-channel stem"),
    ("mobilenet-v1", None, [224, 224, 3], 1000, paper.mobilenet_v1(), mobilenet_v1_points, "reference/paper_networks.py"),
    ("mobilenet-v1", {"widthMultiplier": 0.5}, [128, 128, 3], 1000, paper.mobilenet_v1(alpha=0.5), mobilenet_v1_points,
     "reference/paper_networks.py, α = 0.5"),
    ("mobilenet-v2", None, [224, 224, 3], 1000, tv.mobilenet_v2(), mobilenet_v2_points, "torchvision mobilenet_v2"),
    ("mobilenet-v2", {"widthMultiplier": 0.5}, [96, 96, 3], 10, tv.mobilenet_v2(num_classes=10, width_mult=0.5), mobilenet_v2_points,
     "torchvision mobilenet_v2, width 0.5"),
    ("shufflenet-v2", None, [224, 224, 3], 1000, tv.shufflenet_v2_x1_0(), shufflenet_points, "torchvision shufflenet_v2_x1_0"),
    ("shufflenet-v2", {"widthMultiplier": 0.5}, [64, 64, 3], 10, tv.shufflenet_v2_x0_5(num_classes=10), shufflenet_points,
     "torchvision shufflenet_v2_x0_5"),
    ("efficientnet-b0", None, [224, 224, 3], 1000, tv.efficientnet_b0(), efficientnet_points, "torchvision efficientnet_b0"),
]

# Feature extractors of the notes' networks, for the smallest input each can take.
FEATURES = {
    "lenet": lambda: notes.lenet()[:6],
    "lenet-bn": lambda: notes.lenet_bn()[:8],
    "alexnet": lambda: notes.alexnet(1)[:13],
    "vgg11": lambda: notes.VGGNet11(VGG11, 1).model[:5],
    "nin": lambda: notes.nin()[:6],
    "googlenet": lambda: notes.googlenet()[:4],
    "resnet18": lambda: notes.ResNet(1).model[:5],
    "densenet": lambda: notes.densenet()[:8],
    "mobilenet-v1": lambda: paper.mobilenet_v1(1)[:14],
    "densenet121": lambda: nn.Sequential(nn.Conv2d(1, 3, 1), tv.densenet121().features),
}


def smallest_input(features):
    features.eval()
    for size in range(1, 300):
        try:
            with torch.no_grad():
                out = features(torch.rand(1, 1, size, size))
            if min(out.shape[2:]) >= 1:
                return size, list(out.shape[2:])
        except RuntimeError:
            continue
    return None, None


def ts(value):
    return json.dumps(value, ensure_ascii=False)


def main():
    torch.manual_seed(0)
    for name, options, shape, classes, net, points, source in CONFIGURATIONS:
        params, shapes = measure(net, shape, points(net))
        architecture = ts(name) if options is None else "{ name: %s, options: %s }" % (ts(name), ts(options))
        print(f"  // {source}")
        print(f"  [{architecture}, {ts(shape)}, {classes}, {{ params: {params}, shapes: {ts(shapes)} }}],")
    print()
    for name, build in FEATURES.items():
        size, out = smallest_input(build())
        print(f"// {name}: smallest input that runs is {size}×{size} (last feature map {out[0]}×{out[1]})")
    print("// googlenet, resnet*, mobilenet*, shufflenet, efficientnet pad every pool, so any size runs; the zoo asks for 32, their total stride")

if __name__ == "__main__":
    main()

import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { getModel, type InputShape } from "../src/index.ts";

type Architecture = string | { name: string; options: Record<string, unknown> };
interface Expected {
  /** Trainable parameters (PyTorch's requires_grad parameters; batch-norm running statistics excluded). */
  params: number;
  /** Output shape, channels-last without the batch axis, of the named layers in graph order. */
  shapes: Array<[string, number[]]>;
}

/**
 * Written out by reference/shape_table.py from the notes' PyTorch code, torchvision, and reference/paper_networks.py,
 * each checkpoint named after the TF.js layer that computes the same tensor. Never read back from TF.js.
 */
const shapeTable: Array<[Architecture, InputShape, number, Expected]> = [
  // notes: LeNet
  ["lenet", [28, 28, 1], 10, { params: 61706, shapes: [["features_conv1_sigmoid", [28, 28, 6]], ["features_pool1", [14, 14, 6]], ["features_conv2_sigmoid", [10, 10, 16]], ["features_pool2", [5, 5, 16]], ["features_flatten", [400]], ["classifier_fc1_sigmoid", [120]], ["classifier_fc2_sigmoid", [84]], ["head_fc", [10]]] }],
  // notes' LeNet on 32×32 RGB
  ["lenet", [32, 32, 3], 10, { params: 83126, shapes: [["features_conv1_sigmoid", [32, 32, 6]], ["features_pool1", [16, 16, 6]], ["features_conv2_sigmoid", [12, 12, 16]], ["features_pool2", [6, 6, 16]], ["features_flatten", [576]], ["classifier_fc1_sigmoid", [120]], ["classifier_fc2_sigmoid", [84]], ["head_fc", [10]]] }],
  // notes: concise batch-norm LeNet
  ["lenet-bn", [28, 28, 1], 10, { params: 44878, shapes: [["features_conv1_sigmoid", [24, 24, 6]], ["features_pool1", [12, 12, 6]], ["features_conv2_sigmoid", [8, 8, 16]], ["features_pool2", [4, 4, 16]], ["features_flatten", [256]], ["classifier_fc1_sigmoid", [120]], ["classifier_fc2_sigmoid", [84]], ["head_fc", [10]]] }],
  // notes: AlexNet
  ["alexnet", [224, 224, 3], 1000, { params: 62378344, shapes: [["features_conv1", [55, 55, 96]], ["features_pool1", [27, 27, 96]], ["features_conv2", [27, 27, 256]], ["features_pool2", [13, 13, 256]], ["features_conv3", [13, 13, 384]], ["features_conv4", [13, 13, 384]], ["features_conv5", [13, 13, 256]], ["features_pool3", [6, 6, 256]], ["features_flatten", [9216]], ["classifier_fc1", [4096]], ["classifier_fc2", [4096]], ["head_fc", [1000]]] }],
  // notes' AlexNet on Fashion-MNIST resized
  ["alexnet", [224, 224, 1], 10, { params: 58299082, shapes: [["features_conv1", [55, 55, 96]], ["features_pool1", [27, 27, 96]], ["features_conv2", [27, 27, 256]], ["features_pool2", [13, 13, 256]], ["features_conv3", [13, 13, 384]], ["features_conv4", [13, 13, 384]], ["features_conv5", [13, 13, 256]], ["features_pool3", [6, 6, 256]], ["features_flatten", [9216]], ["classifier_fc1", [4096]], ["classifier_fc2", [4096]], ["head_fc", [10]]] }],
  // notes: VGGNet11, 176 classes
  ["vgg11", [224, 224, 3], 176, { params: 129487408, shapes: [["block1_pool", [112, 112, 64]], ["block2_pool", [56, 56, 128]], ["block3_pool", [28, 28, 256]], ["block4_pool", [14, 14, 512]], ["block5_pool", [7, 7, 512]], ["features_flatten", [25088]], ["classifier_fc1", [4096]], ["classifier_fc2", [4096]], ["head_fc", [176]]] }],
  // notes' VGG-11 with the book's channels ÷ 4
  [{ name: "vgg11", options: {"widthDivisor": 4} }, [224, 224, 1], 10, { params: 43093322, shapes: [["block1_pool", [112, 112, 16]], ["block2_pool", [56, 56, 32]], ["block3_pool", [28, 28, 64]], ["block4_pool", [14, 14, 128]], ["block5_pool", [7, 7, 128]], ["features_flatten", [6272]], ["classifier_fc1", [4096]], ["classifier_fc2", [4096]], ["head_fc", [10]]] }],
  // notes' VGG code with configuration D, 256 hidden units
  [{ name: "vgg16", options: {"hiddenUnits": 256} }, [64, 64, 3], 10, { params: 15307594, shapes: [["block1_pool", [32, 32, 64]], ["block2_pool", [16, 16, 128]], ["block3_pool", [8, 8, 256]], ["block4_pool", [4, 4, 512]], ["block5_pool", [2, 2, 512]], ["features_flatten", [2048]], ["classifier_fc1", [256]], ["classifier_fc2", [256]], ["head_fc", [10]]] }],
  // notes: NiN
  ["nin", [224, 224, 1], 10, { params: 1992166, shapes: [["block1_conv3", [54, 54, 96]], ["block1_pool", [26, 26, 96]], ["block2_conv3", [26, 26, 256]], ["block2_pool", [12, 12, 256]], ["block3_conv3", [12, 12, 384]], ["block3_pool", [5, 5, 384]], ["head_conv3", [5, 5, 10]], ["head_pool", [10]]] }],
  // notes' NiN at its smallest input
  ["nin", [67, 67, 3], 5, { params: 1997953, shapes: [["block1_conv3", [15, 15, 96]], ["block1_pool", [7, 7, 96]], ["block2_conv3", [7, 7, 256]], ["block2_pool", [3, 3, 256]], ["block3_conv3", [3, 3, 384]], ["block3_pool", [1, 1, 384]], ["head_conv3", [1, 1, 5]], ["head_pool", [5]]] }],
  // notes: GoogLeNet
  ["googlenet", [96, 96, 1], 10, { params: 5977530, shapes: [["stage1_pool", [24, 24, 64]], ["stage2_pool", [12, 12, 192]], ["stage3_block1_concat", [12, 12, 256]], ["stage3_pool", [6, 6, 480]], ["stage4_pool", [3, 3, 832]], ["global_pool", [1024]], ["head_fc", [10]]] }],
  // notes' GoogLeNet on ImageNet-sized input
  ["googlenet", [224, 224, 3], 1000, { params: 6998552, shapes: [["stage1_pool", [56, 56, 64]], ["stage2_pool", [28, 28, 192]], ["stage3_block1_concat", [28, 28, 256]], ["stage3_pool", [14, 14, 480]], ["stage4_pool", [7, 7, 832]], ["global_pool", [1024]], ["head_fc", [1000]]] }],
  // notes: ResNet-18
  ["resnet18", [96, 96, 1], 10, { params: 11178378, shapes: [["stem_pool", [24, 24, 64]], ["stage1_block2_out", [24, 24, 64]], ["stage2_block2_out", [12, 12, 128]], ["stage3_block2_out", [6, 6, 256]], ["stage4_block2_out", [3, 3, 512]], ["global_pool", [512]], ["head_fc", [10]]] }],
  // notes' ResNet-18 on 32×32 RGB
  ["resnet18", [32, 32, 3], 100, { params: 11230820, shapes: [["stem_pool", [8, 8, 64]], ["stage1_block2_out", [8, 8, 64]], ["stage2_block2_out", [4, 4, 128]], ["stage3_block2_out", [2, 2, 256]], ["stage4_block2_out", [1, 1, 512]], ["global_pool", [512]], ["head_fc", [100]]] }],
  // notes' ResNet-18 with base width 16 instead of 64
  [{ name: "resnet18", options: {"widthMultiplier": 0.25} }, [64, 64, 1], 10, { params: 702570, shapes: [["stem_pool", [16, 16, 16]], ["stage1_block2_out", [16, 16, 16]], ["stage2_block2_out", [8, 8, 32]], ["stage3_block2_out", [4, 4, 64]], ["stage4_block2_out", [2, 2, 128]], ["global_pool", [128]], ["head_fc", [10]]] }],
  // notes' ResNet-18 with pre-activation blocks (reference/paper_networks.py)
  [{ name: "resnet18", options: {"preActivation": true} }, [96, 96, 1], 10, { params: 11178506, shapes: [["stem_pool", [24, 24, 64]], ["stage1_block2_add", [24, 24, 64]], ["stage2_block2_add", [12, 12, 128]], ["stage3_block2_add", [6, 6, 256]], ["stage4_block2_add", [3, 3, 512]], ["final_relu", [3, 3, 512]], ["global_pool", [512]], ["head_fc", [10]]] }],
  // torchvision resnet34
  ["resnet34", [224, 224, 3], 1000, { params: 21797672, shapes: [["stem_pool", [56, 56, 64]], ["stage1_block3_out", [56, 56, 64]], ["stage2_block4_out", [28, 28, 128]], ["stage3_block6_out", [14, 14, 256]], ["stage4_block3_out", [7, 7, 512]], ["head_fc", [1000]]] }],
  // torchvision resnet50
  ["resnet50", [224, 224, 3], 1000, { params: 25557032, shapes: [["stem_pool", [56, 56, 64]], ["stage1_block3_out", [56, 56, 256]], ["stage2_block4_out", [28, 28, 512]], ["stage3_block6_out", [14, 14, 1024]], ["stage4_block3_out", [7, 7, 2048]], ["head_fc", [1000]]] }],
  // torchvision resnet18 + SE (reference/paper_networks.py)
  ["se-resnet18", [224, 224, 3], 1000, { params: 11778592, shapes: [["stem_pool", [56, 56, 64]], ["stage1_block2_out", [56, 56, 64]], ["stage2_block2_out", [28, 28, 128]], ["stage3_block2_out", [14, 14, 256]], ["stage4_block2_out", [7, 7, 512]], ["head_fc", [1000]]] }],
  // torchvision resnet18 + CBAM (reference/paper_networks.py)
  ["resnet18-cbam", [224, 224, 3], 1000, { params: 11779376, shapes: [["stem_pool", [56, 56, 64]], ["stage1_block2_out", [56, 56, 64]], ["stage2_block2_out", [28, 28, 128]], ["stage3_block2_out", [14, 14, 256]], ["stage4_block2_out", [7, 7, 512]], ["head_fc", [1000]]] }],
  // notes: DenseNet
  ["densenet", [96, 96, 1], 10, { params: 758226, shapes: [["stem_pool", [24, 24, 64]], ["stage1_layer4_concat", [24, 24, 192]], ["transition1_pool", [12, 12, 96]], ["stage2_layer4_concat", [12, 12, 224]], ["transition2_pool", [6, 6, 112]], ["stage3_layer4_concat", [6, 6, 240]], ["transition3_pool", [3, 3, 120]], ["stage4_layer4_concat", [3, 3, 248]], ["global_pool", [248]], ["head_fc", [10]]] }],
  // notes' DenseNet at its smallest input
  ["densenet", [29, 29, 1], 10, { params: 758226, shapes: [["stem_pool", [8, 8, 64]], ["stage1_layer4_concat", [8, 8, 192]], ["transition1_pool", [4, 4, 96]], ["stage2_layer4_concat", [4, 4, 224]], ["transition2_pool", [2, 2, 112]], ["stage3_layer4_concat", [2, 2, 240]], ["transition3_pool", [1, 1, 120]], ["stage4_layer4_concat", [1, 1, 248]], ["global_pool", [248]], ["head_fc", [10]]] }],
  // torchvision densenet121
  ["densenet121", [224, 224, 3], 1000, { params: 7978856, shapes: [["stem_pool", [56, 56, 64]], ["stage1_layer6_concat", [56, 56, 256]], ["transition1_pool", [28, 28, 128]], ["stage2_layer12_concat", [28, 28, 512]], ["transition2_pool", [14, 14, 256]], ["stage3_layer24_concat", [14, 14, 1024]], ["transition3_pool", [7, 7, 512]], ["stage4_layer16_concat", [7, 7, 1024]], ["final_bn", [7, 7, 1024]], ["head_fc", [1000]]] }],
  // torchvision DenseNet-121 layout with growth rate 8 and a 16-channel stem
  [{ name: "densenet121", options: {"growthRate": 8} }, [64, 64, 3], 10, { params: 454634, shapes: [["stem_pool", [16, 16, 16]], ["stage1_layer6_concat", [16, 16, 64]], ["transition1_pool", [8, 8, 32]], ["stage2_layer12_concat", [8, 8, 128]], ["transition2_pool", [4, 4, 64]], ["stage3_layer24_concat", [4, 4, 256]], ["transition3_pool", [2, 2, 128]], ["stage4_layer16_concat", [2, 2, 256]], ["final_bn", [2, 2, 256]], ["head_fc", [10]]] }],
  // reference/paper_networks.py
  ["mobilenet-v1", [224, 224, 3], 1000, { params: 4231976, shapes: [["stem_conv_relu", [112, 112, 32]], ["block1_pw_relu", [112, 112, 64]], ["block2_pw_relu", [56, 56, 128]], ["block4_pw_relu", [28, 28, 256]], ["block6_pw_relu", [14, 14, 512]], ["block12_pw_relu", [7, 7, 1024]], ["block13_pw_relu", [7, 7, 1024]], ["global_pool", [1024]], ["head_fc", [1000]]] }],
  // reference/paper_networks.py, α = 0.5
  [{ name: "mobilenet-v1", options: {"widthMultiplier": 0.5} }, [128, 128, 3], 1000, { params: 1331592, shapes: [["stem_conv_relu", [64, 64, 16]], ["block1_pw_relu", [64, 64, 32]], ["block2_pw_relu", [32, 32, 64]], ["block4_pw_relu", [16, 16, 128]], ["block6_pw_relu", [8, 8, 256]], ["block12_pw_relu", [4, 4, 512]], ["block13_pw_relu", [4, 4, 512]], ["global_pool", [512]], ["head_fc", [1000]]] }],
  // torchvision mobilenet_v2
  ["mobilenet-v2", [224, 224, 3], 1000, { params: 3504872, shapes: [["stem_conv_relu6", [112, 112, 32]], ["stage1_block1_project_bn", [112, 112, 16]], ["stage2_block2_add", [56, 56, 24]], ["stage3_block3_add", [28, 28, 32]], ["stage4_block4_add", [14, 14, 64]], ["stage5_block3_add", [14, 14, 96]], ["stage6_block3_add", [7, 7, 160]], ["stage7_block1_project_bn", [7, 7, 320]], ["final_conv_relu6", [7, 7, 1280]], ["head_fc", [1000]]] }],
  // torchvision mobilenet_v2, width 0.5
  [{ name: "mobilenet-v2", options: {"widthMultiplier": 0.5} }, [96, 96, 3], 10, { params: 700490, shapes: [["stem_conv_relu6", [48, 48, 16]], ["stage1_block1_project_bn", [48, 48, 8]], ["stage2_block2_add", [24, 24, 16]], ["stage3_block3_add", [12, 12, 16]], ["stage4_block4_add", [6, 6, 32]], ["stage5_block3_add", [6, 6, 48]], ["stage6_block3_add", [3, 3, 80]], ["stage7_block1_project_bn", [3, 3, 160]], ["final_conv_relu6", [3, 3, 1280]], ["head_fc", [10]]] }],
  // torchvision shufflenet_v2_x1_0
  ["shufflenet-v2", [224, 224, 3], 1000, { params: 2278604, shapes: [["stem_conv_relu", [112, 112, 24]], ["stem_pool", [56, 56, 24]], ["stage1_block4_shuffle", [28, 28, 116]], ["stage2_block8_shuffle", [14, 14, 232]], ["stage3_block4_shuffle", [7, 7, 464]], ["final_conv_relu", [7, 7, 1024]], ["head_fc", [1000]]] }],
  // torchvision shufflenet_v2_x0_5
  [{ name: "shufflenet-v2", options: {"widthMultiplier": 0.5} }, [64, 64, 3], 10, { params: 352042, shapes: [["stem_conv_relu", [32, 32, 24]], ["stem_pool", [16, 16, 24]], ["stage1_block4_shuffle", [8, 8, 48]], ["stage2_block8_shuffle", [4, 4, 96]], ["stage3_block4_shuffle", [2, 2, 192]], ["final_conv_relu", [2, 2, 1024]], ["head_fc", [10]]] }],
  // torchvision efficientnet_b0
  ["efficientnet-b0", [224, 224, 3], 1000, { params: 5288548, shapes: [["stem_conv_swish", [112, 112, 32]], ["stage1_block1_project_bn", [112, 112, 16]], ["stage2_block2_add", [56, 56, 24]], ["stage3_block2_add", [28, 28, 40]], ["stage4_block3_add", [14, 14, 80]], ["stage5_block3_add", [14, 14, 112]], ["stage6_block4_add", [7, 7, 192]], ["stage7_block1_project_bn", [7, 7, 320]], ["final_conv_swish", [7, 7, 1280]], ["head_fc", [1000]]] }],
];

function trainableParameters(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((sum, weight) => sum + tf.util.sizeFromShape(weight.shape as number[]), 0);
}

function describeRow(architecture: Architecture, inputShape: InputShape, classes: number): string {
  const name = typeof architecture === "string" ? architecture : `${architecture.name} ${JSON.stringify(architecture.options)}`;
  return `${name} ${inputShape.join("×")} → ${classes} classes`;
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("shape table", () => {
  for (const [architecture, inputShape, classes, expected] of shapeTable) {
    it(describeRow(architecture, inputShape, classes), () => {
      const { name, options } = typeof architecture === "string" ? { name: architecture, options: undefined } : architecture;
      // Glorot fills weights several times faster than He's truncated normal; counts and shapes do not depend on it.
      const model = getModel(name, { inputShape, classes, options, initializer: "glorot" });
      try {
        expect(trainableParameters(model)).toBe(expected.params);
        const shapes = expected.shapes.map(([layer]) => [layer, (model.getLayer(layer).outputShape as number[]).slice(1)]);
        expect(shapes).toEqual(expected.shapes);
        const layerNames = model.layers.map((layer) => layer.name);
        const positions = expected.shapes.map(([layer]) => layerNames.indexOf(layer));
        expect(positions).toEqual([...positions].sort((a, b) => a - b));
        expect(model.outputs[0].shape).toEqual([null, classes]);
      } finally {
        model.dispose();
      }
    });
  }
});

import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { formatBytes, getModel, memoryEstimate } from "../src/index.ts";

describe("memoryEstimate", () => {
  it("counts parameter copies per optimizer and every layer's output per sample", () => {
    // 8×8×1 → conv 4@6×6 (144 floats) → flatten (144) → dense 10 (10): 298 floats a sample.
    const model = tf.sequential({
      layers: [tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3 }), tf.layers.flatten(), tf.layers.dense({ units: 10 })],
    });
    const parameters = 4 * 9 + 4 + 144 * 10 + 10;
    const sgd = memoryEstimate(model, 32, "sgd");
    expect(sgd.parameters).toBe(parameters);
    expect(sgd.parameterBytes).toBe(parameters * 4 * 2);
    expect(memoryEstimate(model, 32, "adam").parameterBytes).toBe(parameters * 4 * 4);
    expect(sgd.activationBytesPerSample).toBe(298 * 4 * 2);
    expect(sgd.activationBytes).toBe(298 * 4 * 2 * 32);
    expect(sgd.totalBytes).toBe(sgd.parameterBytes + sgd.activationBytes);
    model.dispose();
  });

  it("grows with the batch and the input, not the parameters, for a convnet", () => {
    const small = getModel("lenet", { inputShape: [28, 28, 1], classes: 10 });
    const large = getModel("lenet", { inputShape: [56, 56, 1], classes: 10 });
    const a = memoryEstimate(small, 64, "sgd");
    expect(memoryEstimate(small, 128, "sgd").activationBytes).toBe(2 * a.activationBytes);
    expect(memoryEstimate(large, 64, "sgd").activationBytesPerSample).toBeGreaterThan(3 * a.activationBytesPerSample);
    small.dispose();
    large.dispose();
  });

  it("formats bytes for messages", () => {
    expect(formatBytes(1.26e9)).toBe("1.3 GB");
    expect(formatBytes(340e6)).toBe("340 MB");
    expect(formatBytes(512)).toBe("1 kB");
  });
});

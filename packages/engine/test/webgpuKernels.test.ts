/**
 * Kernel check table on `webgpu`: every kernel the model zoo's training steps dispatch (listed,
 * with how the list was found, in support/zooKernelCases.ts), run on TF.js's webgpu backend (on
 * Dawn; in CI Mesa's software Vulkan llvmpipe) with the engine's webgpu kernels registered, against
 * the stock `cpu` kernel.
 *
 * Tolerance: max |webgpu − cpu| ≤ 1e-4 · max(1, max |cpu|), as in kernels.test.ts.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/backend/index.ts";
import { releaseWebGpu } from "../src/backend/webgpu.ts";
import { engineKernelNames, registerEngineKernels, unregisterEngineKernels } from "../src/kernels/index.ts";
import { checkCase, TOLERANCE } from "./support/kernelTable.ts";
import { ZOO_KERNELS, zooKernelCases } from "./support/zooKernelCases.ts";

process.env.XDG_RUNTIME_DIR ??= "/tmp";

const cases = zooKernelCases();

beforeAll(async () => {
  // tfjs-webgpu hands kernels whose inputs are small (< 1000 elements) and not yet on the GPU to its
  // cpu implementations; in training they are on the GPU. The table checks the shaders.
  await initBackend("webgpu");
  tf.env().set("WEBGPU_CPU_FORWARD", false);
  expect(tf.getBackend()).toBe("webgpu");
});

afterAll(() => {
  releaseWebGpu();
});

describe("zoo kernels on webgpu vs stock cpu", () => {
  it("every zoo kernel has a case", () => {
    const covered = new Set(cases.map((c) => c.kernel));
    expect(ZOO_KERNELS.filter((k) => !covered.has(k))).toEqual([]);
  });

  it.each(cases.map((c) => [`${c.kernel}: ${c.name}`, c] as const))("%s", async (_label, c) => {
    const { shape, expectedShape, error } = await checkCase(c, "webgpu");
    expect(shape).toEqual(expectedShape);
    expect(error).toBeLessThanOrEqual(c.tolerance ?? TOLERANCE);
  });
});

describe("MaxPoolGrad: the gradient goes to the first maximum of a window", () => {
  // Stock tfjs-webgpu 4.22 sends it to the last one; the engine registers its own kernel.
  const ties = zooKernelCases().filter((c) => c.kernel === "MaxPoolGrad" && c.name.endsWith("relu"));

  it("the stock webgpu kernel disagrees with cpu on ties, the engine's agrees", async () => {
    expect(ties.length).toBeGreaterThan(0);
    expect(engineKernelNames("webgpu")).toContain("MaxPoolGrad");
    const errors = async () => Promise.all(ties.map(async (c) => (await checkCase(c, "webgpu")).error));
    unregisterEngineKernels("webgpu");
    try {
      // Each case has a window with a repeated maximum: the stock kernel is off by about a whole dy.
      for (const error of await errors()) expect(error).toBeGreaterThan(0.1);
    } finally {
      registerEngineKernels("webgpu");
    }
    for (const error of await errors()) expect(error).toBeLessThanOrEqual(TOLERANCE);
  });
});

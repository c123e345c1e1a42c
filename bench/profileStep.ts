/**
 * Per-kernel time of a training step: wraps every kernel of the backend with a timer, runs
 * layers-API training steps and prints the top kernels (nested kernel calls counted in both).
 *
 *   npx tsx bench/profileStep.ts [wasm|cpu] [lenet|lenet-relu-max|resnet18] [steps] [--stock] [--batch=N]
 *
 * --batch=N profiles another batch size than the benchmark's (a data-parallel replica's part: half).
 * --engine profiles the engine's own step (TrainingReplica: what the trainer runs, SGD) instead of
 * the layers API's trainOnBatch.
 */
import * as tf from "@tensorflow/tfjs";
import { getModel } from "@trainyard/models";
import { initBackend } from "../packages/engine/src/backend/index.ts";

const [backendName = "wasm", network = "lenet-relu-max", stepsArg = "5"] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const stock = process.argv.includes("--stock");
// --eager-dx: compute deferred input gradients inside their own kernel's timing (otherwise they
// are charged to whichever kernel first reads them).
const eagerDx = process.argv.includes("--eager-dx");
const backendInfo = await initBackend(backendName as "wasm", { engineKernels: !stock });
console.log(JSON.stringify(backendInfo));

const times = new Map<string, { ms: number; calls: number }>();
const detailed = new Set([
  "Conv2D",
  "FusedConv2D",
  "Conv2DBackpropInput",
  "Conv2DBackpropFilter",
  "MaxPoolGrad",
  "AvgPoolGrad",
  "BatchMatMul",
  "_FusedMatMul",
  "FusedBatchNorm",
  "Transpose",
  "Sum",
  "PadV2",
  "Slice",
  "Multiply",
  "Add",
  "Mean",
]);
let depth = 0;
for (const config of tf.getKernelsForBackend(backendName)) {
  const inner = config.kernelFunc;
  tf.unregisterKernel(config.kernelName, backendName);
  tf.registerKernel({
    ...config,
    kernelFunc: (args) => {
      const shapes = detailed.has(config.kernelName)
        ? " " +
          Object.values(args.inputs)
            .map((t) => (t ? (t as tf.TensorInfo).shape.join("×") : "-"))
            .join(", ")
        : "";
      const key = `${depth > 0 ? "  (nested) " : ""}${config.kernelName}${shapes}`;
      const t0 = performance.now();
      depth++;
      try {
        const result = inner(args);
        if (eagerDx && config.kernelName === "Conv2DBackpropInput") {
          const internals = args.backend as unknown as { dataIdMap?: Map<object, unknown>; data?: Map<object, unknown> };
          (internals.dataIdMap ?? internals.data)!.get((result as tf.TensorInfo).dataId);
        }
        return result;
      } finally {
        depth--;
        const entry = times.get(key) ?? { ms: 0, calls: 0 };
        entry.ms += performance.now() - t0;
        entry.calls++;
        times.set(key, entry);
      }
    },
  });
}

function layersStep(): () => Promise<unknown> {
  const model = getModel(net.model, { inputShape: net.shape, classes: 10, options: net.options });
  model.compile({ optimizer: tf.train.sgd(0.05), loss: "categoricalCrossentropy" });
  return () => model.trainOnBatch(xs, ys);
}

async function engineStep(): Promise<() => Promise<unknown>> {
  const { benchReplica, BENCH_LEARNING_RATE } = await import("./engineReplica.ts");
  const { replica } = benchReplica({ model: net.model, options: net.options, inputShape: net.shape, batch: net.batch });
  return () => replica.step(xs, ys, BENCH_LEARNING_RATE);
}

const nets: Record<string, { model: string; options?: Record<string, unknown>; shape: [number, number, number]; batch: number }> = {
  lenet: { model: "lenet", shape: [28, 28, 1], batch: 256 },
  "lenet-relu-max": { model: "lenet", options: { activation: "relu", pooling: "max" }, shape: [28, 28, 1], batch: 256 },
  resnet18: { model: "resnet18", shape: [32, 32, 1], batch: 64 },
};
const batchArg = process.argv.find((a) => a.startsWith("--batch="));
const net = { ...nets[network], ...(batchArg ? { batch: Number(batchArg.slice(8)) } : {}) };
const xs = tf.randomUniform([net.batch, ...net.shape]);
const ys = tf.oneHot(tf.randomUniform([net.batch], 0, 10, "int32") as tf.Tensor1D, 10).toFloat();
const trainStep = process.argv.includes("--engine") ? await engineStep() : layersStep();
await trainStep();
await trainStep();
times.clear();
const steps = Number(stepsArg);
const stepMs: number[] = [];
const t0 = performance.now();
for (let i = 0; i < steps; i++) {
  const s0 = performance.now();
  await trainStep();
  stepMs.push(performance.now() - s0);
}
const ms = (performance.now() - t0) / steps;
stepMs.sort((a, b) => a - b);
console.log(`step ms: best ${stepMs[0].toFixed(1)}, median ${stepMs[stepMs.length >> 1].toFixed(1)}`);
let top = 0;
for (const [key, { ms: t }] of times) if (!key.startsWith(" ")) top += t;
console.log(
  `${backendName}${stock ? " (stock)" : ""} ${network} batch ${net.batch}: ${ms.toFixed(1)} ms/step, ${((net.batch * 1000) / ms).toFixed(0)} images/s; top-level kernels ${(top / steps).toFixed(1)} ms/step`,
);
const rows = [...times.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(process.env.TOP ?? 40));
for (const [key, { ms: t, calls }] of rows)
  console.log(`${(t / steps).toFixed(2).padStart(9)} ms ${String(calls / steps).padStart(5)}×  ${key}`);

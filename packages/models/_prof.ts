import * as tf from "@tensorflow/tfjs";
import { getModel } from "./src/index.ts";
await tf.setBackend("cpu"); (await import("./test/support/conv-filter-gradient.ts")).useFastConvFilterGradient();
const name = process.argv[2]; const size = Number(process.argv[3] ?? 32); const ch = Number(process.argv[4] ?? 1);
let t = performance.now();
const lap = (label: string) => { const now = performance.now(); console.log(label, (now - t).toFixed(0), "ms"); t = now; };
const model = getModel(name, { inputShape: [size, size, ch], classes: 3 });
lap("build");
model.compile({ optimizer: tf.train.sgd(0.01), loss: "categoricalCrossentropy" });
const x = tf.randomUniform([2, size, size, ch]); const y = tf.oneHot(tf.tensor1d([0, 2], "int32"), 3);
const p0 = model.predict(x) as tf.Tensor; p0.dataSync(); lap("predict");
console.log("loss", await model.trainOnBatch(x, y)); lap("train");
const p = model.predict(x) as tf.Tensor; console.log(p.arraySync()); lap("predict");
// profile kernels of one training step
const prof = await tf.profile(async () => { await model.trainOnBatch(x, y); });
const byKernel = new Map<string, number>();
for (const k of prof.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
console.log([...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 8));

/**
 * bench:finetune — what fine-tuning an imported network measures against training from scratch on
 * an uploaded data set, through the real API and a real worker (own processes, PostgreSQL, Redis).
 *
 *   SOURCE (uploaded, ImageFolder zip): Fashion-MNIST classes 0–3, --source-per-class images each.
 *   TARGET (uploaded, ImageFolder zip): classes 5–9, --target-per-class training images each, a
 *     `val/` folder of --val-per-class images each (from the t10k split, so every TARGET run validates
 *     on exactly the same images) and a small `test/` folder (so nothing is held out of the 20).
 *
 *   1. LeNet (ReLU) is pretrained on SOURCE; its best checkpoint is registered (POST /v1/models), the
 *      version's zip downloaded and imported under another name (POST /v1/models/import, format tfjs):
 *      "a network pre-trained elsewhere".
 *   2. On TARGET, per seed and interleaved, with the same epochs, batch size, optimizer and seed:
 *      scratch; finetune-all (new head, whole network trainable, head learning rate 10× the
 *      backbone's); finetune-frozen (new head, backbone frozen).
 *
 * The fine-tunes start from the imported version, not the registered one: the point is the import path. (The
 * first run of this bench found that path broken for our own exports — the preprocessing layer — fixed in 874d141.)
 *
 * SOURCE has 4 classes and TARGET 5 on purpose: the engine copies every weight whose shape matches,
 * so with 5 source classes the source's classifier would be carried over; 4 → 5 makes the head new.
 *
 * Needs PostgreSQL and Redis as the tests do. Options: --seeds 1,2,3 --epochs 15 --batch-size 16
 * --pretrain-epochs 4 --source-per-class 1000 --target-per-class 20 --val-per-class 200.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import yazl from "yazl";
import { loadBuiltinDataset, type ImageSplit } from "@trainyard/datasets";
import { waitFor } from "../tests/helpers/processes.ts";
import { startStack, type Stack } from "../tests/helpers/stack.ts";

const { values: args } = parseArgs({
  options: {
    seeds: { type: "string", default: "1,2,3" },
    epochs: { type: "string", default: "15" },
    "batch-size": { type: "string", default: "16" },
    "learning-rate": { type: "string", default: "0.001" },
    "pretrain-epochs": { type: "string", default: "4" },
    "source-per-class": { type: "string", default: "1000" },
    "target-per-class": { type: "string", default: "20" },
    "val-per-class": { type: "string", default: "200" },
  },
});

const SEEDS = args.seeds.split(",").map(Number);
const EPOCHS = Number(args.epochs);
const BATCH_SIZE = Number(args["batch-size"]);
const LEARNING_RATE = Number(args["learning-rate"]);
const PRETRAIN_EPOCHS = Number(args["pretrain-epochs"]);
const SOURCE_PER_CLASS = Number(args["source-per-class"]);
const TARGET_PER_CLASS = Number(args["target-per-class"]);
const VAL_PER_CLASS = Number(args["val-per-class"]);
const TEST_PER_CLASS = 20;
const SOURCE_CLASSES = [0, 1, 2, 3];
const TARGET_CLASSES = [5, 6, 7, 8, 9];
const SIDE = 28;
const ARCHITECTURE = "lenet";
const ARCHITECTURE_OPTIONS = { activation: "relu" };
const OPTIMIZER = { type: "adam", learningRate: LEARNING_RATE };

type Variant = "scratch" | "finetune-all" | "finetune-frozen";

interface Row {
  run: Variant;
  seed: number;
  epochs: number;
  firstVal: number;
  finalVal: number;
  bestVal: number;
  wallSeconds: number;
}

/** The first `count` images of each class in `split`, after skipping `skip` of that class. */
function pick(split: ImageSplit, label: number, count: number, skip = 0): number[] {
  const found: number[] = [];
  let seen = 0;
  for (let i = 0; i < split.count && found.length < count; i += 1) {
    if (split.labels[i] !== label) continue;
    if (seen++ >= skip) found.push(i);
  }
  if (found.length < count) throw new Error(`only ${found.length} images of class ${label}, wanted ${count}`);
  return found;
}

function png(split: ImageSplit, index: number): Promise<Buffer> {
  const pixels = Buffer.from(split.images.subarray(index * SIDE * SIDE, (index + 1) * SIDE * SIDE));
  return sharp(pixels, { raw: { width: SIDE, height: SIDE, channels: 1 } })
    .png()
    .toBuffer();
}

/** An ImageFolder zip: `<folder>/<class>/<n>.png` for each entry. */
async function imageFolderZip(
  entries: Array<{ folder: string; className: string; split: ImageSplit; indices: number[] }>,
): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const { folder, className, split, indices } of entries) {
    for (const index of indices) zip.addBuffer(await png(split, index), `${folder}/${className}/${index}.png`);
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function postForm(stack: Stack, path: string, form: FormData): Promise<any> {
  const response = await fetch(`${stack.baseUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.apiKey}` },
    body: form,
  });
  const body = await response.json();
  if (response.status !== 201) throw new Error(`POST ${path} answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

async function upload(stack: Stack, name: string, zip: Buffer): Promise<{ id: string; counts: unknown; classes: string[] }> {
  const form = new FormData();
  form.append("name", name);
  form.append("file", new Blob([new Uint8Array(zip)]), `${name}.zip`);
  const created = await postForm(stack, "/v1/datasets", form);
  const ready = await waitFor(
    `data set ${name} to be processed`,
    async () => {
      const current = (await stack.request("GET", `/v1/datasets/${created.id}`)).body;
      return current.status === "processing" ? null : current;
    },
    180_000,
    250,
  );
  if (ready.status !== "ready") throw new Error(`data set ${name} is ${ready.status}: ${JSON.stringify(ready.error)}`);
  return ready;
}

async function train(
  stack: Stack,
  spec: Record<string, unknown>,
  what: string,
): Promise<{ job: Record<string, any>; row: Omit<Row, "run" | "seed"> }> {
  const id = await stack.submit(spec);
  const job = await stack.waitForJob(id, (j) => ["succeeded", "failed", "cancelled"].includes(j.status), 600_000, what);
  if (job.status !== "succeeded") throw new Error(`${what}: job ${id} ${job.status}: ${JSON.stringify(job.error)}`);
  const { epochs } = (await stack.request("GET", `/v1/jobs/${id}/metrics`)).body as { epochs: Array<{ valAccuracy: number | null }> };
  const accuracies = epochs.map((epoch) => epoch.valAccuracy ?? Number.NaN);
  const wallSeconds = (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000;
  return {
    job,
    row: {
      epochs: epochs.length,
      firstVal: accuracies[0],
      finalVal: accuracies[accuracies.length - 1],
      bestVal: Math.max(...accuracies),
      wallSeconds,
    },
  };
}

async function importTfjs(stack: Stack, zip: Uint8Array): Promise<{ version: number }> {
  const form = new FormData();
  form.append("name", "pretrained-elsewhere");
  form.append("architecture", ARCHITECTURE);
  form.append("architectureOptions", JSON.stringify(ARCHITECTURE_OPTIONS));
  form.append("inputShape", `${SIDE},${SIDE},1`);
  form.append("format", "tfjs");
  form.append("file", new Blob([new Uint8Array(zip)]), "model.zip");
  return postForm(stack, "/v1/models/import", form);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

async function main(): Promise<void> {
  const started = Date.now();
  const fashion = loadBuiltinDataset("fashion-mnist");
  const classNames = fashion.classes;
  const sourceZip = await imageFolderZip(
    SOURCE_CLASSES.map((label) => ({
      folder: "train",
      className: classNames[label],
      split: fashion.train,
      indices: pick(fashion.train, label, SOURCE_PER_CLASS),
    })),
  );
  const targetZip = await imageFolderZip(
    TARGET_CLASSES.flatMap((label) => [
      { folder: "train", className: classNames[label], split: fashion.train, indices: pick(fashion.train, label, TARGET_PER_CLASS) },
      { folder: "val", className: classNames[label], split: fashion.test, indices: pick(fashion.test, label, VAL_PER_CLASS) },
      {
        folder: "test",
        className: classNames[label],
        split: fashion.test,
        indices: pick(fashion.test, label, TEST_PER_CLASS, VAL_PER_CLASS),
      },
    ]),
  );

  const dataDir = mkdtempSync(join(tmpdir(), "trainyard-bench-finetune-"));
  const stack = await startStack({ workers: 1, env: { TRAINYARD_DATA_DIR: dataDir } });
  try {
    await stack.waitForActiveWorker("the worker to be active");
    const source = await upload(stack, "fmnist-source", sourceZip);
    const target = await upload(stack, "fmnist-target", targetZip);
    console.log(`SOURCE ${JSON.stringify(source.classes)} ${JSON.stringify(source.counts)}`);
    console.log(`TARGET ${JSON.stringify(target.classes)} ${JSON.stringify(target.counts)}`);

    const common = { architecture: ARCHITECTURE, architectureOptions: ARCHITECTURE_OPTIONS, inputShape: [SIDE, SIDE, 1] };
    const pretrain = await train(
      stack,
      { ...common, dataset: { id: source.id }, training: { epochs: PRETRAIN_EPOCHS, batchSize: 64, seed: 7, optimizer: OPTIMIZER } },
      "pretraining on SOURCE",
    );
    console.log(
      `pretrain on SOURCE: ${pretrain.row.epochs} epochs, best val ${pretrain.row.bestVal.toFixed(4)}, test ${pretrain.job.result?.testAccuracy}, ${pretrain.row.wallSeconds.toFixed(1)} s`,
    );

    // Register the best checkpoint, download the version, import the zip under another name.
    const registered = await stack.request("POST", "/v1/models", {
      name: "fmnist-source-lenet",
      fromJobId: pretrain.job.id,
      checkpoint: "best",
    });
    if (registered.status !== 201) throw new Error(`POST /v1/models answered ${registered.status}: ${JSON.stringify(registered.body)}`);
    const download = await fetch(`${stack.baseUrl}/v1/models/fmnist-source-lenet/versions/${registered.body.version}/model`, {
      headers: { authorization: `Bearer ${stack.apiKey}` },
    });
    if (!download.ok) throw new Error(`model download answered ${download.status}`);
    const zip = new Uint8Array(await download.arrayBuffer());
    const imported = await importTfjs(stack, zip);
    console.log(`imported the downloaded ${zip.length}-byte zip as pretrained-elsewhere@${imported.version}`);
    const fromModel = `pretrained-elsewhere@${imported.version}`;

    const rows: Row[] = [];
    const fineTunes: Record<Variant, Record<string, unknown> | null> = {
      scratch: null,
      "finetune-all": { fromModel, freeze: "none", headLearningRateMultiplier: 10 },
      "finetune-frozen": { fromModel, freeze: "backbone", headLearningRateMultiplier: 10 },
    };
    for (const seed of SEEDS) {
      for (const run of Object.keys(fineTunes) as Variant[]) {
        const spec = {
          ...common,
          dataset: { id: target.id },
          training: { epochs: EPOCHS, batchSize: BATCH_SIZE, seed, optimizer: OPTIMIZER },
          ...(fineTunes[run] ? { fineTune: fineTunes[run] } : {}),
        };
        const { row } = await train(stack, spec, `${run} seed ${seed}`);
        rows.push({ run, seed, ...row });
        console.log(
          `  done ${run} seed ${seed}: final ${row.finalVal.toFixed(4)} best ${row.bestVal.toFixed(4)} (${row.wallSeconds.toFixed(1)} s)`,
        );
      }
    }

    const line = (cells: Array<string | number>) => cells.map((cell, i) => String(cell).padEnd(i === 0 ? 24 : 10)).join(" ");
    console.log("");
    console.log(
      `fine-tunes start from ${fromModel}; TARGET: ${TARGET_CLASSES.length} classes × ${TARGET_PER_CLASS} train, ${VAL_PER_CLASS} val each; lenet relu, adam lr ${LEARNING_RATE}, batch ${BATCH_SIZE}`,
    );
    console.log(line(["run", "seed", "epochs", "val@1", "final val", "best val", "wall s"]));
    for (const row of rows) {
      console.log(
        line([
          row.run,
          row.seed,
          row.epochs,
          row.firstVal.toFixed(4),
          row.finalVal.toFixed(4),
          row.bestVal.toFixed(4),
          row.wallSeconds.toFixed(1),
        ]),
      );
    }
    for (const run of Object.keys(fineTunes) as Variant[]) {
      const mine = rows.filter((row) => row.run === run);
      console.log(
        line([
          `median ${run}`,
          `n=${mine.length}`,
          EPOCHS,
          median(mine.map((r) => r.firstVal)).toFixed(4),
          median(mine.map((r) => r.finalVal)).toFixed(4),
          median(mine.map((r) => r.bestVal)).toFixed(4),
          median(mine.map((r) => r.wallSeconds)).toFixed(1),
        ]),
      );
    }
    console.log(
      `load average (1/5/15 min): ${loadavg()
        .map((value) => value.toFixed(2))
        .join(" ")}; bench total ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  } catch (error) {
    console.error(stack.logs().slice(-4000));
    throw error;
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();

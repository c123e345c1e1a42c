/**
 * Training throughput per backend: images/s (batch ÷ median step time, so that other load on
 * the machine skews it less) of real layers-API training steps
 * (model.compile with SGD + categoricalCrossentropy, model.trainOnBatch) on synthetic data,
 * after warm-up, each row in its own child process so that its peak resident memory (maxRSS)
 * is its own. When /usr/bin/python3 can import torch, the same networks are trained in PyTorch
 * (bench/train_throughput_torch.py) and the TF.js/PyTorch ratio is printed.
 *
 *   npm run bench:train -- [--backends tensorflow,webgpu,wasm,cpu] [--networks lenet,lenet-relu-max,resnet18,resnet18-224]
 *                          [--steps N] [--warmup N] [--threads 1,2|none] [--replicas 1,2] [--torch-threads 0,2]
 *                          [--torch-device auto|cpu|cuda] [--row-seconds S] [--row-timeout S] [--deadline S] [--engine-only] [--batch resnet18-224=2,…]
 *                          [--repeat N] [--no-torch] [--slow]
 *
 * Rows on wasm: the layers API's trainOnBatch with kernel threads (`--threads`), and the
 * engine's own training step — what the service runs — on 1 or more data-parallel replicas
 * (`--replicas`, packages/engine/src/replicas). PyTorch runs at its default thread count (0)
 * and with every core (`--torch-threads`); the ratio is taken against the faster of the two.
 *
 * `--slow` also runs the rows that take minutes (resnet18 on cpu, stock-kernel cpu rows).
 *
 * Rows on webgpu (TF.js's WebGPU backend on Dawn, packages/engine/src/backend/webgpu.ts) and
 * tensorflow: trainOnBatch and the engine's step on one replica (a GPU is one device; the engine's
 * replicas split CPU cores). `--backends webgpu` also takes a software adapter (Mesa llvmpipe):
 * correct, but a CPU pretending to be a GPU, so slow — the row says which adapter it ran on, and
 * its first step (shader compilation) is reported apart. TRAINYARD_WEBGPU_ADAPTER picks an adapter.
 *
 * `--row-seconds S` bounds each row: warm-up stops once it took S/2 (after one step), measured
 * steps once they took S (after one), so a slow backend gives a row instead of taking the hour
 * (scripts/gpu-check.sh); `--row-timeout S` ends a row's process after S seconds (a note says so).
 * `--deadline S` shares S seconds between the rows: each row on the CPU (wasm, cpu, PyTorch) is
 * allowed --row-seconds + 15 s, the GPU rows (webgpu, tensorflow) share what is left, a row that
 * ends early leaving its time to the next. The exit code is 1 when a row gave no result. `--engine-only` leaves out the trainOnBatch rows (the engine's step is
 * what the service runs). PyTorch runs on CUDA when torch.cuda.is_available() (`--torch-device`),
 * else on the CPU. `resnet18-224` (ResNet-18 at 224×224, batch 8) is not in the default list.
 * `--batch NAME=N` changes a network's batch (for both TF.js and PyTorch).
 */
import * as tf from "@tensorflow/tfjs";
import type * as TF from "@tensorflow/tfjs";
import { getModel, hasModel } from "@trainyard/models";
import { spawn, spawnSync } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

interface NetworkSpec {
  name: string;
  label: string;
  model: string;
  /** The network's name in bench/train_throughput_torch.py when it is not `name`. */
  torch?: string;
  options?: Record<string, unknown>;
  inputShape: [number, number, number];
  batch: number;
  warmup: number;
  steps: number;
  /** Steps on the slow pure-JS backend. */
  cpuSteps: number;
}

const NETWORKS: NetworkSpec[] = [
  {
    name: "lenet",
    label: "LeNet sigmoid/avg-pool 28×28×1",
    model: "lenet",
    inputShape: [28, 28, 1],
    batch: 256,
    warmup: 3,
    steps: 30,
    cpuSteps: 3,
  },
  {
    name: "lenet-relu-max",
    label: "LeNet relu/max-pool 28×28×1",
    model: "lenet",
    options: { activation: "relu", pooling: "max" },
    inputShape: [28, 28, 1],
    batch: 256,
    warmup: 3,
    steps: 30,
    cpuSteps: 3,
  },
  { name: "resnet18", label: "ResNet-18 32×32×1", model: "resnet18", inputShape: [32, 32, 1], batch: 64, warmup: 2, steps: 8, cpuSteps: 1 },
  {
    name: "resnet18-224",
    label: "ResNet-18 224×224×1",
    model: "resnet18",
    torch: "resnet18",
    inputShape: [224, 224, 1],
    batch: 8,
    warmup: 1,
    steps: 4,
    cpuSteps: 1,
  },
];

/** Networks that run unless --networks names others; the 224×224 one is asked for by name. */
const DEFAULT_NETWORKS = ["lenet", "lenet-relu-max", "resnet18"];

interface RowSpec {
  network: NetworkSpec;
  backend: string;
  /** Run with the stock TF.js kernels only (no engine kernels). */
  stock?: boolean;
  /** Kernel threads on wasm (1 = the calling thread only). */
  threads?: number;
  /** Run the engine's training step on this many data-parallel replicas instead of trainOnBatch. */
  replicas?: number;
  warmup: number;
  steps: number;
  /** Time budget of the row in seconds (--row-seconds); unbounded when absent. */
  rowSeconds?: number;
}

interface RowResult {
  imagesPerSec?: number;
  msPerStep?: number;
  maxRssMB?: number;
  backend?: string;
  device?: string;
  threads?: number;
  replicas?: number;
  /** webgpu: the adapter's description, and whether it is a software one. */
  adapter?: string;
  software?: boolean;
  /** The first warm-up step (webgpu: shader compilation), ms. */
  firstStepMs?: number;
  /** Steps measured (fewer than asked for when the row's time budget ran out). */
  stepsRun?: number;
  note?: string;
  error?: string;
}

const here = dirname(fileURLToPath(import.meta.url));

async function runChild(spec: RowSpec): Promise<RowResult> {
  const { initBackend } = await import("../packages/engine/src/backend/index.ts");
  const net = spec.network;
  if (!hasModel(net.model)) return { note: `model ${net.model} is not in the zoo yet` };
  let info;
  try {
    info = await initBackend(spec.backend as "wasm", { engineKernels: !spec.stock, kernelThreads: spec.threads });
  } catch (error) {
    return { error: error instanceof Error ? error.message.split("\n")[0] : String(error) };
  }
  const xs = tf.randomUniform([net.batch, ...net.inputShape]);
  const ys = tf.oneHot(tf.randomUniform([net.batch], 0, 10, "int32") as TF.Tensor1D, 10).toFloat();
  const step = spec.replicas ? await engineStep(net, spec.replicas, info.backend as "wasm" | "cpu") : layersStep(net);
  const budgetMs = spec.rowSeconds ? spec.rowSeconds * 1000 : Infinity;
  let firstStepMs: number | undefined;
  const warmupStart = performance.now();
  for (let i = 0; i < spec.warmup; i++) {
    await step.run(xs, ys);
    firstStepMs ??= performance.now() - warmupStart;
    if (performance.now() - warmupStart > budgetMs / 2) break;
  }
  const stepMs: number[] = [];
  for (let i = 0; i < spec.steps; i++) {
    const start = performance.now();
    await step.run(xs, ys);
    stepMs.push(performance.now() - start);
    if (stepMs.reduce((a, b) => a + b, 0) > budgetMs) break;
  }
  await step.stop();
  const adapter = info.backend === "webgpu" ? await webgpuAdapterInfo() : undefined;
  const median = stepMs.sort((a, b) => a - b)[stepMs.length >> 1];
  return {
    imagesPerSec: (net.batch * 1000) / median,
    msPerStep: median,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    backend: info.backend,
    device: info.device,
    threads: spec.replicas ? undefined : info.threads,
    replicas: spec.replicas,
    adapter: adapter?.description || adapter?.device,
    software: adapter?.software,
    firstStepMs,
    stepsRun: stepMs.length,
  };
}

async function webgpuAdapterInfo() {
  const { webgpuAdapter } = await import("../packages/engine/src/backend/webgpu.ts");
  return webgpuAdapter() ?? undefined;
}

/** Backends on a GPU: their rows share the time --deadline leaves after the CPU rows. */
const GPU_BACKENDS = new Set(["webgpu", "tensorflow"]);

/**
 * Row timeouts under --deadline: a CPU row (wasm, cpu, PyTorch; bounded by --row-seconds) is
 * given `fastSeconds`, the GPU rows share the rest equally, so time a row does not use goes to
 * the rows after it. 0: the deadline has passed. Without --deadline, --row-timeout (or none).
 */
class RowClock {
  private readonly end: number | undefined;
  constructor(
    deadlineSeconds: number | undefined,
    private readonly cap: number | undefined,
    private readonly fastSeconds: number,
    private slowLeft: number,
    private fastLeft: number,
  ) {
    this.end = deadlineSeconds === undefined ? undefined : performance.now() / 1000 + deadlineSeconds;
  }

  timeout(gpu: boolean): number | undefined {
    if (this.end === undefined) return this.cap;
    const remaining = this.end - performance.now() / 1000;
    if (remaining <= 1) return 0;
    const share = gpu
      ? (remaining - this.fastSeconds * this.fastLeft) / Math.max(1, this.slowLeft)
      : Math.min(this.fastSeconds * 2, remaining);
    const seconds = Math.max(Math.min(share, remaining), Math.min(10, remaining));
    return Math.round(this.cap ? Math.min(this.cap, seconds) : seconds);
  }

  done(gpu: boolean): void {
    if (gpu) this.slowLeft--;
    else this.fastLeft--;
  }
}

interface BenchStep {
  run(x: TF.Tensor, y: TF.Tensor): Promise<unknown>;
  stop(): Promise<void>;
}

/** The layers API's own step: compile with SGD + categorical cross-entropy, trainOnBatch. */
function layersStep(net: NetworkSpec): BenchStep {
  const model = getModel(net.model, { inputShape: net.inputShape, classes: 10, options: net.options });
  model.compile({ optimizer: tf.train.sgd(0.05), loss: "categoricalCrossentropy" });
  return { run: (x, y) => model.trainOnBatch(x, y), stop: async () => void model.dispose() };
}

/** The engine's training step (TrainingReplica), split over `replicas` data-parallel replicas when > 1. */
async function engineStep(net: NetworkSpec, replicas: number, backend: "wasm" | "cpu"): Promise<BenchStep> {
  const { benchReplica, BENCH_LEARNING_RATE: rate } = await import("./engineReplica.ts");
  const { ReplicaGroup } = await import("../packages/engine/src/replicas/group.ts");
  const { spec, replica } = benchReplica({ model: net.model, options: net.options, inputShape: net.inputShape, batch: net.batch });
  const group = replicas > 1 ? await ReplicaGroup.start(replica, replicas, { spec, classes: 10, learningRate: rate, backend }) : null;
  return {
    run: (x, y) => (group ?? replica).step(x, y, rate),
    stop: async () => {
      await group?.stop();
      replica.dispose();
    },
  };
}

function lastJsonLine(text: string): unknown {
  const lines = text
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"));
  if (lines.length === 0) throw new Error(`no result line in output:\n${text.slice(-2000)}`);
  return JSON.parse(lines[lines.length - 1]);
}

function runRow(spec: RowSpec, timeoutSeconds: number | undefined): Promise<RowResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "--child", JSON.stringify(spec)], {
      stdio: ["ignore", "pipe", "pipe"],
      // Dawn's Vulkan loader prints an error line on every start without it.
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp" },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    let timedOut = false;
    const timer = timeoutSeconds
      ? setTimeout(() => {
          timedOut = true;
          child.kill("SIGKILL");
        }, timeoutSeconds * 1000)
      : undefined;
    child.on("close", (code) => {
      clearTimeout(timer);
      if (timedOut) return resolve({ error: `no result within ${timeoutSeconds} s (first step and warm-up included); stopped` });
      try {
        resolve(lastJsonLine(out) as RowResult);
      } catch {
        resolve({ error: `child exited ${code}: ${err.split("\n").filter((l) => /Error/.test(l))[0] ?? err.slice(-300)}` });
      }
    });
  });
}

const PYTHON = "/usr/bin/python3";

/** PyTorch's version, and the CUDA device it would train on (null: none, or --torch-device cpu). */
function torchAvailable(device: string): { version: string; cuda: string | null } | null {
  const script = "import torch; print(torch.__version__); print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')";
  const r = spawnSync(PYTHON, ["-c", script], { encoding: "utf8" });
  if (r.status !== 0) return null;
  const [version, cuda] = r.stdout.split("\n").map((line) => line.trim());
  return { version, cuda: device !== "cpu" && cuda ? cuda : null };
}

type TorchResult = RowResult & { threads?: number; device?: string; stepsRun?: number };

function runTorch(
  net: NetworkSpec,
  threads: number,
  device: string,
  rowSeconds: number | undefined,
  timeoutSeconds: number | undefined,
): TorchResult {
  const r = spawnSync(
    PYTHON,
    [
      join(here, "train_throughput_torch.py"),
      "--network",
      net.torch ?? net.name,
      "--size",
      String(net.inputShape[0]),
      "--batch",
      String(net.batch),
      "--warmup",
      String(net.warmup),
      "--steps",
      String(net.steps),
      "--threads",
      String(threads),
      "--device",
      device,
      ...(rowSeconds ? ["--max-seconds", String(rowSeconds)] : []),
    ],
    { encoding: "utf8", timeout: timeoutSeconds ? timeoutSeconds * 1000 : undefined, killSignal: "SIGKILL" },
  );
  if (r.signal === "SIGKILL") return { error: `no result within ${timeoutSeconds} s; stopped` };
  if (r.status !== 0) return { error: r.stderr.split("\n").slice(-3).join(" ") };
  return lastJsonLine(r.stdout) as TorchResult;
}

function parseArgs(argv: string[]) {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    child: get("child"),
    backends: (get("backends") ?? "tensorflow,wasm,cpu").split(","),
    networks: (get("networks") ?? DEFAULT_NETWORKS.join(",")).split(","),
    steps: get("steps") ? Number(get("steps")) : undefined,
    warmup: get("warmup") ? Number(get("warmup")) : undefined,
    torch: !argv.includes("--no-torch"),
    // "none": no trainOnBatch rows on wasm.
    threads: (get("threads") ?? `1,${Math.min(4, availableParallelism())}`)
      .split(",")
      .map(Number)
      .filter((n) => n >= 1),
    replicas: (get("replicas") ?? `1,${Math.min(4, availableParallelism())}`).split(",").map(Number),
    torchThreads: (get("torch-threads") ?? `0,${availableParallelism()}`).split(",").map(Number),
    torchDevice: get("torch-device") ?? "auto",
    rowSeconds: get("row-seconds") ? Number(get("row-seconds")) : undefined,
    rowTimeout: get("row-timeout") ? Number(get("row-timeout")) : undefined,
    deadline: get("deadline") ? Number(get("deadline")) : undefined,
    engineOnly: argv.includes("--engine-only"),
    batch: new Map(
      (get("batch") ?? "")
        .split(",")
        .filter(Boolean)
        .map((pair) => {
          const [name, value] = pair.split("=");
          if (!NETWORKS.some((n) => n.name === name) || !(Number(value) >= 1)) throw new Error(`--batch takes NAME=N pairs, got "${pair}"`);
          return [name, Number(value)] as const;
        }),
    ),
    slow: argv.includes("--slow"),
    repeat: Math.max(1, Number(get("repeat") ?? 1)),
  };
}

/** Digits for images/s: a software GPU adapter's rows run below one image a second. */
function rateDigits(v: number | undefined): number {
  return v === undefined ? 0 : v < 1 ? 2 : v < 10 ? 1 : 0;
}

/** TF.js/PyTorch: two decimals, or two significant digits below 0.1 (0.0042×, not 0.00×). */
function ratioText(ratio: number): string {
  return `${ratio >= 0.1 ? ratio.toFixed(2) : ratio.toPrecision(2)}×`;
}

function fmt(v: number | undefined, digits = 0): string {
  return v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(digits);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) {
    const result = await runChild(JSON.parse(args.child) as RowSpec);
    console.log(JSON.stringify(result));
    process.exit(0);
  }
  const torchVersion = args.torch ? torchAvailable(args.torchDevice) : null;
  console.log(
    `# Training throughput, ${new Date().toISOString()}, Node ${process.version}, ${availableParallelism()} cores, load average ${loadavg()[0].toFixed(1)} at start, best of ${args.repeat} run${args.repeat === 1 ? "" : "s"} per row`,
  );
  console.log(
    torchVersion
      ? `# PyTorch ${torchVersion.version} via ${PYTHON}, on ${torchVersion.cuda ? `CUDA (${torchVersion.cuda})` : `the CPU${args.torchDevice === "cpu" ? "" : " (torch.cuda.is_available() is false)"}`}`
      : args.torch
        ? "# PyTorch: not available (apt-get install -y python3-torch)"
        : "# PyTorch: skipped (--no-torch)",
  );
  const header = ["network", "batch", "backend", "steps", "images/s", "median ms/step", "peak RSS MB", "TF.js/PyTorch"];
  const rows: string[][] = [];
  const notes: string[] = [];
  const print = (cells: string[]) => console.log(`| ${cells.join(" | ")} |`);
  print(header);
  print(header.map(() => "---"));
  const nets = NETWORKS.filter((n) => args.networks.includes(n.name)).map((n) => ({ ...n, batch: args.batch.get(n.name) ?? n.batch }));
  const plan = nets.map((net) => ({ net, specs: specsFor(net) }));
  const torchThreads = !torchVersion
    ? []
    : args.torchDevice === "cuda" || torchVersion.cuda
      ? [0] // On CUDA the thread count does not matter: one run.
      : [...new Set(args.torchThreads)];
  const clock = new RowClock(
    args.deadline,
    args.rowTimeout,
    (args.rowSeconds ?? 10) + 15,
    args.repeat * plan.reduce((n, p) => n + p.specs.filter((spec) => GPU_BACKENDS.has(spec.backend)).length, 0),
    args.repeat * plan.reduce((n, p) => n + p.specs.filter((spec) => !GPU_BACKENDS.has(spec.backend)).length + torchThreads.length, 0),
  );
  let failedRows = 0;
  function specsFor(net: NetworkSpec): RowSpec[] {
    const specs: RowSpec[] = [];
    for (const backend of args.backends) {
      const slowRow = backend === "cpu" && net.name === "resnet18";
      if (slowRow && !args.slow) {
        notes.push(`${net.name} on cpu skipped (minutes per step; --slow runs it)`);
        continue;
      }
      const steps = args.steps ?? (backend === "cpu" ? net.cpuSteps : net.steps);
      const warmup = args.warmup ?? (backend === "cpu" ? 1 : net.warmup);
      const row = { network: net, backend, warmup, steps, rowSeconds: args.rowSeconds };
      if (backend === "wasm") {
        if (!args.engineOnly) for (const threads of [...new Set(args.threads)]) specs.push({ ...row, threads });
        for (const replicas of [...new Set(args.replicas)]) specs.push({ ...row, threads: 1, replicas });
      } else if (backend === "webgpu" || backend === "tensorflow") {
        // One device: the engine's step on one replica, and the layers API's trainOnBatch.
        if (!args.engineOnly) specs.push(row);
        specs.push({ ...row, replicas: 1 });
      } else specs.push(args.engineOnly ? { ...row, replicas: 1 } : row);
      if (backend === "cpu" && args.slow && net.name !== "resnet18")
        specs.push({ network: net, backend, stock: true, warmup: 1, steps: 1 });
    }
    return specs;
  }
  for (const { net, specs } of plan) {
    // Each row `--repeat` times, TF.js and PyTorch interleaved; the best run of each row counts
    // (the machine's other load only ever slows a run down).
    const best = new Map<RowSpec, RowResult>();
    const torchRuns = new Map<number, TorchResult>();
    for (let round = 0; round < args.repeat; round++) {
      for (const spec of specs) {
        const gpu = GPU_BACKENDS.has(spec.backend);
        const timeout = clock.timeout(gpu);
        const r = timeout === 0 ? { error: `not run: --deadline ${args.deadline} s reached` } : await runRow(spec, timeout);
        clock.done(gpu);
        const previous = best.get(spec);
        if (!previous || (r.imagesPerSec ?? 0) > (previous.imagesPerSec ?? 0)) best.set(spec, r);
      }
      if (torchVersion) {
        for (const threads of torchThreads) {
          const timeout = clock.timeout(false);
          const t: TorchResult =
            timeout === 0
              ? { error: `not run: --deadline ${args.deadline} s reached` }
              : runTorch(net, threads, args.torchDevice, args.rowSeconds, timeout);
          clock.done(false);
          const previous = torchRuns.get(threads);
          if (!previous || (t.imagesPerSec ?? 0) > (previous.imagesPerSec ?? 0)) torchRuns.set(threads, t);
        }
      }
    }
    // The ratio is against PyTorch's faster configuration on this machine.
    const torch = [...torchRuns.values()].reduce<TorchResult | undefined>(
      (a, b) => (!a || (b.imagesPerSec ?? 0) > (a.imagesPerSec ?? 0) ? b : a),
      undefined,
    );
    for (const spec of specs) {
      const r = best.get(spec)!;
      // webgpu: which adapter ("llvmpipe", "NVIDIA GeForce RTX 4090"), and whether it is a software one.
      const on = r.adapter ? ` on ${r.adapter.split(/[:(]/)[0].trim()}${r.software ? " (software)" : ""}` : "";
      const label = spec.replicas
        ? `${spec.backend}${on}, engine step (${spec.replicas} replica${spec.replicas === 1 ? "" : "s"})`
        : `${spec.backend}${on}${spec.stock ? " (stock kernels)" : ""}${r.threads ? ` (${r.threads} thread${r.threads === 1 ? "" : "s"})` : ""}`;
      if (r.error || r.note) {
        if (r.error) failedRows++;
        notes.push(r.error ? `${net.name} on ${label}: ${r.error}` : `${net.name} on ${label}: ${r.note}`);
        continue;
      }
      if (r.software) {
        notes.push(
          `webgpu ran on a software adapter (${r.adapter}): the GPU code path executed by the CPU, correct but slow by nature — these rows say nothing about a GPU's speed`,
        );
      }
      if (spec.backend === "webgpu" && r.firstStepMs !== undefined) {
        notes.push(`${net.name} on ${label}: first step ${(r.firstStepMs / 1000).toFixed(1)} s (it compiles the shaders), not counted`);
      }
      if (r.stepsRun !== undefined && r.stepsRun < spec.steps) {
        notes.push(`${net.name} on ${label}: ${r.stepsRun} of ${spec.steps} steps measured (--row-seconds ${spec.rowSeconds})`);
      }
      const ratio = torch?.imagesPerSec && r.imagesPerSec ? ratioText(r.imagesPerSec / torch.imagesPerSec) : "—";
      const cells = [
        net.label,
        String(net.batch),
        label,
        String(r.stepsRun ?? spec.steps),
        fmt(r.imagesPerSec, rateDigits(r.imagesPerSec)),
        fmt(r.msPerStep, 1),
        fmt(r.maxRssMB),
        ratio,
      ];
      rows.push(cells);
      print(cells);
    }
    for (const [threads, run] of torchRuns) {
      if (run.error) failedRows++;
      if (run.error) notes.push(`${net.name} in PyTorch (${threads || "default"} threads): ${run.error}`);
      else {
        const ratio = torch?.imagesPerSec && run.imagesPerSec ? ratioText(run.imagesPerSec / torch.imagesPerSec) : "—";
        const label = run.device?.startsWith("cuda")
          ? `PyTorch CUDA (${run.device})`
          : `PyTorch CPU (${run.threads} thread${run.threads === 1 ? "" : "s"}${threads === 0 ? ", its default" : ""})`;
        const cells = [
          net.label,
          String(net.batch),
          label,
          String(run.stepsRun ?? net.steps),
          fmt(run.imagesPerSec, rateDigits(run.imagesPerSec)),
          fmt(run.msPerStep, 1),
          fmt(run.maxRssMB),
          ratio,
        ];
        rows.push(cells);
        print(cells);
      }
    }
  }
  for (const note of [...new Set(notes)]) console.log(`- ${note}`);
  console.log(`# load average ${loadavg()[0].toFixed(1)} at end (other processes on the machine skew the numbers)`);
  if (failedRows > 0) {
    console.log(`# ${failedRows} row${failedRows === 1 ? "" : "s"} gave no result (see the notes)`);
    process.exitCode = 1;
  }
}

await main();

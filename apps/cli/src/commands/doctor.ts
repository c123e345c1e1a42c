/**
 * `trainyard doctor`: what this machine can train on and whether the services answer, one line
 * per check ("ok" or "missing", and why). Exit code 0 when the configured backend
 * (TRAINYARD_BACKEND, default auto) trains here and PostgreSQL and Redis answer.
 *
 * Each TF.js backend is tried in a child process of its own (`trainyard doctor --probe NAME`):
 * loading libtensorflow, Dawn or the wasm module changes the process (global backends, kernels,
 * navigator.gpu, a Dawn instance that keeps it alive), so one probe must not see another's.
 * A probe starts the backend the way a training child does (the engine's initBackend) and
 * trains a small convolutional network for a few steps: "loads" means "trains".
 */
import * as tf from "@tensorflow/tfjs";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import pg from "pg";
import { initBackend } from "@trainyard/engine";
import { BACKEND_PREFERENCES, type BackendPreference } from "@trainyard/shared";
import { parseDawnAdapterList } from "@trainyard/worker";
import { UsageError } from "../errors.ts";
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from "../env.ts";

export type CheckStatus = "ok" | "missing";

export interface Check {
  status: CheckStatus;
  /** What was checked, e.g. "backend wasm", "redis". */
  name: string;
  detail: string;
}

/** The probes: the two native packages of `tensorflow` are separate (GPU slots load -gpu, CPU slots the other). */
const PROBES = ["tensorflow-cpu", "tensorflow-gpu", "webgpu", "wasm", "cpu"] as const;
type ProbeName = (typeof PROBES)[number];

const NATIVE_PACKAGE: Record<"tensorflow-cpu" | "tensorflow-gpu", string> = {
  "tensorflow-cpu": "@tensorflow/tfjs-node",
  "tensorflow-gpu": "@tensorflow/tfjs-node-gpu",
};

/** What a probe child prints as its last line. */
export interface ProbeResult {
  ok: boolean;
  backend?: string;
  device?: string;
  /** webgpu: the adapter TF.js ran on, and whether it is a CPU implementation. */
  adapter?: string;
  software?: boolean;
  /** webgpu: every adapter Dawn lists ("backend: name"). */
  adapters?: string[];
  threads?: number;
  /** Loss of each training step of the check (must be finite and fall). */
  losses?: number[];
  /** Wall time of the check's steps after the first, per step. */
  msPerStep?: number;
  firstStepMs?: number;
  error?: string;
}

const BIN = fileURLToPath(new URL("../../bin/trainyard.mjs", import.meta.url));
const PROBE_TIMEOUT_MS = 180_000;

function errorText(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0] : String(error);
}

// ---------------------------------------------------------------------------------------------
// The probe child.

/**
 * Dawn's adapters, as Dawn lists them when asked for an adapter name that matches none
 * (the `webgpu` package's documented way). A Dawn instance of its own, dropped afterwards.
 */
async function dawnAdapters(): Promise<string[]> {
  const { create } = (await import(/* @vite-ignore */ "webgpu")) as unknown as {
    create(options: string[]): { requestAdapter(): Promise<unknown> };
  };
  try {
    await create(["adapter=trainyard-doctor-lists-adapters"]).requestAdapter();
    return [];
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    return parseDawnAdapterList(text).map((adapter) => `${adapter.backend}: ${adapter.name}`);
  }
}

/** The check's network: conv 3×3 (8 filters) → relu → max-pool 2 → dense 10, softmax cross-entropy, SGD. */
async function trainSmallConvnet(steps: number): Promise<{ losses: number[]; firstStepMs: number; msPerStep: number }> {
  const seed = 7;
  const x = tf.randomUniform([16, 12, 12, 1], 0, 1, "float32", seed);
  const labels = tf
    .oneHot(
      tf.tensor1d(
        Array.from({ length: 16 }, (_, i) => i % 10),
        "int32",
      ),
      10,
    )
    .toFloat();
  const filter = tf.variable(tf.randomNormal([3, 3, 1, 8], 0, 0.3, "float32", seed + 1));
  const bias = tf.variable(tf.zeros([8]));
  const dense = tf.variable(tf.randomNormal([6 * 6 * 8, 10], 0, 0.1, "float32", seed + 2));
  const optimizer = tf.train.sgd(0.2);
  const losses: number[] = [];
  const times: number[] = [];
  for (let step = 0; step < steps; step++) {
    const start = performance.now();
    const cost = optimizer.minimize(() => {
      const conv = tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, filter as tf.Variable<tf.Rank.R4>, 1, "same"), bias));
      const pooled = tf.maxPool(conv as tf.Tensor4D, 2, 2, "valid");
      const logits = tf.matMul(tf.reshape(pooled, [16, 6 * 6 * 8]), dense);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    }, true);
    losses.push((await cost!.data())[0]);
    cost!.dispose();
    times.push(performance.now() - start);
  }
  const rest = times.slice(1);
  return { losses, firstStepMs: times[0], msPerStep: rest.reduce((a, b) => a + b, 0) / Math.max(1, rest.length) };
}

async function probe(name: ProbeName): Promise<ProbeResult> {
  const result: ProbeResult = { ok: false };
  try {
    if (name === "webgpu") result.adapters = await dawnAdapters();
    const preference = name.startsWith("tensorflow") ? "tensorflow" : (name as BackendPreference);
    const info = await initBackend(preference, { gpu: name === "tensorflow-gpu" ? 0 : name === "tensorflow-cpu" ? false : undefined });
    Object.assign(result, { backend: info.backend, device: info.device, adapter: info.adapter, threads: info.threads });
    if (name === "webgpu") {
      // The same test as the engine's auto (a software adapter is trained on only when asked for by name).
      const { isSoftwareAdapter } = await import("../../../../packages/engine/src/backend/webgpu.ts");
      result.software = isSoftwareAdapter({ description: info.adapter });
    }
    const run = await trainSmallConvnet(4);
    Object.assign(result, run);
    const finite = run.losses.every(Number.isFinite);
    const falls = run.losses[run.losses.length - 1] < run.losses[0];
    if (!finite) result.error = `the loss is not finite (${run.losses.join(", ")})`;
    else if (!falls)
      result.error = `the loss did not fall over ${run.losses.length} steps (${run.losses.map((l) => l.toFixed(3)).join(" → ")})`;
    else result.ok = true;
  } catch (error) {
    result.error = errorText(error);
  }
  return result;
}

/** `trainyard doctor --probe NAME` (internal): one backend's check, its result as the last line of stdout. */
async function probeCommand(name: string): Promise<number> {
  if (!(PROBES as readonly string[]).includes(name)) throw new UsageError(`--probe takes one of ${PROBES.join(", ")}`);
  const result = await probe(name as ProbeName);
  console.log(JSON.stringify(result));
  // A Dawn instance keeps the process alive; the probe is done.
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// The checks.

function runProbe(name: ProbeName, env: NodeJS.ProcessEnv): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, "doctor", "--probe", name], {
      env: { ...env, XDG_RUNTIME_DIR: env.XDG_RUNTIME_DIR ?? "/tmp" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), PROBE_TIMEOUT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const last = out
        .trim()
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .pop();
      if (last) {
        try {
          return resolve(JSON.parse(last) as ProbeResult);
        } catch {
          // fall through to the exit status
        }
      }
      const reason = signal === "SIGKILL" ? `no answer within ${PROBE_TIMEOUT_MS / 1000} s` : `the probe exited with ${signal ?? code}`;
      const lastError = err
        .split("\n")
        .filter((line) => /error/i.test(line))
        .pop();
      resolve({ ok: false, error: lastError ? `${reason}: ${lastError.trim()}` : reason });
    });
  });
}

/** Whether an optional package is in node_modules where the engine would import it from. */
function installed(pkg: string): boolean {
  const engineDir = dirname(createRequire(import.meta.url).resolve("@trainyard/engine"));
  const paths = createRequire(join(engineDir, "index.ts")).resolve.paths(pkg) ?? [];
  return paths.some((dir) => existsSync(join(dir, pkg, "package.json")));
}

function lossText(r: ProbeResult): string {
  const losses = r.losses ?? [];
  const timing =
    r.firstStepMs === undefined ? "" : `, first step ${(r.firstStepMs / 1000).toFixed(1)} s, then ${r.msPerStep!.toFixed(0)} ms/step`;
  return `trains a small convnet (loss ${losses[0]?.toFixed(3)} → ${losses[losses.length - 1]?.toFixed(3)} in ${losses.length} steps${timing})`;
}

function backendCheck(name: ProbeName, r: ProbeResult | null): Check {
  if (name === "tensorflow-cpu" || name === "tensorflow-gpu") {
    const pkg = NATIVE_PACKAGE[name];
    const label = `backend tensorflow (${pkg})`;
    if (!r) {
      return {
        status: "missing",
        name: label,
        detail: `not installed: an optional dependency whose install script downloads libtensorflow${name === "tensorflow-gpu" ? " (with CUDA 11.2 + cuDNN 8.1 at run time)" : ""}, which did not happen here (no internet at install, or npm did not run its install script)`,
      };
    }
    if (!r.ok) return { status: "missing", name: label, detail: `installed but does not train: ${r.error}` };
    return { status: "ok", name: label, detail: `${lossText(r)} on ${r.device}` };
  }
  if (name === "webgpu") {
    const adapters = r?.adapters?.length ? `; Dawn's adapters: ${r.adapters.join(", ")}` : r?.adapters ? "; Dawn lists no adapter" : "";
    if (!r) return { status: "missing", name: "backend webgpu", detail: 'not installed: the optional npm package "webgpu" (Dawn)' };
    if (!r.ok) return { status: "missing", name: "backend webgpu", detail: `${r.error}${adapters}` };
    const kind = r.software
      ? "a software adapter: correct but slow, auto skips it, TRAINYARD_BACKEND=webgpu uses it"
      : "a hardware adapter: auto uses it";
    return { status: "ok", name: "backend webgpu", detail: `${lossText(r)} on "${r.adapter}" (${kind})${adapters}` };
  }
  if (!r!.ok) return { status: "missing", name: `backend ${name}`, detail: r!.error ?? "did not train" };
  const threads = r!.threads && r!.threads > 1 ? ` with ${r!.threads} kernel threads` : "";
  return { status: "ok", name: `backend ${name}`, detail: `${lossText(r!)}${threads}` };
}

/** GPU indices and names from nvidia-smi (the worker's own source of GPU slots, with TRAINYARD_GPUS). */
function gpuCheck(env: NodeJS.ProcessEnv): Promise<{ check: Check; count: number }> {
  const configured = env.TRAINYARD_GPUS?.trim();
  const query = ["--query-gpu=index,name,driver_version,memory.total", "--format=csv,noheader"];
  return new Promise((resolve) => {
    execFile("nvidia-smi", query, { encoding: "utf8", timeout: 10_000 }, (error, stdout) => {
      const lines = error
        ? []
        : stdout
            .split("\n")
            .map((line) => line.trim())
            .filter(Boolean);
      const slots = configured ? `; TRAINYARD_GPUS=${configured} gives the worker ${configured.split(",").length} GPU slot(s)` : "";
      if (lines.length > 0) {
        return resolve({ check: { status: "ok", name: "gpus", detail: `nvidia-smi: ${lines.join("; ")}${slots}` }, count: lines.length });
      }
      const why =
        (error as NodeJS.ErrnoException | null)?.code === "ENOENT"
          ? "nvidia-smi not found (no NVIDIA driver here; an AMD or Intel GPU shows up as a webgpu adapter instead)"
          : error
            ? `nvidia-smi failed: ${errorText(error)}`
            : "nvidia-smi lists no GPU";
      resolve({
        check: { status: configured ? "ok" : "missing", name: "gpus", detail: `${why}${slots}` },
        count: configured ? configured.split(",").length : 0,
      });
    });
  });
}

function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return url;
  }
}

async function postgresCheck(url: string): Promise<Check> {
  const name = "postgresql";
  const query = async (connectionString: string) => {
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5000 });
    client.on("error", () => undefined);
    await client.connect();
    try {
      const version = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v;
      const table = await client.query("SELECT to_regclass('public._prisma_migrations') IS NOT NULL AS present");
      let migrations = "no migrations applied yet (trainyard migrate)";
      if (table.rows[0].present) {
        const count = await client.query<{ n: string }>("SELECT count(*) AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL");
        migrations = `${count.rows[0].n} migrations applied`;
      }
      return `PostgreSQL ${version}, ${migrations}`;
    } finally {
      await client.end();
    }
  };
  try {
    return { status: "ok", name, detail: `answers at ${redacted(url)}: ${await query(url)}` };
  } catch (error) {
    if ((error as { code?: string }).code === "3D000") {
      // The server answers; the database is created by `trainyard migrate`.
      const server = new URL(url);
      const database = decodeURIComponent(server.pathname.slice(1));
      server.pathname = "/postgres";
      try {
        const version = (await query(server.toString())).split(",")[0];
        return {
          status: "ok",
          name,
          detail: `answers at ${redacted(url)}: ${version}; no database "${database}" yet (trainyard migrate creates it)`,
        };
      } catch {
        // report the first error
      }
    }
    return {
      status: "missing",
      name,
      detail: `no answer at ${redacted(url)} (DATABASE_URL): ${errorText(error) || (error as { code?: string }).code}`,
    };
  }
}

async function redisCheck(url: string): Promise<Check> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const pong = await client.ping();
    const version = /redis_version:(\S+)/.exec(await client.info("server"))?.[1] ?? "unknown version";
    return { status: pong === "PONG" ? "ok" : "missing", name: "redis", detail: `answers at ${redacted(url)}: Redis ${version}` };
  } catch (error) {
    return { status: "missing", name: "redis", detail: `no answer at ${redacted(url)} (REDIS_URL): ${errorText(error)}` };
  } finally {
    client.disconnect();
  }
}

/** The built-in data sets: Fashion-MNIST's four IDX files (plain or .gz), as the engine looks for them. */
function datasetCheck(env: NodeJS.ProcessEnv): Check {
  const dir = env.TRAINYARD_FASHION_MNIST_DIR ?? "/usr/share/datasets/fashion-mnist";
  const files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];
  const absent = files.filter((base) => !existsSync(join(dir, base)) && !existsSync(join(dir, `${base}.gz`)));
  if (absent.length === 0) return { status: "ok", name: "dataset fashion-mnist", detail: `the 4 IDX files are in ${dir}` };
  return {
    status: "missing",
    name: "dataset fashion-mnist",
    detail: `${absent.join(", ")} not in ${dir} (apt-get install -y dataset-fashion-mnist, or set TRAINYARD_FASHION_MNIST_DIR)`,
  };
}

/**
 * What the configured backend trains on, from the probes: an explicit backend is its own probe;
 * auto takes the first of tensorflow → webgpu (hardware adapter only) → wasm → cpu, as the
 * engine's initBackend does.
 */
export function configuredBackend(
  preference: BackendPreference,
  results: Partial<Record<ProbeName, ProbeResult | null>>,
  gpuSlots: boolean,
): { ok: boolean; detail: string } {
  const tensorflow = gpuSlots ? "tensorflow-gpu" : "tensorflow-cpu";
  const trains = (name: ProbeName) => results[name]?.ok === true;
  if (preference === "auto") {
    if (trains(tensorflow)) return { ok: true, detail: `auto trains on tensorflow (${NATIVE_PACKAGE[tensorflow]})` };
    if (trains("webgpu") && !results.webgpu!.software) return { ok: true, detail: `auto trains on webgpu (${results.webgpu!.adapter})` };
    if (trains("wasm")) return { ok: true, detail: "auto trains on wasm" };
    if (trains("cpu")) return { ok: true, detail: "auto trains on cpu (slow)" };
    return { ok: false, detail: "auto finds no backend that trains" };
  }
  const name: ProbeName = preference === "tensorflow" ? tensorflow : preference;
  return trains(name)
    ? { ok: true, detail: `TRAINYARD_BACKEND=${preference} trains here` }
    : { ok: false, detail: `TRAINYARD_BACKEND=${preference} does not train here` };
}

export async function doctorCommand(options: { probe?: string }, env: NodeJS.ProcessEnv): Promise<number> {
  if (options.probe !== undefined) return probeCommand(options.probe);

  const raw = env.TRAINYARD_BACKEND?.trim() || "auto";
  const preference = (BACKEND_PREFERENCES as readonly string[]).includes(raw) ? (raw as BackendPreference) : null;
  const databaseUrl = env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const redisUrl = env.REDIS_URL ?? DEFAULT_REDIS_URL;

  const gpus = gpuCheck(env);
  const services = Promise.all([postgresCheck(databaseUrl), redisCheck(redisUrl)]);
  // Probes run side by side: webgpu's first step (shader compilation) takes seconds on a software adapter.
  const results = Object.fromEntries(
    await Promise.all(
      PROBES.map(async (name) => {
        if (name === "tensorflow-cpu" || name === "tensorflow-gpu") {
          if (!installed(NATIVE_PACKAGE[name])) return [name, null] as const;
        } else if (name === "webgpu" && !installed("webgpu")) return [name, null] as const;
        return [name, await runProbe(name, env)] as const;
      }),
    ),
  ) as Record<ProbeName, ProbeResult | null>;
  const { check: gpuLine, count: gpuCount } = await gpus;
  const [postgres, redis] = await services;

  const checks: Check[] = [...PROBES.map((name) => backendCheck(name, results[name])), gpuLine, postgres, redis, datasetCheck(env)];
  const configured = preference
    ? configuredBackend(preference, results, gpuCount > 0)
    : { ok: false, detail: `TRAINYARD_BACKEND="${raw}" is not one of ${BACKEND_PREFERENCES.join(", ")}` };
  checks.push({ status: configured.ok ? "ok" : "missing", name: "configured backend", detail: configured.detail });

  const width = Math.max(...checks.map((c) => c.name.length));
  console.log(`trainyard doctor (TRAINYARD_BACKEND=${raw})`);
  for (const check of checks) console.log(`${check.status.padEnd(8)}${check.name.padEnd(width)}  ${check.detail}`);
  const ready = configured.ok && postgres.status === "ok" && redis.status === "ok";
  const blockers = [
    !configured.ok && "the configured backend",
    postgres.status !== "ok" && "PostgreSQL",
    redis.status !== "ok" && "Redis",
  ].filter(Boolean);
  console.log(ready ? "ready: the configured backend trains and the services answer" : `not ready: ${blockers.join(", ")}`);
  return ready ? 0 : 1;
}

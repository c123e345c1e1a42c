/**
 * bench:predict — predictions through the real API (its own process, PostgreSQL, Redis): a
 * LeNet 28×28 with random weights stored as a job's best checkpoint, then
 *   - the first request after a cold start (the API just started: inference thread, wasm and
 *     the model loaded by that request), with its load time;
 *   - one PNG image a request, warm: p50/p99;
 *   - 64 PNG images in one request: p50/p99.
 * Times are the API's own (Server-Timing `total`: from the handler's start, after the key is
 * checked, to the answer), with the client's round trip beside them. Targets: one image p50 ≤ 5
 * ms, p99 ≤ 20 ms; 64 images ≤ 50 ms.
 *
 * Needs PostgreSQL and Redis as the tests do (TRAINYARD_TEST_DATABASE_SERVER, TRAINYARD_TEST_REDIS_URL).
 * Options: --requests N (one-image requests, default 300), --batches N (64-image requests, default 40).
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { createApiKey } from "@trainyard/api";
import { createDb, putArtifact } from "@trainyard/db";
import { randomLenet } from "../packages/inference/test/lenet.ts";
import { createTestDatabase, TEST_REDIS_URL, uniqueQueuePrefix } from "../tests/helpers/database.ts";
import { deleteQueueKeys } from "../tests/helpers/redis.ts";
import { startServer, stopServer } from "./serverProcess.ts";

const { values: args } = parseArgs({
  options: { requests: { type: "string", default: "300" }, batches: { type: "string", default: "40" } },
});
const REQUESTS = Number(args.requests);
const BATCHES = Number(args.batches);

/** Server-Timing durations by name. */
function serverTiming(header: string | null): Record<string, number> {
  const timing: Record<string, number> = {};
  for (const entry of (header ?? "").split(",")) {
    const match = /^\s*([\w-]+);dur=([\d.]+)/.exec(entry);
    if (match) timing[match[1]!] = Number(match[2]);
  }
  return timing;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

const database = await createTestDatabase();
const queuePrefix = uniqueQueuePrefix();
const dataDir = await mkdtemp(join(tmpdir(), "trainyard-bench-predict-"));
const db = createDb(database.url);
const env = {
  ...process.env,
  DATABASE_URL: database.url,
  REDIS_URL: TEST_REDIS_URL,
  LOG_LEVEL: "warn",
  PORT: "0",
  HOST: "127.0.0.1",
  TRAINYARD_QUEUE_PREFIX: queuePrefix,
  TRAINYARD_DATA_DIR: dataDir,
  TRAINYARD_RATE_LIMIT_PER_MINUTE: "1000000",
};
let api: { child: ChildProcess; port: number } | null = null;
try {
  const { key } = await createApiKey(db, "bench");
  const headers = { authorization: `Bearer ${key}` };
  api = await startServer("./apiServer.ts", env);
  const base = `http://127.0.0.1:${api.port}/v1`;
  const submitted = await fetch(`${base}/jobs`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({
      architecture: "lenet",
      dataset: { name: "synthetic-shapes" },
      inputShape: [28, 28, 1],
      training: { epochs: 1 },
    }),
  });
  if (!submitted.ok) throw new Error(`submit: ${submitted.status} ${await submitted.text()}`);
  const jobId = ((await submitted.json()) as { id: string }).id;
  const labels = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"];
  const { stored } = await randomLenet([28, 28, 1], labels.length);
  await db.$transaction(async (tx) => {
    const json = Buffer.from(JSON.stringify(stored.modelJson));
    await putArtifact(tx, { jobId, kind: "best", name: "model.json", contentType: "application/json", data: json });
    await putArtifact(tx, { jobId, kind: "best", name: "weights.bin", contentType: "application/octet-stream", data: stored.weights });
    const names = Buffer.from(JSON.stringify(labels));
    await putArtifact(tx, { jobId, kind: "meta", name: "labels.json", contentType: "application/json", data: names });
  });
  // A fresh API process: its first prediction starts the inference thread and loads the model.
  await stopServer(api.child);
  api = await startServer("./apiServer.ts", env);
  let url = `http://127.0.0.1:${api.port}/v1/jobs/${jobId}/predict`;

  const pixels = Buffer.from(Array.from({ length: 28 * 28 }, (_, index) => (index * 29) % 256));
  // A one-channel PNG, as Fashion-MNIST's images are (sharp writes raw one-channel pixels as RGB unless told b-w).
  const png = await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toBuffer();
  const form = (count: number) => {
    const body = new FormData();
    for (let index = 0; index < count; index += 1) body.append("image", new Blob([png], { type: "image/png" }), `${index}.png`);
    return body;
  };
  type Timing = { client: number; total: number; decode: number; infer: number; load: number | null };
  const instance = Array.from({ length: 28 }, (_, y) => Array.from({ length: 28 }, (_, x) => [pixels[y * 28 + x]!]));
  async function request(count: number, asInstances = false): Promise<Timing> {
    const started = performance.now();
    const response = asInstances
      ? await fetch(url, {
          method: "POST",
          headers: { ...headers, "content-type": "application/json" },
          body: JSON.stringify({ instances: Array.from({ length: count }, () => instance) }),
        })
      : await fetch(url, { method: "POST", headers, body: form(count) });
    const answer = (await response.json()) as { predictions?: unknown[] };
    const client = performance.now() - started;
    if (response.status !== 200 || answer.predictions?.length !== count)
      throw new Error(`predict: ${response.status} ${JSON.stringify(answer)}`);
    const timing = serverTiming(response.headers.get("server-timing"));
    return { client, total: timing.total!, decode: timing.decode!, infer: timing.infer!, load: timing.load ?? null };
  }
  async function measure(count: number, warmup: number, runs: number, asInstances = false): Promise<Timing[]> {
    for (let index = 0; index < warmup; index += 1) await request(count, asInstances);
    const samples: Timing[] = [];
    for (let index = 0; index < runs; index += 1) samples.push(await request(count, asInstances));
    return samples;
  }

  const cold = await request(1);
  // Restarted again, the first request 3 s later: the listening API started its inference thread meanwhile.
  await stopServer(api.child);
  api = await startServer("./apiServer.ts", env);
  url = `http://127.0.0.1:${api.port}/v1/jobs/${jobId}/predict`;
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const settled = await request(1);
  const single = await measure(1, 20, REQUESTS);
  const batch = await measure(64, 3, BATCHES);
  const batchOfInstances = await measure(64, 3, BATCHES, true);

  const f = (value: number) => value.toFixed(2);
  const p = (samples: Timing[], key: "total" | "decode" | "infer" | "client", q: number) =>
    percentile(
      samples.map((sample) => sample[key]),
      q,
    );
  const rows: string[][] = [
    ["case", "n", "server p50 ms", "server p99 ms", "decode p50", "infer p50", "client p50", "target", "met"],
    [
      "cold start: 1st request at once",
      "1",
      `${f(cold.total)}: thread start and queries ${f(cold.total - (cold.load ?? 0) - cold.decode - cold.infer)}, model read+load ${f(cold.load ?? NaN)}`,
      "—",
      f(cold.decode),
      f(cold.infer),
      f(cold.client),
      "states its load time",
      "—",
    ],
    [
      "cold start: 1st request 3 s after",
      "1",
      `${f(settled.total)}: thread start and queries ${f(settled.total - (settled.load ?? 0) - settled.decode - settled.infer)}, model read+load ${f(settled.load ?? NaN)}`,
      "—",
      f(settled.decode),
      f(settled.infer),
      f(settled.client),
      "states its load time",
      "—",
    ],
  ];
  for (const [name, samples, target, met] of [
    ["1 image (PNG), warm", single, "p50 ≤ 5, p99 ≤ 20", p(single, "total", 50) <= 5 && p(single, "total", 99) <= 20],
    ["64 images (PNG), one request", batch, "≤ 50", p(batch, "total", 50) <= 50],
    ["(64 JSON instances, no decoding)", batchOfInstances, "—", true],
  ] as const) {
    rows.push([
      name,
      String(samples.length),
      f(p(samples, "total", 50)),
      f(p(samples, "total", 99)),
      f(p(samples, "decode", 50)),
      f(p(samples, "infer", 50)),
      f(p(samples, "client", 50)),
      target,
      target === "—" ? "—" : met ? "yes" : "NO",
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  console.log(
    `bench:predict — LeNet 28×28×1, random weights, 10 classes; TF.js wasm in 1 API worker thread; load average ${loadavg()[0]!.toFixed(2)}`,
  );
  console.log(line(rows[0]!));
  console.log(`|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`);
  for (const row of rows.slice(1)) console.log(line(row));
} finally {
  if (api) await stopServer(api.child);
  await db.$disconnect();
  await deleteQueueKeys(queuePrefix);
  await database.drop();
  await rm(dataDir, { recursive: true, force: true });
}

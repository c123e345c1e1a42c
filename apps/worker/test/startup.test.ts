import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb } from "@trainyard/db";
import { createTestDatabase, TEST_REDIS_URL, uniqueQueuePrefix } from "../../../tests/helpers/database.ts";
import { TRAINYARD_BIN, waitFor } from "../../../tests/helpers/processes.ts";

/**
 * A worker checks at start, in a short-lived child, that the backend it is configured for
 * loads: it exits with one line when it cannot (never taking jobs it would fail), and says what
 * its slots train on when it can. Real `trainyard worker` processes.
 */
let database: { url: string; drop: () => Promise<void> };

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

function runWorker(env: Record<string, string>) {
  const child = spawn(process.execPath, [TRAINYARD_BIN, "worker"], {
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      TRAINYARD_QUEUE_PREFIX: uniqueQueuePrefix(),
      XDG_RUNTIME_DIR: "/tmp",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, output: () => output };
}

describe("the worker's start-up backend check", () => {
  it("TRAINYARD_BACKEND=tensorflow without libtensorflow: exits non-zero at once with one clear line", async () => {
    const worker = runWorker({ TRAINYARD_BACKEND: "tensorflow", LOG_LEVEL: "info" });
    const code = await worker.exited;
    expect(code).toBe(1);
    const lines = worker.output().trim().split("\n");
    expect(lines, worker.output()).toHaveLength(1);
    expect(lines[0]).toMatch(/^trainyard: worker not started: TRAINYARD_BACKEND=tensorflow needs @tensorflow\/tfjs-node/);
    // It never registered, so it never took a job.
    const db = createDb(database.url);
    expect(await db.worker.count()).toBe(0);
    await db.$disconnect();
  });

  it("TRAINYARD_BACKEND=webgpu: starts, and reports the llvmpipe adapter in its log and in GET /v1/workers' record", async () => {
    const worker = runWorker({ TRAINYARD_BACKEND: "webgpu", LOG_LEVEL: "info" });
    try {
      await waitFor("the worker to be ready", async () => worker.output().includes('"msg":"worker ready"'), 90_000, 200).catch(
        (error: Error) => {
          throw new Error(`${error.message}\n${worker.output()}`);
        },
      );
      const trains = worker
        .output()
        .split("\n")
        .find((line) => line.includes("gpu:0 trains on webgpu"));
      expect(trains, worker.output()).toBeDefined();
      expect(JSON.parse(trains!).adapter).toMatch(/^llvmpipe \(LLVM .*\); driver llvmpipe: Mesa/);
      const db = createDb(database.url);
      const [record] = await db.worker.findMany();
      await db.$disconnect();
      expect(record.devices).toEqual([{ id: "gpu:0", name: expect.stringMatching(/^llvmpipe/), backend: "webgpu", busyWithJob: null }]);
    } finally {
      worker.child.kill("SIGTERM");
      await worker.exited;
    }
  });

  it("auto: says which backend the slots will use and why the ones before it were skipped", async () => {
    const worker = runWorker({ TRAINYARD_BACKEND: "auto", LOG_LEVEL: "info" });
    try {
      await waitFor("the worker to be ready", async () => worker.output().includes('"msg":"worker ready"'), 90_000, 200);
      const line = worker
        .output()
        .split("\n")
        .find((text) => text.includes("auto: cpu:0 will train on"));
      expect(line, worker.output()).toBeDefined();
      const fields = JSON.parse(line!);
      expect(fields.backend).toBe("wasm");
      expect(fields.skipped.join("\n")).toMatch(/tensorflow: [\s\S]*webgpu: the only WebGPU adapter is a software one/);
    } finally {
      worker.child.kill("SIGTERM");
      await worker.exited;
    }
  });
});

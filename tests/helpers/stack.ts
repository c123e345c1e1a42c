import { execFileSync } from "node:child_process";
import { createApiKey } from "@trainyard/api";
import { createDb } from "@trainyard/db";
import { createTestDatabase, TEST_REDIS_URL, uniqueQueuePrefix } from "./database.ts";
import { freePort, startTrainyard, waitFor, type ServiceProcess } from "./processes.ts";
import { deleteQueueKeys } from "./redis.ts";

/** Short timings so that takeovers and retries happen within seconds in tests. */
export const FAST_RECOVERY_ENV = {
  // Queue locks keep the product's defaults (8 s, stall checks every second: WORKER_TIMINGS), which
  // already hand a dead worker's job on within seconds; a shorter lock makes a worker on a loaded
  // test machine kill its own healthy training child when a renewal is late.
  TRAINYARD_RETRY_BACKOFF_MS: "300",
  TRAINYARD_RECONCILE_INTERVAL_MS: "1500",
  TRAINYARD_SHUTDOWN_GRACE_MS: "20000",
  LOG_LEVEL: "warn",
};

export interface Stack {
  baseUrl: string;
  apiKey: string;
  env: NodeJS.ProcessEnv;
  api: ServiceProcess;
  workers: ServiceProcess[];
  startWorker(extraEnv?: NodeJS.ProcessEnv): ServiceProcess;
  request<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  submit(spec: Record<string, unknown>): Promise<string>;
  job(id: string): Promise<Record<string, any>>;
  waitForJob(id: string, predicate: (job: Record<string, any>) => boolean, timeoutMs: number, what: string): Promise<Record<string, any>>;
  /** GET /v1/workers once a worker is active (its start-up checks passed and it takes jobs). */
  waitForActiveWorker(what: string, timeoutMs?: number): Promise<Record<string, any>[]>;
  logs(): string;
  stop(): Promise<void>;
}

/** API and workers as real processes on a fresh database and a private queue prefix. */
export async function startStack(
  options: { databaseUrl?: string; redisUrl?: string; workers?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<Stack> {
  const database = options.databaseUrl ? null : await createTestDatabase();
  const databaseUrl = options.databaseUrl ?? database!.url;
  const redisUrl = options.redisUrl ?? TEST_REDIS_URL;
  const queuePrefix = uniqueQueuePrefix();
  const db = createDb(databaseUrl);
  const apiKey = (await createApiKey(db, "reliability")).key;
  await db.$disconnect();
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env = {
    ...FAST_RECOVERY_ENV,
    ...options.env,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    PORT: String(port),
    TRAINYARD_QUEUE_PREFIX: queuePrefix,
  };
  const api = startTrainyard("api", env);
  const workers: ServiceProcess[] = [];
  const startWorker = (extraEnv: NodeJS.ProcessEnv = {}) => {
    const worker = startTrainyard("worker", { ...env, ...extraEnv });
    workers.push(worker);
    return worker;
  };
  for (let i = 0; i < (options.workers ?? 1); i += 1) startWorker();
  try {
    await waitFor("the API to be ready", () => fetch(`${baseUrl}/healthz`).then((r) => r.ok), 120_000);
  } catch (error) {
    // Leave nothing behind when the stack never came up: the test that called cannot stop it.
    await Promise.all([api.stop("SIGKILL"), ...workers.map((worker) => worker.stop("SIGKILL"))]);
    await deleteQueueKeys(queuePrefix).catch(() => undefined);
    await database?.drop().catch(() => undefined);
    throw new Error(`${(error as Error).message}\n--- api ---\n${api.output()}`, { cause: error });
  }

  const request = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    return { status: response.status, body: text.startsWith("{") || text.startsWith("[") ? JSON.parse(text) : text };
  };
  const logs = () => [`--- api ---\n${api.output()}`, ...workers.map((w, i) => `--- worker ${i} ---\n${w.output()}`)].join("\n");
  return {
    baseUrl,
    apiKey,
    env,
    api,
    workers,
    startWorker,
    request,
    logs,
    async submit(spec) {
      const response = await request("POST", "/v1/jobs", spec);
      if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${JSON.stringify(response.body)}`);
      return response.body.id as string;
    },
    async job(id) {
      return (await request("GET", `/v1/jobs/${id}`)).body;
    },
    async waitForJob(id, predicate, timeoutMs, what) {
      return waitFor(
        what,
        async () => {
          const job = (await request("GET", `/v1/jobs/${id}`)).body;
          return job && predicate(job) ? job : null;
        },
        timeoutMs,
        200,
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${logs()}`);
      });
    },
    async waitForActiveWorker(what, timeoutMs = 120_000) {
      return waitFor(
        what,
        async () => {
          const list = (await request("GET", "/v1/workers")).body as Record<string, any>[];
          return Array.isArray(list) && list.some((worker) => worker.status === "active") ? list : null;
        },
        timeoutMs,
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${logs()}`);
      });
    },
    async stop() {
      await Promise.all([api.stop(), ...workers.map((worker) => worker.stop("SIGKILL"))]);
      await deleteQueueKeys(queuePrefix).catch(() => undefined);
      await database?.drop();
    },
  };
}

/** PIDs of a process's children (the worker's training child). */
export function childPids(pid: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
      .split("\n")
      .map((line) => Number(line.trim()))
      .filter((value) => value > 0);
  } catch {
    return [];
  }
}

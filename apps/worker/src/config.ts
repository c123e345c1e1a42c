import { z } from "zod";
import { ARTIFACT_STORE_SETTINGS, BACKEND_PREFERENCES, parseConfig, WORKER_TIMINGS } from "@trainyard/shared";
import type { CpuParallelism } from "./protocol.ts";

const configSchema = z.object({
  DATABASE_URL: z.string().url(),
  REDIS_URL: z.string().url().default("redis://127.0.0.1:6379"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  TRAINYARD_BACKEND: z.enum(BACKEND_PREFERENCES).default("auto"),
  TRAINYARD_GPUS: z
    .string()
    .regex(/^\d+(,\d+)*$/, "comma-separated GPU indices, e.g. 0,1")
    .optional(),
  TRAINYARD_CPU_SLOTS: z.coerce.number().int().min(1).max(64).default(1),
  /** Data-parallel replicas per job on wasm/cpu: "auto" shares the cores between slots and kernel threads. */
  TRAINYARD_REPLICAS: z
    .string()
    .regex(/^(auto|[1-9]\d?)$/, "auto or a number of replicas from 1 to 16")
    .refine((value) => value === "auto" || Number(value) <= 16, "at most 16 replicas")
    .default("auto")
    .transform((value) => (value === "auto" ? ("auto" as const) : Number(value))),
  /** Threads each wasm kernel splits its batch over: off (1) unless set; "auto" gives each CPU slot its cores. */
  TRAINYARD_KERNEL_THREADS: z
    .string()
    .regex(/^(auto|[1-9]\d?)$/, "auto or a number of threads from 1 to 99")
    .optional()
    .transform((value) => (value === undefined || value === "auto" ? value : Number(value))),
  TRAINYARD_QUEUE_PREFIX: z.string().default("trainyard"),
  TRAINYARD_SHUTDOWN_GRACE_MS: z.coerce.number().int().positive().default(60_000),
  TRAINYARD_TENANT_MAX_RUNNING: z.coerce.number().int().min(1).default(4),
  /** The artifact store, read by the API (downloads) and the worker (checkpoints) alike. */
  ...ARTIFACT_STORE_SETTINGS,
  /** How long a job's queue lock lasts without renewal; a dead worker's job is taken over after about this. */
  TRAINYARD_LOCK_DURATION_MS: z.coerce.number().int().min(1000).default(WORKER_TIMINGS.lockDurationMs),
  TRAINYARD_STALLED_INTERVAL_MS: z.coerce.number().int().min(500).default(WORKER_TIMINGS.stalledCheckMs),
  /** Port of the worker's Prometheus /metrics; unset: no metrics server. */
  TRAINYARD_METRICS_PORT: z.coerce.number().int().min(1).max(65_535).optional(),
});

export type WorkerConfig = Readonly<z.infer<typeof configSchema>>;

/** The worker's CPU settings as its training children take them (the engine reads no environment for them). */
export function cpuParallelismOf(config: WorkerConfig): CpuParallelism {
  return { cpuSlots: config.TRAINYARD_CPU_SLOTS, replicas: config.TRAINYARD_REPLICAS, kernelThreads: config.TRAINYARD_KERNEL_THREADS };
}

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return parseConfig(configSchema, env, "worker");
}

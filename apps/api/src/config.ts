import { resolve } from "node:path";
import { z } from "zod";
import { ARTIFACT_STORE_SETTINGS, parseConfig } from "@trainyard/shared";

const GIB = 1024 ** 3;

const configSchema = z.object({
  DATABASE_URL: z.string().url(),
  REDIS_URL: z.string().url().default("redis://127.0.0.1:6379"),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default("127.0.0.1"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  TRAINYARD_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  TRAINYARD_QUEUE_PREFIX: z.string().default("trainyard"),
  /** Base delay of the exponential backoff between attempts after an infrastructure fault. */
  TRAINYARD_RETRY_BACKOFF_MS: z.coerce.number().int().min(0).default(5_000),
  /** How often queued jobs Redis lost are put back from PostgreSQL (also on every Redis reconnect). */
  TRAINYARD_RECONCILE_INTERVAL_MS: z.coerce.number().int().min(1000).default(15_000),
  /** How often every running sweep is planned again, besides on its trials' own events (so a sweep survives a restart). */
  TRAINYARD_SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
  /** Uploaded data sets are processed into `${TRAINYARD_DATA_DIR}/datasets/<id>/`; workers read them there. */
  TRAINYARD_DATA_DIR: z
    .string()
    .min(1)
    .default(".trainyard/data")
    .transform((dir) => resolve(dir)),
  /** Multipart uploads have their own limit: a data set archive is far larger than any JSON body. */
  TRAINYARD_UPLOAD_LIMIT_BYTES: z.coerce.number().int().positive().default(GIB),
  /** What an archive may unpack to, so a small zip bomb cannot fill the disk. */
  TRAINYARD_EXTRACT_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(4 * GIB),
  /** Parameters a model may have in architecture summaries and dry runs: above it, a 400 (VGG-19 has 144 M). */
  TRAINYARD_MAX_PARAMS: z.coerce.number().int().positive().default(150_000_000),
  /** Values of all layer outputs for one sample a model may have (ResNet-50 at 224×224 has ~40 M). */
  TRAINYARD_MAX_ACTIVATIONS: z.coerce.number().int().positive().default(500_000_000),
  /** Weights the prediction threads keep loaded (an LRU by stored artifact), in MB, split between the threads. */
  TRAINYARD_PREDICT_CACHE_MB: z.coerce.number().positive().default(256),
  /** Worker threads that run predictions (TF.js wasm on CPU) in the API process. */
  TRAINYARD_PREDICT_THREADS: z.coerce.number().int().min(1).max(64).default(1),
  TRAINYARD_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(600),
  /** Event streams one API key may hold open at once (per API process); 0: no limit. */
  TRAINYARD_MAX_EVENT_STREAMS_PER_KEY: z.coerce.number().int().min(0).default(20),
  /** Jobs one tenant may have queued at once; a submit beyond answers 429; 0: no limit. */
  TRAINYARD_MAX_QUEUED_JOBS_PER_TENANT: z.coerce.number().int().min(0).default(100),
  /** How often job events are turned into webhook deliveries and due ones are sent; 0 sends none. */
  TRAINYARD_WEBHOOK_INTERVAL_MS: z.coerce.number().int().min(0).default(1_000),
  /** Base delay of the exponential backoff between attempts of a webhook delivery. */
  TRAINYARD_WEBHOOK_BACKOFF_MS: z.coerce.number().int().min(0).default(5_000),
  /** Webhooks to loopback, private and link-local addresses are refused unless this is true. */
  TRAINYARD_WEBHOOK_ALLOW_PRIVATE: z
    .enum(["true", "false"])
    .default("false")
    .transform((value) => value === "true"),
  /** The artifact store, read by the API (downloads) and the worker (checkpoints) alike. */
  ...ARTIFACT_STORE_SETTINGS,
});

export type ApiConfig = Readonly<z.infer<typeof configSchema>>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return parseConfig(configSchema, env, "API");
}

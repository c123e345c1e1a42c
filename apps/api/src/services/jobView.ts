import { z } from "zod";
import type { Job } from "@trainyard/db";
import { ERROR_CODES, JOB_STATUSES, type EpochMetrics, type JobResult, type JobStatus, type Progress } from "@trainyard/shared";

/** A URL's `user:password@`, masked; submits refuse such URLs, but jobs stored before that may hold one. */
function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = "********";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return url;
  }
}

/** A webhook secret is write-only: the spec shows that one is set, never its value (nor credentials in its URL). */
export function withoutSecrets(spec: Job["spec"]): Job["spec"] {
  const webhook = (spec as { webhook?: { secret?: string; url?: string } | null }).webhook;
  if (!webhook) return spec;
  const url = typeof webhook.url === "string" ? withoutCredentials(webhook.url) : webhook.url;
  if (!webhook.secret && url === webhook.url) return spec;
  return { ...(spec as object), webhook: { ...webhook, url, ...(webhook.secret ? { secret: "********" } : {}) } } as Job["spec"];
}

const timestamp = z.iso.datetime();

/** One finished epoch, as the trainer reports it and the API stores it (a metrics row, `latestMetrics`). */
export const epochMetricsSchema = z.object({
  epoch: z.number().int(),
  trainLoss: z.number(),
  trainAccuracy: z.number(),
  valLoss: z.number().nullable().describe("null without a validation split"),
  valAccuracy: z.number().nullable(),
  learningRate: z.number(),
  seconds: z.number(),
  samplesPerSecond: z.number(),
}) satisfies z.ZodType<EpochMetrics>;

/**
 * The job as api.md shows it. The JSON columns (spec, progress, latestMetrics, result) keep any
 * field they hold beyond the ones named here, so the response serializer drops nothing.
 */
export const jobViewSchema = z.object({
  id: z.string(),
  status: z.enum(JOB_STATUSES),
  spec: z.record(z.string(), z.unknown()).describe("the normalized spec, defaults filled in; a webhook secret shows as `********`"),
  progress: z
    .looseObject({
      epoch: z.number().int(),
      epochs: z.number().int(),
      step: z.number().int(),
      stepsPerEpoch: z.number().int(),
      fraction: z.number(),
      etaSeconds: z.number().nullable(),
    })
    .nullable()
    .describe("where a running job is, written at most once a second") satisfies z.ZodType<Progress | null>,
  // A JSON column: kept whole, whatever else it holds.
  latestMetrics: z.looseObject(epochMetricsSchema.shape).nullable(),
  result: z
    .looseObject({ testLoss: z.number(), testAccuracy: z.number(), bestEpoch: z.number().int() })
    .nullable()
    .describe("null until succeeded") satisfies z.ZodType<JobResult | null>,
  error: z
    .object({
      code: z.string().describe(`one of ${Object.keys(ERROR_CODES).join(", ")}`),
      message: z.string(),
    })
    .nullable()
    .describe("null unless failed"),
  device: z.string().nullable().describe("the first (or only) device training it, e.g. `gpu:0`"),
  devices: z.array(z.string()).describe("every device training it (data-parallel: several)"),
  backend: z.string().nullable(),
  adapter: z.string().nullable().describe("webgpu: the adapter's description"),
  workerId: z.string().nullable(),
  attempts: z.number().int(),
  createdAt: timestamp,
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
});
export type JobView = z.input<typeof jobViewSchema>;

/** The job as api.md shows it. */
export function jobView(job: Job): JobView {
  return {
    id: job.id,
    status: job.status as JobStatus,
    spec: withoutSecrets(job.spec) as Record<string, unknown>,
    // JSON columns: the worker writes them as the shared Progress, EpochMetrics and JobResult.
    progress: (job.progress as JobView["progress"]) ?? null,
    latestMetrics: (job.latestMetrics as JobView["latestMetrics"]) ?? null,
    result: job.status === "succeeded" ? ((job.result as JobView["result"]) ?? null) : null,
    error: job.status === "failed" ? { code: job.errorCode ?? "INTERNAL", message: job.errorMessage ?? "" } : null,
    device: job.device,
    devices: job.devices?.length ? job.devices : job.device ? [job.device] : [],
    backend: job.backend,
    adapter: job.adapter ?? null,
    workerId: job.workerId,
    attempts: job.attempts,
    createdAt: job.createdAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
  };
}

import type { Job } from "@trainyard/db";

/** A webhook secret is write-only: the spec shows that one is set, never its value. */
export function withoutSecrets(spec: Job["spec"]): Job["spec"] {
  const webhook = (spec as { webhook?: { secret?: string } | null }).webhook;
  if (!webhook?.secret) return spec;
  return { ...(spec as object), webhook: { ...webhook, secret: "********" } } as Job["spec"];
}

/** The job as api.md shows it. */
export function jobView(job: Job) {
  return {
    id: job.id,
    status: job.status,
    spec: withoutSecrets(job.spec),
    progress: job.progress ?? null,
    latestMetrics: job.latestMetrics ?? null,
    result: job.status === "succeeded" ? (job.result ?? null) : null,
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
export type JobView = ReturnType<typeof jobView>;

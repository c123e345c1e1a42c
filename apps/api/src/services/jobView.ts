import type { Job } from "@trainyard/db";

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

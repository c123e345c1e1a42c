import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Db } from "@trainyard/db";
import { JOB_STATUSES, TRAINING_QUEUE } from "@trainyard/shared";
import type { JobEventStreams } from "./jobEvents.ts";

/** BullMQ's states a training job can be in; `prioritized` is a waiting job with a priority. */
const QUEUE_STATES = ["waiting", "prioritized", "active", "delayed", "waiting-children", "completed", "failed"] as const;
/** Counts from PostgreSQL and Redis are read at most this often, however often Prometheus scrapes. */
const COUNTS_CACHE_MS = 5_000;
/** A scrape does not wait longer than this for Redis: the queue gauge is left out instead. */
const QUEUE_COUNT_TIMEOUT_MS = 2_000;
/** Request durations from a cached read (~1 ms) to a large upload or a slow prediction. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The last answer of `read`, read again once it is older than `ttlMs`; concurrent callers share one read. */
function cached<T>(read: () => Promise<T>, ttlMs: number): () => Promise<T> {
  let value: { at: number; data: T } | null = null;
  let pending: Promise<T> | null = null;
  return () => {
    if (value && Date.now() - value.at < ttlMs) return Promise.resolve(value.data);
    pending ??= read()
      .then((data) => {
        value = { at: Date.now(), data };
        return data;
      })
      .finally(() => (pending = null));
    return pending;
  };
}

/** `2xx`, `4xx`, …: bounded, unlike the status code itself would be across odd clients. */
export function statusClass(statusCode: number): string {
  return `${Math.floor(statusCode / 100)}xx`;
}

/**
 * The API's Prometheus metrics: request durations by route pattern, jobs by status (PostgreSQL),
 * the training queue by BullMQ state (Redis), open event streams, and the process's own.
 * Job and queue counts are the same from every API process; aggregate them with max(), not sum().
 */
export function createMetricsService({
  db,
  redis,
  queuePrefix,
  events,
}: {
  db: Db;
  redis: Redis;
  queuePrefix: string;
  events: Pick<JobEventStreams, "activeCount">;
}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const queue = new Queue(TRAINING_QUEUE, { connection: redis, prefix: queuePrefix });

  const requestDuration = new Histogram({
    name: "trainyard_http_request_duration_seconds",
    help: "HTTP request duration by method, route pattern and status class.",
    labelNames: ["method", "route", "status_class"] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });

  const jobCounts = cached(async () => {
    const groups = await db.job.groupBy({ by: ["status"], _count: { _all: true } });
    const counts = new Map<string, number>(JOB_STATUSES.map((status) => [status, 0]));
    for (const group of groups) counts.set(group.status, group._count._all);
    return counts;
  }, COUNTS_CACHE_MS);
  new Gauge({
    name: "trainyard_jobs",
    help: "Jobs by status (all tenants), from PostgreSQL.",
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      for (const [status, count] of await jobCounts()) this.set({ status }, count);
    },
  });

  const queueCounts = cached(async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("queue counts timed out")), QUEUE_COUNT_TIMEOUT_MS);
    });
    try {
      return await Promise.race([queue.getJobCounts(...QUEUE_STATES), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }, COUNTS_CACHE_MS);
  new Gauge({
    name: "trainyard_queue_jobs",
    help: "Training-queue entries by BullMQ state, from Redis (absent while Redis does not answer).",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const counts = await queueCounts().catch(() => null);
      if (!counts) return;
      for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0);
    },
  });

  new Gauge({
    name: "trainyard_event_streams",
    help: "Open job event streams (SSE connections) on this API process.",
    registers: [registry],
    collect() {
      this.set(events.activeCount());
    },
  });

  return {
    /** Records one answered request; `route` is the matched pattern (`/v1/jobs/:id`), never the raw URL. */
    observeRequest(method: string, route: string, statusCode: number, seconds: number) {
      requestDuration.observe({ method, route, status_class: statusClass(statusCode) }, seconds);
    },
    async render(): Promise<{ contentType: string; body: string }> {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    close: () => queue.close(),
  };
}

export type MetricsService = ReturnType<typeof createMetricsService>;

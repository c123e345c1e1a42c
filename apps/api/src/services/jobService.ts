import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { Db, Job, SqlPool } from "@trainyard/db";
import { CANCEL_CHANNEL, FINISHED_STATUSES, newId, type JobSpec, type JobStatus, type ParsedJobSpec } from "@trainyard/shared";
import { conflict, notFound, tooManyRequests, unavailable } from "../problems.ts";
import type { ArchitectureSummaries } from "./architectures/summaries.ts";
import { createBatcher } from "./batcher.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import { estimateJob } from "./estimate.ts";
import { normalizeSpec } from "./specNormalizer.ts";
import type { TrainingQueue } from "./trainingQueue.ts";

const IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000;

/** Below the cap by more than this, concurrent submits of one tenant cannot reach it: the second count is skipped. */
const CONCURRENT_SUBMITS_MARGIN = 1_000;

export interface JobServiceDeps {
  db: Db;
  /** node-postgres beside Prisma for the hot path: a job by id, and a new job with its first event. */
  sql: SqlPool;
  /** Holds a submit to the parameter and activation budget as the dry run does (cached per model). */
  architectures: ArchitectureSummaries;
  queue: TrainingQueue;
  publisher: Redis;
  /** Jobs one tenant may have queued at once; 0: no limit. */
  maxQueuedPerTenant?: number;
}

export type CreateJobResult = { job: Job; created: boolean };

function requestHash(body: unknown): string {
  return createHash("sha256").update(JSON.stringify(body)).digest("hex");
}

/** PostgreSQL's unique_violation, as node-postgres reports it. */
const UNIQUE_VIOLATION = "23505";

/**
 * Job rows and their first status events in one statement (so an event stream always starts
 * with it): one round trip and one commit for every submit of a batch, instead of Prisma's BEGIN,
 * two INSERTs and COMMIT each. Columns come as arrays, one element per job (tags as a JSON array
 * each, since PostgreSQL arrays cannot nest). Timestamps are UTC, as Prisma writes them;
 * updatedAt is Prisma's @updatedAt, set by the client.
 */
const INSERT_JOBS = `
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::int[], $7::text[], $8::text[], $9::timestamp(3)[])
    AS input ("id", "tenantId", "datasetId", "spec", "tags", "priority", "idempotencyKey", "requestHash", "createdAt")
), job AS (
  INSERT INTO "Job" ("id", "tenantId", "datasetId", "status", "spec", "tags", "priority", "idempotencyKey", "requestHash", "createdAt", "updatedAt")
  SELECT "id", "tenantId", "datasetId", 'queued', "spec", ARRAY(SELECT jsonb_array_elements_text("tags")), "priority", "idempotencyKey", "requestHash", "createdAt", "createdAt"
  FROM input
  RETURNING *
), event AS (
  INSERT INTO "JobEvent" ("jobId", "type", "data", "createdAt")
  SELECT "id", 'status', '{"status":"queued"}'::jsonb, "createdAt" FROM job
)
SELECT * FROM job`;

interface NewJob {
  id: string;
  tenantId: string;
  datasetId: string | null;
  spec: JobSpec;
  idempotencyKey: string | null;
  requestHash: string;
  createdAt: Date;
}

const SELECT_JOBS = `SELECT * FROM "Job" WHERE "id" = ANY($1::text[])`;

/** A Date as a timestamp without time zone in UTC, the way Prisma stores DateTime. */
const utcTimestamp = (date: Date) => date.toISOString().replace("T", " ").replace("Z", "");

export function createJobService({ db, sql, architectures, queue, publisher, maxQueuedPerTenant = 0 }: JobServiceDeps) {
  const insertJobs = async (jobs: NewJob[]): Promise<Job[]> => {
    const column = <T>(value: (job: NewJob) => T) => jobs.map(value);
    const { rows } = await sql.query<Job>({
      name: "trainyard_insert_jobs",
      text: INSERT_JOBS,
      values: [
        column((job) => job.id),
        column((job) => job.tenantId),
        column((job) => job.datasetId),
        column((job) => JSON.stringify(job.spec)),
        column((job) => JSON.stringify(job.spec.tags)),
        column((job) => job.spec.priority),
        column((job) => job.idempotencyKey),
        column((job) => job.requestHash),
        column((job) => utcTimestamp(job.createdAt)),
      ],
    });
    const byId = new Map(rows.map((row) => [row.id, row]));
    return jobs.map((job) => byId.get(job.id)!);
  };
  // Concurrent submits share one INSERT (and one commit). A batch that fails (an Idempotency-Key
  // race is a unique violation) is tried again a job at a time, so each submit gets its own answer.
  const insertJob = createBatcher<NewJob, Job>((jobs) =>
    jobs.length === 1
      ? insertJobs(jobs)
      : insertJobs(jobs).catch(() => Promise.all(jobs.map(async (job) => (await insertJobs([job]))[0]!))),
  );

  const queueFull = () =>
    tooManyRequests(
      `this tenant already has ${maxQueuedPerTenant} jobs queued, the most it may (TRAINYARD_MAX_QUEUED_JOBS_PER_TENANT); wait for some to start or cancel them`,
      30,
    );

  // Concurrent reads of jobs by id share one SELECT: under load a GET costs a fraction of a round
  // trip (bench:api). The tenant is checked on the row, so another tenant's job is a 404 as before.
  const selectJob = createBatcher<string, Job | undefined>(async (ids) => {
    const { rows } = await sql.query<Job>({ name: "trainyard_jobs_by_id", text: SELECT_JOBS, values: [[...new Set(ids)]] });
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id));
  });

  async function findOwned(tenantId: string, jobId: string): Promise<Job> {
    const job = await selectJob(jobId);
    if (!job || job.tenantId !== tenantId) throw notFound(`job ${jobId}`);
    return job;
  }

  /** Lazy until awaited, so it can also join a batch transaction. */
  const statusEvent = (jobId: string, status: JobStatus) => db.jobEvent.create({ data: { jobId, type: "status", data: { status } } });

  async function findIdempotent(tenantId: string, key: string, hash: string): Promise<Job | null> {
    const existing = await db.job.findUnique({ where: { tenantId_idempotencyKey: { tenantId, idempotencyKey: key } } });
    if (!existing) return null;
    if (Date.now() - existing.createdAt.getTime() > IDEMPOTENCY_WINDOW_MS) {
      // An expired key is released so it can name a new job.
      await db.job.update({ where: { id: existing.id }, data: { idempotencyKey: null } });
      return null;
    }
    if (existing.requestHash !== hash) throw conflict("this Idempotency-Key was used with a different request body");
    return existing;
  }

  return {
    /** A dry run: the spec normalised and checked as a submit would, and what training it would cost; nothing is queued. */
    async estimate(tenantId: string, body: ParsedJobSpec) {
      const { spec, dataset } = await normalizeSpec(db, tenantId, body);
      return { spec, estimate: await estimateJob(db, architectures, spec, dataset) };
    },

    async create(tenantId: string, body: ParsedJobSpec, idempotencyKey?: string): Promise<CreateJobResult> {
      const hash = requestHash(body);
      if (idempotencyKey) {
        const existing = await findIdempotent(tenantId, idempotencyKey, hash);
        if (existing) return { job: existing, created: false };
      }
      // Counting stops at the cap, so a tenant with many queued jobs costs no more than one at the cap.
      const queuedBefore =
        maxQueuedPerTenant > 0 ? await db.job.count({ where: { tenantId, status: "queued" }, take: maxQueuedPerTenant }) : 0;
      if (maxQueuedPerTenant > 0 && queuedBefore >= maxQueuedPerTenant) throw queueFull();
      const { spec, datasetId, dataset } = await normalizeSpec(db, tenantId, body);
      // A submit is held to the budgets a dry run reports (TRAINYARD_MAX_PARAMS / _ACTIVATIONS): a 400 naming the field.
      await architectures.summary(
        spec.architecture,
        { inputShape: spec.inputShape, classes: dataset.classes, options: spec.architectureOptions },
        { classes: "dataset", inputShape: "inputShape", architectureOptions: "architectureOptions" },
      );
      let job: Job;
      try {
        job = await insertJob({
          id: newId("job"),
          tenantId,
          datasetId,
          spec,
          idempotencyKey: idempotencyKey ?? null,
          requestHash: hash,
          createdAt: new Date(),
        });
      } catch (error) {
        // Two requests with one key raced: the loser answers with the winner's job.
        if (idempotencyKey && (error as { code?: string }).code === UNIQUE_VIOLATION) {
          const existing = await findIdempotent(tenantId, idempotencyKey, hash);
          if (existing) return { job: existing, created: false };
        }
        throw error;
      }
      if (maxQueuedPerTenant > 0 && queuedBefore >= maxQueuedPerTenant - CONCURRENT_SUBMITS_MARGIN) {
        // Concurrent submits near the cap all passed the count above: the ones ranked past it, in
        // the order the list shows jobs, take theirs back before anything is enqueued.
        const ahead = await db.job.count({
          where: {
            tenantId,
            status: "queued",
            OR: [{ createdAt: { lt: job.createdAt } }, { createdAt: job.createdAt, id: { lte: job.id } }],
          },
          take: maxQueuedPerTenant + 1,
        });
        if (ahead > maxQueuedPerTenant) {
          await db.job.delete({ where: { id: job.id } });
          throw queueFull();
        }
      }
      try {
        await queue.enqueue(job.id, spec.priority);
      } catch (error) {
        // No row may stay queued that no worker will ever see.
        await db.job.delete({ where: { id: job.id } });
        throw unavailable(`the queue is not reachable (${(error as Error).message}); nothing was created, retry later`);
      }
      return { job, created: true };
    },

    get: findOwned,

    async list(tenantId: string, query: { status?: JobStatus; tag?: string; limit: number; cursor?: string }) {
      const after = query.cursor ? decodeCursor(query.cursor) : null;
      const rows = await db.job.findMany({
        where: {
          tenantId,
          ...(query.status ? { status: query.status } : {}),
          ...(query.tag ? { tags: { has: query.tag } } : {}),
          ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
        },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return { items: page, nextCursor: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null };
    },

    async cancel(tenantId: string, jobId: string): Promise<Job> {
      const job = await findOwned(tenantId, jobId);
      if (FINISHED_STATUSES.includes(job.status as JobStatus))
        throw conflict(
          `job ${jobId} has already ${job.status === "succeeded" ? "succeeded" : job.status === "failed" ? "failed" : "been cancelled"}`,
        );
      if (job.status === "cancelling") return job;
      const queued = await db.job.updateMany({
        where: { id: jobId, status: "queued" },
        data: { status: "cancelled", finishedAt: new Date() },
      });
      if (queued.count === 1) {
        await statusEvent(jobId, "cancelled");
        await queue.remove(jobId).catch(() => undefined);
        return findOwned(tenantId, jobId);
      }
      const running = await db.job.updateMany({ where: { id: jobId, status: "running" }, data: { status: "cancelling" } });
      if (running.count === 1) await statusEvent(jobId, "cancelling");
      await publisher.publish(CANCEL_CHANNEL, jobId);
      return findOwned(tenantId, jobId);
    },

    async metrics(tenantId: string, jobId: string) {
      await findOwned(tenantId, jobId);
      return db.epochMetric.findMany({ where: { jobId }, orderBy: { epoch: "asc" } });
    },

    async counts(tenantId: string): Promise<Record<string, number>> {
      const groups = await db.job.groupBy({ by: ["status"], where: { tenantId }, _count: { _all: true } });
      const counts: Record<string, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
      for (const group of groups) {
        const key = group.status === "cancelling" ? "running" : group.status;
        counts[key] = (counts[key] ?? 0) + group._count._all;
      }
      return counts;
    },
  };
}

export type JobService = ReturnType<typeof createJobService>;

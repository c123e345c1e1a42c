import type { Db, Prisma } from "@trainyard/db";
import { decodeIdCursor, encodeIdCursor } from "../cursor.ts";

export interface ClaimedDelivery {
  id: string;
  jobId: string;
  event: string;
  payload: { id: string; type: string; jobId: string; createdAt: string; data: Prisma.JsonValue };
  /** Attempts made before this one. */
  attempts: number;
  webhook: { url: string; secret?: string } | null;
}

export type DeliveryOutcome =
  | { kind: "delivered"; statusCode: number }
  | { kind: "retry"; statusCode: number | null; error: string; nextAttemptAt: Date }
  | { kind: "failed"; statusCode: number | null; error: string };

/** Webhook deliveries in PostgreSQL: claimed under row locks, so several API instances can send them. */
export function createWebhookDeliveryStore(db: Db) {
  return {
    /**
     * Leases up to `limit` due deliveries until `leaseUntil` (another instance retries one whose
     * sender died). Only the oldest unfinished delivery of a job is ever due, so each job's
     * events go out in order; SKIP LOCKED lets concurrent claimers pass each other's rows.
     */
    claimDue(limit: number, now: Date, leaseUntil: Date): Promise<ClaimedDelivery[]> {
      return db.$queryRaw<ClaimedDelivery[]>`
        UPDATE "WebhookDelivery" AS d
        SET "nextAttemptAt" = ${leaseUntil}
        WHERE d."id" IN (
          SELECT c."id" FROM "WebhookDelivery" AS c
          WHERE c."deliveredAt" IS NULL AND c."failedAt" IS NULL AND c."nextAttemptAt" <= ${now}
            AND NOT EXISTS (
              SELECT 1 FROM "WebhookDelivery" AS earlier
              WHERE earlier."jobId" = c."jobId" AND earlier."jobEventId" < c."jobEventId"
                AND earlier."deliveredAt" IS NULL AND earlier."failedAt" IS NULL
            )
          ORDER BY c."nextAttemptAt", c."jobEventId"
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED
        )
        RETURNING d."id", d."jobId", d."event", d."payload", d."attempts",
          (SELECT j."spec" -> 'webhook' FROM "Job" AS j WHERE j."id" = d."jobId") AS "webhook"`;
    },

    async record(id: string, outcome: DeliveryOutcome, now: Date): Promise<void> {
      const attempt = { attempts: { increment: 1 }, statusCode: outcome.statusCode };
      const data: Prisma.WebhookDeliveryUpdateInput =
        outcome.kind === "delivered"
          ? { ...attempt, deliveredAt: now, lastError: null }
          : outcome.kind === "retry"
            ? { ...attempt, lastError: outcome.error, nextAttemptAt: outcome.nextAttemptAt }
            : { ...attempt, lastError: outcome.error, failedAt: now };
      await db.webhookDelivery.update({ where: { id }, data });
    },

    /** Gives a lease back without counting an attempt (the dispatcher is stopping). */
    async release(id: string, now: Date): Promise<void> {
      await db.webhookDelivery.update({ where: { id }, data: { nextAttemptAt: now } });
    },

    /** A job's deliveries in event order. */
    async list(jobId: string, page: { limit: number; cursor?: string }) {
      const after = page.cursor ? decodeIdCursor(page.cursor) : null;
      const rows = await db.webhookDelivery.findMany({
        where: { jobId, ...(after === null ? {} : { jobEventId: { gt: after } }) },
        orderBy: { jobEventId: "asc" },
        take: page.limit + 1,
      });
      const items = rows.slice(0, page.limit);
      const last = items.at(-1);
      const nextCursor = rows.length > page.limit && last ? encodeIdCursor(last.jobEventId) : null;
      return { items, nextCursor };
    },
  };
}

export type WebhookDeliveryStore = ReturnType<typeof createWebhookDeliveryStore>;

import type { Db, Prisma } from "@trainyard/db";
import { newId } from "@trainyard/shared";
import type { DeliveryOutcome } from "./deliveryStore.ts";

/** The registry events a tenant's webhook may subscribe to. */
export const MODEL_EVENTS = ["model.version.created"] as const;
export type ModelEvent = (typeof MODEL_EVENTS)[number];

/** What a receiver gets: the same envelope as a job event's, without a jobId. */
export interface ModelEventPayload {
  id: string;
  type: ModelEvent;
  createdAt: string;
  data: Prisma.InputJsonObject;
}

/**
 * Writes one delivery per webhook of the tenant subscribed to `event`, in the caller's
 * transaction: the event and its deliveries commit together, and the dispatcher sends them.
 * Answers how many deliveries were written.
 */
export async function enqueueModelEvent(
  tx: Prisma.TransactionClient,
  tenantId: string,
  event: ModelEvent,
  data: Prisma.InputJsonObject,
): Promise<number> {
  const webhooks = await tx.modelWebhook.findMany({ where: { tenantId, events: { has: event } }, select: { id: true } });
  if (webhooks.length === 0) return 0;
  const createdAt = new Date();
  await tx.modelWebhookDelivery.createMany({
    data: webhooks.map((webhook) => {
      const id = newId("whd");
      const payload: ModelEventPayload = { id, type: event, createdAt: createdAt.toISOString(), data };
      return { id, webhookId: webhook.id, event, payload: payload as unknown as Prisma.InputJsonObject, createdAt };
    }),
  });
  return webhooks.length;
}

export interface ClaimedModelDelivery {
  id: string;
  event: string;
  payload: ModelEventPayload;
  attempts: number;
  url: string;
  secret: string | null;
}

/** Registry deliveries in PostgreSQL, claimed under row locks like job deliveries (deliveryStore.ts). */
export function createModelDeliveryStore(db: Db) {
  return {
    /** Leases up to `limit` due deliveries until `leaseUntil`, oldest first; SKIP LOCKED lets API instances share them. */
    claimDue(limit: number, now: Date, leaseUntil: Date): Promise<ClaimedModelDelivery[]> {
      return db.$queryRaw<ClaimedModelDelivery[]>`
        UPDATE "ModelWebhookDelivery" AS d
        SET "nextAttemptAt" = ${leaseUntil}
        FROM "ModelWebhook" AS w
        WHERE w."id" = d."webhookId" AND d."id" IN (
          SELECT c."id" FROM "ModelWebhookDelivery" AS c
          WHERE c."deliveredAt" IS NULL AND c."failedAt" IS NULL AND c."nextAttemptAt" <= ${now}
          ORDER BY c."nextAttemptAt", c."createdAt"
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED
        )
        RETURNING d."id", d."event", d."payload", d."attempts", w."url", w."secret"`;
    },

    async record(id: string, outcome: DeliveryOutcome, now: Date): Promise<void> {
      const attempt = { attempts: { increment: 1 }, statusCode: outcome.statusCode };
      const data: Prisma.ModelWebhookDeliveryUpdateManyMutationInput =
        outcome.kind === "delivered"
          ? { ...attempt, deliveredAt: now, lastError: null }
          : outcome.kind === "retry"
            ? { ...attempt, lastError: outcome.error, nextAttemptAt: outcome.nextAttemptAt }
            : { ...attempt, lastError: outcome.error, failedAt: now };
      await db.modelWebhookDelivery.updateMany({ where: { id }, data });
    },

    async release(id: string, now: Date): Promise<void> {
      await db.modelWebhookDelivery.updateMany({ where: { id }, data: { nextAttemptAt: now } });
    },
  };
}

export type ModelDeliveryStore = ReturnType<typeof createModelDeliveryStore>;

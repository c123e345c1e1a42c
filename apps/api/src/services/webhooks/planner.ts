import { Prisma, type Db } from "@trainyard/db";
import { newId } from "@trainyard/shared";

interface PlannedEvent {
  id: bigint;
  jobId: string;
  type: string;
  data: Prisma.JsonValue;
  createdAt: Date;
}

/**
 * Turns job events into delivery rows, for jobs whose webhook subscribes to the event's type.
 * A row is keyed by its event (unique jobEventId), so API instances planning the same event
 * at once create one row.
 *
 * Events are scanned by id above a floor. An id is taken when a row is inserted but is seen only
 * once its transaction commits, so a slower writer can commit an id below ids already seen: the
 * floor trails the highest id seen by `lookbackMs`, and what lies above it is rescanned each round.
 * After a restart the scan continues from the last planned event (or, on a database that never
 * had a delivery, from the newest event, so that old jobs' history is not sent).
 */
export function createDeliveryPlanner({ db, lookbackMs = 60_000, batchSize = 500 }: { db: Db; lookbackMs?: number; batchSize?: number }) {
  let floor: bigint | null = null;
  /** The highest event id at moments when every visible event up to it had been planned. */
  const caughtUp: { at: number; maxEventId: bigint }[] = [];

  async function startingFloor(): Promise<bigint> {
    const [row] = await db.$queryRaw<{ floor: bigint | null }[]>`
      SELECT COALESCE((SELECT max("jobEventId") FROM "WebhookDelivery"), (SELECT max("id") FROM "JobEvent")) AS "floor"`;
    return row?.floor ?? 0n;
  }

  function advanceFloor(maxEventId: bigint, now: number) {
    caughtUp.push({ at: now, maxEventId });
    while (caughtUp.length > 0 && caughtUp[0]!.at <= now - lookbackMs) {
      const settled = caughtUp.shift()!.maxEventId;
      if (floor === null || settled > floor) floor = settled;
    }
  }

  /** Creates the rows of events not yet planned; answers how many. */
  async function plan(now = Date.now()): Promise<number> {
    floor ??= await startingFloor();
    const [{ maxEventId } = { maxEventId: null }] = await db.$queryRaw<{ maxEventId: bigint | null }[]>`
      SELECT max("id") AS "maxEventId" FROM "JobEvent"`;
    if (maxEventId === null || maxEventId <= floor) return 0;
    const events = await db.$queryRaw<PlannedEvent[]>`
      SELECT e."id", e."jobId", e."type", e."data", e."createdAt"
      FROM "JobEvent" AS e
      JOIN "Job" AS j ON j."id" = e."jobId"
      WHERE e."id" > ${floor} AND e."id" <= ${maxEventId}
        AND jsonb_typeof(j."spec" -> 'webhook') = 'object'
        AND j."spec" -> 'webhook' -> 'events' @> jsonb_build_array(e."type")
        AND NOT EXISTS (SELECT 1 FROM "WebhookDelivery" AS d WHERE d."jobEventId" = e."id")
      ORDER BY e."id"
      LIMIT ${batchSize}`;
    if (events.length > 0) {
      await db.webhookDelivery.createMany({
        data: events.map((event) => {
          const id = newId("whd");
          const payload = { id, type: event.type, jobId: event.jobId, createdAt: event.createdAt.toISOString(), data: event.data };
          return { id, jobId: event.jobId, jobEventId: event.id, event: event.type, payload: payload as Prisma.InputJsonObject };
        }),
        skipDuplicates: true,
      });
    }
    if (events.length < batchSize) advanceFloor(maxEventId, now);
    return events.length;
  }

  return { plan };
}

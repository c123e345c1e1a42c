import { z } from "zod";
import { JOB_STATUSES } from "@trainyard/shared";

export const jobIdParams = z.strictObject({ id: z.string().min(1) });

export const listJobsQuery = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  tag: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).optional(),
});

export const createJobQuery = z.strictObject({
  dryRun: z
    .enum(["true", "false"])
    .default("false")
    .transform((value) => value === "true"),
});

export const metricsQuery = z.strictObject({ format: z.enum(["json", "csv"]).default("json") });

export const modelQuery = z.strictObject({ checkpoint: z.enum(["best", "last"]).default("best") });

export const modelFileParams = z.strictObject({ id: z.string().min(1), file: z.string().min(1) });

/** Event ids are PostgreSQL bigints. */
const MAX_EVENT_ID = 2n ** 63n - 1n;

/** EventSource sends back the id of the last event it received when it reconnects. */
export const eventsHeaders = z.looseObject({
  "last-event-id": z
    .string()
    .regex(/^\d{1,19}$/, "the id of an event this stream sent")
    .refine((id) => !/^\d+$/.test(id) || BigInt(id) <= MAX_EVENT_ID, "the id of an event this stream sent")
    .optional(),
});

export const EVENTS_DESCRIPTION =
  "Server-Sent Events: `status`, `epoch` (a metrics row), `log` and `progress` (at most once a second). " +
  "status, epoch and log events are stored and carry their own increasing id; progress is not stored, so a progress " +
  "event carries the id of the last stored event sent before it. Reconnecting with `Last-Event-ID` replays every " +
  "stored event after that id, then the current progress. The stream ends after a terminal status " +
  "(succeeded, failed, cancelled). One API key may hold TRAINYARD_MAX_EVENT_STREAMS_PER_KEY streams open at once " +
  "(default 20); one more answers 429.";

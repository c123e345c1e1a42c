import { Readable } from "node:stream";
import { z } from "zod";
import { JOB_STATUSES } from "@trainyard/shared";
import { estimateSchema } from "../../services/estimate.ts";
import { epochMetricsSchema, jobViewSchema } from "../../services/jobView.ts";

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

// Responses. The job's shape is the job view's (services/jobView.ts); the routes only name where it appears.

export const jobListResponse = z.object({ items: z.array(jobViewSchema), nextCursor: z.string().nullable() });

/** `?dryRun=true`: the spec as a submit would store it, and what training it would cost. */
export const dryRunResponse = z.object({
  spec: z.record(z.string(), z.unknown()).describe("the normalized spec, defaults filled in"),
  estimate: estimateSchema,
});

/**
 * What a route answers as a stream (a zip, a stored file, an event stream): fastify sends a stream
 * as it is, never through the response serializer, so the schema only types `reply.send` and
 * names the content type and format in the document.
 */
const streamed = (format: "binary" | "text") =>
  z.custom<Readable>((value) => value instanceof Readable).meta({ type: "string", ...(format === "binary" ? { format } : {}) });
const binary = streamed("binary");

export const metricsResponse = {
  content: {
    "application/json": {
      schema: z.object({ epochs: z.array(epochMetricsSchema).describe("one row per finished epoch, in epoch order") }),
    },
    "text/csv": {
      schema: z
        .string()
        .describe(
          "`?format=csv`: a header line (epoch,trainLoss,trainAccuracy,valLoss,valAccuracy,learningRate,seconds,samplesPerSecond), then one line per epoch; a null is an empty cell",
        ),
    },
  },
};

export const eventsResponse = {
  content: {
    "text/event-stream": {
      schema: streamed("text").describe("`id:`, `event:` and `data:` (a JSON object) lines per event, as EventSource reads them"),
    },
  },
};

export const modelZipResponse = {
  content: {
    "application/zip": {
      schema: binary.describe("model.json, the weight files, labels.json (class names in output order) and trainyard.json"),
    },
  },
};

export const modelFileResponse = {
  content: {
    "application/json": {
      schema: z
        .record(z.string(), z.unknown())
        .describe("`model.json`: the TensorFlow.js layers format's model topology and weights manifest"),
    },
    "application/octet-stream": { schema: binary.describe("a weight file `model.json` names") },
  },
};

import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { SIGNATURE_DESCRIPTION } from "../../services/webhooks/signature.ts";
import { problemResponses } from "../../problems.ts";
import { jobIdParams } from "./schemas.ts";

const deliveriesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().min(1).optional(),
});

const timestamp = z.iso.datetime().nullable();

const deliveriesResponse = z.object({
  items: z.array(
    z.object({
      id: z.string().describe("also sent as `x-trainyard-delivery` and as the body's `id`; the same on every retry"),
      event: z.enum(["status", "epoch"]),
      statusCode: z.number().int().nullable().describe("of the last attempt; null when it got no HTTP answer"),
      attempts: z.number().int(),
      lastError: z.string().nullable(),
      deliveredAt: timestamp,
      failedAt: timestamp.describe("set when retries are exhausted or the address is refused; no further attempt follows"),
      nextAttemptAt: timestamp.describe("null once delivered or failed"),
      createdAt: z.iso.datetime(),
    }),
  ),
  nextCursor: z.string().nullable(),
});

const DESCRIPTION =
  "The job's webhook deliveries in event order: one per stored event whose type the job's `webhook.events` names. " +
  "Each is a POST of `{ id, type, jobId, createdAt, data }` (`data` as in the event stream) with `content-type: application/json`, " +
  "`user-agent: trainyard-webhooks/1`, `x-trainyard-event` and `x-trainyard-delivery`. A 2xx answer delivers it; any other " +
  "answer, no answer within 10 s or a network error is retried after a delay (5 s by default) that doubles each time, up to 8 attempts. A job's next " +
  "event is sent only once the previous one is delivered or failed. Redirects are not followed, and URLs that resolve to " +
  "loopback, private or link-local addresses (IPv6 forms that carry such an IPv4 address included) are refused, at submit " +
  "(400 naming webhook.url) and again at every attempt. URLs with credentials (user:password@) are refused at submit. " +
  SIGNATURE_DESCRIPTION;

const webhookDeliveries: FastifyPluginAsyncZod = async (app) => {
  const { jobs, webhookDeliveries: deliveries } = app.deps;

  app.get(
    "/jobs/:id/webhook-deliveries",
    {
      schema: {
        params: jobIdParams,
        querystring: deliveriesQuery,
        response: { 200: deliveriesResponse, ...problemResponses(400, 401, 404, 429) },
        tags: ["jobs"],
        description: DESCRIPTION,
      },
    },
    async (request) => {
      const job = await jobs.get(request.tenantId, request.params.id);
      const page = await deliveries.list(job.id, request.query);
      return {
        items: page.items.map((delivery) => ({
          id: delivery.id,
          event: delivery.event as "status" | "epoch",
          statusCode: delivery.statusCode,
          attempts: delivery.attempts,
          lastError: delivery.lastError,
          deliveredAt: delivery.deliveredAt?.toISOString() ?? null,
          failedAt: delivery.failedAt?.toISOString() ?? null,
          nextAttemptAt: delivery.deliveredAt || delivery.failedAt ? null : delivery.nextAttemptAt.toISOString(),
          createdAt: delivery.createdAt.toISOString(),
        })),
        nextCursor: page.nextCursor,
      };
    },
  );
};

export default webhookDeliveries;

import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { newId } from "@trainyard/shared";
import { badRequest, conflict, NO_CONTENT, notFound, problemResponses } from "../../problems.ts";
import { webhookUrlProblem } from "../../services/webhooks/addressPolicy.ts";
import { MODEL_EVENTS } from "../../services/webhooks/modelEvents.ts";

/** At most this many model webhooks per tenant: each new version is one delivery per subscription. */
const MAX_WEBHOOKS = 20;

const webhookSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.enum(MODEL_EVENTS)),
  createdAt: z.iso.datetime(),
});

const deliverySchema = z.object({
  id: z.string(),
  event: z.string(),
  statusCode: z.number().int().nullable(),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  deliveredAt: z.iso.datetime().nullable(),
  failedAt: z.iso.datetime().nullable(),
  createdAt: z.iso.datetime(),
});

const view = (row: { id: string; url: string; events: string[]; createdAt: Date }) => ({
  id: row.id,
  url: row.url,
  events: row.events as (typeof MODEL_EVENTS)[number][],
  createdAt: row.createdAt.toISOString(),
});

/**
 * Tenant-level webhooks for registry events, as MLflow's registry webhooks: a job's own
 * `webhook` (in its spec) carries that job's events; these carry `model.version.created` for
 * every version the tenant registers or imports.
 */
const webhooks: FastifyPluginAsyncZod = async (app) => {
  const { db, config } = app.deps;

  app.post(
    "/webhooks",
    {
      schema: {
        body: z.strictObject({
          url: z.url({ protocol: /^https?$/ }),
          events: z.array(z.enum(MODEL_EVENTS)).min(1).default(["model.version.created"]),
          secret: z.string().min(16).optional().describe("signs each delivery (x-trainyard-signature); never shown again"),
        }),
        response: { 201: webhookSchema, ...problemResponses(400, 401, 409, 413, 429) },
        tags: ["webhooks"],
        description:
          "Subscribes a URL to the tenant's registry events. Each delivery is a POST of " +
          '`{ "id", "type": "model.version.created", "createdAt", "data": { "name", "version" } }` (the version as ' +
          "GET /v1/models/{name} shows it), retried with backoff like a job's webhook.",
      },
    },
    async (request, reply) => {
      const count = await db.modelWebhook.count({ where: { tenantId: request.tenantId } });
      if (count >= MAX_WEBHOOKS) throw conflict(`a tenant has at most ${MAX_WEBHOOKS} model webhooks; delete one first`);
      const { url, events, secret } = request.body;
      // Checked as delivery would check it: a refused address is a 400 now rather than failed deliveries later.
      const problem = await webhookUrlProblem(url, config.TRAINYARD_WEBHOOK_ALLOW_PRIVATE);
      if (problem) throw badRequest("the webhook URL is refused", [{ path: "url", message: problem }]);
      const row = await db.modelWebhook.create({
        data: { id: newId("whk"), tenantId: request.tenantId, url, events: [...new Set(events)], secret: secret ?? null },
      });
      return reply.status(201).header("location", `/v1/webhooks/${row.id}`).send(view(row));
    },
  );

  app.get(
    "/webhooks",
    {
      schema: {
        response: { 200: z.object({ items: z.array(webhookSchema), nextCursor: z.null() }), ...problemResponses(401, 429) },
        tags: ["webhooks"],
        description: "The tenant's model webhooks, oldest first; never a secret.",
      },
    },
    async (request) => {
      const rows = await db.modelWebhook.findMany({
        where: { tenantId: request.tenantId },
        orderBy: [{ createdAt: "asc" }, { id: "asc" }],
      });
      return { items: rows.map(view), nextCursor: null };
    },
  );

  app.get(
    "/webhooks/:id/deliveries",
    {
      schema: {
        params: z.strictObject({ id: z.string().min(1) }),
        response: { 200: z.object({ items: z.array(deliverySchema), nextCursor: z.null() }), ...problemResponses(401, 404, 429) },
        tags: ["webhooks"],
        description: "The webhook's latest 100 deliveries, newest first; another tenant's webhook is a 404.",
      },
    },
    async (request) => {
      const webhook = await db.modelWebhook.findFirst({ where: { id: request.params.id, tenantId: request.tenantId } });
      if (!webhook) throw notFound(`webhook ${request.params.id}`);
      const rows = await db.modelWebhookDelivery.findMany({
        where: { webhookId: webhook.id },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: 100,
      });
      const iso = (date: Date | null) => date?.toISOString() ?? null;
      return {
        items: rows.map((row) => ({
          id: row.id,
          event: row.event,
          statusCode: row.statusCode,
          attempts: row.attempts,
          lastError: row.lastError,
          deliveredAt: iso(row.deliveredAt),
          failedAt: iso(row.failedAt),
          createdAt: row.createdAt.toISOString(),
        })),
        nextCursor: null,
      };
    },
  );

  app.delete(
    "/webhooks/:id",
    {
      schema: {
        params: z.strictObject({ id: z.string().min(1) }),
        response: { 204: NO_CONTENT, ...problemResponses(401, 404, 429) },
        tags: ["webhooks"],
        description: "Deletes the webhook and its pending deliveries (204); another tenant's webhook is a 404.",
      },
    },
    async (request, reply) => {
      const { count } = await db.modelWebhook.deleteMany({ where: { id: request.params.id, tenantId: request.tenantId } });
      if (count === 0) throw notFound(`webhook ${request.params.id}`);
      return reply.status(204).send(null);
    },
  );
};

export default webhooks;

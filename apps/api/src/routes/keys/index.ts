import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { NO_CONTENT, problemResponses } from "../../problems.ts";
import { keyChangesVisible } from "../../services/apiKeyCache.ts";
import { createTenantApiKey, listApiKeys, revokeApiKey } from "../../services/apiKeys.ts";
import { unstorableReason } from "../../validation.ts";

const keyName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .superRefine((name, context) => {
    const reason = unstorableReason(name);
    if (reason) context.addIssue({ code: "custom", message: reason });
  });

const keySchema = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string().describe("the key's first characters, to tell keys apart"),
  createdAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime().nullable().describe("recorded at most once a minute per API process"),
  revokedAt: z.iso.datetime().nullable(),
});

const createdKeySchema = keySchema.extend({ key: z.string().describe("the secret: shown in this answer only") });

const keys: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.deps;

  app.post(
    "/keys",
    {
      schema: {
        body: z.strictObject({ name: keyName }),
        response: { 201: createdKeySchema },
        tags: ["keys"],
        description: "A new API key of the caller's tenant. The secret (`key`) is in this answer only; it is stored as a hash.",
      },
    },
    async (request, reply) => {
      const created = await createTenantApiKey(db, request.tenantId, request.body.name);
      return reply.status(201).header("location", `/v1/keys/${created.id}`).send(created);
    },
  );

  app.get(
    "/keys",
    {
      schema: {
        response: { 200: z.object({ items: z.array(keySchema), nextCursor: z.null() }) },
        tags: ["keys"],
        description: "The tenant's keys, newest first, revoked ones included; never a secret.",
      },
    },
    async (request) => ({ items: await listApiKeys(db, request.tenantId), nextCursor: null }),
  );

  app.delete(
    "/keys/:id",
    {
      schema: {
        params: z.strictObject({ id: z.string().min(1) }),
        response: { 204: NO_CONTENT, ...problemResponses(400, 401, 404, 429) },
        tags: ["keys"],
        description:
          "Revokes the key (204): it answers 401 from the next request on, in every API process. Revoking it again changes nothing; " +
          "another tenant's key is a 404. A key may revoke itself.",
      },
    },
    async (request, reply) => {
      await revokeApiKey(db, request.tenantId, request.params.id);
      // Answered once every API process refuses the key.
      await keyChangesVisible();
      return reply.status(204).send(null);
    },
  );
};

export default keys;

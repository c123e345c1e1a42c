import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";

const count = z.number().int();
const countsSchema = z.object({ queued: count, running: count, succeeded: count, failed: count, cancelled: count });

const DESCRIPTION = "The caller's jobs by status; `running` includes jobs that are cancelling.";

const queue: FastifyPluginAsyncZod = async (app) => {
  // counts() fills in every status of countsSchema; the serializer checks it on every answer.
  app.get(
    "/queue",
    { schema: { response: { 200: countsSchema }, tags: ["queue"], description: DESCRIPTION } },
    async (request) => (await app.deps.jobs.counts(request.tenantId)) as z.infer<typeof countsSchema>,
  );
};

export default queue;

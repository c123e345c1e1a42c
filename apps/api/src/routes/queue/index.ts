import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

const DESCRIPTION = "The caller's jobs by status; `running` includes jobs that are cancelling.";

const queue: FastifyPluginAsyncZod = async (app) => {
  app.get("/queue", { schema: { tags: ["queue"], description: DESCRIPTION } }, async (request) => app.deps.jobs.counts(request.tenantId));
};

export default queue;

import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

const DESCRIPTION =
  "Workers heard from in the last 24 hours. status is `active`, `stopped` (shut down cleanly) or `lost` " +
  "(no heartbeat for 30 s: crashed or cut off). " +
  "busyWithJob names a job only when it belongs to the caller's tenant; otherwise it is null.";

const workers: FastifyPluginAsyncZod = async (app) => {
  app.get("/workers", { schema: { tags: ["workers"], description: DESCRIPTION } }, async (request) =>
    app.deps.workers.list(request.tenantId),
  );
};

export default workers;

import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { WORKER_TIMINGS } from "@trainyard/shared";

const workerSchema = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number().int(),
  devices: z.array(
    z.object({
      id: z.string().describe("`gpu:0`, `cpu:0`, …"),
      name: z.string(),
      backend: z.string().nullable(),
      busyWithJob: z.string().nullable(),
    }),
  ),
  lastHeartbeatAt: z.iso.datetime(),
  status: z.string().describe("`active`, `stopped` or `lost`"),
});

const DESCRIPTION =
  "Workers heard from in the last 24 hours. status is `active`, `stopped` (shut down cleanly) or `lost` " +
  `(no heartbeat for ${WORKER_TIMINGS.lostAfterMs / 1000} s: crashed or cut off). ` +
  "busyWithJob names a job only when it belongs to the caller's tenant; otherwise it is null.";

const workers: FastifyPluginAsyncZod = async (app) => {
  app.get(
    "/workers",
    { schema: { response: { 200: z.array(workerSchema) }, tags: ["workers"], description: DESCRIPTION } },
    async (request) => app.deps.workers.list(request.tenantId),
  );
};

export default workers;

import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { listBuiltinDatasets } from "@trainyard/engine";

const BUILTIN_CREATED_AT = "1970-01-01T00:00:00.000Z";

const datasets: FastifyPluginAsyncZod = async (app) => {
  app.get("/datasets", { schema: { tags: ["datasets"] } }, async (request) => {
    const builtins = listBuiltinDatasets()
      .filter((dataset) => dataset.available)
      .map((dataset) => ({
        id: dataset.name,
        name: dataset.name,
        status: "ready",
        builtin: true,
        classes: dataset.classes,
        counts: dataset.counts,
        imageShape: dataset.imageShape,
        createdAt: BUILTIN_CREATED_AT,
      }));
    const uploads = await app.deps.db.dataset.findMany({ where: { tenantId: request.tenantId }, orderBy: { createdAt: "desc" } });
    return {
      items: [
        ...builtins,
        ...uploads.map((dataset) => ({
          id: dataset.id,
          name: dataset.name,
          status: dataset.status,
          builtin: false,
          classes: dataset.classes,
          counts: dataset.counts,
          imageShape: dataset.imageShape,
          error: dataset.error,
          createdAt: dataset.createdAt.toISOString(),
        })),
      ],
      nextCursor: null,
    };
  });
};

export default datasets;

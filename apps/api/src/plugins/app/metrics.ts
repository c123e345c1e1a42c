import fp from "fastify-plugin";
import { createMetricsService, type MetricsService } from "../../services/metrics.ts";

declare module "fastify" {
  interface FastifyInstance {
    metrics: MetricsService;
  }
}

/** Requests no route matched share one label, so that scanning for URLs cannot grow the series without bound. */
const UNMATCHED_ROUTE = "unmatched";

/** Prometheus metrics: times every answered request by its route pattern; GET /metrics renders them. */
export default fp(
  async (app) => {
    const { db, redis, events, config } = app.deps;
    const metrics = createMetricsService({ db, redis, queuePrefix: config.TRAINYARD_QUEUE_PREFIX, events });
    app.decorate("metrics", metrics);
    app.addHook("onResponse", async (request, reply) => {
      const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
      metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    });
    app.addHook("onClose", async () => metrics.close());
  },
  { name: "metrics", dependencies: ["deps"] },
);

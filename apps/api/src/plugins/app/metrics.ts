import fp from "fastify-plugin";
import { createMetricsService, type MetricsService } from "../../services/metrics.ts";

declare module "fastify" {
  interface FastifyInstance {
    metrics: MetricsService;
  }
}

/** Requests no route matched share one label, so that scanning for URLs cannot grow the series without bound. */
const UNMATCHED_ROUTE = "unmatched";
const CLIENT_CLOSED_REQUEST = 499;

/** Prometheus metrics: times every answered request by its route pattern; GET /metrics renders them. */
export default fp(
  async (app) => {
    const { db, redis, events, config } = app.deps;
    const metrics = createMetricsService({ db, redis, queuePrefix: config.TRAINYARD_QUEUE_PREFIX, events });
    app.decorate("metrics", metrics);
    const startedAt = new WeakMap<object, number>();
    app.addHook("onRequest", async (request) => void startedAt.set(request, performance.now()));
    app.addHook("onResponse", async (request, reply) => {
      const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
      metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    });
    // A client that goes away first (an event stream closed, a download cancelled) ends its request
    // without onResponse: it is counted as nginx counts it, 499 "client closed request".
    app.addHook("onRequestAbort", async (request) => {
      const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
      metrics.observeRequest(
        request.method,
        route,
        CLIENT_CLOSED_REQUEST,
        (performance.now() - (startedAt.get(request) ?? performance.now())) / 1000,
      );
    });
    app.addHook("onClose", async () => metrics.close());
  },
  { name: "metrics", dependencies: ["deps"] },
);

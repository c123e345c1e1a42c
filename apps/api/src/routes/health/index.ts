import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";

const livenessSchema = z.object({ status: z.literal("ok") });
const serviceState = z.enum(["ok", "unavailable"]);
const readinessSchema = z.object({ status: z.enum(["ready", "degraded", "not ready"]), postgres: serviceState, redis: serviceState });

/** A dependency check that has not answered by then counts as unavailable (a k8s probe times out after 1 s by default). */
const CHECK_TIMEOUT_MS = 800;

async function answers(check: () => Promise<unknown>): Promise<"ok" | "unavailable"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error("timed out")), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return "ok";
  } catch {
    return "unavailable";
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Liveness, readiness and Prometheus metrics; no key needed.
 * - /healthz (liveness): the process serves HTTP. Nothing outside it is checked, so an outage of
 *   PostgreSQL or Redis never gets API processes restarted.
 * - /readyz (readiness): this process can answer requests, which takes PostgreSQL. Redis alone does
 *   not decide it: without Redis, reads (jobs, metrics, models, downloads, predictions) keep working and
 *   submits answer 503 themselves, so every API pod stays in the Service; the body says `degraded`.
 */
const health: FastifyPluginAsync = async (app) => {
  app.get("/healthz", { schema: { hide: true, response: { 200: livenessSchema } } }, async () => ({ status: "ok" as const }));

  app.get("/readyz", { schema: { hide: true, response: { 200: readinessSchema, 503: readinessSchema } } }, async (_request, reply) => {
    const [postgres, redis] = await Promise.all([answers(() => app.deps.db.$queryRaw`SELECT 1`), answers(() => app.deps.redis.ping())]);
    if (postgres !== "ok") return reply.status(503).send({ status: "not ready" as const, postgres, redis });
    return reply.status(200).send({ status: redis === "ok" ? ("ready" as const) : ("degraded" as const), postgres, redis });
  });

  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) => {
    const { contentType, body } = await app.metrics.render();
    return reply.type(contentType).send(body);
  });
};

export default health;

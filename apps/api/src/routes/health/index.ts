import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";

const livenessSchema = z.object({ status: z.literal("ok") });
const serviceState = z.enum(["ok", "unavailable"]);
const readinessSchema = z.object({ status: z.enum(["ready", "not ready"]), postgres: serviceState, redis: serviceState });

/** Liveness, readiness and Prometheus metrics; no key needed. */
const health: FastifyPluginAsync = async (app) => {
  app.get("/healthz", { schema: { hide: true, response: { 200: livenessSchema } } }, async () => ({ status: "ok" as const }));

  app.get("/readyz", { schema: { hide: true, response: { 200: readinessSchema, 503: readinessSchema } } }, async (_request, reply) => {
    const checks = await Promise.allSettled([app.deps.db.$queryRaw`SELECT 1`, app.deps.redis.ping()]);
    const [postgres, redis] = checks.map((check) => (check.status === "fulfilled" ? "ok" : "unavailable"));
    const ready = postgres === "ok" && redis === "ok";
    return reply.status(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready", postgres, redis });
  });

  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) => {
    const groups = await app.deps.db.job.groupBy({ by: ["status"], _count: { _all: true } });
    const lines = ["# HELP trainyard_jobs Jobs by status.", "# TYPE trainyard_jobs gauge"];
    for (const group of groups) lines.push(`trainyard_jobs{status="${group.status}"} ${group._count._all}`);
    lines.push("# HELP trainyard_event_streams Open job event streams.", "# TYPE trainyard_event_streams gauge");
    lines.push(`trainyard_event_streams ${app.deps.events.activeCount()}`);
    const memory = process.memoryUsage();
    lines.push("# HELP process_resident_memory_bytes Resident memory.", "# TYPE process_resident_memory_bytes gauge");
    lines.push(`process_resident_memory_bytes ${memory.rss}`);
    return reply.type("text/plain; version=0.0.4").send(`${lines.join("\n")}\n`);
  });
};

export default health;

import Fastify, { type FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { createDb } from "@trainyard/db";
import app from "./app.ts";
import type { ApiConfig } from "./config.ts";
import { createJobService } from "./services/jobService.ts";
import { createModelArtifactService } from "./services/modelArtifacts.ts";
import { createTrainingQueue } from "./services/trainingQueue.ts";

/** The composition root: config in, a ready Fastify instance out (not yet listening). */
export async function buildServer(config: ApiConfig): Promise<FastifyInstance> {
  const db = createDb(config.DATABASE_URL);
  // Commands fail fast while Redis is away, so a POST answers 503 instead of hanging.
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  redis.on("error", () => undefined);
  const queueConnection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
  queueConnection.on("error", () => undefined);
  const queue = createTrainingQueue(queueConnection, config.TRAINYARD_QUEUE_PREFIX);
  const server = Fastify({
    logger: { level: config.LOG_LEVEL },
    bodyLimit: config.TRAINYARD_BODY_LIMIT_BYTES,
    genReqId: () => crypto.randomUUID(),
  });
  await server.register(app, {
    deps: {
      db,
      redis,
      jobs: createJobService({ db, queue, publisher: redis }),
      models: createModelArtifactService(db),
    },
  });
  server.addHook("onClose", async () => {
    await queue.close();
    redis.disconnect();
    queueConnection.disconnect();
    await db.$disconnect();
  });
  return server;
}

import Fastify, { type FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { createDb } from "@trainyard/db";
import app from "./app.ts";
import { clientErrorHandler, frameworkErrors } from "./plugins/app/errorHandler.ts";
import type { ApiConfig } from "./config.ts";
import { requestSerializer } from "./logRedaction.ts";
import { createDatasetService } from "./services/datasets/service.ts";
import { createJobEventStreams } from "./services/jobEvents.ts";
import { createJobService } from "./services/jobService.ts";
import { createModelArtifactService } from "./services/modelArtifacts.ts";
import { createQueueReconciler } from "./services/queueReconciler.ts";
import { createTrainingQueue } from "./services/trainingQueue.ts";
import { createWebhookDeliveryStore } from "./services/webhooks/deliveryStore.ts";
import { createWebhookDispatcher } from "./services/webhooks/dispatcher.ts";
import { createWorkerService } from "./services/workers.ts";

/** The composition root: config in, a ready Fastify instance out (not yet listening). */
export async function buildServer(
  config: ApiConfig,
  options: { logStream?: { write(line: string): void } } = {},
): Promise<FastifyInstance> {
  const db = createDb(config.DATABASE_URL);
  // Commands fail fast while Redis is away, so a POST answers 503 instead of hanging.
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  redis.on("error", () => undefined);
  const queueConnection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
  queueConnection.on("error", () => undefined);
  const queue = createTrainingQueue(queueConnection, config.TRAINYARD_QUEUE_PREFIX, { retryBackoffMs: config.TRAINYARD_RETRY_BACKOFF_MS });
  const server = Fastify({
    // Request URLs are logged with secrets in their query or userinfo redacted (an ?access_token= is refused, but would be logged).
    logger: {
      level: config.LOG_LEVEL,
      serializers: { req: requestSerializer },
      ...(options.logStream ? { stream: options.logStream } : {}),
    },
    bodyLimit: config.TRAINYARD_BODY_LIMIT_BYTES,
    genReqId: () => crypto.randomUUID(),
    clientErrorHandler,
    frameworkErrors,
  });
  const events = createJobEventStreams({ db });
  const datasets = createDatasetService({
    db,
    dataDir: config.TRAINYARD_DATA_DIR,
    limits: { extractedBytes: config.TRAINYARD_EXTRACT_LIMIT_BYTES },
    logger: server.log,
  });
  await server.register(app, {
    deps: {
      config,
      db,
      redis,
      jobs: createJobService({ db, queue, publisher: redis }),
      events,
      datasets,
      workers: createWorkerService({ db }),
      models: createModelArtifactService(db),
      webhookDeliveries: createWebhookDeliveryStore(db),
    },
  });
  // Open event streams would hold server.close() forever; clients reconnect with Last-Event-ID.
  server.addHook("preClose", async () => events.closeAll());
  const reconciler = createQueueReconciler({ db, queue, logger: server.log });
  const webhooks = createWebhookDispatcher({
    db,
    logger: server.log,
    allowPrivateAddresses: config.TRAINYARD_WEBHOOK_ALLOW_PRIVATE,
    backoffMs: config.TRAINYARD_WEBHOOK_BACKOFF_MS,
  });
  server.addHook("onReady", async () => {
    const reconcileNow = reconciler.start(config.TRAINYARD_RECONCILE_INTERVAL_MS);
    queueConnection.on("ready", () => void reconcileNow());
    webhooks.start(config.TRAINYARD_WEBHOOK_INTERVAL_MS);
    datasets.startRecovery();
  });
  server.addHook("onClose", async () => {
    await datasets.stopProcessing();
    await reconciler.stop();
    await webhooks.stop();
    await queue.close();
    redis.disconnect();
    queueConnection.disconnect();
    await db.$disconnect();
  });
  return server;
}

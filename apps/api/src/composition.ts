import Fastify, { type FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { createDb, createSqlPool, openArtifactStore } from "@trainyard/db";
import app from "./app.ts";
import { clientErrorHandler, frameworkErrors } from "./plugins/app/errorHandler.ts";
import type { ApiConfig } from "./config.ts";
import { requestSerializer } from "./logRedaction.ts";
import { createApiKeyCache } from "./services/apiKeyCache.ts";
import { createArchitectureSummaries } from "./services/architectures/summaries.ts";
import { createDatasetService } from "./services/datasets/service.ts";
import { createJobChangeFeed } from "./services/jobChangeFeed.ts";
import { createJobEventStreams } from "./services/jobEvents.ts";
import { createJobService } from "./services/jobService.ts";
import { createModelImportService } from "./services/modelImport.ts";
import { createModelArtifactService } from "./services/modelArtifacts.ts";
import { createQueueReconciler } from "./services/queueReconciler.ts";
import { createSweepPlanner } from "./services/sweeps/planner.ts";
import { createSweepService } from "./services/sweeps/service.ts";
import { createTrainingQueue } from "./services/trainingQueue.ts";
import { createWebhookDeliveryStore } from "./services/webhooks/deliveryStore.ts";
import { createWebhookDispatcher } from "./services/webhooks/dispatcher.ts";
import { createWorkerService } from "./services/workers.ts";

/** How often objects of deleted artifacts (deleted jobs and versions) are removed from an S3 store. */
const ARTIFACT_GARBAGE_INTERVAL_MS = 60_000;

/** The composition root: config in, a ready Fastify instance out (not yet listening). */
export async function buildServer(
  config: ApiConfig,
  options: { logStream?: { write(line: string): void } } = {},
): Promise<FastifyInstance> {
  const db = createDb(config.DATABASE_URL);
  const sql = createSqlPool(config.DATABASE_URL);
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
  const changes = createJobChangeFeed(config.DATABASE_URL, server.log);
  const events = createJobEventStreams({ db, changes, maxStreamsPerKey: config.TRAINYARD_MAX_EVENT_STREAMS_PER_KEY });
  const datasets = createDatasetService({
    db,
    dataDir: config.TRAINYARD_DATA_DIR,
    limits: { extractedBytes: config.TRAINYARD_EXTRACT_LIMIT_BYTES },
    logger: server.log,
  });
  const apiKeys = createApiKeyCache(db, config.DATABASE_URL, server.log);
  const architectures = createArchitectureSummaries({
    maxParams: config.TRAINYARD_MAX_PARAMS,
    maxActivations: config.TRAINYARD_MAX_ACTIVATIONS,
  });
  const jobs = createJobService({
    db,
    sql,
    architectures,
    queue,
    publisher: redis,
    maxQueuedPerTenant: config.TRAINYARD_MAX_QUEUED_JOBS_PER_TENANT,
  });
  // New checkpoints' store (TRAINYARD_ARTIFACTS_URL); rows of either store are read from their own.
  const artifactStore = await openArtifactStore(db, config);
  const models = createModelArtifactService(db, artifactStore);
  let artifactGarbage: NodeJS.Timeout | undefined;
  const sweepPlanner = createSweepPlanner({ db, sql, databaseUrl: config.DATABASE_URL, jobs, changes, logger: server.log });
  await server.register(app, {
    deps: {
      config,
      db,
      sql,
      redis,
      jobs,
      events,
      datasets,
      workers: createWorkerService({ db }),
      models,
      modelImports: createModelImportService(db, artifactStore),
      webhookDeliveries: createWebhookDeliveryStore(db),
      architectures,
      apiKeys,
      sweeps: createSweepService({ db, jobs, architectures, planner: sweepPlanner }),
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
    sweepPlanner.start(config.TRAINYARD_SWEEP_INTERVAL_MS);
    const collectArtifacts = () =>
      void models.collectGarbage().catch((error: unknown) => server.log.warn({ err: error }, "artifact garbage collection failed"));
    collectArtifacts();
    artifactGarbage = setInterval(collectArtifacts, ARTIFACT_GARBAGE_INTERVAL_MS);
  });
  server.addHook("onClose", async () => {
    clearInterval(artifactGarbage);
    await datasets.stopProcessing();
    await sweepPlanner.stop();
    await architectures.close();
    await apiKeys.close();
    await reconciler.stop();
    await webhooks.stop();
    await queue.close();
    redis.disconnect();
    queueConnection.disconnect();
    await changes.close();
    await db.$disconnect();
    await sql.end();
  });
  return server;
}

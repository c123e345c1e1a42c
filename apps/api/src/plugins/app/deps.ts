import fp from "fastify-plugin";
import type { Redis } from "ioredis";
import type { Db, SqlPool } from "@trainyard/db";
import type { ApiConfig } from "../../config.ts";
import type { ApiKeyCache } from "../../services/apiKeyCache.ts";
import type { ArchitectureSummaries } from "../../services/architectures/summaries.ts";
import type { DatasetService } from "../../services/datasets/service.ts";
import type { JobEventStreams } from "../../services/jobEvents.ts";
import type { JobService } from "../../services/jobService.ts";
import type { SweepService } from "../../services/sweeps/service.ts";
import type { ModelArtifactService } from "../../services/modelArtifacts.ts";
import type { ModelImportService } from "../../services/modelImport.ts";
import type { WebhookDeliveryStore } from "../../services/webhooks/deliveryStore.ts";
import type { WorkerService } from "../../services/workers.ts";

export interface AppDeps {
  config: ApiConfig;
  db: Db;
  /** node-postgres beside Prisma for the hot-path statements (one pool for the process). */
  sql: SqlPool;
  redis: Redis;
  jobs: JobService;
  events: JobEventStreams;
  datasets: DatasetService;
  workers: WorkerService;
  models: ModelArtifactService;
  /** POST /v1/models/import: outside weights as a registered version, stored where new artifacts go. */
  modelImports: ModelImportService;
  webhookDeliveries: WebhookDeliveryStore;
  architectures: ArchitectureSummaries;
  apiKeys: ApiKeyCache;
  sweeps: SweepService;
}

declare module "fastify" {
  interface FastifyInstance {
    deps: AppDeps;
  }
}

/** Makes the composition root's services available to routes. */
export default fp<{ deps: AppDeps }>(
  async (app, { deps }) => {
    app.decorate("deps", deps);
  },
  { name: "deps" },
);

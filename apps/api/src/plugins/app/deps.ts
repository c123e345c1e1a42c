import fp from "fastify-plugin";
import type { Redis } from "ioredis";
import type { Db } from "@trainyard/db";
import type { JobService } from "../../services/jobService.ts";
import type { ModelArtifactService } from "../../services/modelArtifacts.ts";

export interface AppDeps {
  db: Db;
  redis: Redis;
  jobs: JobService;
  models: ModelArtifactService;
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

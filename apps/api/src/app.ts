import type { FastifyInstance } from "fastify";
import { serializerCompiler } from "fastify-type-provider-zod";
import auth from "./plugins/app/auth.ts";
import dashboard from "./plugins/app/dashboard.ts";
import deps, { type AppDeps } from "./plugins/app/deps.ts";
import errorHandler from "./plugins/app/errorHandler.ts";
import metrics from "./plugins/app/metrics.ts";
import rateLimit from "./plugins/external/rateLimit.ts";
import swagger from "./plugins/external/swagger.ts";
import architectures from "./routes/architectures/index.ts";
import datasets from "./routes/datasets/index.ts";
import health from "./routes/health/index.ts";
import jobs from "./routes/jobs/index.ts";
import keys from "./routes/keys/index.ts";
import models from "./routes/models/index.ts";
import modelImport from "./routes/models/import.ts";
import predictions from "./routes/predictions/index.ts";
import queue from "./routes/queue/index.ts";
import sweeps from "./routes/sweeps/index.ts";
import webhooks from "./routes/webhooks/index.ts";
import workers from "./routes/workers/index.ts";
import { zodValidatorCompiler } from "./validation.ts";

/** The whole API as one plugin: server.ts starts it, tests inject into it. */
export default async function app(instance: FastifyInstance, options: { deps: AppDeps }): Promise<void> {
  instance.setValidatorCompiler(zodValidatorCompiler);
  instance.setSerializerCompiler(serializerCompiler);
  await instance.register(deps, { deps: options.deps });
  await instance.register(errorHandler);
  await instance.register(metrics);
  await instance.register(swagger);
  await instance.register(health);
  await instance.register(dashboard);
  await instance.register(
    async (v1) => {
      await v1.register(rateLimit);
      await v1.register(auth);
      await v1.register(jobs);
      await v1.register(models);
      await v1.register(modelImport);
      await v1.register(predictions);
      await v1.register(datasets);
      await v1.register(architectures);
      await v1.register(workers);
      await v1.register(queue);
      await v1.register(keys);
      await v1.register(sweeps);
      await v1.register(webhooks);
    },
    { prefix: "/v1" },
  );
}

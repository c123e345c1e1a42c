import { createApiKey } from "@trainyard/api";
import { applyMigrations, createDb } from "@trainyard/db";
import { builtinDatasetInfo } from "@trainyard/datasets";
import { createTrainyardClient, dataOf } from "@trainyard/client";
import { followJob } from "../follow.ts";
import { freePort } from "../net.ts";
import { resolveLocalServices } from "../localServices.ts";
import { spawnServices } from "./serve.ts";
import { downloadJobModel } from "../modelFiles.ts";

export interface DemoOptions {
  epochs: number;
  maxTrainSamples?: number;
  arch: string;
  out: string;
}

async function waitForApi(baseUrl: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ready = await fetch(`${baseUrl}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`the API did not become ready at ${baseUrl}`);
}

/** The quick start: services up, API and worker started, LeNet trained on Fashion-MNIST with a progress bar. */
export async function demoCommand(options: DemoOptions, env: NodeJS.ProcessEnv): Promise<number> {
  const log = (line: string) => console.log(`trainyard: ${line}`);
  if (!builtinDatasetInfo("fashion-mnist")?.available) {
    console.error(
      "trainyard: Fashion-MNIST is not installed: run `apt-get install -y dataset-fashion-mnist` or set TRAINYARD_FASHION_MNIST_DIR",
    );
    return 1;
  }
  const services = await resolveLocalServices(env, log);
  const port = await freePort();
  const serviceEnv = {
    ...env,
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    PORT: String(port),
    LOG_LEVEL: env.LOG_LEVEL ?? "warn",
  };
  log(`PostgreSQL ${services.databaseUrl.replace(/:[^:@/]*@/, ":***@")}, Redis ${services.redisUrl}`);
  const migrations = await applyMigrations(services.databaseUrl);
  log(`migrations: ${migrations.applied.length} applied, ${migrations.alreadyApplied.length} already there`);
  const db = createDb(services.databaseUrl);
  const { key } = await createApiKey(db, "demo");
  await db.$disconnect();
  const children = spawnServices(serviceEnv);
  try {
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitForApi(baseUrl);
    log(`API on ${baseUrl} (docs at ${baseUrl}/docs), one worker started`);
    const connection = { apiUrl: baseUrl, apiKey: key, client: createTrainyardClient({ baseUrl, apiKey: key }) };
    const training: Record<string, unknown> = { epochs: options.epochs };
    if (options.maxTrainSamples) training.maxTrainSamples = options.maxTrainSamples;
    const job = await dataOf(
      connection.client.POST("/v1/jobs", { body: { architecture: options.arch, dataset: { name: "fashion-mnist" }, training } as never }),
    );
    if (!("id" in job)) throw new Error("POST /v1/jobs answered a dry run's estimate instead of a job");
    log(`job ${job.id}: ${options.arch} on Fashion-MNIST, ${training.epochs} epochs`);
    const finished = await followJob(connection, job.id);
    if (finished.status !== "succeeded" || !finished.result) {
      console.error(`job ${finished.status}${finished.error ? `: ${finished.error.code} ${finished.error.message}` : ""}`);
      return 1;
    }
    log(
      `backend ${finished.backend}; test accuracy ${(finished.result.testAccuracy * 100).toFixed(2)}% (best epoch ${finished.result.bestEpoch})`,
    );
    log(`model saved to ${await downloadJobModel(connection, job.id, options.out)}`);
    return 0;
  } finally {
    children.forEach((child) => child.kill("SIGTERM"));
    await Promise.all(
      children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.on("exit", resolve)))),
    );
    await services.stop();
  }
}

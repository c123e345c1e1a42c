import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { createDb, type Db } from "@trainyard/db";
import { buildServer, createApiKey, loadApiConfig } from "../../src/index.ts";
import { createTestDatabase, TEST_REDIS_URL, uniqueQueuePrefix } from "../../../../tests/helpers/database.ts";
import { deleteQueueKeys } from "../../../../tests/helpers/redis.ts";

export interface TestApi {
  app: FastifyInstance;
  db: Db;
  dataDir: string;
  /** What the API was built with, e.g. to build a second one (a restart) on the same database. */
  env: Record<string, string>;
  /** Keys of two tenants, to check that one never sees the other's objects. */
  keyA: string;
  keyB: string;
  tenantA: string;
  close: () => Promise<void>;
}

/** The API on a fresh database, a unique queue prefix and a temporary data directory. */
export async function startTestApi(env: Record<string, string> = {}): Promise<TestApi> {
  const database = await createTestDatabase();
  const queuePrefix = uniqueQueuePrefix();
  const dataDir = await mkdtemp(join(tmpdir(), "trainyard-api-test-"));
  const fullEnv = {
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    LOG_LEVEL: "silent",
    TRAINYARD_QUEUE_PREFIX: queuePrefix,
    TRAINYARD_DATA_DIR: dataDir,
    ...env,
  };
  const app = await buildServer(loadApiConfig(fullEnv));
  const db = createDb(database.url);
  const a = await createApiKey(db, "tenant-a");
  const b = await createApiKey(db, "tenant-b");
  return {
    app,
    db,
    dataDir,
    env: fullEnv,
    keyA: a.key,
    keyB: b.key,
    tenantA: a.tenantId,
    close: async () => {
      await app.close();
      await db.$disconnect();
      await deleteQueueKeys(queuePrefix);
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const auth = (key: string) => ({ authorization: `Bearer ${key}` });

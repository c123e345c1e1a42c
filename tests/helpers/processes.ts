import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export { freePort } from "../../apps/cli/src/net.ts";

export const TRAINYARD_BIN = fileURLToPath(new URL("../../apps/cli/bin/trainyard.mjs", import.meta.url));

export interface ServiceProcess {
  child: ChildProcess;
  output: () => string;
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

/** Runs `trainyard <command>` as a real process, keeping its output for failure messages. */
export function startTrainyard(command: "api" | "worker", env: NodeJS.ProcessEnv): ServiceProcess {
  const child = spawn(process.execPath, [TRAINYARD_BIN, command], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return {
    child,
    output: () => output,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A bench server in its own process (bench/apiServer.ts, bench/apiBare.ts): started, then stopped. */
import { fork, type ChildProcess } from "node:child_process";

/** Starts a script of bench/ (e.g. "./apiServer.ts") in a child process that reports its port once listening. */
export function startServer(script: string, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(new URL(script, import.meta.url), {
    env,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    child.once("message", (message: { port: number }) => resolve({ child, port: message.port }));
    child.once("exit", (code) => reject(new Error(`${script} exited with code ${code}`)));
  });
}

/** SIGTERM, then SIGKILL if the child has not exited within 10 s. */
export async function stopServer(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  if (child.exitCode === null) child.kill("SIGKILL");
}

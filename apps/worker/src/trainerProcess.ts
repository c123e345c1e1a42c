import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { FromTrainer, ToTrainer } from "./protocol.ts";

const CHILD_ENTRY = fileURLToPath(new URL("./trainerChild.ts", import.meta.url));

export interface TrainerHandle {
  /** Resolves with the child's last word, or a `failed` TRAINER_CRASHED if it died without one. */
  finished: Promise<FromTrainer & { type: "completed" | "stopped" | "failed" }>;
  stop(reason: "cancel" | "shutdown"): void;
  kill(): void;
  pid: number | undefined;
}

/**
 * Forks the training child pinned to one device (CUDA_VISIBLE_DEVICES) and feeds every
 * message to `onMessage` in order; `onMessage` may be async and is awaited before the next.
 */
export function startTrainer(
  start: Extract<ToTrainer, { type: "start" }>,
  options: { gpu: string | null; onMessage: (message: FromTrainer) => Promise<void> },
): TrainerHandle {
  // A CPU slot hides every GPU from its child.
  const env = { ...process.env, CUDA_VISIBLE_DEVICES: options.gpu ?? "" };
  const child: ChildProcess = fork(CHILD_ENTRY, [], {
    env,
    execArgv: ["--import", "tsx"],
    serialization: "advanced",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let chain = Promise.resolve();
  let final: (FromTrainer & { type: "completed" | "stopped" | "failed" }) | null = null;
  child.on("message", (message: FromTrainer) => {
    if (message.type === "completed" || message.type === "stopped" || message.type === "failed") final = message;
    chain = chain.then(() => options.onMessage(message));
  });
  const finished = new Promise<FromTrainer & { type: "completed" | "stopped" | "failed" }>((resolve, reject) => {
    child.on("exit", (code, signal) => {
      chain.then(() => {
        resolve(
          final ?? {
            type: "failed",
            code: "TRAINER_CRASHED",
            message: `training process exited (code ${code}, signal ${signal}) without a result`,
          },
        );
      }, reject);
    });
  });
  child.send(start);
  return {
    finished,
    pid: child.pid,
    stop: (reason) => {
      if (child.connected) child.send({ type: "stop", reason } satisfies ToTrainer);
    },
    kill: () => child.kill("SIGKILL"),
  };
}

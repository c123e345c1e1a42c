import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { BackendPreference } from "@trainyard/shared";
import type { FromTrainer, ToTrainer } from "./protocol.ts";

const CHILD_ENTRY = fileURLToPath(new URL("./trainerChild.ts", import.meta.url));
/** tsx's loader by its resolved URL: `--import tsx` would look for the package from the working directory. */
const TSX_LOADER = import.meta.resolve("tsx");

export interface TrainerHandle {
  /** Resolves with the child's last word, or a `failed` TRAINER_CRASHED if it died without one. */
  finished: Promise<FromTrainer & { type: "completed" | "stopped" | "failed" }>;
  stop(reason: "cancel" | "shutdown"): void;
  kill(): void;
  pid: number | undefined;
}

/** How long the start-up check may take (loading TF.js and a backend; Dawn's device). */
const CHECK_TIMEOUT_MS = 120_000;

function forkChild(gpu: string | null, pin: Record<string, string> | undefined): ChildProcess {
  // A CPU slot hides every GPU from its child; a GPU slot's pin (devices.ts) selects its GPU for CUDA and Dawn.
  const env = { ...process.env, CUDA_VISIBLE_DEVICES: gpu ?? "", ...pin };
  return fork(CHILD_ENTRY, [], {
    env,
    execArgv: ["--import", TSX_LOADER],
    serialization: "advanced",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

export type BackendCheck = Extract<FromTrainer, { type: "checked" | "unavailable" }>;

/**
 * Loads the backend in a short-lived child pinned as a slot's trainer would be, so the
 * supervisor learns at start whether it can train (and on what) without loading TF.js itself.
 */
export function checkBackend(
  backend: BackendPreference,
  options: { gpu: string | null; env?: Record<string, string> },
): Promise<BackendCheck> {
  const child = forkChild(options.gpu, options.env);
  return new Promise((resolve) => {
    let answer: BackendCheck | null = null;
    const timer = setTimeout(() => {
      answer ??= { type: "unavailable", message: `loading the ${backend} backend took longer than ${CHECK_TIMEOUT_MS / 1000} s` };
      child.kill("SIGKILL");
    }, CHECK_TIMEOUT_MS);
    child.on("message", (message: FromTrainer) => {
      if (message.type === "checked" || message.type === "unavailable") answer = message;
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve(
        answer ?? { type: "unavailable", message: `the backend check process exited (code ${code}, signal ${signal}) without an answer` },
      );
    });
    child.send({ type: "check", backend } satisfies ToTrainer);
  });
}

/**
 * Forks the training child pinned to one device (CUDA_VISIBLE_DEVICES, and for Dawn the slot's
 * adapter pin) and feeds every message to `onMessage` in order; `onMessage` may be async and is
 * awaited before the next.
 */
export function startTrainer(
  start: Extract<ToTrainer, { type: "start" }>,
  options: { gpu: string | null; env?: Record<string, string>; onMessage: (message: FromTrainer) => Promise<void> },
): TrainerHandle {
  const child = forkChild(options.gpu, options.env);
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

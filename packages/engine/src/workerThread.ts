import { parentPort, type Worker } from "node:worker_threads";

export { startWorkerThread } from "@trainyard/shared";

/** What every engine thread may answer besides its own messages. */
type ThreadFailure = { type: "failed"; message: string } | { fatal: string };

/**
 * The calling side of an engine thread that answers each request with one message, in order:
 * `expect` awaits the next answer; a failure (the thread reporting one, an error, an exit)
 * rejects every awaited answer and every later call.
 */
export class ThreadChannel<In, Out extends { type: string }> {
  private readonly waiting: { type: Out["type"]; resolve: (m: Out) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | null = null;

  constructor(
    readonly worker: Worker,
    /** Names the thread in errors ("replica 1", "the batch loader"). */
    private readonly name: string,
  ) {
    worker.on("message", (message: Out | ThreadFailure) => {
      if ("fatal" in message) return this.fail(new Error(`${name} could not start: ${message.fatal}`));
      if (message.type === "failed") return this.fail(new Error(`${name} failed: ${(message as { message: string }).message}`));
      const next = this.waiting.shift();
      if (!next) return;
      if (next.type !== message.type) next.reject(new Error(`${name} answered ${message.type}, expected ${next.type}`));
      else next.resolve(message as Out);
    });
    worker.on("error", (error) => this.fail(error));
    worker.on("exit", (code) => this.fail(new Error(`${name} exited with code ${code}`)));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }

  post(message: In, transfer: ArrayBuffer[] = []): void {
    if (this.failure) throw this.failure;
    this.worker.postMessage(message, transfer);
  }

  /** The next answer, which must be of this type. */
  expect<T extends Out["type"]>(type: T): Promise<Extract<Out, { type: T }>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiting.push({ type, resolve: resolve as (m: Out) => void, reject }));
  }
}

/**
 * The thread side: handles the parent's messages one at a time, in arrival order (a handler
 * that awaits finishes before the next message starts); a handler that throws answers
 * `{ type: "failed", message }`.
 */
export function serveMessages<In>(handle: (message: In) => Promise<void> | void): void {
  const port = parentPort!;
  let queue = Promise.resolve();
  port.on("message", (message: In) => {
    queue = queue.then(async () => {
      try {
        await handle(message);
      } catch (error) {
        port.postMessage({ type: "failed", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      }
    });
  });
}

import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { Db } from "@trainyard/db";
import { FINISHED_STATUSES, type JobStatus } from "@trainyard/shared";

export interface JobEventStreamOptions {
  db: Db;
  pollIntervalMs?: number;
  /** Progress is sent at most this often, however often the worker writes it. */
  progressIntervalMs?: number;
  /** A comment line this often keeps proxies from closing an idle stream. */
  keepAliveMs?: number;
}

interface SseMessage {
  id: string;
  event: string;
  data: unknown;
}

interface StreamState {
  cursor: bigint;
  progress: string | null;
  progressAt: number;
  finishedPolls: number;
}

/** Reconnection delay suggested to EventSource clients. */
const RETRY_MS = 2_000;
const REPLAY_BATCH = 500;
const CLOSE_GRACE_MS = 2_000;

const isFinished = (status: unknown) => FINISHED_STATUSES.includes(status as JobStatus);

function formatSse({ id, event, data }: SseMessage): string {
  return `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Server-Sent Events for one job. Stored JobEvent rows (status, epoch, log) are sent with
 * their own ids; progress lives only on Job.progress, so a progress event carries the id of
 * the last stored event before it: resuming from it replays exactly the stored events that
 * followed, then the current progress once.
 */
export function createJobEventStreams({
  db,
  pollIntervalMs = 500,
  progressIntervalMs = 1_000,
  keepAliveMs = 15_000,
}: JobEventStreamOptions) {
  const streams = new Map<Readable, AbortController>();

  async function poll(jobId: string, state: StreamState) {
    const messages: SseMessage[] = [];
    // The job is read before its events: a worker writes the status first, so a finished job
    // whose closing event is not yet visible gets one more poll before it is synthesized.
    const job = await db.job.findUnique({ where: { id: jobId }, select: { status: true, progress: true } });
    if (!job) return { messages, done: true, backlog: false };
    const events = await db.jobEvent.findMany({ where: { jobId, id: { gt: state.cursor } }, orderBy: { id: "asc" }, take: REPLAY_BATCH });
    for (const event of events) {
      state.cursor = event.id;
      messages.push({ id: String(event.id), event: event.type, data: event.data });
      const status = (event.data as { status?: unknown } | null)?.status;
      if (event.type === "status" && isFinished(status)) return { messages, done: true, backlog: false };
    }
    if (events.length === REPLAY_BATCH) return { messages, done: false, backlog: true };
    if (isFinished(job.status)) {
      state.finishedPolls += 1;
      if (state.finishedPolls < 2) return { messages, done: false, backlog: false };
      messages.push({ id: String(state.cursor), event: "status", data: { status: job.status } });
      return { messages, done: true, backlog: false };
    }
    const progress = job.progress === null ? null : JSON.stringify(job.progress);
    if (progress !== null && progress !== state.progress && Date.now() - state.progressAt >= progressIntervalMs) {
      state.progress = progress;
      state.progressAt = Date.now();
      messages.push({ id: String(state.cursor), event: "progress", data: job.progress });
    }
    return { messages, done: false, backlog: false };
  }

  async function* follow(jobId: string, lastEventId: bigint, signal: AbortSignal): AsyncGenerator<string> {
    const state: StreamState = { cursor: lastEventId, progress: null, progressAt: 0, finishedPolls: 0 };
    yield `retry: ${RETRY_MS}\n\n`;
    let wroteAt = Date.now();
    while (!signal.aborted) {
      const { messages, done, backlog } = await poll(jobId, state);
      if (messages.length > 0) {
        yield messages.map(formatSse).join("");
        wroteAt = Date.now();
      } else if (Date.now() - wroteAt >= keepAliveMs) {
        yield ": keep-alive\n\n";
        wroteAt = Date.now();
      }
      if (done) return;
      if (!backlog) await sleep(pollIntervalMs, undefined, { signal }).catch(() => undefined);
    }
  }

  return {
    /** The stream stops polling as soon as it is destroyed (the client went away) or closeAll() runs. */
    open(jobId: string, lastEventId: bigint): Readable {
      const controller = new AbortController();
      const events = follow(jobId, lastEventId, controller.signal);
      // Not Readable.from: its destroy waits for the generator's next yield, which an idle job never reaches.
      const stream = new Readable({
        read() {
          events.next().then(
            ({ value, done }) => this.push(done ? null : value),
            (error: Error) => this.destroy(error),
          );
        },
        destroy(error, callback) {
          controller.abort();
          callback(error);
        },
      });
      streams.set(stream, controller);
      stream.once("close", () => streams.delete(stream));
      return stream;
    },

    activeCount: () => streams.size,

    /**
     * Ends every stream and waits until they have ended, so that their connections are idle when
     * the server closes (clients reconnect elsewhere with Last-Event-ID); a stream a slow client
     * does not drain within the grace period is cut.
     */
    async closeAll(): Promise<void> {
      const open = [...streams];
      for (const [, controller] of open) controller.abort();
      await Promise.race([
        Promise.all(open.map(([stream]) => finished(stream).catch(() => undefined))),
        sleep(CLOSE_GRACE_MS, undefined, { ref: false }),
      ]);
      for (const [stream] of open) if (!stream.readableEnded) stream.destroy();
    },
  };
}

export type JobEventStreams = ReturnType<typeof createJobEventStreams>;

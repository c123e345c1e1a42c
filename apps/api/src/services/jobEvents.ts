import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { Db } from "@trainyard/db";
import { FINISHED_STATUSES, type JobStatus } from "@trainyard/shared";
import { tooManyRequests } from "../problems.ts";
import type { JobChangeFeed } from "./jobChangeFeed.ts";

export interface JobEventStreamOptions {
  db: Db;
  /** Says when a job changed (one subscription for every stream); streams read only then. */
  changes: JobChangeFeed;
  /** How soon to look again when a finished job's closing event is not yet visible. */
  pollIntervalMs?: number;
  /** A stream reads anyway this often, in case a change went unnoticed. */
  fallbackPollMs?: number;
  /** How many streams one API key may hold open at once (in this process); 0: no limit. */
  maxStreamsPerKey?: number;
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

interface PollResult {
  messages: SseMessage[];
  done: boolean;
  /** Milliseconds until the stream should read again even without a change (a backlog: 0). */
  againInMs: number | null;
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
  changes,
  pollIntervalMs = 500,
  fallbackPollMs = 60_000,
  maxStreamsPerKey = 0,
  progressIntervalMs = 1_000,
  keepAliveMs = 15_000,
}: JobEventStreamOptions) {
  const streams = new Map<Readable, AbortController>();
  const perKey = new Map<string, number>();

  async function poll(jobId: string, state: StreamState): Promise<PollResult> {
    const messages: SseMessage[] = [];
    // The job is read before its events: a worker writes the status first, so a finished job
    // whose closing event is not yet visible gets one more poll before it is synthesized.
    const job = await db.job.findUnique({ where: { id: jobId }, select: { status: true, progress: true } });
    if (!job) return { messages, done: true, againInMs: null };
    const events = await db.jobEvent.findMany({ where: { jobId, id: { gt: state.cursor } }, orderBy: { id: "asc" }, take: REPLAY_BATCH });
    const progress = job.progress === null ? null : JSON.stringify(job.progress);
    /**
     * Sends the job's progress if it changed and the interval allows; otherwise says how many
     * milliseconds until it does (null: nothing new to send).
     */
    const sendProgress = (): number | null => {
      if (progress === null || progress === state.progress) return null;
      const wait = state.progressAt + progressIntervalMs - Date.now();
      if (wait > 0) return wait;
      state.progress = progress;
      state.progressAt = Date.now();
      messages.push({ id: String(state.cursor), event: "progress", data: job.progress });
      return null;
    };
    for (const event of events) {
      const closing = event.type === "status" && isFinished((event.data as { status?: unknown } | null)?.status);
      // The last progress goes out before the closing status, a client's bar ends where training
      // ended (100% for a finished job); if the interval does not allow it yet, the close waits.
      const wait = closing ? sendProgress() : null;
      if (wait !== null) return { messages, done: false, againInMs: wait };
      state.cursor = event.id;
      messages.push({ id: String(event.id), event: event.type, data: event.data });
      if (closing) return { messages, done: true, againInMs: null };
    }
    if (events.length === REPLAY_BATCH) return { messages, done: false, againInMs: 0 };
    if (isFinished(job.status)) {
      state.finishedPolls += 1;
      if (state.finishedPolls < 2) return { messages, done: false, againInMs: pollIntervalMs };
      const wait = sendProgress();
      if (wait !== null) return { messages, done: false, againInMs: wait };
      messages.push({ id: String(state.cursor), event: "status", data: { status: job.status } });
      return { messages, done: true, againInMs: null };
    }
    // Newer progress than the interval allows yet: look again when it does.
    return { messages, done: false, againInMs: sendProgress() };
  }

  async function* follow(jobId: string, lastEventId: bigint, signal: AbortSignal): AsyncGenerator<string> {
    const state: StreamState = { cursor: lastEventId, progress: null, progressAt: 0, finishedPolls: 0 };
    // Subscribed before the first read, so no change between that read and the wait is missed.
    let changed = true;
    let wake: (() => void) | null = null;
    const unsubscribe = changes.subscribe(jobId, () => {
      changed = true;
      wake?.();
    });
    const onAbort = () => wake?.();
    signal.addEventListener("abort", onAbort);
    try {
      yield `retry: ${RETRY_MS}\n\n`;
      let wroteAt = Date.now();
      let readAt = 0;
      let againInMs: number | null = 0;
      while (!signal.aborted) {
        const now = Date.now();
        if (changed || (againInMs !== null && now - readAt >= againInMs) || now - readAt >= fallbackPollMs) {
          changed = false;
          readAt = now;
          const result = await poll(jobId, state);
          againInMs = result.againInMs;
          if (result.messages.length > 0) {
            yield result.messages.map(formatSse).join("");
            wroteAt = Date.now();
          }
          if (result.done) return;
          if (againInMs === 0) continue;
        }
        if (Date.now() - wroteAt >= keepAliveMs) {
          yield ": keep-alive\n\n";
          wroteAt = Date.now();
        }
        if (changed || signal.aborted) continue;
        const untilRead = Math.min(againInMs ?? Infinity, fallbackPollMs) - (Date.now() - readAt);
        const untilKeepAlive = keepAliveMs - (Date.now() - wroteAt);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, Math.min(untilRead, untilKeepAlive)));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      unsubscribe();
    }
  }

  return {
    /**
     * The stream stops as soon as it is destroyed (the client went away) or closeAll() runs.
     * `owner` (an API key's hash) may hold at most maxStreamsPerKey streams: another is a 429.
     */
    open(jobId: string, lastEventId: bigint, owner?: string): Readable {
      if (owner !== undefined && maxStreamsPerKey > 0 && (perKey.get(owner) ?? 0) >= maxStreamsPerKey) {
        throw tooManyRequests(
          `this API key already has ${maxStreamsPerKey} event streams open, the most one key may hold (TRAINYARD_MAX_EVENT_STREAMS_PER_KEY); close one first`,
          5,
        );
      }
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
          // Runs the generator's finally (its subscription ends) even if it waits at a yield no one will read.
          void events.return(undefined).catch(() => undefined);
          callback(error);
        },
      });
      streams.set(stream, controller);
      if (owner !== undefined) perKey.set(owner, (perKey.get(owner) ?? 0) + 1);
      stream.once("close", () => {
        streams.delete(stream);
        if (owner === undefined) return;
        const left = (perKey.get(owner) ?? 1) - 1;
        if (left > 0) perKey.set(owner, left);
        else perKey.delete(owner);
      });
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

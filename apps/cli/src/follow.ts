import { createParser, type EventSourceMessage } from "eventsource-parser";
import { dataOf, type paths } from "@trainyard/client";
import type { Connection } from "./connection.ts";
import { isUnreachable } from "./errors.ts";
import { createProgressPrinter, renderProgress } from "./progressBar.ts";

/** A job as GET /v1/jobs/{id} answers it (api.md "Jobs"), typed from the API's OpenAPI document. */
export type JobView = paths["/v1/jobs/{id}"]["get"]["responses"][200]["content"]["application/json"];

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const RECONNECT_MS = 1_000;

export async function getJob(connection: Connection, id: string): Promise<JobView> {
  return dataOf(connection.client.GET("/v1/jobs/{id}", { params: { path: { id } } }));
}

export interface FollowHandlers {
  /** Each event as it arrives (the follow view draws from these). */
  onEvent(event: EventSourceMessage): void;
}

/**
 * Reads the job's event stream until a terminal status arrives; a dropped connection is opened
 * again with Last-Event-ID, so no stored event is missed or shown twice. Returns that status.
 */
export async function streamJobEvents(
  connection: Connection,
  jobId: string,
  handlers: FollowHandlers,
  /** Stop early: when the signal aborts, or after idleMs without a byte (the replay of a running job is over). */
  stopEarly?: { signal: AbortSignal; idleMs: number },
): Promise<string | null> {
  let lastEventId: string | undefined;
  let retryMs = RECONNECT_MS;
  const stop = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  const rearmIdle = () => {
    if (!stopEarly) return;
    clearTimeout(idle);
    idle = setTimeout(() => stop.abort(), stopEarly.idleMs);
  };
  stopEarly?.signal.addEventListener("abort", () => stop.abort());
  for (;;) {
    let finished: string | null = null;
    const parser = createParser({
      onEvent(event) {
        if (event.id !== undefined) lastEventId = event.id;
        handlers.onEvent(event);
        if (event.event === "status") {
          const status = (JSON.parse(event.data) as { status?: string }).status;
          if (status && FINISHED.has(status)) finished = status;
        }
      },
      onRetry(ms) {
        retryMs = ms;
      },
    });
    try {
      const { response } = await connection.client.GET("/v1/jobs/{id}/events", {
        params: { path: { id: jobId } },
        headers: lastEventId === undefined ? {} : { "last-event-id": lastEventId },
        parseAs: "stream",
        signal: stop.signal,
      });
      const decoder = new TextDecoder();
      rearmIdle();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        rearmIdle();
        parser.feed(decoder.decode(chunk, { stream: true }));
        if (finished || stop.signal.aborted) break;
      }
    } catch (error) {
      if (stop.signal.aborted) {
        clearTimeout(idle);
        return null;
      }
      // A stream cut off midway ("terminated") is opened again; an API that does not answer, or answers an error, ends the follow.
      if (!(error instanceof TypeError) || isUnreachable(error)) throw error;
    }
    clearTimeout(idle);
    if (finished) return finished;
    if (stop.signal.aborted) return null;
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}

/** The follow view: a progress bar, the job's log lines and a line per epoch, from the event stream alone. */
export async function followJob(connection: Connection, jobId: string, stream: NodeJS.WriteStream = process.stdout): Promise<JobView> {
  const printer = createProgressPrinter(stream);
  let snapshot: Parameters<typeof renderProgress>[0] = { status: "queued", progress: null, latestMetrics: null };
  await streamJobEvents(connection, jobId, {
    onEvent(event) {
      const data = JSON.parse(event.data) as Record<string, any>;
      if (event.event === "log" && typeof data.message === "string") printer.log(`trainyard: ${data.message}`);
      else if (event.event === "status") snapshot = { ...snapshot, status: data.status };
      else if (event.event === "progress") snapshot = { ...snapshot, progress: data as (typeof snapshot)["progress"] };
      else if (event.event === "epoch") snapshot = { ...snapshot, latestMetrics: data as (typeof snapshot)["latestMetrics"] };
      else return;
      printer.update(renderProgress(snapshot));
    },
  });
  printer.done();
  // The finished job once, for its result or error: the stream carries neither.
  return getJob(connection, jobId);
}

/**
 * streamJobEvents against a small SSE server that cuts its connections midway: the client opens
 * the stream again with Last-Event-ID and delivers every event exactly once, parsed by the real
 * eventsource-parser path, through the real typed client.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createTrainyardClient } from "@trainyard/client";
import type { EventSourceMessage } from "eventsource-parser";
import { afterEach, describe, expect, it } from "vitest";
import type { Connection } from "../src/connection.ts";
import { streamJobEvents } from "../src/follow.ts";

const API_KEY = "ty_follow_test";

/** The job's stored events, as the API would replay them. */
const EVENTS = [
  { id: "1", event: "status", data: { status: "running" } },
  { id: "2", event: "log", data: { message: "training on cpu:0 with the wasm backend" } },
  { id: "3", event: "log", data: { message: "a line with ünïcödé, split across chunks" } },
  { id: "4", event: "epoch", data: { epoch: 1, trainLoss: 1.25 } },
  { id: "5", event: "log", data: { message: "epoch 2 of 2" } },
  { id: "6", event: "status", data: { status: "succeeded" } },
];
const sse = ({ id, event, data }: (typeof EVENTS)[number]) => `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const after = (lastEventId: string | undefined) => EVENTS.filter((event) => Number(event.id) > Number(lastEventId ?? "0"));

let server: Server | undefined;

afterEach(async () => {
  const open = server;
  server = undefined;
  if (!open) return;
  open.closeAllConnections();
  await new Promise((resolve) => open.close(resolve));
});

/** Resolves once `done()` holds, looking every few milliseconds. */
async function until(done: () => boolean) {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** Serves GET /v1/jobs/{id}/events, the nth connection answered by handlers[n]; records each request's headers. */
async function serve(handlers: ((response: ServerResponse, lastEventId: string | undefined) => void)[]) {
  const requests: { url: string; lastEventId: string | undefined; authorization: string | undefined }[] = [];
  server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const lastEventId = request.headers["last-event-id"] as string | undefined;
    requests.push({ url: request.url ?? "", lastEventId, authorization: request.headers.authorization });
    const handler = handlers[requests.length - 1];
    if (!handler) {
      response.writeHead(500).end();
      return;
    }
    handler(response, lastEventId);
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
  const connection: Connection = { apiUrl: baseUrl, apiKey: API_KEY, client: createTrainyardClient({ baseUrl, apiKey: API_KEY }) };
  return { connection, requests };
}

const openStream = (response: ServerResponse) => {
  response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
  // A short reconnection delay, as the API suggests its own (2 s) with the same field.
  response.write("retry: 20\n\n");
};

describe("streamJobEvents", () => {
  it("reconnects with Last-Event-ID after a connection cut mid-event and one ended early, delivering each event once", async () => {
    const received: EventSourceMessage[] = [];
    const { connection, requests } = await serve([
      // 1: events 1–3 (the third split inside a multi-byte character), then half of event 4, then the socket is destroyed.
      (response, lastEventId) => {
        openStream(response);
        const [first, second, third] = after(lastEventId)
          .slice(0, 3)
          .map((event) => Buffer.from(sse(event)));
        response.write(Buffer.concat([first!, second!]));
        const split = third!.indexOf(Buffer.from("ü")) + 1;
        response.write(third!.subarray(0, split));
        void (async () => {
          await until(() => received.length === 2);
          response.write(third!.subarray(split));
          await until(() => received.length === 3);
          response.write(sse(EVENTS[3]!).slice(0, 20));
          await new Promise((resolve) => setTimeout(resolve, 50));
          response.socket?.destroy();
        })();
      },
      // 2: what follows Last-Event-ID, up to event 5, then the response ends cleanly without a closing status.
      (response, lastEventId) => {
        openStream(response);
        response.end(
          after(lastEventId)
            .filter((event) => Number(event.id) <= 5)
            .map(sse)
            .join(""),
        );
      },
      // 3: the rest, with the closing status; the connection stays open (the client stops on the status itself).
      (response, lastEventId) => {
        openStream(response);
        response.write(after(lastEventId).map(sse).join(""));
      },
    ]);

    const status = await streamJobEvents(connection, "job_1", { onEvent: (event) => received.push(event) });

    expect(status).toBe("succeeded");
    expect(requests.map((request) => request.lastEventId)).toEqual([undefined, "3", "5"]);
    expect(requests.every((request) => request.url === "/v1/jobs/job_1/events")).toBe(true);
    expect(requests.every((request) => request.authorization === `Bearer ${API_KEY}`)).toBe(true);
    expect(received.map(({ id, event, data }) => ({ id, event, data: JSON.parse(data) as unknown }))).toEqual(EVENTS);
  });

  it("ends with the API's error, not a reconnection, when the stream is refused", async () => {
    const { connection, requests } = await serve([
      (response) => {
        response
          .writeHead(404, { "content-type": "application/problem+json" })
          .end(JSON.stringify({ type: "about:blank", title: "Not Found", status: 404, detail: "job job_gone not found" }));
      },
    ]);
    await expect(streamJobEvents(connection, "job_gone", { onEvent: () => undefined })).rejects.toThrow(
      "GET /v1/jobs/job_gone/events → 404: job job_gone not found",
    );
    expect(requests).toHaveLength(1);
  });

  it("stops when the signal aborts, without reconnecting", async () => {
    const { connection, requests } = await serve([
      (response, lastEventId) => {
        openStream(response);
        response.write(after(lastEventId).slice(0, 2).map(sse).join(""));
      },
    ]);
    const stop = new AbortController();
    const received: string[] = [];
    const status = await streamJobEvents(
      connection,
      "job_1",
      {
        onEvent(event) {
          received.push(event.id!);
          if (event.id === "2") stop.abort();
        },
      },
      { signal: stop.signal, idleMs: 60_000 },
    );
    expect(status).toBeNull();
    expect(received).toEqual(["1", "2"]);
    expect(requests).toHaveLength(1);
  });
});

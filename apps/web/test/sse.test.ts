import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadBrowserModule } from "./browserModule.ts";

interface SseEvent {
  type: string;
  data: string;
  id: string;
}
interface SseParser {
  lastEventId: string;
  retry: number | null;
  push(text: string): SseEvent[];
  end(): void;
}
interface FollowOptions {
  headers?: Record<string, string> | (() => Record<string, string>);
  onEvent: (event: SseEvent) => void;
  onOpen?: (info: { lastEventId: string }) => void;
  onError?: (error: unknown, info: { fatal: boolean; retryInMs: number | null }) => void;
  shouldReconnect?: () => boolean;
  lastEventId?: string;
  signal?: AbortSignal;
  retryMs?: number;
  maxRetryMs?: number;
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}
interface SseModule {
  SseParser: new (lastEventId?: string) => SseParser;
  followEventStream(url: string, options: FollowOptions): Promise<{ lastEventId: string }>;
  StreamHttpError: new (status: number, message: string) => Error & { status: number };
}

let sse: SseModule;
beforeAll(async () => {
  sse = await loadBrowserModule<SseModule>("sse.js");
});

/** Every event a parser produces from the chunks, then whatever end() leaves. */
function parse(chunks: string[], lastEventId = "") {
  const parser = new sse.SseParser(lastEventId);
  const events = chunks.flatMap((chunk) => parser.push(chunk));
  parser.end();
  return { events, parser };
}

/** What the API writes (apps/api/src/services/jobEvents.ts). */
const API_STREAM =
  "retry: 2000\n\n" +
  'id: 7\nevent: status\ndata: {"status":"running","workerId":"w1","device":"cpu:0"}\n\n' +
  'id: 7\nevent: progress\ndata: {"epoch":1,"epochs":2,"step":10,"stepsPerEpoch":56,"fraction":0.09,"etaSeconds":12}\n\n' +
  ": keep-alive\n\n" +
  'id: 8\nevent: epoch\ndata: {"epoch":1,"trainLoss":0.9,"trainAccuracy":0.7,"valLoss":0.8,"valAccuracy":0.72}\n\n' +
  'id: 9\nevent: status\ndata: {"status":"succeeded"}\n\n';

describe("SseParser", () => {
  it("reads the API's stream: ids, event types, JSON data, retry, comments", () => {
    const { events, parser } = parse([API_STREAM]);
    expect(events.map((event) => [event.id, event.type])).toEqual([
      ["7", "status"],
      ["7", "progress"],
      ["8", "epoch"],
      ["9", "status"],
    ]);
    expect(JSON.parse(events[2].data)).toMatchObject({ epoch: 1, valAccuracy: 0.72 });
    expect(parser.retry).toBe(2000);
    expect(parser.lastEventId).toBe("9");
  });

  it("gives the same events however the text is cut, even between CR and LF", () => {
    const text = API_STREAM.replace(/\n/g, "\r\n");
    const whole = parse([text]).events;
    expect(whole).toHaveLength(4);
    expect(parse(text.split("")).events).toEqual(whole);
    for (let cut = 1; cut < text.length; cut += 7) expect(parse([text.slice(0, cut), text.slice(cut)]).events).toEqual(whole);
    // A CRLF split across chunks is one line end, not a blank line that would dispatch early.
    expect(parse(["data: a\r", "\ndata: b\r", "\n\r", "\n"]).events).toEqual([{ type: "message", data: "a\nb", id: "" }]);
  });

  it("accepts LF, CR and CRLF line ends, mixed", () => {
    expect(parse(["data: a\rdata: b\r\ndata: c\n\r"]).events).toEqual([{ type: "message", data: "a\nb\nc", id: "" }]);
  });

  it("joins data lines, strips one leading space, and treats a line without a colon as a field with no value", () => {
    const { events } = parse(["data:no space\ndata:  two spaces\ndata\n\n", "data\n\n"]);
    expect(events).toEqual([
      { type: "message", data: "no space\n two spaces\n", id: "" },
      { type: "message", data: "", id: "" },
    ]);
  });

  it("resets the event type after each event and ignores unknown fields and comments", () => {
    const { events } = parse(["event: epoch\nfoo: bar\n: a comment\ndata: 1\n\ndata: 2\n\n"]);
    expect(events.map((event) => event.type)).toEqual(["epoch", "message"]);
  });

  it("keeps the last event id across events without one; an id-only block sets it without dispatching", () => {
    const { events, parser } = parse(["id: 3\ndata: a\n\ndata: b\n\nid: 4\n\n"]);
    expect(events).toEqual([
      { type: "message", data: "a", id: "3" },
      { type: "message", data: "b", id: "3" },
    ]);
    expect(parser.lastEventId).toBe("4");
  });

  it("ignores an id containing NUL and a retry that is not all digits", () => {
    const { events, parser } = parse(["id: 5\nretry: 1500\n\nid: 6\0x\nretry: 2s\ndata: x\n\n"]);
    expect(events).toEqual([{ type: "message", data: "x", id: "5" }]);
    expect(parser.retry).toBe(1500);
  });

  it("starts from the id it resumes after, strips a leading byte-order mark only, and drops an unfinished event at the end", () => {
    const { events, parser } = parse(["\uFEFF", "data: \uFEFFx\n\ndata: never finished\n"], "41");
    expect(events).toEqual([{ type: "message", data: "\uFEFFx", id: "41" }]);
    expect(parser.lastEventId).toBe("41");
  });

  it("does not rescan or lose text across many small pushes of a long line", () => {
    const long = "x".repeat(100_000);
    const parser = new sse.SseParser();
    const events: SseEvent[] = [];
    events.push(...parser.push("data: "));
    for (let i = 0; i < long.length; i += 1000) events.push(...parser.push(long.slice(i, i + 1000)));
    events.push(...parser.push("\n\n"));
    expect(events).toHaveLength(1);
    expect(events[0].data).toBe(long);
  });
});

/** A fetch that answers from a script: one entry per connection. */
function scriptedFetch(answers: (() => Response | Promise<Response>)[]) {
  const calls: { url: string; headers: Record<string, string> }[] = [];
  const fetch = async (url: string, init: RequestInit) => {
    calls.push({ url, headers: { ...(init.headers as Record<string, string>) } });
    const answer = answers.shift();
    if (!answer) throw new Error("no more scripted answers");
    return answer();
  };
  return { fetch, calls };
}

const eventStream = (text: string, status = 200) =>
  new Response(text, { status, headers: { "content-type": "text/event-stream; charset=utf-8" } });

describe("followEventStream", () => {
  it("reconnects with Last-Event-ID after the stream ends, waits the server's retry, and stops when told", async () => {
    const { fetch, calls } = scriptedFetch([
      () => eventStream('retry: 1234\n\nid: 1\nevent: status\ndata: {"status":"running"}\n\nid: 2\nevent: epoch\ndata: {}\n\n'),
      () => eventStream('id: 3\nevent: status\ndata: {"status":"succeeded"}\n\n'),
    ]);
    const seen: string[] = [];
    const sleeps: number[] = [];
    let finished = false;
    const opened: string[] = [];
    const outcome = await sse.followEventStream("/v1/jobs/j1/events", {
      fetch,
      headers: () => ({ authorization: "Bearer k" }),
      sleep: async (ms) => void sleeps.push(ms),
      onOpen: ({ lastEventId }) => opened.push(lastEventId),
      onEvent: (event) => {
        seen.push(`${event.id}:${event.type}`);
        if (event.type === "status" && JSON.parse(event.data).status === "succeeded") finished = true;
      },
      shouldReconnect: () => !finished,
    });
    expect(seen).toEqual(["1:status", "2:epoch", "3:status"]);
    expect(calls).toHaveLength(2);
    expect(calls[0].headers).toEqual({ authorization: "Bearer k", accept: "text/event-stream" });
    expect(calls[1].headers["last-event-id"]).toBe("2");
    expect(sleeps).toEqual([1234]);
    expect(opened).toEqual(["", "2"]);
    expect(outcome.lastEventId).toBe("3");
  });

  it("retries server errors and dropped connections with a doubling delay, and resumes where it was", async () => {
    const { fetch, calls } = scriptedFetch([
      () => new Response("{}", { status: 503 }),
      () => Promise.reject(new TypeError("network down")),
      () => eventStream("id: 10\ndata: x\n\n"),
      () => eventStream("id: 11\ndata: y\n\n"),
    ]);
    const sleeps: number[] = [];
    const errors: { fatal: boolean; retryInMs: number | null }[] = [];
    let count = 0;
    await sse.followEventStream("/e", {
      fetch,
      retryMs: 100,
      lastEventId: "9",
      sleep: async (ms) => void sleeps.push(ms),
      onError: (_error, info) => errors.push(info),
      onEvent: () => (count += 1),
      shouldReconnect: () => count < 2,
    });
    expect(errors).toEqual([
      { fatal: false, retryInMs: 100 },
      { fatal: false, retryInMs: 200 },
    ]);
    expect(sleeps).toEqual([100, 200, 100]);
    expect(calls.map((call) => call.headers["last-event-id"])).toEqual(["9", "9", "9", "10"]);
  });

  it("honours Retry-After on 429", async () => {
    const { fetch } = scriptedFetch([
      () => new Response("{}", { status: 429, headers: { "retry-after": "7" } }),
      () => eventStream("data: done\n\n"),
    ]);
    const sleeps: number[] = [];
    await sse.followEventStream("/e", {
      fetch,
      sleep: async (ms) => void sleeps.push(ms),
      onEvent: () => undefined,
      shouldReconnect: () => sleeps.length === 0,
    });
    expect(sleeps).toEqual([7000]);
  });

  it("gives up at once on 401, 404 and on an answer that is not an event stream", async () => {
    for (const response of [
      new Response('{"status":401}', { status: 401 }),
      new Response('{"status":404}', { status: 404 }),
      new Response("<html>", { status: 200, headers: { "content-type": "text/html" } }),
    ]) {
      const { fetch, calls } = scriptedFetch([() => response]);
      const errors: { error: unknown; fatal: boolean }[] = [];
      await sse.followEventStream("/e", {
        fetch,
        sleep: async () => undefined,
        onEvent: () => undefined,
        onError: (error, { fatal }) => errors.push({ error, fatal }),
      });
      expect(calls).toHaveLength(1);
      expect(errors).toHaveLength(1);
      expect(errors[0].fatal).toBe(true);
      expect(errors[0].error).toBeInstanceOf(sse.StreamHttpError);
    }
  });

  it("stops when its signal aborts, even mid-stream", async () => {
    const controller = new AbortController();
    const body = new ReadableStream<Uint8Array>({
      start(stream) {
        stream.enqueue(new TextEncoder().encode("data: first\n\n"));
        controller.signal.addEventListener("abort", () => stream.error(new DOMException("aborted", "AbortError")));
      },
    });
    const { fetch, calls } = scriptedFetch([() => new Response(body, { headers: { "content-type": "text/event-stream" } })]);
    const seen: string[] = [];
    await sse.followEventStream("/e", {
      fetch,
      signal: controller.signal,
      onEvent: (event) => {
        seen.push(event.data);
        controller.abort();
      },
    });
    expect(seen).toEqual(["first"]);
    expect(calls).toHaveLength(1);
  });
});

describe("followEventStream over real HTTP", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it("reads chunked text from a socket and resumes from the last id on a new connection", async () => {
    const requests: IncomingHttpHeaders[] = [];
    server = createServer((request, response) => {
      requests.push(request.headers);
      response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
      if (requests.length === 1) {
        // An event cut mid-line and mid-character (é is two bytes), then the connection drops.
        const bytes = Buffer.from('retry: 5\n\nid: 1\nevent: log\ndata: {"message":"é"}\n\nid: 2\nevent: epoch\ndata: {"epoch":1}\n\n');
        const cut = bytes.indexOf(0xa9); // the second byte of é
        response.write(bytes.subarray(0, cut));
        setTimeout(() => response.end(bytes.subarray(cut)), 20);
      } else {
        response.end('id: 3\nevent: status\ndata: {"status":"succeeded"}\n\n');
      }
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const seen: SseEvent[] = [];
    await sse.followEventStream(`http://127.0.0.1:${port}/events`, {
      headers: { authorization: "Bearer key" },
      onEvent: (event) => seen.push(event),
      shouldReconnect: () => !seen.some((event) => event.type === "status"),
    });
    expect(seen.map((event) => `${event.id}:${event.type}`)).toEqual(["1:log", "2:epoch", "3:status"]);
    expect(JSON.parse(seen[0].data).message).toBe("é");
    expect(requests[0].authorization).toBe("Bearer key");
    expect(requests[0]["last-event-id"]).toBeUndefined();
    expect(requests[1]["last-event-id"]).toBe("2");
  });
});

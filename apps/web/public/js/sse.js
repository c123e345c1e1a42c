// @ts-check
/**
 * Server-Sent Events over fetch. EventSource cannot send an Authorization header, so the
 * dashboard reads the stream itself: SseParser follows the WHATWG "event stream
 * interpretation" rules, followEventStream reconnects with Last-Event-ID.
 */

/**
 * @typedef {object} SseEvent
 * @property {string} type   the `event:` field, "message" when absent
 * @property {string} data   the `data:` lines joined with "\n"
 * @property {string} id     the last event id in force when this event was dispatched
 */

const LINE_END = /\r\n|\r|\n/g;

export class SseParser {
  /** The id a reconnecting client sends as Last-Event-ID; it survives events that carry no id. */
  lastEventId = "";
  /** The last valid `retry:` value (milliseconds), or null if the server sent none. */
  retry = /** @type {number | null} */ (null);

  #buffer = "";
  #started = false;
  #skipLineFeed = false;
  #idBuffer = "";
  #eventType = "";
  /** @type {string[]} */
  #data = [];

  /** @param {string} [lastEventId] the id to resume from, as if the stream had sent it */
  constructor(lastEventId = "") {
    this.lastEventId = lastEventId;
    this.#idBuffer = lastEventId;
  }

  /**
   * Feeds decoded text (any chunking, even mid-line or between CR and LF) and answers the
   * events completed by it, in order.
   * @param {string} text
   * @returns {SseEvent[]}
   */
  push(text) {
    if (text.length === 0) return [];
    if (this.#skipLineFeed) {
      this.#skipLineFeed = false;
      if (text.startsWith("\n")) text = text.slice(1);
    }
    if (!this.#started) {
      this.#started = true;
      if (text.startsWith("\uFEFF")) text = text.slice(1);
    }
    this.#buffer += text;
    /** @type {SseEvent[]} */
    const events = [];
    let start = 0;
    LINE_END.lastIndex = 0;
    for (let match = LINE_END.exec(this.#buffer); match; match = LINE_END.exec(this.#buffer)) {
      const line = this.#buffer.slice(start, match.index);
      start = match.index + match[0].length;
      // A CR that ends the buffer may be the first half of a CRLF split across chunks.
      if (match[0] === "\r" && start === this.#buffer.length) this.#skipLineFeed = true;
      const event = this.#line(line);
      if (event) events.push(event);
    }
    this.#buffer = this.#buffer.slice(start);
    return events;
  }

  /** The stream ended: an event without its closing blank line is dropped, as the spec says. */
  end() {
    this.#buffer = "";
    this.#data = [];
    this.#eventType = "";
    this.#skipLineFeed = false;
  }

  /**
   * @param {string} line
   * @returns {SseEvent | null}
   */
  #line(line) {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.#eventType = value;
        break;
      case "data":
        this.#data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.#idBuffer = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
    return null;
  }

  /** @returns {SseEvent | null} */
  #dispatch() {
    this.lastEventId = this.#idBuffer;
    const type = this.#eventType || "message";
    const data = this.#data;
    this.#eventType = "";
    this.#data = [];
    if (data.length === 0) return null;
    return { type, data: data.join("\n"), id: this.lastEventId };
  }
}

/** An HTTP answer that is not an event stream. */
export class StreamHttpError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {unknown} [body]
   */
  constructor(status, message, body) {
    super(message);
    this.name = "StreamHttpError";
    this.status = status;
    this.body = body;
  }
}

/**
 * @typedef {object} FollowOptions
 * @property {Record<string, string> | (() => Record<string, string>)} [headers] sent on every (re)connection
 * @property {(event: SseEvent) => void} onEvent
 * @property {(info: { lastEventId: string }) => void} [onOpen]
 * @property {(error: unknown, info: { fatal: boolean, retryInMs: number | null }) => void} [onError]
 * @property {() => boolean} [shouldReconnect] asked whenever a stream ends; false stops following
 * @property {string} [lastEventId] resume after this id
 * @property {AbortSignal} [signal] aborting stops following at once
 * @property {number} [retryMs] delay before reconnecting until the server sends `retry:`
 * @property {number} [maxRetryMs] cap of the doubling delay after consecutive failures
 * @property {typeof fetch} [fetch]
 * @property {(ms: number, signal?: AbortSignal) => Promise<void>} [sleep]
 */

/**
 * @param {number} ms
 * @param {AbortSignal} [signal]
 * @returns {Promise<void>}
 */
function abortableSleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * @param {Response} response
 * @returns {Promise<unknown>}
 */
async function bodyOf(response) {
  const text = await response.text().catch(() => "");
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Follows an event stream until `shouldReconnect` says no, a fatal error (a 4xx answer other
 * than 408/429, or a response that is not an event stream), or the signal aborts. A stream
 * that ends or breaks is reopened with Last-Event-ID after the server's `retry:` delay
 * (doubling, up to maxRetryMs, while attempts keep failing; a 429's Retry-After is honoured).
 * @param {string} url
 * @param {FollowOptions} options
 * @returns {Promise<{ lastEventId: string }>} when following stops
 */
export async function followEventStream(url, options) {
  const {
    onEvent,
    onOpen,
    onError,
    shouldReconnect = () => true,
    signal,
    maxRetryMs = 30_000,
    fetch: fetchImpl = globalThis.fetch.bind(globalThis),
    sleep = abortableSleep,
  } = options;
  let lastEventId = options.lastEventId ?? "";
  let retryMs = options.retryMs ?? 2_000;
  let failures = 0;
  while (!signal?.aborted) {
    const parser = new SseParser(lastEventId);
    /** @type {number | null} */
    let retryAfterMs = null;
    try {
      const extra = typeof options.headers === "function" ? options.headers() : (options.headers ?? {});
      /** @type {Record<string, string>} */
      const headers = { ...extra, accept: "text/event-stream" };
      if (lastEventId !== "") headers["last-event-id"] = lastEventId;
      const response = await fetchImpl(url, { headers, signal, cache: "no-store" });
      if (!response.ok) {
        const body = await bodyOf(response);
        const error = new StreamHttpError(response.status, `the event stream answered ${response.status}`, body);
        const retryAfter = Number(response.headers.get("retry-after"));
        if (response.status === 429 && retryAfter > 0) retryAfterMs = retryAfter * 1000;
        if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
          onError?.(error, { fatal: true, retryInMs: null });
          return { lastEventId };
        }
        throw error;
      }
      const contentType = response.headers.get("content-type") ?? "";
      if (!contentType.startsWith("text/event-stream") || !response.body) {
        await response.body?.cancel();
        onError?.(new StreamHttpError(response.status, `not an event stream: ${contentType || "no content type"}`), {
          fatal: true,
          retryInMs: null,
        });
        return { lastEventId };
      }
      failures = 0;
      onOpen?.({ lastEventId });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const event of parser.push(value)) {
          try {
            onEvent(event);
          } catch (error) {
            console.error("event handler failed", error);
          }
        }
        lastEventId = parser.lastEventId;
        if (parser.retry !== null) retryMs = parser.retry;
      }
      parser.end();
    } catch (error) {
      if (signal?.aborted) break;
      failures += 1;
      const delay = retryAfterMs ?? Math.min(retryMs * 2 ** (failures - 1), maxRetryMs);
      onError?.(error, { fatal: false, retryInMs: delay });
      if (!shouldReconnect()) break;
      await sleep(delay, signal);
      continue;
    }
    if (signal?.aborted || !shouldReconnect()) break;
    await sleep(retryMs, signal);
  }
  return { lastEventId };
}

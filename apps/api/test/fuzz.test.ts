import { Agent, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

/**
 * Issue 13, part 4: arbitrary requests to every route of /openapi.json (plus the unlisted ones),
 * over real HTTP to a real API on PostgreSQL and Redis. Whatever comes in — NUL, lone
 * surrogates, invalid percent-encoding, huge strings, odd numbers, deep nesting, broken JSON
 * and multipart — the API answers no 5xx, and every 4xx is problem+json with its own status.
 * Budget: TRAINYARD_FUZZ_SECONDS (default 40) or TRAINYARD_FUZZ_RUNS requests, whichever ends first;
 * TRAINYARD_FUZZ_SEED replays a run.
 */
const SECONDS = Number(process.env.TRAINYARD_FUZZ_SECONDS ?? 40);
const RUNS = Number(process.env.TRAINYARD_FUZZ_RUNS ?? 4_000);
const SEED = process.env.TRAINYARD_FUZZ_SEED === undefined ? undefined : Number(process.env.TRAINYARD_FUZZ_SEED);

interface Operation {
  method: string;
  path: string;
  query: string[];
  headers: string[];
  json: boolean;
}

interface FuzzRequest {
  /** The operation it exercises, as the document names it. */
  operation: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

let api: TestApi;
let port: number;
const operations: Operation[] = [];
let jobId: string;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

beforeAll(async () => {
  api = await startTestApi({
    TRAINYARD_RATE_LIMIT_PER_MINUTE: "1000000",
    TRAINYARD_MAX_QUEUED_JOBS_PER_TENANT: "0",
    TRAINYARD_WEBHOOK_INTERVAL_MS: "0",
  });
  await api.app.listen({ port: 0, host: "127.0.0.1" });
  port = (api.app.server.address() as AddressInfo).port;
  const spec = (await api.app.inject({ url: "/openapi.json" })).json() as {
    paths: Record<string, Record<string, { parameters?: { in: string; name: string }[]; requestBody?: { content: object } }>>;
  };
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const parameters = operation.parameters ?? [];
      operations.push({
        method: method.toUpperCase(),
        path,
        query: parameters.filter((p) => p.in === "query").map((p) => p.name),
        headers: parameters.filter((p) => p.in === "header").map((p) => p.name),
        json: Boolean(operation.requestBody && "application/json" in operation.requestBody.content),
      });
    }
  }
  // Routes hidden from the document answer arbitrary input too.
  for (const path of ["/healthz", "/readyz", "/metrics", "/openapi.json", "/dashboard/{file}", "/v1/{file}", "/{file}"])
    operations.push({ method: "GET", path, query: [], headers: [], json: false });
  jobId = (
    await api.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: auth(api.keyA),
      payload: { architecture: "lenet", dataset: { name: "synthetic-shapes" } },
    })
  ).json().id;
}, 120_000);

afterAll(async () => {
  agent.destroy();
  await api?.close();
});

/** Strings where bugs hide: NUL, lone and paired surrogates, control and format characters, long and huge ones. */
const nastyString = fc.oneof(
  { weight: 3, arbitrary: fc.string16bits({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.fullUnicodeString({ maxLength: 40 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "",
      "\u0000",
      "a\u0000b",
      "\ud800",
      "\udfff",
      "x\ud83d",
      "\ud83d\ude00",
      "\u202e",
      "\ufeff",
      "../../etc/passwd",
      "%00",
      "null",
      "-1",
      "1e309",
      "9223372036854775808",
      "lenet",
      "synthetic-shapes",
      "best",
      "csv",
      "true",
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 200_000 }).map((n) => "a".repeat(n)) },
);

/** encodeURIComponent refuses lone surrogates: they are sent as the raw bytes below instead. */
const wellFormed = (text: string) => text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");

/** Path and query text as bytes on the wire: valid encodings of nasty strings, and invalid or overlong percent-encodings. */
const urlComponent = fc.oneof(
  { weight: 4, arbitrary: nastyString.map((text) => encodeURIComponent(wellFormed(text))) },
  { weight: 2, arbitrary: fc.constantFrom("%00", "%ED%A0%80", "%FF", "%C0%80", "%", "%zz", "%E2%82", "..", "%2e%2e", "a%2Fb") },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 })
      .map((bytes) => bytes.map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")),
  },
);

const realId = fc.constantFrom("JOB", "synthetic-shapes", "lenet", "alexnet", "model.json");

const number = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, 1, -1, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, -1e308, 5e-324, 0.5, 1_000_000_000),
);

/** Arbitrary JSON values, nested up to 40 deep (past the API's limit of 32). */
const jsonValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    nastyString,
    number,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(nastyString, tie("value"), { maxKeys: 4 }),
  ),
})).value;

/** Nesting far past the limit: a marker that `serialize` turns into that many brackets (JSON.stringify would overflow the stack). */
const DEEP = "\u0001deep";
const deepJson = fc.integer({ min: 30, max: 50_000 }).map((depth) => ({ [DEEP]: depth }) as unknown);
const serialize = (value: unknown) =>
  (JSON.stringify(value) ?? "null").replace(
    /\{"\\u0001deep":(\d+)\}/g,
    (_, depth: string) => `${"[".repeat(Number(depth))}${"]".repeat(Number(depth))}`,
  );

const validJob = {
  architecture: "lenet",
  dataset: { name: "synthetic-shapes" },
  inputShape: [28, 28, 1],
  training: {
    epochs: 1,
    batchSize: 32,
    optimizer: { type: "adam", learningRate: 0.01 },
    lrSchedule: { type: "cosine", warmupEpochs: 1 },
    earlyStopping: { metric: "valLoss", patience: 2 },
    maxTrainSamples: 100,
    seed: 1,
  },
  augmentation: { horizontalFlip: true, colorJitter: { brightness: 0.1 }, normalize: { mean: [0.5], std: [0.5] } },
  fineTune: { fromJobId: "JOB", checkpoint: "best", freeze: 2 },
  priority: 5,
  tags: ["a"],
  webhook: { url: "https://93.184.215.14/hook", events: ["status"], secret: "0123456789abcdef" },
};

/** A valid job with one field (at any depth) replaced, removed or given an unknown sibling. */
const mutatedJob = fc
  .tuple(fc.nat(), fc.oneof(jsonValue, deepJson, fc.constant(undefined)), fc.boolean())
  .map(([pick, replacement, sibling]) => {
    const job = structuredClone(validJob) as Record<string, unknown>;
    const paths: (string | number)[][] = [];
    const walk = (value: unknown, path: (string | number)[]) => {
      if (path.length > 0) paths.push(path);
      if (value && typeof value === "object")
        for (const [key, child] of Object.entries(value)) walk(child, [...path, Array.isArray(value) ? Number(key) : key]);
    };
    walk(job, []);
    const path = paths[pick % paths.length]!;
    let parent = job as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
    const last = path.at(-1)!;
    if (sibling && !Array.isArray(parent)) parent[`${String(last)}\u0000x`] = replacement;
    else parent[last] = replacement;
    return job;
  });

const jsonBody = fc.oneof(
  { weight: 4, arbitrary: mutatedJob.map(serialize) },
  { weight: 2, arbitrary: jsonValue.map(serialize) },
  { weight: 1, arbitrary: deepJson.map(serialize) },
  { weight: 1, arbitrary: fc.string16bits({ maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("", "{", '{"a":', "[1,2", "\u0000", '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}'),
  },
);

const boundary = "fuzzboundary";
const multipartBody = fc
  .tuple(
    nastyString,
    fc.constantFrom("a.zip", "a.tar.gz", "a.txt", "", "\u0000.zip"),
    fc.uint8Array({ maxLength: 2_000 }),
    fc.nat(2_000),
    fc.boolean(),
  )
  .map(([name, filename, bytes, cut, withBoundary]) => {
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="name"\r\n\r\n${name}\r\n`),
      Buffer.from(
        `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${filename}"\r\ncontent-type: application/zip\r\n\r\n`,
      ),
      Buffer.from(bytes),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    return {
      contentType: withBoundary ? `multipart/form-data; boundary=${boundary}` : "multipart/form-data",
      body: cut % 3 === 0 ? body.subarray(0, cut % body.length) : body,
    };
  });

const headerValue = fc.stringOf(
  fc.char().filter((c) => c >= " " && c <= "~"),
  { maxLength: 64 },
);

const authHeader = fc.oneof(
  { weight: 8, arbitrary: fc.constant("A") },
  { weight: 1, arbitrary: fc.constant("none") },
  { weight: 1, arbitrary: headerValue.map((value) => `Bearer ${value}`) },
);

function operationRequest(operation: Operation): fc.Arbitrary<FuzzRequest> {
  const segments = operation.path.match(/\{[^}]+\}/g) ?? [];
  return fc
    .record({
      params: fc.array(fc.oneof({ weight: 1, arbitrary: realId }, { weight: 3, arbitrary: urlComponent }), {
        minLength: segments.length,
        maxLength: segments.length,
      }),
      query: fc.array(
        fc.tuple(
          fc.oneof(
            { weight: 3, arbitrary: fc.constantFrom(...(operation.query.length ? operation.query : ["x"])) },
            { weight: 1, arbitrary: urlComponent },
          ),
          fc.oneof(
            urlComponent,
            number.map(String),
            fc.constantFrom(
              "true",
              "json",
              "csv",
              "best",
              "last",
              "queued",
              "224,224,3",
              "0,0,0",
              "100000,100000,1",
              "1024,1024,1",
              "100000",
            ),
          ),
        ),
        { maxLength: 4 },
      ),
      authorization: authHeader,
      lastEventId: fc.option(headerValue, { nil: undefined }),
      idempotencyKey: fc.option(headerValue, { nil: undefined }),
      json: jsonBody,
      multipart: multipartBody,
      contentType: fc.constantFrom(
        "application/json",
        "application/json",
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin1",
      ),
    })
    .map(({ params, query, authorization, lastEventId, idempotencyKey, json, multipart, contentType }) => {
      let path = operation.path;
      for (const [index, segment] of segments.entries()) {
        const value = params[index] === "JOB" ? jobId : params[index]!;
        path = path.replace(segment, value);
      }
      if (query.length > 0) path += `?${query.map(([name, value]) => `${name}=${value}`).join("&")}`;
      const headers: Record<string, string> = {};
      if (authorization === "A") Object.assign(headers, auth(api.keyA));
      else if (authorization !== "none") headers.authorization = authorization;
      if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
      if (idempotencyKey !== undefined) headers["idempotency-key"] = idempotencyKey;
      let body: string | Buffer | undefined;
      if (operation.method === "POST" && operation.path === "/v1/datasets") {
        headers["content-type"] = multipart.contentType;
        body = multipart.body;
      } else if (operation.json) {
        headers["content-type"] = contentType;
        body = json.replaceAll("JOB", jobId);
      }
      return { operation: `${operation.method} ${operation.path}`, method: operation.method, path, headers, body };
    });
}

interface Answer {
  status: number;
  type: string;
  body: string;
}

const timings = new Map<string, { count: number; ms: number }>();

async function send(request: FuzzRequest): Promise<Answer> {
  const startedAt = performance.now();
  const answer = await sendOnce(request);
  const timing = timings.get(request.operation) ?? { count: 0, ms: 0 };
  timing.count += 1;
  timing.ms += performance.now() - startedAt;
  timings.set(request.operation, timing);
  return answer;
}

function sendOnce({ method, path, headers, body }: FuzzRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: "127.0.0.1", port, method, path, headers, agent }, (response) => {
      const type = String(response.headers["content-type"] ?? "");
      const status = response.statusCode ?? 0;
      if (type.startsWith("text/event-stream") || type.startsWith("application/zip") || type.startsWith("application/octet-stream")) {
        // A live stream or a download: its status and type are what is checked.
        response.destroy();
        resolve({ status, type, body: "" });
        return;
      }
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status, type, body: Buffer.concat(chunks).toString("utf8") }));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(body);
  });
}

function checkAnswer(request: FuzzRequest, answer: Answer) {
  const where = `${request.method} ${request.path.slice(0, 300)} → ${answer.status} ${answer.body.slice(0, 300)}`;
  expect(answer.status, where).toBeGreaterThanOrEqual(200);
  expect(answer.status, where).toBeLessThan(500);
  if (answer.status >= 400) {
    expect(answer.type, where).toContain("application/problem+json");
    const problem = JSON.parse(answer.body) as { status: number; title: string; type: string };
    expect(problem.status, where).toBe(answer.status);
    expect(typeof problem.title, where).toBe("string");
  }
}

describe("fuzzing every route", () => {
  it(
    "answers arbitrary requests without a 5xx, every 4xx as problem+json",
    async () => {
      // A few at once, as clients send them (and so that both cores work).
      const requests = fc.array(fc.oneof(...operations.map(operationRequest)), { minLength: 1, maxLength: 4 });
      const startedAt = Date.now();
      let sent = 0;
      await fc.assert(
        fc.asyncProperty(requests, async (batch) => {
          sent += batch.length;
          const answers = await Promise.all(batch.map(send));
          for (const [index, answer] of answers.entries()) checkAnswer(batch[index]!, answer);
        }),
        { numRuns: RUNS, interruptAfterTimeLimit: SECONDS * 1000, markInterruptAsFailure: false, seed: SEED, endOnFailure: true },
      );
      const seconds = (Date.now() - startedAt) / 1000;
      console.info(`fuzz: ${sent} requests over ${operations.length} operations in ${seconds.toFixed(1)} s, none answered 5xx`);
      expect(sent).toBeGreaterThan(100);
      const slowest = [...timings].sort(([, a], [, b]) => b.ms / b.count - a.ms / a.count).slice(0, 4);
      console.info(`slowest: ${slowest.map(([operation, t]) => `${operation} ${(t.ms / t.count).toFixed(0)} ms × ${t.count}`).join(", ")}`);
      const health = await send({ operation: "health", method: "GET", path: "/healthz", headers: {} });
      expect(health.status).toBe(200);
    },
    (SECONDS + 60) * 1000,
  );
});

import { readdir } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

/** Issue 13, "500s for bad input": each request an outside attack sent, now a 400 problem+json naming the field. */
let api: TestApi;
let port: number;

beforeAll(async () => {
  api = await startTestApi({ TRAINYARD_RATE_LIMIT_PER_MINUTE: "100000" });
  await api.app.listen({ port: 0, host: "127.0.0.1" });
  port = (api.app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await api?.close();
});

const lenet = { architecture: "lenet", dataset: { name: "synthetic-shapes" } };

function expectProblem(response: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }, status = 400) {
  expect(response.headers["content-type"]).toContain("application/problem+json");
  expect(response.statusCode).toBe(status);
  return response.json() as { status: number; errors: { path: string; message: string }[] };
}

function expectField(response: Parameters<typeof expectProblem>[0], path: string) {
  const body = expectProblem(response);
  expect(body.errors.map((error) => error.path)).toContain(path);
}

/** Sends raw bytes over a socket and answers the status line, headers and body as text. */
function rawRequest(text: string | Buffer, endAfterWrite = false): Promise<{ statusCode: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let data = "";
    socket.on("data", (chunk) => (data += chunk.toString("latin1")));
    socket.on("error", reject);
    socket.on("close", () => {
      const [head = "", body = ""] = data.split("\r\n\r\n");
      resolve({ statusCode: Number(head.split(" ")[1]), head: head.toLowerCase(), body });
    });
    socket.write(text);
    if (endAfterWrite) socket.end();
    setTimeout(() => socket.destroy(), 3_000).unref();
  });
}

describe("NUL and lone surrogates in strings that reach PostgreSQL", () => {
  it.each([
    ["GET", "/v1/jobs/abc%00def"],
    ["POST", "/v1/jobs/abc%00def/cancel"],
    ["GET", "/v1/jobs/abc%00def/metrics"],
    ["GET", "/v1/jobs/abc%00def/events"],
    ["GET", "/v1/jobs/abc%00def/model"],
    ["GET", "/v1/jobs/abc%00def/model/model.json"],
    ["GET", "/v1/jobs/abc%00def/webhook-deliveries"],
    ["GET", "/v1/datasets/abc%00def"],
    ["DELETE", "/v1/datasets/abc%00def"],
  ] as const)("%s %s answers 400 naming id", async (method, url) => {
    expectField(await api.app.inject({ method, url, headers: auth(api.keyA) }), "id");
  });

  it("?tag=%00 answers 400 naming tag", async () => {
    expectField(await api.app.inject({ url: "/v1/jobs?tag=%00", headers: auth(api.keyA) }), "tag");
    const surrogate = await api.app.inject({ url: "/v1/jobs?tag=%ED%A0%80", headers: auth(api.keyA) });
    expect(surrogate.statusCode).toBeLessThan(500);
    expect(surrogate.headers["content-type"]).toContain(surrogate.statusCode === 200 ? "application/json" : "application/problem+json");
  });

  it("a lone surrogate percent-encoded in a path answers 400 problem+json", async () => {
    expectProblem(await api.app.inject({ url: "/v1/jobs/%ED%A0%80", headers: auth(api.keyA) }));
    expectProblem(await api.app.inject({ url: "/v1/datasets/%ED%A0", headers: auth(api.keyA) }));
  });

  it("a cursor whose id holds a NUL answers 400 naming cursor", async () => {
    const cursor = Buffer.from(JSON.stringify(["2026-01-01T00:00:00.000Z", "job_\u0000"])).toString("base64url");
    expectField(await api.app.inject({ url: `/v1/jobs?cursor=${cursor}`, headers: auth(api.keyA) }), "cursor");
    const farPast = Buffer.from(JSON.stringify(["-271821-04-20T00:00:00.000Z", "job_x"])).toString("base64url");
    expectField(await api.app.inject({ url: `/v1/jobs?cursor=${farPast}`, headers: auth(api.keyA) }), "cursor");
  });

  const postJob = (payload: string, query = "") =>
    api.app.inject({
      method: "POST",
      url: `/v1/jobs${query}`,
      headers: { ...auth(api.keyA), "content-type": "application/json" },
      payload,
    });

  it.each([
    ["dataset.id", `{"architecture":"lenet","dataset":{"id":"ds_\\u0000"}}`, ""],
    ["dataset.id", `{"architecture":"lenet","dataset":{"id":"ds_\\ud800"}}`, ""],
    ["fineTune.fromJobId", `{"architecture":"lenet","dataset":{"name":"synthetic-shapes"},"fineTune":{"fromJobId":"job_\\u0000"}}`, ""],
    [
      "fineTune.fromJobId",
      `{"architecture":"lenet","dataset":{"name":"synthetic-shapes"},"fineTune":{"fromJobId":"job_\\u0000"}}`,
      "?dryRun=true",
    ],
    ["tags.0", `{"architecture":"lenet","dataset":{"name":"synthetic-shapes"},"tags":["\\ud800"]}`, ""],
    ["tags.0", `{"architecture":"lenet","dataset":{"name":"synthetic-shapes"},"tags":["a\\u0000b"]}`, ""],
    [
      "webhook.secret",
      `{"architecture":"lenet","dataset":{"name":"synthetic-shapes"},"webhook":{"url":"https://example.org/h","secret":"0123456789abcdef\\u0000"}}`,
      "",
    ],
    ["architectureOptions.a\\0", `{"architecture":"lenet","dataset":{"name":"synthetic-shapes"},"architectureOptions":{"a\\u0000":1}}`, ""],
  ])("POST /v1/jobs: a NUL or lone surrogate in %s answers 400 naming it", async (path, payload, query) => {
    expectField(await postJob(payload, query), path);
  });

  it("refuses nesting deeper than any part of the API uses, without a stack overflow", async () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const body = expectProblem(
      await postJob(`{"architecture":"lenet","dataset":{"name":"synthetic-shapes"},"architectureOptions":{"x":${deep}}}`),
    );
    expect(body.errors[0]?.message).toMatch(/nested/);
  });

  it("a data set name with a NUL answers 400 naming name and leaves no file on disk", async () => {
    const boundary = "----trainyard";
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.zip"\r\ncontent-type: application/zip\r\n\r\n`,
      ),
      Buffer.alloc(64 * 1024, 1),
      Buffer.from(`\r\n--${boundary}\r\ncontent-disposition: form-data; name="name"\r\n\r\nbad\u0000name\r\n--${boundary}--\r\n`),
    ]);
    const response = await api.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...auth(api.keyA), "content-type": `multipart/form-data; boundary=${boundary}` },
      payload: body,
    });
    expectField(response, "name");
    const left = await readdir(api.dataDir, { recursive: true, withFileTypes: true });
    expect(left.filter((entry) => entry.isFile()).map((entry) => entry.name)).toEqual([]);
    expect(await api.db.dataset.count()).toBe(0);
  });
});

describe("cursors, multipart and upper bounds", () => {
  it("webhook-deliveries?cursor=OTk5OTk5OTk5OTk5OTk5OTk5OQ (past bigint) answers 400 naming cursor", async () => {
    const job = await api.app.inject({ method: "POST", url: "/v1/jobs", headers: auth(api.keyA), payload: lenet });
    expect(job.statusCode).toBe(202);
    const response = await api.app.inject({
      url: `/v1/jobs/${job.json().id}/webhook-deliveries?cursor=OTk5OTk5OTk5OTk5OTk5OTk5OQ`,
      headers: auth(api.keyA),
    });
    expectField(response, "cursor");
  });

  it("a truncated multipart body answers 400 problem+json", async () => {
    const boundary = "----trainyard";
    const response = await api.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...auth(api.keyA), "content-type": `multipart/form-data; boundary=${boundary}` },
      payload: `--${boundary}\r\ncontent-disposition: form-data; name="name"\r\n\r\nshapes\r\n--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.zip"\r\n\r\nPK`,
    });
    expectProblem(response);
    const left = await readdir(api.dataDir, { recursive: true, withFileTypes: true });
    expect(left.filter((entry) => entry.isFile())).toEqual([]);
  });

  it("multipart/form-data without a boundary answers 400 problem+json", async () => {
    const response = await api.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...auth(api.keyA), "content-type": "multipart/form-data" },
      payload: "name=x",
    });
    expectProblem(response);
  });

  it.each([
    ["training.lrSchedule.warmupEpochs", { type: "cosine", warmupEpochs: 1e9 }],
    ["training.lrSchedule.stepEpochs", { type: "step", stepEpochs: 1e9 }],
  ])("%s has an upper bound", async (path, lrSchedule) => {
    expectField(
      await api.app.inject({ method: "POST", url: "/v1/jobs", headers: auth(api.keyA), payload: { ...lenet, training: { lrSchedule } } }),
      path,
    );
  });

  it("fineTune.freeze has an upper bound", async () => {
    const payload = { ...lenet, fineTune: { fromJobId: "job_x", freeze: 1e12 } };
    expectField(await api.app.inject({ method: "POST", url: "/v1/jobs?dryRun=true", headers: auth(api.keyA), payload }), "fineTune.freeze");
  });
});

describe("errors Node raises before Fastify routes a request", () => {
  it("a huge header answers 431 problem+json", async () => {
    const response = await rawRequest(`GET /v1/jobs HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(40_000)}\r\n\r\n`);
    expect(response.statusCode).toBe(431);
    expect(response.head).toContain("content-type: application/problem+json");
    expect(JSON.parse(response.body)).toMatchObject({ status: 431 });
  });

  it("a bad header answers 400 problem+json", async () => {
    const response = await rawRequest(`GET /v1/jobs HTTP/1.1\r\nhost: x\r\nbad header: \x01\r\n\r\n`);
    expect(response.statusCode).toBe(400);
    expect(response.head).toContain("content-type: application/problem+json");
    expect(JSON.parse(response.body)).toMatchObject({ status: 400 });
  });

  it("a long id answers 414 problem+json", async () => {
    const response = await new Promise<{ statusCode: number; type: string; body: string }>((resolve, reject) => {
      const request = http.get({ port, host: "127.0.0.1", path: `/v1/jobs/${"a".repeat(5_000)}`, headers: auth(api.keyA) }, (res) => {
        let body = "";
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => resolve({ statusCode: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
      });
      request.on("error", reject);
    });
    expect(response.statusCode).toBe(414);
    expect(response.type).toContain("application/problem+json");
    expect(JSON.parse(response.body)).toMatchObject({ status: 414 });
  });
});

import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, type Db } from "@trainyard/db";
import { buildServer, createApiKey, loadApiConfig } from "../src/index.ts";
import { redactUrl } from "../src/logRedaction.ts";
import { createTestDatabase, TEST_REDIS_URL, uniqueQueuePrefix } from "../../../tests/helpers/database.ts";
import { deleteQueueKeys } from "../../../tests/helpers/redis.ts";

/** Issue 13, "Leaks": `?access_token=<key>` (refused, rightly) was written verbatim into the request log. */
let app: FastifyInstance;
let db: Db;
let drop: () => Promise<void>;
let queuePrefix: string;
let key: string;
const lines: string[] = [];

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  queuePrefix = uniqueQueuePrefix();
  app = await buildServer(
    loadApiConfig({ DATABASE_URL: database.url, REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: "info", TRAINYARD_QUEUE_PREFIX: queuePrefix }),
    { logStream: { write: (line: string) => void lines.push(line) } },
  );
  db = createDb(database.url);
  key = (await createApiKey(db, "tenant-a")).key;
  await app.listen({ port: 0, host: "127.0.0.1" });
});

afterAll(async () => {
  await app?.close();
  await db?.$disconnect();
  await deleteQueueKeys(queuePrefix);
  await drop?.();
});

function rawGet(target: string): Promise<void> {
  const { port } = app.server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.end(`GET ${target} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`));
    socket.on("data", () => undefined);
    socket.on("error", reject);
    socket.on("close", () => resolve());
  });
}

describe("the request log", () => {
  it("does not write ?access_token=<key> (or other secret parameters) verbatim", async () => {
    const response = await app.inject({ url: `/v1/jobs?access_token=${key}` });
    expect(response.statusCode).toBe(401);
    await app.inject({ url: `/v1/jobs?status=queued&api_key=${key}&token=${key}&x-amz-signature=${key}` });
    const log = lines.join("");
    expect(log).toContain("access_token=[REDACTED]");
    expect(log).toContain("status=queued");
    expect(log).not.toContain(key);
    expect(log).not.toContain(key.slice(3));
  });

  it("does not write credentials of an absolute-form request target or a URL in the query", async () => {
    await rawGet("http://operator:hunter2-secret@127.0.0.1/v1/jobs");
    await app.inject({ url: `/v1/jobs?next=${encodeURIComponent("https://bob:s3cr3t-pw@example.org/x")}` });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const log = lines.join("");
    expect(log).toContain("[REDACTED]@127.0.0.1/v1/jobs");
    expect(log).not.toContain("hunter2-secret");
    expect(log).not.toContain("s3cr3t-pw");
  });

  it.each([
    ["/v1/jobs?access_token=ty_abc", "/v1/jobs?access_token=[REDACTED]"],
    ["/v1/jobs?limit=5&cursor=abc", "/v1/jobs?limit=5&cursor=abc"],
    ["/v1/jobs?Authorization=Bearer%20x&tag=a", "/v1/jobs?Authorization=[REDACTED]&tag=a"],
    ["http://u:p@h/x?y=1", "http://[REDACTED]@h/x?y=1"],
    ["/v1/jobs?%ZZ=1&password=x", "/v1/jobs?%ZZ=1&password=[REDACTED]"],
  ])("redactUrl(%s) is %s", (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});

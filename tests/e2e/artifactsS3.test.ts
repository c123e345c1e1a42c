import { createHash } from "node:crypto";
import { open, readdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "@trainyard/api";
import { createDb, type Db } from "@trainyard/db";
import { createTestDatabase, TEST_REDIS_URL, uniqueQueuePrefix } from "../helpers/database.ts";
import { freePort, startTrainyard, waitFor, type ServiceProcess } from "../helpers/processes.ts";
import { deleteQueueKeys } from "../helpers/redis.ts";
import { startS3Server, type S3Server } from "../helpers/s3.ts";

/**
 * A short real job with TRAINYARD_ARTIFACTS_URL=s3://… against s3rver: the worker writes its
 * checkpoints as objects, the API serves them back byte for byte, and a corrupted object makes
 * the download fail instead of answering a complete 200.
 */
const EPOCHS = 3;
let s3: S3Server;
let db: Db;
let baseUrl: string;
let apiKey: string;
let processes: ServiceProcess[] = [];
let queuePrefix: string;
let dropDatabase: () => Promise<void>;

// Its own processes rather than startStack: on a busy 2-core machine the API alone took 47 s to
// answer /healthz, and startStack allows 60 s with a worker starting beside it.
beforeAll(async () => {
  s3 = await startS3Server();
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  db = createDb(database.url);
  apiKey = (await createApiKey(db, "artifacts-s3")).key;
  queuePrefix = uniqueQueuePrefix();
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const env = {
    ...s3.env("e2e"),
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    PORT: String(port),
    TRAINYARD_QUEUE_PREFIX: queuePrefix,
    LOG_LEVEL: "warn",
  };
  processes = [startTrainyard("api", env), startTrainyard("worker", env)];
  await waitFor("the API to be ready", () => fetch(`${baseUrl}/healthz`).then((r) => r.ok), 180_000).catch((error: Error) => {
    throw new Error(`${error.message}\n${logs()}`);
  });
}, 240_000);

afterAll(async () => {
  await Promise.all(processes.map((process) => process.stop()));
  await deleteQueueKeys(queuePrefix).catch(() => undefined);
  await db?.$disconnect();
  await dropDatabase?.();
  await s3?.stop();
});

const logs = () => processes.map((process) => process.output()).join("\n---\n");
const headers = () => ({ authorization: `Bearer ${apiKey}` });

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

describe("artifacts in an S3 bucket", () => {
  it("trains into the bucket, keeps best and last only, and downloads the model through the API", async () => {
    const submitted = await fetch(`${baseUrl}/v1/jobs`, {
      method: "POST",
      headers: { ...headers(), "content-type": "application/json" },
      body: JSON.stringify({
        architecture: "lenet",
        dataset: { name: "fashion-mnist" },
        training: { epochs: EPOCHS, batchSize: 32, maxTrainSamples: 300, seed: 3 },
      }),
    });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    const job = await waitFor(
      "the job to finish",
      async () => {
        const current = (await (await fetch(`${baseUrl}/v1/jobs/${id}`, { headers: headers() })).json()) as Record<string, any>;
        return ["succeeded", "failed", "cancelled"].includes(current.status) ? current : null;
      },
      300_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${logs()}`);
    });
    expect(job.status, JSON.stringify(job.error)).toBe("succeeded");

    const artifacts = await db.artifact.findMany({ where: { jobId: id, kind: { in: ["best", "last", "checkpoint"] } } });
    expect(artifacts.map((artifact) => `${artifact.kind}/${artifact.name}`).sort()).toEqual(
      ["best/model.json", "best/weights.bin", "checkpoint/optimizer.bin", "last/model.json", "last/weights.bin"].sort(),
    );
    for (const artifact of artifacts) {
      expect(artifact.store).toBe("s3");
      expect(artifact.key).toBe(`e2e/${artifact.id}`);
      // No bytes of it in PostgreSQL, all of them in the bucket.
      expect(await db.artifactChunk.count({ where: { artifactId: artifact.id } })).toBe(0);
      expect(sha256(await readFile(s3.objectFile(artifact.key!)))).toBe(artifact.sha256);
    }
    // Three epochs wrote three `last` models: the replaced ones' objects are gone from the bucket.
    expect(await db.artifactObjectDeletion.count()).toBe(0);
    const objects = (await readdir(dirname(s3.objectFile("e2e/any")))).filter((file) => file.endsWith("._S3rver_object"));
    expect(objects.sort()).toEqual(artifacts.map((artifact) => `${artifact.id}._S3rver_object`).sort());

    const weights = artifacts.find((artifact) => artifact.kind === "best" && artifact.name === "weights.bin")!;
    const download = await fetch(`${baseUrl}/v1/jobs/${id}/model/weights.bin?checkpoint=best`, {
      headers: headers(),
    });
    expect(download.status).toBe(200);
    expect(download.headers.get("content-length")).toBe(String(weights.size));
    const body = Buffer.from(await download.arrayBuffer());
    expect(body.length).toBe(Number(weights.size));
    expect(sha256(body)).toBe(weights.sha256);

    const zip = await fetch(`${baseUrl}/v1/jobs/${id}/model?checkpoint=best`, { headers: headers() });
    expect(zip.status).toBe(200);
    const archive = Buffer.from(await zip.arrayBuffer());
    // The zip ends with its end-of-central-directory record, written only after every entry streamed.
    expect(archive.readUInt32LE(archive.length - 22)).toBe(0x06054b50);

    // One flipped byte in the stored weights: the download does not complete.
    const file = await open(s3.objectFile(weights.key!), "r+");
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, 100);
    byte[0] = byte[0]! ^ 0xff;
    await file.write(byte, 0, 1, 100);
    await file.close();
    const corrupt = await fetch(`${baseUrl}/v1/jobs/${id}/model/weights.bin?checkpoint=best`, {
      headers: headers(),
    });
    if (corrupt.status === 200) {
      // Headers were sent before the mismatch was known: the connection is cut short of the body.
      await expect(corrupt.arrayBuffer()).rejects.toThrow();
    } else {
      expect(corrupt.status).toBe(500);
    }
  }, 420_000);
});

import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "@trainyard/api";
import { createDb } from "@trainyard/db";
import { loadBuiltinDataset } from "@trainyard/datasets";
import { initBackend } from "@trainyard/engine";
import { createTestDatabase, TEST_REDIS_URL, uniqueQueuePrefix } from "../helpers/database.ts";
import { freePort, startTrainyard, waitFor, type ServiceProcess } from "../helpers/processes.ts";
import { deleteQueueKeys } from "../helpers/redis.ts";

/**
 * One real job through real processes: `trainyard api` and `trainyard worker`, PostgreSQL,
 * Redis, LeNet on a Fashion-MNIST subset, the model loaded back over HTTP with TF.js.
 */
const EPOCHS = 2;
// The notes' sigmoid LeNet barely moves in 2 short epochs of SGD; Adam gets it going. Measured
// test accuracy with these settings: 0.65–0.68 over three seeds (chance is 0.10).
const MIN_TEST_ACCURACY = 0.5;

let baseUrl: string;
let apiKey: string;
let api: ServiceProcess;
let worker: ServiceProcess;
let dropDatabase: () => Promise<void>;
let queuePrefix: string;

beforeAll(async () => {
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  queuePrefix = uniqueQueuePrefix();
  const db = createDb(database.url);
  apiKey = (await createApiKey(db, "e2e")).key;
  await db.$disconnect();
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    PORT: String(port),
    TRAINYARD_QUEUE_PREFIX: queuePrefix,
    LOG_LEVEL: "warn",
  };
  api = startTrainyard("api", env);
  // Two data-parallel replicas whatever the machine's core count: the job trains through them.
  worker = startTrainyard("worker", { ...env, TRAINYARD_REPLICAS: "2" });
  await waitFor("the API to be ready", () => fetch(`${baseUrl}/readyz`).then((r) => r.ok), 60_000);
});

afterAll(async () => {
  await Promise.all([api?.stop(), worker?.stop()]);
  await deleteQueueKeys(queuePrefix);
  await dropDatabase?.();
});

const headers = () => ({ authorization: `Bearer ${apiKey}`, "content-type": "application/json" });

describe("the spine: one real LeNet job end to end", () => {
  it("trains, records metrics, and serves a model that reproduces the reported test accuracy", async () => {
    const submitted = await fetch(`${baseUrl}/v1/jobs`, {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({
        architecture: "lenet",
        dataset: { name: "fashion-mnist" },
        training: { epochs: EPOCHS, batchSize: 32, maxTrainSamples: 4000, seed: 7, optimizer: { type: "adam", learningRate: 0.005 } },
        tags: ["e2e"],
      }),
    });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };

    const seenStatuses = new Set<string>();
    const job = await waitFor(
      "the job to finish",
      async () => {
        const current = (await (await fetch(`${baseUrl}/v1/jobs/${id}`, { headers: headers() })).json()) as Record<string, any>;
        seenStatuses.add(current.status);
        return ["succeeded", "failed", "cancelled"].includes(current.status) ? current : null;
      },
      240_000,
      250,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n--- worker output ---\n${worker.output()}\n--- api output ---\n${api.output()}`);
    });
    expect(job.status, JSON.stringify(job.error)).toBe("succeeded");
    expect(seenStatuses.has("running") || seenStatuses.has("queued")).toBe(true);
    expect(job.attempts).toBe(1);
    expect(["wasm", "cpu", "tensorflow"]).toContain(job.backend);
    expect(job.progress).toMatchObject({ epoch: EPOCHS, epochs: EPOCHS, fraction: 1 });
    expect(job.finishedAt).not.toBeNull();

    const metrics = (await (await fetch(`${baseUrl}/v1/jobs/${id}/metrics`, { headers: headers() })).json()) as {
      epochs: Record<string, number>[];
    };
    expect(metrics.epochs.map((row) => row.epoch)).toEqual([1, 2]);
    for (const row of metrics.epochs) {
      expect(row.trainLoss).toBeGreaterThan(0);
      expect(row.valAccuracy).toBeGreaterThan(0);
      expect(row.samplesPerSecond).toBeGreaterThan(0);
    }
    const csv = await (await fetch(`${baseUrl}/v1/jobs/${id}/metrics?format=csv`, { headers: headers() })).text();
    expect(csv.split("\n")[0]).toBe("epoch,trainLoss,trainAccuracy,valLoss,valAccuracy,learningRate,seconds,samplesPerSecond");

    // The event stream replays the whole run and ends after the terminal status.
    const stream = await (await fetch(`${baseUrl}/v1/jobs/${id}/events`, { headers: headers() })).text();
    const events = stream.split("\n\n").filter((block) => block.includes("event: "));
    const ofType = (type: string) => events.filter((block) => block.includes(`event: ${type}\n`));
    expect(ofType("epoch")).toHaveLength(EPOCHS);
    expect(ofType("log").some((block) => block.includes(`${job.backend} backend`))).toBe(true);
    if (job.backend !== "tensorflow") {
      expect(ofType("log").some((block) => block.includes("2 data-parallel replicas (threads); each batch split 16 + 16"))).toBe(true);
    }
    expect(ofType("status").at(-1)).toContain('"succeeded"');

    const zip = await fetch(`${baseUrl}/v1/jobs/${id}/model`, { headers: headers() });
    expect(zip.headers.get("content-type")).toBe("application/zip");
    const zipBytes = Buffer.from(await zip.arrayBuffer());
    expect(zipBytes.subarray(0, 2).toString()).toBe("PK");
    for (const name of ["model.json", "weights.bin", "labels.json", "trainyard.json"])
      expect(zipBytes.includes(Buffer.from(name))).toBe(true);

    await initBackend("auto");
    const model = await tf.loadLayersModel(
      tf.io.http(`${baseUrl}/v1/jobs/${id}/model/model.json`, { requestInit: { headers: { authorization: `Bearer ${apiKey}` } } }),
    );
    const test = loadBuiltinDataset("fashion-mnist").test;
    expect(test.count).toBe(10_000);
    let correct = 0;
    const batch = 1000;
    for (let start = 0; start < test.count; start += batch) {
      const pixels = new Float32Array(test.images.subarray(start * 784, (start + batch) * 784));
      const predicted = tf.tidy(() => (model.predict(tf.tensor4d(pixels, [batch, 28, 28, 1])) as tf.Tensor).argMax(-1));
      const labels = await predicted.data();
      predicted.dispose();
      for (let i = 0; i < batch; i += 1) if (labels[i] === test.labels[start + i]) correct += 1;
    }
    const accuracy = correct / test.count;
    console.info(`e2e: job reported test accuracy ${job.result.testAccuracy}, reloaded model ${accuracy}, backend ${job.backend}`);
    // Raw 0–255 pixels in, class probabilities out: the model carries its own scaling.
    expect(accuracy).toBeCloseTo(job.result.testAccuracy, 3);
    expect(accuracy).toBeGreaterThan(MIN_TEST_ACCURACY);
  });
});

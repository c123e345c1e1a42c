import { expect } from "vitest";
import { putArtifact } from "@trainyard/db";
import { saveCheckpoint } from "../../../worker/src/checkpointStore.ts";
import { auth, type TestApi } from "./testApi.ts";

/** Finished jobs with checkpoints, written as the worker writes them, to register, download and fine-tune from. */
export const lenetJob = { architecture: "lenet", dataset: { name: "synthetic-shapes" }, training: { epochs: 2 } };
export const LABELS = ["circle", "square", "triangle"];

function exported(epoch: number, size: number) {
  const weights = new Uint8Array(size).map((_, i) => (i * 31 + epoch * 7) % 251);
  const modelJson = {
    format: "layers-model",
    modelTopology: { epoch },
    weightsManifest: [{ paths: ["weights.bin"], weights: [{ name: "w", shape: [size / 4], dtype: "float32" }] }],
  };
  return { modelJson, weights };
}

/** One epoch's checkpoint written as the worker writes it (saveCheckpoint), with its metrics row. */
export async function checkpoint(api: TestApi, jobId: string, epoch: number, isBest: boolean, size = 4096) {
  await api.db.$transaction(async (tx) => {
    await saveCheckpoint(
      tx,
      jobId,
      {
        epoch,
        partial: null,
        model: exported(epoch, size),
        optimizer: { specs: [], data: new Uint8Array([epoch]) },
        bestEpoch: epoch,
        bestMetric: 0.5 + epoch / 10,
        epochsWithoutImprovement: 0,
      } as unknown as Parameters<typeof saveCheckpoint>[2],
      isBest,
    );
    await tx.epochMetric.create({
      data: {
        jobId,
        epoch,
        trainLoss: 1 / epoch,
        trainAccuracy: 0.5 + epoch / 10,
        valLoss: 1.1 / epoch,
        valAccuracy: 0.4 + epoch / 10,
        learningRate: 0.1,
        seconds: 1,
        samplesPerSecond: 100,
      },
    });
  });
}

/** A submitted job that then trained two epochs (the first the best) and succeeded. */
export async function trainedJob(api: TestApi, key = api.keyA, size = 4096): Promise<string> {
  const created = await api.app.inject({ method: "POST", url: "/v1/jobs", headers: auth(key), payload: lenetJob });
  expect(created.statusCode).toBe(202);
  const jobId = created.json().id as string;
  await api.db.$transaction((tx) =>
    putArtifact(tx, {
      jobId,
      kind: "meta",
      name: "labels.json",
      contentType: "application/json",
      data: Buffer.from(JSON.stringify(LABELS)),
    }),
  );
  await checkpoint(api, jobId, 1, true, size);
  await checkpoint(api, jobId, 2, false, size);
  await api.db.job.update({
    where: { id: jobId },
    data: { status: "succeeded", result: { testLoss: 0.4, testAccuracy: 0.8, bestEpoch: 1 }, finishedAt: new Date() },
  });
  return jobId;
}

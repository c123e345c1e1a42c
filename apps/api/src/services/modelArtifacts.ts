import type { Readable } from "node:stream";
import yazl from "yazl";
import { readArtifact, streamArtifact, type Db, type Job } from "@trainyard/db";
import { conflict, notFound } from "../problems.ts";
import { withoutSecrets } from "./jobView.ts";

export type CheckpointChoice = "best" | "last";

/** Model files of a job's best or last checkpoint, streamed from their chunks. */
export function createModelArtifactService(db: Db) {
  async function artifactsOf(jobId: string, checkpoint: CheckpointChoice) {
    const artifacts = await db.artifact.findMany({ where: { jobId, kind: checkpoint } });
    if (!artifacts.some((artifact) => artifact.name === "model.json")) {
      throw conflict(`the job has no ${checkpoint} checkpoint yet`);
    }
    return artifacts;
  }

  return {
    async file(
      jobId: string,
      checkpoint: CheckpointChoice,
      name: string,
    ): Promise<{ stream: Readable; contentType: string; size: number }> {
      const artifacts = await artifactsOf(jobId, checkpoint);
      const artifact = artifacts.find((candidate) => candidate.name === name);
      if (!artifact) throw notFound(`model file ${name}`);
      return { stream: streamArtifact(db, artifact.id), contentType: artifact.contentType, size: artifact.size };
    },

    /** model.json, weights, labels.json and trainyard.json (spec, metrics, preprocessing) in one zip. */
    async zip(job: Job, checkpoint: CheckpointChoice): Promise<Readable> {
      const artifacts = await artifactsOf(job.id, checkpoint);
      const labels = await db.artifact.findFirst({ where: { jobId: job.id, kind: "meta", name: "labels.json" } });
      const metrics = await db.epochMetric.findMany({ where: { jobId: job.id }, orderBy: { epoch: "asc" } });
      const spec = job.spec as { inputShape: number[]; augmentation: { normalize: unknown } };
      const zip = new yazl.ZipFile();
      for (const artifact of artifacts) {
        zip.addReadStream(streamArtifact(db, artifact.id), artifact.name, { size: artifact.size });
      }
      zip.addBuffer(labels ? await readArtifact(db, labels.id) : Buffer.from("[]"), "labels.json");
      const description = {
        jobId: job.id,
        checkpoint,
        spec: withoutSecrets(job.spec),
        result: job.result,
        metrics: metrics.map(({ jobId: _jobId, createdAt: _createdAt, ...row }) => row),
        preprocessing: {
          input: "raw pixel values 0–255, float32, shaped [batch, ...inputShape]",
          inputShape: spec.inputShape,
          normalizeInsideModel: spec.augmentation.normalize,
          output: "class probabilities in labels.json order",
        },
      };
      zip.addBuffer(Buffer.from(JSON.stringify(description, null, 2)), "trainyard.json");
      zip.end();
      return zip.outputStream as Readable;
    },
  };
}

export type ModelArtifactService = ReturnType<typeof createModelArtifactService>;

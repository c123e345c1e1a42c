import type { Readable } from "node:stream";
import yazl from "yazl";
import {
  collectArtifactGarbage,
  createPostgresArtifactStore,
  openArtifact,
  type Artifact,
  type ArtifactStore,
  type Db,
  type Job,
} from "@trainyard/db";
import { conflict, notFound } from "../problems.ts";
import { withoutSecrets } from "./jobView.ts";
import { createModelRegistry, readJobLabels, type CheckpointChoice, type ResolvedModelVersion } from "./models.ts";

export type { CheckpointChoice } from "./models.ts";

/** What a download is made of, whether it is a job's checkpoint or a registered version's. */
interface ModelFiles {
  artifacts: Artifact[];
  labels: Buffer;
  /** trainyard.json */
  description: Record<string, unknown>;
}

/** size: bytes as a number (exact up to 8 PiB), which is what a content-length header takes. */
type ModelFile = { stream: Readable; contentType: string; size: number };

/**
 * Model files of a job's best or last checkpoint, or of a registered model version, streamed from
 * the store each artifact's row names (PostgreSQL chunks or an S3 object) and checked against its
 * sha256 as they flow. A corrupt or missing file errors the stream: before the first byte that is a
 * 500 problem; after it (the status and headers are sent) the connection is cut before the body is
 * complete, so a client sees a short body (or, for the zip, an archive without its central
 * directory), never a complete-looking 200.
 */
export function createModelArtifactService(db: Db, store: ArtifactStore = createPostgresArtifactStore(db)) {
  async function artifactsOf(jobId: string, checkpoint: CheckpointChoice) {
    const artifacts = await db.artifact.findMany({ where: { jobId, kind: checkpoint } });
    if (!artifacts.some((artifact) => artifact.name === "model.json")) {
      throw conflict(`the job has no ${checkpoint} checkpoint yet`);
    }
    return artifacts;
  }

  function file(artifacts: Artifact[], name: string): ModelFile {
    const artifact = artifacts.find((candidate) => candidate.name === name);
    if (!artifact) throw notFound(`model file ${name}`);
    return { stream: openArtifact(db, artifact), contentType: artifact.contentType, size: Number(artifact.size) };
  }

  /** model.json, weights, labels.json and trainyard.json in one zip: one implementation for jobs and versions. */
  function zip(files: ModelFiles): Readable {
    const archive = new yazl.ZipFile();
    const output = archive.outputStream as Readable;
    // yazl pipes an entry's stream without listening for its errors: a failed file ends the zip here.
    const fail = (error: Error) => output.destroy(error);
    archive.on("error", fail);
    for (const artifact of files.artifacts) {
      const stream = openArtifact(db, artifact);
      stream.on("error", fail);
      archive.addReadStream(stream, artifact.name, { size: Number(artifact.size) });
    }
    archive.addBuffer(files.labels, "labels.json");
    archive.addBuffer(Buffer.from(JSON.stringify(files.description, null, 2)), "trainyard.json");
    archive.end();
    return output;
  }

  function preprocessing(spec: unknown) {
    const { inputShape, augmentation } = (spec ?? {}) as { inputShape?: number[]; augmentation?: { normalize?: unknown } };
    return {
      input: "raw pixel values 0–255, float32, shaped [batch, ...inputShape]",
      inputShape,
      normalizeInsideModel: augmentation?.normalize,
      output: "class probabilities in labels.json order",
    };
  }

  const registry = createModelRegistry(db);

  return {
    registry,

    /**
     * Deletes the objects of the configured store whose artifacts are gone (a deleted job or
     * version, a replaced checkpoint a worker could not clean up); PostgreSQL chunks go by themselves.
     */
    collectGarbage: () => collectArtifactGarbage(db, store),

    async file(jobId: string, checkpoint: CheckpointChoice, name: string): Promise<ModelFile> {
      return file(await artifactsOf(jobId, checkpoint), name);
    },

    /** model.json, weights, labels.json and trainyard.json (spec, metrics, preprocessing) in one zip. */
    async zip(job: Job, checkpoint: CheckpointChoice): Promise<Readable> {
      const artifacts = await artifactsOf(job.id, checkpoint);
      const metrics = await db.epochMetric.findMany({ where: { jobId: job.id }, orderBy: { epoch: "asc" } });
      return zip({
        artifacts,
        labels: (await readJobLabels(db, job.id)) ?? Buffer.from("[]"),
        description: {
          jobId: job.id,
          checkpoint,
          spec: withoutSecrets(job.spec),
          result: job.result,
          metrics: metrics.map(({ jobId: _jobId, createdAt: _createdAt, ...row }) => row),
          preprocessing: preprocessing(job.spec),
        },
      });
    },

    /** One file (model.json or a weight file) of a registered version. */
    versionFile: (version: ResolvedModelVersion, name: string): ModelFile => file(version.artifacts, name),

    /** A registered version as the same zip a job's download is. */
    versionZip(version: ResolvedModelVersion): Readable {
      return zip({
        artifacts: version.artifacts,
        labels: Buffer.from(JSON.stringify(version.labels)),
        description: {
          model: version.name,
          version: version.version,
          jobId: version.sourceJobId,
          checkpoint: version.checkpoint,
          spec: version.spec,
          metrics: version.metrics,
          preprocessing: preprocessing(version.spec ?? { inputShape: version.inputShape }),
        },
      });
    },
  };
}

export type ModelArtifactService = ReturnType<typeof createModelArtifactService>;

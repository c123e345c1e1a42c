import multipart from "@fastify/multipart";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { createPredictor } from "@trainyard/inference";
import { badRequest, payloadTooLarge, problemResponses } from "../../problems.ts";
import {
  jobTarget,
  MAX_PREDICT_INPUTS,
  pixelsFromImages,
  pixelsFromInstances,
  predictWith,
  targetFromArtifacts,
  type ImageUpload,
  type ImageShape,
  type PredictionTarget,
} from "../../services/predictions.ts";
import { resolveVersion } from "../../services/models.ts";
import { jobIdParams } from "../jobs/schemas.ts";

/** One image's bytes at most: far above any photo a classifier takes, and 64 of them fit in memory. */
const MAX_IMAGE_BYTES = 32 * 1024 * 1024;

const topK = z.coerce.number().int().min(1).max(10_000).default(5);
const jobPredictQuery = z.strictObject({ checkpoint: z.enum(["best", "last"]).default("best"), topK });
const versionPredictQuery = z.strictObject({ topK });
const versionParams = z.strictObject({
  name: z.string().min(1),
  ref: z.string().min(1).describe("a version number (`3`) or an alias (`production`)"),
});

const predictionsSchema = z.array(
  z.object({ top: z.array(z.object({ label: z.string(), probability: z.number() })).describe("largest first") }),
);
const jobPredictResponse = z.object({
  predictions: predictionsSchema,
  model: z.object({ jobId: z.string(), checkpoint: z.enum(["best", "last"]) }),
});
const versionPredictResponse = z.object({
  predictions: predictionsSchema,
  model: z.object({ name: z.string(), version: z.number().int() }),
});

const DESCRIPTION =
  "multipart/form-data with one or more `image` files (PNG, JPEG, WebP; resized and converted to the model's input " +
  "shape as in training), or JSON `{ instances: [[h][w][c] raw pixels 0–255] }`; at most 64 a request. The top-k " +
  "labels (labels.json order) with probabilities. Server-Timing gives decode, load (a cache miss), infer and total.";

/** The `image` files of a multipart body, read whole (each at most 32 MiB); the 65th is a 413. */
async function readImages(request: FastifyRequest): Promise<ImageUpload[]> {
  const images: ImageUpload[] = [];
  for await (const part of request.parts()) {
    if (part.type === "field") continue;
    if (part.fieldname !== "image") {
      part.file.resume();
      throw badRequest("unexpected file field", [{ path: part.fieldname, message: "send each image as a field named image" }]);
    }
    if (images.length === MAX_PREDICT_INPUTS) {
      part.file.resume();
      throw payloadTooLarge(`at most ${MAX_PREDICT_INPUTS} images a request`);
    }
    const data = await part.toBuffer();
    if (part.file.truncated) throw payloadTooLarge(`${part.filename || "an image"} is larger than ${MAX_IMAGE_BYTES} bytes`);
    images.push({ field: part.fieldname, filename: part.filename, data });
  }
  if (images.length === 0)
    throw badRequest("send one or more images", [{ path: "image", message: "one or more image files are required" }]);
  return images;
}

const ms = (value: number) => value.toFixed(2);

/**
 * Predictions from a stored model (a job's checkpoint; a registered version where the registry
 * resolves one), in the inference package's worker threads: the event loop only decodes the
 * request (sharp works on libuv's threads) and writes the answer.
 */
const predictions: FastifyPluginAsync = async (app) => {
  // A job's files in one statement on the shared pool, as the job service's hot path does (Prisma's client costs several times the CPU).
  const { config, db, sql } = app.deps;
  const predictor = createPredictor({
    threads: config.TRAINYARD_PREDICT_THREADS,
    cacheBytes: config.TRAINYARD_PREDICT_CACHE_MB * 1024 * 1024,
  });
  // A listening API starts its inference threads at once; an injected one (tests) only when it predicts.
  app.addHook("onListen", async () => predictor.start());
  app.addHook("onClose", async () => predictor.close());
  await app.register(multipart, {
    limits: { fileSize: MAX_IMAGE_BYTES, files: MAX_PREDICT_INPUTS + 1, fields: 20, fieldSize: 64 * 1024, parts: MAX_PREDICT_INPUTS + 21 },
  });

  /** Reads the body, predicts, answers with `model` and a Server-Timing header. */
  async function answer(
    request: FastifyRequest,
    reply: FastifyReply,
    target: PredictionTarget,
    k: number,
    model: Record<string, unknown>,
    started: number,
  ) {
    const decodeStarted = performance.now();
    const pixels = request.isMultipart()
      ? await pixelsFromImages(await readImages(request), target.inputShape)
      : pixelsFromInstances((request.body as { instances?: unknown } | undefined)?.instances, target.inputShape);
    const result = await predictWith(predictor, target, pixels, k, performance.now() - decodeStarted);
    const timing = [
      `decode;dur=${ms(result.timing.decodeMs)}`,
      ...(result.timing.loadMs === null ? [] : [`load;dur=${ms(result.timing.loadMs)}`]),
      `infer;dur=${ms(result.timing.inferMs)}`,
      `total;dur=${ms(performance.now() - started)}`,
    ];
    return reply.header("server-timing", timing.join(", ")).send({ predictions: result.predictions, model });
  }

  app.post(
    "/jobs/:id/predict",
    {
      schema: {
        params: jobIdParams,
        querystring: jobPredictQuery,
        response: { 200: jobPredictResponse, ...problemResponses(400, 401, 404, 409, 413, 429) },
        tags: ["models"],
        description: DESCRIPTION,
      },
    },
    async (request, reply) => {
      const started = performance.now();
      const { id } = request.params as z.infer<typeof jobIdParams>;
      const query = request.query as z.infer<typeof jobPredictQuery>;
      const target = await jobTarget(db, sql, request.tenantId, id, query.checkpoint);
      return answer(request, reply, target, query.topK, { jobId: id, checkpoint: query.checkpoint }, started);
    },
  );

  app.post(
    "/models/:name/versions/:ref/predict",
    {
      schema: {
        params: versionParams,
        querystring: versionPredictQuery,
        response: { 200: versionPredictResponse, ...problemResponses(400, 401, 404, 413, 429) },
        tags: ["models"],
        description: DESCRIPTION,
      },
    },
    async (request, reply) => {
      const started = performance.now();
      const { name, ref } = request.params as z.infer<typeof versionParams>;
      const query = request.query as z.infer<typeof versionPredictQuery>;
      const version = await resolveVersion(db, request.tenantId, name, ref);
      const target = targetFromArtifacts(db, version.artifacts, version.labels, version.inputShape as ImageShape);
      if (!target) throw new Error(`model ${name} version ${version.version} has no model.json`);
      return answer(request, reply, target, query.topK, { name: version.name, version: version.version }, started);
    },
  );
};

export default predictions;

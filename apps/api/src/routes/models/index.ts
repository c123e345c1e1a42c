import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { NO_CONTENT, problemResponses } from "../../problems.ts";
import { modelFileResponse, modelZipResponse } from "../jobs/schemas.ts";
import { ALIAS_MESSAGE, ALIAS_PATTERN, MODEL_NAME_MESSAGE, MODEL_NAME_PATTERN } from "../../services/models.ts";

const modelName = z.string().regex(MODEL_NAME_PATTERN, MODEL_NAME_MESSAGE);
const nameParams = z.strictObject({ name: z.string().min(1) });
const versionNumber = z.coerce.number().int().min(1).max(999_999_999);
const refParams = z.strictObject({
  name: z.string().min(1),
  ref: z.string().min(1).describe("a version number (`3`) or an alias (`production`)"),
});

const registerBody = z.strictObject({
  name: modelName,
  fromJobId: z.string().min(1),
  checkpoint: z.enum(["best", "last"]).default("best"),
  description: z.string().max(2000).nullable().optional(),
});

const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).optional(),
});

export const versionSchema = z.object({
  version: z.number().int(),
  aliases: z.array(z.string()),
  description: z.string().nullable(),
  sourceJobId: z.string().nullable().describe("the job it was registered from; kept after that job is deleted"),
  checkpoint: z.string().nullable().describe("`best` or `last`: which of the job's checkpoints it is"),
  architecture: z.string(),
  architectureOptions: z.record(z.string(), z.unknown()),
  inputShape: z.array(z.number().int()).describe("[height, width, channels]"),
  labels: z.array(z.string()).describe("class names in output order"),
  metrics: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe("the checkpoint's epoch row (epoch, trainLoss, trainAccuracy, valLoss, valAccuracy) and the job's result"),
  createdAt: z.iso.datetime(),
});

const modelSchema = z.object({ name: z.string(), createdAt: z.iso.datetime(), versions: z.array(versionSchema) });

const REGISTER_DESCRIPTION =
  "Registers the job's `best` or `last` checkpoint as the next version of `name` (1, then 2, … per name; numbers are never " +
  "reused). The version shares the job's stored files (no copy) and keeps them when the job or its data set is deleted. " +
  "An unknown job (or another tenant's): 404. A job without that checkpoint: 409.";

const DOWNLOAD_DESCRIPTION =
  "As `GET /v1/jobs/{id}/model`: a zip of `model.json`, the weight files, `labels.json` and `trainyard.json`. " +
  "`{ref}` is a version number or an alias; an unknown one is a 404.";

const models: FastifyPluginAsyncZod = async (app) => {
  const { models: artifacts } = app.deps;
  const registry = artifacts.registry;

  app.post(
    "/models",
    { schema: { body: registerBody, response: { 201: versionSchema }, tags: ["models"], description: REGISTER_DESCRIPTION } },
    async (request, reply) => {
      const { name, version } = await registry.register(request.tenantId, request.body);
      return reply
        .status(201)
        .header("location", `/v1/models/${encodeURIComponent(name)}/versions/${version.version}`)
        .send(version);
    },
  );

  app.get(
    "/models",
    {
      schema: {
        querystring: listQuery,
        response: { 200: z.object({ items: z.array(modelSchema), nextCursor: z.string().nullable() }) },
        tags: ["models"],
        description: "The tenant's registered models, newest first, each with its versions.",
      },
    },
    async (request) => registry.list(request.tenantId, request.query),
  );

  app.get("/models/:name", { schema: { params: nameParams, response: { 200: modelSchema }, tags: ["models"] } }, async (request) =>
    registry.get(request.tenantId, request.params.name),
  );

  app.put(
    "/models/:name/aliases/:alias",
    {
      schema: {
        params: z.strictObject({ name: z.string().min(1), alias: z.string().regex(ALIAS_PATTERN, ALIAS_MESSAGE) }),
        body: z.strictObject({ version: z.number().int().min(1) }),
        response: { 200: versionSchema },
        tags: ["models"],
        description: "Points the alias (e.g. `production`) at a version, moving it from the one it named before. Answers that version.",
      },
    },
    async (request) => registry.setAlias(request.tenantId, request.params.name, request.params.alias, request.body.version),
  );

  app.delete(
    "/models/:name/versions/:version",
    {
      schema: {
        params: z.strictObject({ name: z.string().min(1), version: versionNumber }),
        response: { 204: NO_CONTENT, ...problemResponses(400, 401, 404, 409, 429) },
        tags: ["models"],
        description:
          "Deletes the version and its aliases. Its stored files go only when nothing else (its job, another version) refers to them. " +
          "409 while a queued or running job is to fine-tune from it (`fineTune.fromModel`).",
      },
    },
    async (request, reply) => {
      await registry.deleteVersion(request.tenantId, request.params.name, request.params.version);
      return reply.status(204).send(null);
    },
  );

  app.get(
    "/models/:name/versions/:ref/model",
    {
      schema: {
        params: refParams,
        tags: ["models"],
        description: DOWNLOAD_DESCRIPTION,
        response: { 200: modelZipResponse, ...problemResponses(400, 401, 404, 429) },
      },
    },
    async (request, reply) => {
      const version = await registry.resolveVersion(request.tenantId, request.params.name, request.params.ref);
      return reply
        .type("application/zip")
        .header("content-disposition", `attachment; filename="${version.name}-${version.version}.zip"`)
        .send(artifacts.versionZip(version));
    },
  );

  app.get(
    "/models/:name/versions/:ref/model/:file",
    {
      schema: {
        params: refParams.extend({ file: z.string().min(1) }),
        tags: ["models"],
        description:
          "`model.json` or one of its weight files (TensorFlow.js layers format), so that `tf.loadLayersModel` loads the version from `…/model/model.json`.",
        response: { 200: modelFileResponse, ...problemResponses(400, 401, 404, 429) },
      },
    },
    async (request, reply) => {
      const version = await registry.resolveVersion(request.tenantId, request.params.name, request.params.ref);
      const file = artifacts.versionFile(version, request.params.file);
      return reply.type(file.contentType).header("content-length", file.size).send(file.stream);
    },
  );
};

export default models;

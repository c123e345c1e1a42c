import type { FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import multipart from "../../plugins/external/multipart.ts";
import { badRequest, payloadTooLarge, problemResponses, type FieldError } from "../../problems.ts";
import { MAX_IMPORT_LABELS, type ModelImportInput } from "../../services/modelImport.ts";
import { MODEL_NAME_MESSAGE, MODEL_NAME_PATTERN } from "../../services/models.ts";
import { versionSchema } from "./index.ts";
import { fieldErrorsFromIssues, unstorableFieldErrors } from "../../validation.ts";

const IMPORT_DESCRIPTION =
  "multipart/form-data: `name`, `architecture`, `architectureOptions` (JSON object), `inputShape` (JSON `[h, w, c]` or `h,w,c`), " +
  "`labels` (JSON array of up to 10,000 class names, optional: without it the classes are the file's classifier rows, named `0`, `1`, …), " +
  "`format` (`tfjs` or `torchvision`), `description` (optional) and `file`. `tfjs`: a zip of model.json and its weight files (as " +
  "`GET /v1/jobs/{id}/model` gives; matched by weight name, else by position and shape). `torchvision`: a `.safetensors` state_dict with " +
  'torchvision\'s names, for `architectureOptions.variant: "torchvision"` (resnet18/34/50, vgg11/16 with `batchNorm` for the `_bn` forms, ' +
  "alexnet, mobilenet-v2, efficientnet-b0); the model then includes torchvision's ImageNet normalization and takes raw 0–255 RGB. The file is " +
  "held to the upload limit. Weights that do not fit the built network: 400 naming every missing, extra or wrong-shaped tensor. → 201 with " +
  "the new version (no `sourceJobId`).";

/** A JSON field, or a problem naming it. */
function jsonField(raw: string | undefined, path: string, errors: FieldError[]): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    errors.push({ path, message: "must be JSON" });
    return undefined;
  }
}

const fieldsSchema = z.strictObject({
  name: z.string().regex(MODEL_NAME_PATTERN, MODEL_NAME_MESSAGE),
  architecture: z.string().min(1).max(100),
  architectureOptions: z.record(z.string(), z.unknown()).default({}),
  inputShape: z.tuple([z.number().int().min(1).max(4096), z.number().int().min(1).max(4096), z.number().int().min(1).max(4)]),
  labels: z.array(z.string().min(1).max(200)).min(2).max(MAX_IMPORT_LABELS).optional(),
  format: z.enum(["tfjs", "torchvision"]),
  description: z.string().max(2000).optional(),
});

const KNOWN_FIELDS = new Set(Object.keys(fieldsSchema.shape));

/** Reads the fields and the file (into memory, up to the upload limit), in any order. */
async function readImport(request: FastifyRequest): Promise<ModelImportInput> {
  const raw: Record<string, string> = {};
  let file: Buffer | null = null;
  for await (const part of request.parts()) {
    if (part.type === "field") {
      if (!KNOWN_FIELDS.has(part.fieldname))
        throw badRequest(`unknown field ${part.fieldname}`, [{ path: part.fieldname, message: "not a field of an import" }]);
      raw[part.fieldname] = String(part.value);
      continue;
    }
    if (part.fieldname !== "file") {
      part.file.resume();
      throw badRequest("unexpected file field", [{ path: part.fieldname, message: "send the weights as the field named file" }]);
    }
    try {
      file = await part.toBuffer();
    } catch (error) {
      if ((error as { code?: string }).code === "FST_REQ_FILE_TOO_LARGE") {
        throw payloadTooLarge(
          `the file is larger than the upload limit of ${request.server.deps.config.TRAINYARD_UPLOAD_LIMIT_BYTES} bytes`,
        );
      }
      throw error;
    }
  }
  const errors: FieldError[] = [];
  const inputShapeText = raw.inputShape?.trim();
  const parsed = fieldsSchema.safeParse({
    ...raw,
    architectureOptions: jsonField(raw.architectureOptions, "architectureOptions", errors),
    labels: jsonField(raw.labels, "labels", errors),
    inputShape:
      inputShapeText && !inputShapeText.startsWith("[")
        ? inputShapeText.split(",").map(Number)
        : jsonField(inputShapeText, "inputShape", errors),
  });
  if (!parsed.success) errors.push(...fieldErrorsFromIssues(parsed.error.issues));
  else errors.push(...unstorableFieldErrors(parsed.data));
  if (!file || file.byteLength === 0) errors.push({ path: "file", message: "the weights file is required" });
  if (errors.length > 0 || !parsed.success || !file) throw badRequest("the import is invalid", errors);
  const { description, labels, ...fields } = parsed.data;
  return { ...fields, labels: labels ?? null, description: description ?? null, file };
}

const modelImport: FastifyPluginAsyncZod = async (app) => {
  await app.register(multipart);

  app.post(
    "/models/import",
    {
      schema: {
        tags: ["models"],
        description: IMPORT_DESCRIPTION,
        response: { 201: versionSchema, ...problemResponses(400, 401, 413, 429) },
      },
    },
    async (request, reply) => {
      const { name, version } = await app.deps.modelImports.importVersion(request.tenantId, await readImport(request));
      return reply
        .status(201)
        .header("location", `/v1/models/${encodeURIComponent(name)}/versions/${version.version}`)
        .send(version);
    },
  );
};

export default modelImport;

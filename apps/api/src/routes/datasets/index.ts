import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { builtinDatasetInfo, listBuiltinDatasets } from "@trainyard/datasets";
import multipart from "../../plugins/external/multipart.ts";
import { conflict, NO_CONTENT, problemResponses } from "../../problems.ts";
import { builtinDatasetView, datasetView } from "../../services/datasets/view.ts";
import { readUpload } from "./upload.ts";

const datasetIdParams = z.strictObject({ id: z.string().min(1) });

const datasetSchema = z.object({
  id: z.string().describe("a built-in data set's id is its name"),
  name: z.string(),
  status: z.string().describe("`processing`, then `ready` or `failed`"),
  builtin: z.boolean(),
  classes: z.array(z.string()).describe("class names in label order; empty while processing"),
  counts: z.object({ train: z.number().int(), val: z.number().int(), test: z.number().int() }),
  imageShape: z.array(z.number().int()).nullable().describe("[height, width, channels]; null until processed"),
  error: z.string().nullable().describe("why processing failed"),
  createdAt: z.iso.datetime(),
});
/** The serializer drops what the schema does not name: a field added to the views must be added above too. */
const viewKeysDeclared: [keyof ReturnType<typeof datasetView>, keyof ReturnType<typeof builtinDatasetView>] extends [
  keyof z.infer<typeof datasetSchema>,
  keyof z.infer<typeof datasetSchema>,
]
  ? true
  : never = true;
void viewKeysDeclared;

const UPLOAD_DESCRIPTION =
  "multipart/form-data with `name` and `file` (.zip or .tar.gz), in ImageFolder layout (train/<class>/<image>, " +
  "optional val/ and test/) or CSV layout (train.csv with image,label columns, optional val.csv and test.csv, image " +
  "paths relative to the CSV). Answers 201 with status `processing`; it then becomes `ready` (classes, counts and " +
  "imageShape filled in) or `failed` (with an `error` naming the problem; CSV rows are counted from 1 after the header). " +
  "Images are decoded to the most common size (others are stretched to it); all-grey data sets keep 1 channel, " +
  "others get 3; alpha is flattened onto black. Without a test split, a seeded 10% of each train class is held out as test.";

const datasets: FastifyPluginAsyncZod = async (app) => {
  const { datasets: service } = app.deps;
  await app.register(multipart);

  app.get(
    "/datasets",
    {
      schema: {
        response: { 200: z.object({ items: z.array(datasetSchema), nextCursor: z.null() }) },
        tags: ["datasets"],
        description: "The available built-in data sets, then the tenant's uploads.",
      },
    },
    async (request) => {
      const builtins = listBuiltinDatasets().filter((dataset) => dataset.available);
      const uploads = await service.list(request.tenantId);
      return { items: [...builtins.map(builtinDatasetView), ...uploads.map(datasetView)], nextCursor: null };
    },
  );

  app.post(
    "/datasets",
    { schema: { response: { 201: datasetSchema }, tags: ["datasets"], description: UPLOAD_DESCRIPTION } },
    async (request, reply) => {
      const { name, staged } = await readUpload(request, service);
      const dataset = await service.start(request.tenantId, name, staged);
      return reply.status(201).header("location", `/v1/datasets/${dataset.id}`).send(datasetView(dataset));
    },
  );

  app.get(
    "/datasets/:id",
    { schema: { params: datasetIdParams, response: { 200: datasetSchema }, tags: ["datasets"] } },
    async (request) => {
      const builtin = builtinDatasetInfo(request.params.id);
      if (builtin?.available) return builtinDatasetView(builtin);
      return datasetView(await service.get(request.tenantId, request.params.id));
    },
  );

  app.delete(
    "/datasets/:id",
    {
      schema: {
        params: datasetIdParams,
        response: { 204: NO_CONTENT, ...problemResponses(400, 401, 404, 409, 429) },
        tags: ["datasets"],
        description: "Deletes the data set (204). 409 while a queued or running job uses it, or for a built-in one.",
      },
    },
    async (request, reply) => {
      if (builtinDatasetInfo(request.params.id)) throw conflict(`${request.params.id} is built in and cannot be deleted`);
      await service.remove(request.tenantId, request.params.id);
      return reply.status(204).send(null);
    },
  );
};

export default datasets;

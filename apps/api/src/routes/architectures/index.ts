import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { getModelDefinition, hasModel, listModels } from "@trainyard/models";
import { notFound } from "../../problems.ts";

const summaryQuery = z.strictObject({
  inputShape: z
    .string()
    .regex(/^\d+,\d+,\d+$/, "H,W,C, e.g. 224,224,3")
    .transform((value) => value.split(",").map(Number) as [number, number, number])
    .optional(),
  classes: z.coerce.number().int().min(2).max(100_000).default(10),
});

const shape = z.array(z.number().int()).describe("[height, width, channels]");

const architectureSchema = z.object({
  name: z.string(),
  family: z.string(),
  paper: z.string(),
  year: z.number().int(),
  defaultInputShape: shape,
  description: z.string(),
});

const summarySchema = z.object({
  name: z.string(),
  inputShape: shape,
  classes: z.number().int(),
  trainableParams: z.number().int(),
  totalParams: z.number().int(),
  layers: z.array(
    z.object({
      name: z.string(),
      className: z.string(),
      outputShape: z.array(z.number().int().nullable()).describe("without the batch dimension"),
      params: z.number().int(),
    }),
  ),
});

const architectures: FastifyPluginAsyncZod = async (app) => {
  app.get("/architectures", { schema: { response: { 200: z.array(architectureSchema) }, tags: ["architectures"] } }, async () =>
    listModels(),
  );

  app.get(
    "/architectures/:name",
    {
      schema: {
        params: z.strictObject({ name: z.string() }),
        querystring: summaryQuery,
        response: { 200: summarySchema },
        tags: ["architectures"],
        description:
          "The model's layers and parameter counts, described without building its weights and cached. A model over the " +
          "parameter budget (TRAINYARD_MAX_PARAMS) or the activation budget per sample (TRAINYARD_MAX_ACTIVATIONS) is a " +
          "400 naming the field that makes it too big.",
      },
    },
    async (request) => {
      const { name } = request.params;
      if (!hasModel(name)) throw notFound(`architecture ${name}`);
      const inputShape = request.query.inputShape ?? getModelDefinition(name).defaultInputShape;
      const { classes } = request.query;
      const { activationFloatsPerSample, ...summary } = await app.deps.architectures.summary(name, { inputShape, classes });
      void activationFloatsPerSample;
      return summary;
    },
  );
};

export default architectures;

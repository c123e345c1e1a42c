import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { getModel, getModelDefinition, hasModel, listModels, ModelOptionError } from "@trainyard/models";
import { badRequest, notFound } from "../../problems.ts";

const summaryQuery = z.strictObject({
  inputShape: z
    .string()
    .regex(/^\d+,\d+,\d+$/, "H,W,C, e.g. 224,224,3")
    .transform((value) => value.split(",").map(Number) as [number, number, number])
    .optional(),
  classes: z.coerce.number().int().min(2).max(100_000).default(10),
});

const architectures: FastifyPluginAsyncZod = async (app) => {
  app.get("/architectures", { schema: { tags: ["architectures"] } }, async () => listModels());

  app.get(
    "/architectures/:name",
    { schema: { params: z.strictObject({ name: z.string() }), querystring: summaryQuery, tags: ["architectures"] } },
    async (request) => {
      const { name } = request.params;
      if (!hasModel(name)) throw notFound(`architecture ${name}`);
      const inputShape = request.query.inputShape ?? getModelDefinition(name).defaultInputShape;
      const { classes } = request.query;
      let model;
      try {
        model = getModel(name, { inputShape, classes });
      } catch (error) {
        if (error instanceof ModelOptionError) throw badRequest(error.message, [{ path: error.path, message: error.message }]);
        throw error;
      }
      const trainableParams = model.trainableWeights.reduce(
        (sum, weight) => sum + weight.shape.reduce<number>((a, b) => a * (b ?? 1), 1),
        0,
      );
      const summary = {
        name,
        inputShape,
        classes,
        trainableParams,
        totalParams: model.countParams(),
        layers: model.layers.map((layer) => ({
          name: layer.name,
          className: layer.getClassName(),
          outputShape: (layer.outputShape as (number | null)[]).slice(1),
          params: layer.countParams(),
        })),
      };
      model.dispose();
      return summary;
    },
  );
};

export default architectures;

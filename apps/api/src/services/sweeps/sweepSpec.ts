import { z } from "zod";
import { gridSize } from "./searchSpace.ts";

/** Trials one sweep may have: enough for any search a person reads the results of, few enough to validate at submit. */
export const MAX_TRIALS = 500;

/** The per-epoch metrics a sweep can optimize (columns of EpochMetric). */
export const OBJECTIVE_METRICS = ["valAccuracy", "valLoss", "trainAccuracy", "trainLoss"] as const;
export type ObjectiveMetric = (typeof OBJECTIVE_METRICS)[number];

const finitePair = z
  .tuple([z.number(), z.number()])
  .refine(([low, high]) => low <= high, "the first value must not exceed the second");

const parameterDomain = z.union([
  z.strictObject({ values: z.array(z.unknown()).min(1).max(MAX_TRIALS).describe("every value is a trial's (grid), or one is drawn (random)") }),
  z.strictObject({ uniform: finitePair.describe("[low, high]: drawn uniformly") }),
  z.strictObject({
    logUniform: finitePair
      .refine(([low]) => low > 0, "both bounds must be positive")
      .describe("[low, high], both positive: drawn uniformly in log space"),
  }),
  z.strictObject({
    intUniform: z
      .tuple([z.number().int(), z.number().int()])
      .refine(([low, high]) => low <= high, "the first value must not exceed the second")
      .describe("[low, high]: an integer drawn uniformly, both ends included"),
  }),
]);

const DOTTED_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

export const sweepSpecSchema = z
  .strictObject({
    name: z.string().min(1).max(200),
    base: z.record(z.string(), z.unknown()).describe("a job spec (as POST /v1/jobs takes); each trial sets its parameters in it"),
    parameters: z
      .record(
        z
          .string()
          .regex(DOTTED_PATH, "a dotted path into the job spec, e.g. training.optimizer.learningRate")
          .refine((path) => !/(^|\.)(__proto__|constructor|prototype)(\.|$)/.test(path), "not a job spec field"),
        parameterDomain,
      )
      .refine((parameters) => Object.keys(parameters).length > 0, "name at least one parameter"),
    search: z.discriminatedUnion("type", [
      z.strictObject({ type: z.literal("grid") }),
      z.strictObject({
        type: z.literal("random"),
        trials: z.number().int().min(1).max(MAX_TRIALS),
        seed: z
          .number()
          .int()
          .min(0)
          .max(2 ** 31 - 1)
          .default(0),
      }),
    ]),
    objective: z.strictObject({
      metric: z.enum(OBJECTIVE_METRICS),
      goal: z.enum(["maximize", "minimize"]),
    }),
    maxParallel: z.number().int().min(1).max(64).default(1).describe("trials queued or running at once"),
    pruning: z
      .strictObject({
        type: z.literal("asha"),
        minEpochs: z.number().int().min(1).max(1000).default(1),
        reductionFactor: z.number().int().min(2).max(16).default(3),
      })
      .nullable()
      .default(null),
  })
  .superRefine((spec, context) => {
    if (spec.search.type !== "grid") return;
    for (const [path, domain] of Object.entries(spec.parameters)) {
      if (!("values" in domain))
        context.addIssue({ code: "custom", path: ["parameters", path], message: "a grid search takes only `values` lists" });
    }
    const size = gridSize(spec.parameters);
    if (size > MAX_TRIALS)
      context.addIssue({ code: "custom", path: ["parameters"], message: `the grid has ${size} combinations; at most ${MAX_TRIALS}` });
  });

export type SweepSpec = z.output<typeof sweepSpecSchema>;

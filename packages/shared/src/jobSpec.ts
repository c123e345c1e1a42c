import { z } from "zod";

/** Limits that keep one job from taking a worker down; documented in the OpenAPI spec. */
export const LIMITS = {
  maxEpochs: 1000,
  maxBatchSize: 4096,
  maxTags: 20,
  maxInputSide: 1024,
  maxChannels: 4,
  /** GPU slots of one worker a data-parallel job may ask for (training.devices). */
  maxDevices: 16,
  /** More layers than any architecture here has. */
  maxFreezeLayers: 10_000,
} as const;

const positiveInt = z.number().int().positive();

export const inputShapeSchema = z
  .tuple([positiveInt.max(LIMITS.maxInputSide), positiveInt.max(LIMITS.maxInputSide), positiveInt.max(LIMITS.maxChannels)])
  .describe("[height, width, channels]");

export const datasetRefSchema = z.union([
  z.strictObject({ name: z.string().min(1).describe("a built-in data set: fashion-mnist, synthetic-shapes") }),
  z.strictObject({ id: z.string().min(1).describe("an uploaded data set's id") }),
]);

export const optimizerSchema = z.strictObject({
  type: z.enum(["sgd", "adam", "adamw", "rmsprop"]).default("sgd"),
  learningRate: z
    .number()
    .positive()
    .max(100)
    .optional()
    .describe(
      "default: the architecture's recommended rate (0.9 for the sigmoid LeNet, 0.1 for SGD otherwise, 0.001 for adaptive optimizers)",
    ),
  momentum: z.number().min(0).max(1).default(0),
  nesterov: z.boolean().default(false),
  weightDecay: z.number().min(0).max(1).default(0),
});

export const lrScheduleSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("constant") }),
  z.strictObject({
    type: z.literal("step"),
    stepEpochs: positiveInt.max(LIMITS.maxEpochs).default(10),
    gamma: z.number().positive().max(1).default(0.1),
  }),
  z.strictObject({
    type: z.literal("cosine"),
    warmupEpochs: z.number().int().min(0).max(LIMITS.maxEpochs).default(0),
    minLearningRate: z.number().min(0).default(0),
  }),
]);

export const earlyStoppingSchema = z.strictObject({
  metric: z.enum(["valAccuracy", "valLoss"]).default("valAccuracy"),
  patience: positiveInt.max(1000).default(3),
  minDelta: z.number().min(0).default(0.001),
});

export const trainingSchema = z.strictObject({
  epochs: positiveInt.max(LIMITS.maxEpochs).default(10),
  batchSize: positiveInt.max(LIMITS.maxBatchSize).default(256),
  optimizer: optimizerSchema.default({ type: "sgd", momentum: 0, nesterov: false, weightDecay: 0 }),
  lrSchedule: lrScheduleSchema.default({ type: "constant" }),
  validationSplit: z.number().min(0).max(0.5).default(0.1),
  earlyStopping: earlyStoppingSchema.nullable().default(null),
  maxTrainSamples: positiveInt.nullable().default(null),
  devices: positiveInt
    .max(LIMITS.maxDevices)
    .default(1)
    .describe(
      "GPU slots of one worker that train the job together, data-parallel (the batch split, gradients all-reduced each step); more than any registered worker has is refused",
    ),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional()
    .describe("default: chosen at random and recorded in the spec"),
});

const rangePair = z
  .tuple([z.number().positive(), z.number().positive()])
  .refine(([low, high]) => low <= high, "the first value must not exceed the second");

export const augmentationSchema = z.strictObject({
  horizontalFlip: z.boolean().default(false),
  verticalFlip: z.boolean().default(false),
  randomResizedCrop: z
    .strictObject({ scale: rangePair.default([0.08, 1]), ratio: rangePair.default([0.75, 1.333]) })
    .nullable()
    .default(null),
  colorJitter: z
    .strictObject({
      brightness: z.number().min(0).max(1).default(0),
      contrast: z.number().min(0).max(1).default(0),
      saturation: z.number().min(0).max(1).default(0),
      hue: z.number().min(0).max(0.5).default(0),
    })
    .nullable()
    .default(null),
  normalize: z
    .strictObject({ mean: z.array(z.number()).min(1).max(4), std: z.array(z.number().positive()).min(1).max(4) })
    .refine((n) => n.mean.length === n.std.length, "mean and std need the same number of channels")
    .default({ mean: [0], std: [1] })
    .describe("applied to pixels scaled to [0, 1]; the default leaves them in [0, 1]"),
});

export const fineTuneSchema = z
  .strictObject({
    fromJobId: z.string().min(1).optional().describe("a job of yours to start from (its `checkpoint`); or give `fromModel`"),
    fromModel: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}@[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
        "name@alias or name@version, e.g. fashion-lenet@production",
      )
      .optional()
      .describe(
        "a registered model version to start from, `name@alias` or `name@version`; an alias is resolved at submit and the stored spec names the version",
      ),
    checkpoint: z.enum(["best", "last"]).default("best").describe("with fromJobId: which of the job's checkpoints"),
    freeze: z
      .union([z.enum(["none", "backbone"]), z.number().int().min(0).max(LIMITS.maxFreezeLayers)])
      .default("backbone")
      .describe(`none, backbone, or how many of the first layers to freeze (at most ${LIMITS.maxFreezeLayers})`),
    headLearningRateMultiplier: z.number().positive().max(1000).default(10),
  })
  .refine((fineTune) => (fineTune.fromJobId === undefined) !== (fineTune.fromModel === undefined), {
    message: "give exactly one of fromJobId and fromModel",
    path: ["fromJobId"],
  });

export const webhookSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  events: z
    .array(z.enum(["status", "epoch"]))
    .min(1)
    .default(["status"]),
  secret: z.string().min(16).optional(),
});

/** What a client may send to POST /v1/jobs. */
export const jobSpecInputSchema = z.strictObject({
  architecture: z.string().min(1),
  architectureOptions: z.record(z.string(), z.unknown()).default({}),
  dataset: datasetRefSchema,
  inputShape: inputShapeSchema.optional(),
  training: trainingSchema.default(trainingSchema.parse({})),
  augmentation: augmentationSchema.default(augmentationSchema.parse({})),
  fineTune: fineTuneSchema.nullable().default(null),
  priority: z.number().int().min(0).max(100).default(0).describe("0–100; higher runs first"),
  tags: z.array(z.string().min(1).max(64)).max(LIMITS.maxTags).default([]),
  webhook: webhookSchema.nullable().default(null),
});

export type JobSpecInput = z.input<typeof jobSpecInputSchema>;
export type ParsedJobSpec = z.output<typeof jobSpecInputSchema>;

/** The stored spec: every default filled in, so a job is reproducible from it alone. */
export type JobSpec = Omit<ParsedJobSpec, "inputShape" | "training"> & {
  inputShape: [number, number, number];
  training: Omit<ParsedJobSpec["training"], "optimizer" | "seed"> & {
    seed: number;
    optimizer: ParsedJobSpec["training"]["optimizer"] & { learningRate: number };
  };
};

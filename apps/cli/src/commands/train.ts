import { join } from "node:path";
import type { Command } from "commander";
import { dataOf } from "@trainyard/client";
import { connect } from "../connection.ts";
import { EXIT } from "../errors.ts";
import { followJob, getJob, streamJobEvents, type JobView } from "../follow.ts";
import { printJson } from "../output.ts";
import { collect, nonNegativeInt, positiveInt, positiveNumber } from "../parse.ts";
import { readSpecFile } from "../specFile.ts";
import { downloadJobModel } from "../modelFiles.ts";

interface TrainOptions {
  file?: string;
  arch?: string;
  dataset?: string;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  maxTrainSamples?: number;
  priority?: number;
  tag?: string[];
  follow?: boolean;
  wait?: boolean;
  json?: boolean;
  out?: string;
}

/** An uploaded data set's id starts with `ds_`; anything else names a built-in one. */
const datasetRef = (value: string) => (value.startsWith("ds_") ? { id: value } : { name: value });

/** The spec file (if any) with the flags laid over it; without either, LeNet on Fashion-MNIST. */
export function jobSpecOf(options: TrainOptions): Record<string, unknown> {
  const spec: Record<string, any> = options.file ? readSpecFile(options.file) : {};
  if (options.arch) spec.architecture = options.arch;
  spec.architecture ??= "lenet";
  if (options.dataset) spec.dataset = datasetRef(options.dataset);
  spec.dataset ??= { name: "fashion-mnist" };
  const training: Record<string, any> = { ...(spec.training ?? {}) };
  if (options.epochs !== undefined) training.epochs = options.epochs;
  if (options.batchSize !== undefined) training.batchSize = options.batchSize;
  if (options.maxTrainSamples !== undefined) training.maxTrainSamples = options.maxTrainSamples;
  if (options.learningRate !== undefined) training.optimizer = { ...(training.optimizer ?? {}), learningRate: options.learningRate };
  if (Object.keys(training).length > 0) spec.training = training;
  if (options.priority !== undefined) spec.priority = options.priority;
  if (options.tag?.length) spec.tags = [...(spec.tags ?? []), ...options.tag];
  return spec;
}

/** The end of a job on stdout/stderr, and the exit code it means: 0 succeeded, 1 anything else. */
export function reportFinished(job: JobView, json: boolean): number {
  if (json) printJson(job);
  if (job.status === "succeeded" && job.result) {
    if (!json) {
      const accuracy = (job.result.testAccuracy * 100).toFixed(2);
      console.log(`trained on backend ${job.backend}; test accuracy ${accuracy}% (best epoch ${job.result.bestEpoch})`);
    }
    return EXIT.done;
  }
  console.error(`job ${job.id} ${job.status}${job.error ? `: ${job.error.code} ${job.error.message}` : ""}`);
  return EXIT.failed;
}

export function registerTrain(program: Command) {
  program
    .command("train")
    .summary("submit a training job (flags, or a spec file with -f)")
    .description(
      "Submits a job: LeNet on Fashion-MNIST unless a spec file or flags say otherwise. Flags override the file's fields.\n" +
        "Exit code with --follow or --wait: 0 when the job succeeded, 1 when it failed or was cancelled.",
    )
    .option("-f, --file <path>", "a job spec (.yaml, .yml or .json), as POST /v1/jobs takes it")
    .option("--arch <name>", "architecture (trainyard architectures: GET /v1/architectures)")
    .option("--dataset <name|id>", "a built-in data set's name or an uploaded one's id (ds_…)")
    .option("--epochs <n>", "training.epochs", positiveInt)
    .option("--batch-size <n>", "training.batchSize", positiveInt)
    .option("--learning-rate <lr>", "training.optimizer.learningRate", positiveNumber)
    .option("--max-train-samples <n>", "train on a seeded subset of this many images", positiveInt)
    .option("--priority <n>", "0–100, higher first", nonNegativeInt)
    .option("--tag <tag>", "a tag (repeatable)", collect)
    .option("--follow", "draw the job's progress from its event stream until it finishes")
    .option("--wait", "wait quietly until the job finishes")
    .option("--json", "print the job as JSON (the finished job with --follow or --wait)")
    .option("--out <dir>", "with --follow or --wait: save the trained model here (model.json, weights, model.zip)")
    .addHelpText(
      "after",
      "\nExamples:\n  trainyard train --arch lenet --dataset fashion-mnist --epochs 10 --follow\n  trainyard train -f job.yaml --wait --json",
    )
    .action(async (options: TrainOptions, command: Command) => {
      const connection = connect(command.optsWithGlobals(), process.env);
      const job = await dataOf(connection.client.POST("/v1/jobs", { body: jobSpecOf(options) as never }));
      // A 200 is the job an Idempotency-Key found or a dry run's estimate; this submit sends neither.
      if (!("id" in job)) throw new Error("POST /v1/jobs answered a dry run's estimate instead of a job");
      if (!options.follow && !options.wait) {
        if (options.json) printJson(job);
        else console.log(`submitted job ${job.id}`);
        return;
      }
      if (!options.json) console.log(`submitted job ${job.id}`);
      let finished: JobView;
      if (options.follow) finished = await followJob(connection, job.id, options.json ? process.stderr : process.stdout);
      else {
        await streamJobEvents(connection, job.id, { onEvent: () => undefined });
        finished = await getJob(connection, job.id);
      }
      const code = reportFinished(finished, Boolean(options.json));
      if (code === EXIT.done && (options.out || options.follow)) {
        const folder = await downloadJobModel(connection, finished.id, options.out ?? join("models", finished.id));
        if (!options.json) console.log(`model saved to ${folder}`);
      }
      process.exitCode = code;
    });
}

import type { Command } from "commander";
import { dataOf } from "@trainyard/client";
import { connect } from "../connection.ts";
import { followJob, getJob, streamJobEvents } from "../follow.ts";
import { percent, printJson, printTable } from "../output.ts";
import { positiveInt } from "../parse.ts";
import { reportFinished } from "./train.ts";
import { downloadJobModel } from "../modelFiles.ts";

const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelling", "cancelled"] as const;

const fixed = (value: number | null | undefined, digits = 4) => (typeof value === "number" ? value.toFixed(digits) : null);

export function registerJobs(program: Command) {
  const jobs = program.command("jobs").summary("list, inspect, follow, cancel and download jobs");

  jobs
    .command("list")
    .description("The tenant's jobs, newest first.")
    .option("--status <status>", `only jobs in this status (${JOB_STATUSES.join(", ")})`)
    .option("--tag <tag>", "only jobs with this tag (e.g. sweep:swp_…)")
    .option("--limit <n>", "at most this many", positiveInt, 50)
    .option("--json", "print the page as JSON")
    .action(async (options: { status?: string; tag?: string; limit: number; json?: boolean }, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      const query = { limit: options.limit, ...(options.tag ? { tag: options.tag } : {}) } as Record<string, unknown>;
      if (options.status) query.status = options.status;
      const page = await dataOf(client.GET("/v1/jobs", { params: { query: query as never } }));
      if (options.json) return printJson(page);
      printTable(
        ["ID", "STATUS", "ARCHITECTURE", "DATASET", "EPOCH", "TEST ACC", "CREATED"],
        page.items.map((job) => {
          const spec = job.spec as { architecture: string; dataset: { name?: string; id?: string } };
          const progress = job.progress ? `${job.progress.epoch}/${job.progress.epochs}` : null;
          return [
            job.id,
            job.status,
            spec.architecture,
            spec.dataset.name ?? spec.dataset.id,
            progress,
            percent(job.result?.testAccuracy),
            job.createdAt as string,
          ];
        }),
      );
    });

  jobs
    .command("get")
    .description("One job as JSON: status, spec, progress, latest metrics, result or error.")
    .argument("<id>", "the job's id")
    .action(async (id: string, _options: object, command: Command) => {
      printJson(await getJob(connect(command.optsWithGlobals(), process.env), id));
    });

  jobs
    .command("follow")
    .description("The progress bar, log lines and epochs of a job until it finishes (exit 0 succeeded, 1 otherwise).")
    .argument("<id>", "the job's id")
    .action(async (id: string, _options: object, command: Command) => {
      const connection = connect(command.optsWithGlobals(), process.env);
      process.exitCode = reportFinished(await followJob(connection, id), false);
    });

  jobs
    .command("logs")
    .description("The job's log lines; with -f, also those still to come, until it finishes.")
    .argument("<id>", "the job's id")
    .option("-f, --follow", "keep printing until the job finishes")
    .action(async (id: string, options: { follow?: boolean }, command: Command) => {
      const connection = connect(command.optsWithGlobals(), process.env);
      const stop = new AbortController();
      // Without -f: the stream replays stored events, then sends the current progress; stop there.
      await streamJobEvents(
        connection,
        id,
        {
          onEvent(event) {
            if (event.event === "log") console.log((JSON.parse(event.data) as { message: string }).message);
            if (!options.follow && event.event === "progress") stop.abort();
          },
        },
        options.follow ? undefined : { signal: stop.signal, idleMs: 1_500 },
      );
    });

  jobs
    .command("metrics")
    .description("One row per finished epoch: losses, accuracies, learning rate, seconds, samples per second.")
    .argument("<id>", "the job's id")
    .option("--csv", "print the API's CSV as it is")
    .option("--json", "print the rows as JSON")
    .action(async (id: string, options: { csv?: boolean; json?: boolean }, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      if (options.csv) {
        const csv = await dataOf(
          client.GET("/v1/jobs/{id}/metrics", { params: { path: { id }, query: { format: "csv" } }, parseAs: "text" }),
        );
        return void process.stdout.write(csv);
      }
      // The route declares JSON and (with ?format=csv) CSV; without format it answers JSON.
      const answer = await dataOf(client.GET("/v1/jobs/{id}/metrics", { params: { path: { id } }, parseAs: "json" }));
      if (typeof answer === "string") throw new Error(`GET /v1/jobs/${id}/metrics answered text, not JSON`);
      const { epochs } = answer;
      if (options.json) return printJson({ epochs });
      printTable(
        ["EPOCH", "TRAIN LOSS", "TRAIN ACC", "VAL LOSS", "VAL ACC", "LR", "SECONDS", "SAMPLES/S"],
        epochs.map((row) => [
          row.epoch,
          fixed(row.trainLoss),
          fixed(row.trainAccuracy),
          fixed(row.valLoss),
          fixed(row.valAccuracy),
          row.learningRate,
          fixed(row.seconds, 1),
          fixed(row.samplesPerSecond, 0),
        ]),
      );
    });

  jobs
    .command("cancel")
    .description("Cancels a queued or running job (a finished one is a 409).")
    .argument("<id>", "the job's id")
    .action(async (id: string, _options: object, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      const job = await dataOf(client.POST("/v1/jobs/{id}/cancel", { params: { path: { id } } }));
      console.log(`job ${id} ${job?.status ?? "cancelling"}`);
    });

  jobs
    .command("download")
    .description("Saves the trained model: model.json and weights (TensorFlow.js layers format) and model.zip.")
    .argument("<id>", "the job's id")
    .option("--out <dir>", "the folder to save into (default: models/<id>)")
    .option("--checkpoint <which>", "best or last", "best")
    .action(async (id: string, options: { out?: string; checkpoint: string }, command: Command) => {
      if (options.checkpoint !== "best" && options.checkpoint !== "last") command.error("--checkpoint is best or last", { exitCode: 2 });
      const connection = connect(command.optsWithGlobals(), process.env);
      console.log(
        `model saved to ${await downloadJobModel(connection, id, options.out ?? `models/${id}`, options.checkpoint as "best" | "last")}`,
      );
    });
}

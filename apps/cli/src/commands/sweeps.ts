import type { Command } from "commander";
import { dataOf } from "@trainyard/client";
import { connect } from "../connection.ts";
import { printJson, printTable } from "../output.ts";
import { positiveInt } from "../parse.ts";
import { readSpecFile } from "../specFile.ts";

interface SweepView {
  id: string;
  name: string;
  status: string;
  trials: Record<"total" | "queued" | "running" | "succeeded" | "failed" | "pruned" | "cancelled", number>;
  best: { jobId: string; params: Record<string, unknown>; value: number } | null;
  createdAt: string;
  finishedAt: string | null;
}

interface TrialView {
  index: number;
  jobId: string;
  params: Record<string, unknown>;
  status: string;
  pruned: boolean;
  value: number | null;
  epochsDone: number;
}

/** An objective value as a table shows it: four decimals (the JSON keeps every digit). */
const objective = (value: number | null | undefined) => (typeof value === "number" ? value.toFixed(4) : value);

const params = (values: Record<string, unknown>) =>
  Object.entries(values)
    .map(([path, value]) => `${path}=${typeof value === "number" ? Number(value.toPrecision(4)) : String(value)}`)
    .join(" ");

const trialsLine = (sweep: SweepView) =>
  `${sweep.trials.succeeded}/${sweep.trials.total} done, ${sweep.trials.running} running, ${sweep.trials.pruned} pruned, ${sweep.trials.failed} failed`;

export function registerSweeps(program: Command) {
  const sweeps = program.command("sweeps").summary("hyperparameter searches: create, list, inspect, trials, cancel");

  sweeps
    .command("create")
    .description('Starts a sweep from a spec file (api.md "Sweeps": base, parameters, search, objective, maxParallel, pruning).')
    .requiredOption("-f, --file <path>", "the sweep spec (.yaml, .yml or .json)")
    .option("--json", "print the sweep as JSON")
    .addHelpText(
      "after",
      "\nA spec file:\n" +
        "  name: lenet-lr\n  base: { architecture: lenet, dataset: { name: fashion-mnist }, training: { epochs: 5 } }\n" +
        "  parameters:\n    training.optimizer.learningRate: { logUniform: [0.001, 1.0] }\n" +
        "  search: { type: random, trials: 6, seed: 1 }\n  objective: { metric: valAccuracy, goal: maximize }\n  maxParallel: 2",
    )
    .action(async (options: { file: string; json?: boolean }, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      const sweep = (await dataOf(client.POST("/v1/sweeps", { body: readSpecFile(options.file) as never }))) as unknown as SweepView;
      if (options.json) return printJson(sweep);
      console.log(`sweep ${sweep.id} ${sweep.status}: ${sweep.trials.total} trials`);
    });

  sweeps
    .command("list")
    .description("The tenant's sweeps, newest first.")
    .option("--limit <n>", "at most this many", positiveInt, 50)
    .option("--json", "print the page as JSON")
    .action(async (options: { limit: number; json?: boolean }, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      const page = (await dataOf(client.GET("/v1/sweeps", { params: { query: { limit: options.limit } } }))) as unknown as {
        items: SweepView[];
      };
      if (options.json) return printJson(page);
      printTable(
        ["ID", "NAME", "STATUS", "TRIALS", "BEST", "BEST JOB", "CREATED"],
        page.items.map((sweep) => [
          sweep.id,
          sweep.name,
          sweep.status,
          trialsLine(sweep),
          objective(sweep.best?.value),
          sweep.best?.jobId,
          sweep.createdAt,
        ]),
      );
    });

  sweeps
    .command("get")
    .description("One sweep as JSON: status, trial counts, the best trial so far.")
    .argument("<id>", "the sweep's id")
    .action(async (id: string, _options: object, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      printJson(await dataOf(client.GET("/v1/sweeps/{id}", { params: { path: { id } } })));
    });

  sweeps
    .command("trials")
    .description("The sweep's trials: job, parameters, status, objective value, epochs done.")
    .argument("<id>", "the sweep's id")
    .option("--json", "print them as JSON")
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      const trials = (await dataOf(client.GET("/v1/sweeps/{id}/trials", { params: { path: { id } } }))) as unknown as {
        items: TrialView[];
      };
      if (options.json) return printJson(trials);
      printTable(
        ["TRIAL", "JOB", "STATUS", "VALUE", "EPOCHS", "PARAMETERS"],
        trials.items.map((trial) => [
          trial.index,
          trial.jobId,
          trial.pruned ? "pruned" : trial.status,
          objective(trial.value),
          trial.epochsDone,
          params(trial.params),
        ]),
      );
    });

  sweeps
    .command("cancel")
    .description("Cancels the sweep's unfinished trials.")
    .argument("<id>", "the sweep's id")
    .action(async (id: string, _options: object, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      const sweep = (await dataOf(client.POST("/v1/sweeps/{id}/cancel", { params: { path: { id } } }))) as unknown as SweepView | undefined;
      console.log(`sweep ${id} ${sweep?.status ?? "cancelled"}`);
    });
}

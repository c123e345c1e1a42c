import { Command, Option } from "commander";
import { registerCluster } from "./commands/cluster.ts";
import { registerDatasets } from "./commands/datasets.ts";
import { registerJobs } from "./commands/jobs.ts";
import { registerKeys } from "./commands/keys.ts";
import { registerLogin } from "./commands/login.ts";
import { registerModels } from "./commands/models.ts";
import { registerSweeps } from "./commands/sweeps.ts";
import { registerTrain } from "./commands/train.ts";
import { withDefaults } from "./env.ts";
import { positiveInt } from "./parse.ts";

// The service commands load the API, the worker or TF.js: imported when run, so that the API commands start fast.
const serve = () => import("./commands/serve.ts");

/** Sets the exit code of a command that answers one (the servers, demo, doctor). */
const exitWith = (code: number) => void (process.exitCode = code);

/**
 * Every command, its options and its help from one set of definitions. Usage errors do not exit
 * here (exitOverride): main maps them to exit code 2.
 */
export function buildProgram(): Command {
  const program = new Command("trainyard")
    .description("Trainyard: train image classifiers as a service. Run a command with --help for its options.")
    .exitOverride()
    .showSuggestionAfterError()
    .addOption(new Option("--api <url>", "the API's URL").env("TRAINYARD_API_URL"))
    .addOption(new Option("--key <key>", "an API key").env("TRAINYARD_API_KEY"))
    .addHelpText(
      "after",
      "\nThe API URL and key come from --api/--key, TRAINYARD_API_URL/TRAINYARD_API_KEY, or `trainyard login`.\n" +
        "The service commands (demo, up, api, worker, migrate, doctor, keys create --tenant) read DATABASE_URL, REDIS_URL, PORT\n" +
        "and TRAINYARD_* variables.\n" +
        "Exit codes: 0 done, 1 failed (a job, or the API refused), 2 usage error, 3 API unreachable.",
    );

  program
    .command("demo")
    .alias("quickstart")
    .description("Starts everything (PostgreSQL and Redis if none answer, the API, a worker) and trains LeNet on Fashion-MNIST.")
    .option("--epochs <n>", "training epochs", positiveInt, 10)
    .option("--max-train-samples <n>", "train on a seeded subset of this many images", positiveInt)
    .option("--arch <name>", "architecture", "lenet")
    .option("--out <dir>", "where to save the trained model", "models/demo")
    .action(async (options) => exitWith(await (await import("./commands/demo.ts")).demoCommand(options, process.env)));

  program
    .command("up")
    .description("Applies the migrations, then runs the API and one worker until stopped.")
    .action(async () => exitWith(await (await serve()).upCommand(withDefaults(process.env))));
  program
    .command("migrate")
    .description("Applies the database migrations (DATABASE_URL).")
    .action(async () => exitWith(await (await serve()).migrateCommand(withDefaults(process.env))));
  program
    .command("api")
    .description("Runs the API server alone (PORT).")
    .action(async () => exitWith(await (await serve()).apiCommand(withDefaults(process.env))));
  program
    .command("worker")
    .description("Runs one training worker alone.")
    .action(async () => exitWith(await (await serve()).workerCommand(withDefaults(process.env))));
  program
    .command("doctor")
    .description("What this machine trains on (backends, GPUs), and whether PostgreSQL, Redis and the data sets answer.")
    .addOption(new Option("--probe <backend>", "internal: one backend's check in this process").hideHelp())
    .action(async (options: { probe?: string }) =>
      exitWith(await (await import("./commands/doctor.ts")).doctorCommand(options, withDefaults(process.env))),
    );

  registerLogin(program);
  registerTrain(program);
  registerJobs(program);
  registerDatasets(program);
  registerSweeps(program);
  registerModels(program);
  registerKeys(program);
  registerCluster(program);
  return program;
}

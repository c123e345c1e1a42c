import { UsageError } from "./args.ts";
import { demoCommand } from "./commands/demo.ts";
import { doctorCommand } from "./commands/doctor.ts";
import { keysCommand } from "./commands/keys.ts";
import { modelsCommand } from "./commands/models.ts";
import { apiCommand, migrateCommand, upCommand, workerCommand } from "./commands/serve.ts";
import { trainCommand } from "./commands/train.ts";
import { withDefaults } from "./env.ts";

const USAGE = `trainyard <command>

  demo [--epochs N] [--max-train-samples N]   start everything and train LeNet on Fashion-MNIST
  up                                          migrate, then run the API and one worker
  migrate | api | worker                      each part alone
  keys create --tenant NAME                   create an API key (printed once, last line)
  doctor                                      what this machine trains on (backends, GPUs), PostgreSQL, Redis, data sets
  train --arch lenet --dataset fashion-mnist --epochs N [--max-train-samples N] [--follow] [--out DIR]
  models register --name NAME --job JOB_ID [--checkpoint best|last] [--description TEXT]
  models list [--name NAME]                   registered models: versions, aliases, accuracy, source job

Configured by DATABASE_URL, REDIS_URL, PORT, TRAINYARD_API_URL, TRAINYARD_API_KEY and TRAINYARD_* variables.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const env = withDefaults(process.env);
  switch (command) {
    case "demo":
      return demoCommand(rest, process.env);
    case "up":
      return upCommand(env);
    case "migrate":
      return migrateCommand(env);
    case "api":
      return apiCommand(env);
    case "worker":
      return workerCommand(env);
    case "keys":
      return keysCommand(rest, env);
    case "doctor":
      return doctorCommand(rest, env);
    case "train":
      return trainCommand(rest, env);
    case "models":
      return modelsCommand(rest, env);
    case undefined:
    case "help":
    case "--help":
      console.log(USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) console.error(`${error.message}\n\n${USAGE}`);
    else console.error(`trainyard: ${(error as Error).message}`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);

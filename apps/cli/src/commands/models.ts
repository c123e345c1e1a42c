import { readFileSync } from "node:fs";
import { basename } from "node:path";
import type { Command } from "commander";
import { dataOf } from "@trainyard/client";
import { connect, type Connection } from "../connection.ts";
import { downloadModelVersion } from "../modelFiles.ts";
import { UsageError } from "../errors.ts";
import { percent, printJson } from "../output.ts";
import { positiveInt } from "../parse.ts";

interface Version {
  version: number;
  aliases: string[];
  sourceJobId: string | null;
  checkpoint: string | null;
  architecture: string;
  metrics: Record<string, unknown> | null;
  createdAt: string;
}

interface Model {
  name: string;
  versions: Version[];
}

const accuracy = (metrics: Record<string, unknown> | null) => percent(metrics?.testAccuracy ?? metrics?.valAccuracy);

function versionLine(name: string, version: Version): string {
  const aliases = version.aliases.length > 0 ? version.aliases.join(",") : "-";
  const source = version.sourceJobId ? `${version.sourceJobId} (${version.checkpoint ?? "-"})` : "-";
  return [name, String(version.version), aliases, version.architecture, accuracy(version.metrics), source, version.createdAt].join("\t");
}

function readFile(path: string): Blob {
  try {
    return new Blob([readFileSync(path)]);
  } catch {
    throw new UsageError(`cannot read ${path}`);
  }
}

function jsonOption(value: string | undefined, option: string): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    throw new UsageError(`${option} must be JSON, got ${value}`);
  }
}

/** `NAME@REF` (a version number or an alias) or `NAME` (its latest version). */
function modelRef(value: string): { name: string; ref: string | null } {
  const at = value.lastIndexOf("@");
  return at > 0 ? { name: value.slice(0, at), ref: value.slice(at + 1) } : { name: value, ref: null };
}

/** `NAME@VERSION` (aliases and deletions name one version by its number). */
function versionOf(value: string): { name: string; version: number } {
  const { name, ref } = modelRef(value);
  if (ref === null || !/^\d+$/.test(ref)) throw new UsageError(`<version> is NAME@VERSION, a version number, got ${value}`);
  return { name, version: Number(ref) };
}

/** The ref as given, or the model's latest version when none was. */
async function refOrLatest(client: Connection["client"], name: string, ref: string | null): Promise<string> {
  if (ref !== null) return ref;
  const versions = ((await dataOf(client.GET("/v1/models/{name}", { params: { path: { name } } }))) as Model).versions;
  return String(Math.max(...versions.map((version) => version.version)));
}

export function registerModels(program: Command) {
  const models = program.command("models").summary("the model registry: register, list, alias, download, import, predict, delete");

  models
    .command("register")
    .description("Registers a job's best or last checkpoint as the next version of NAME.")
    .requiredOption("--name <name>", "the model's name")
    .requiredOption("--job <id>", "the job to take the checkpoint from")
    .option("--checkpoint <which>", "best or last", "best")
    .option("--description <text>", "a note kept with the version")
    .action(async (options: { name: string; job: string; checkpoint: string; description?: string }, command: Command) => {
      if (options.checkpoint !== "best" && options.checkpoint !== "last") throw new UsageError("--checkpoint is best or last");
      const { client } = connect(command.optsWithGlobals(), process.env);
      const body = { name: options.name, fromJobId: options.job, checkpoint: options.checkpoint as "best" | "last" };
      const version = await dataOf(
        client.POST("/v1/models", { body: options.description ? { ...body, description: options.description } : body }),
      );
      console.log(`registered ${options.name} version ${version.version} from job ${options.job} (${options.checkpoint})`);
    });

  models
    .command("list")
    .description("Registered models: versions, aliases, accuracy, source job (tab-separated).")
    .option("--name <name>", "only this model")
    .action(async (options: { name?: string }, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      const found: Model[] = [];
      if (options.name) found.push((await dataOf(client.GET("/v1/models/{name}", { params: { path: { name: options.name } } }))) as Model);
      else {
        let cursor: string | undefined;
        do {
          const page = await dataOf(client.GET("/v1/models", { params: { query: { limit: 200, ...(cursor ? { cursor } : {}) } } }));
          found.push(...(page.items as Model[]));
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
      }
      console.log(["NAME", "VERSION", "ALIASES", "ARCHITECTURE", "ACCURACY", "SOURCE", "CREATED"].join("\t"));
      for (const model of found) for (const version of model.versions) console.log(versionLine(model.name, version));
    });

  models
    .command("alias")
    .description("Points an alias (e.g. production) at a version, moving it from the version it named before.")
    .argument("<version>", "NAME@VERSION, e.g. fashion-lenet@3")
    .argument("<alias>", "the alias, e.g. production")
    .action(async (target: string, alias: string, _options: unknown, command: Command) => {
      const { name, version } = versionOf(target);
      const { client } = connect(command.optsWithGlobals(), process.env);
      await dataOf(client.PUT("/v1/models/{name}/aliases/{alias}", { params: { path: { name, alias } }, body: { version } }));
      console.log(`${name}@${alias} is version ${version}`);
    });

  models
    .command("download")
    .description("Saves a version's model: model.json and weights (TensorFlow.js layers format) and model.zip.")
    .argument("<model>", "NAME@VERSION, NAME@ALIAS, or NAME for its latest version")
    .option("--out <dir>", "the folder to save into (default: models/<name>-<version or alias>)")
    .action(async (model: string, options: { out?: string }, command: Command) => {
      const connection = connect(command.optsWithGlobals(), process.env);
      const { name, ref: given } = modelRef(model);
      const ref = await refOrLatest(connection.client, name, given);
      console.log(`model saved to ${await downloadModelVersion(connection, name, ref, options.out ?? `models/${name}-${ref}`)}`);
    });

  models
    .command("delete")
    .description(
      "Deletes a version and its aliases; its stored files go when nothing else refers to them. Refused while a queued or running job is to fine-tune from it.",
    )
    .argument("<version>", "NAME@VERSION, e.g. fashion-lenet@3")
    .action(async (target: string, _options: unknown, command: Command) => {
      const { name, version } = versionOf(target);
      const { client } = connect(command.optsWithGlobals(), process.env);
      await dataOf(client.DELETE("/v1/models/{name}/versions/{version}", { params: { path: { name, version } } }));
      console.log(`deleted ${name} version ${version}`);
    });

  models
    .command("import")
    .description("Imports weights trained elsewhere as a new version: a tfjs zip (as jobs download gives) or torchvision .safetensors.")
    .argument("<file>", "the zip (tfjs) or .safetensors (torchvision) file")
    .requiredOption("--name <name>", "the model's name")
    .requiredOption("--arch <architecture>", "the architecture the weights fit")
    .requiredOption("--input-shape <h,w,c>", "the input shape, e.g. 224,224,3")
    .option("--format <format>", "tfjs or torchvision (default: by the file's extension)")
    .option("--options <json>", 'architectureOptions as JSON, e.g. {"variant":"torchvision"}')
    .option("--labels <json>", 'class names in output order as a JSON array, e.g. ["cat","dog"]')
    .action(
      async (
        file: string,
        options: { name: string; arch: string; inputShape: string; format?: string; options?: string; labels?: string },
        command: Command,
      ) => {
        const format = options.format ?? (file.endsWith(".safetensors") ? "torchvision" : "tfjs");
        if (format !== "tfjs" && format !== "torchvision") throw new UsageError("--format is tfjs or torchvision");
        if (!/^\d+,\d+,\d+$/.test(options.inputShape)) throw new UsageError(`--input-shape is H,W,C, got ${options.inputShape}`);
        const form = new FormData();
        form.append("name", options.name);
        form.append("architecture", options.arch);
        form.append("format", format);
        form.append("inputShape", options.inputShape);
        const architectureOptions = jsonOption(options.options, "--options");
        if (architectureOptions !== undefined) form.append("architectureOptions", JSON.stringify(architectureOptions));
        const labels = jsonOption(options.labels, "--labels");
        if (labels !== undefined) form.append("labels", JSON.stringify(labels));
        form.append("file", readFile(file), basename(file));
        const { client } = connect(command.optsWithGlobals(), process.env);
        // A multipart body: the route declares no JSON body, so the form goes as it is.
        const version = await dataOf(
          client.POST("/v1/models/import", { body: form as never, bodySerializer: (value: unknown) => value as never }),
        );
        console.log(`imported ${options.name} version ${version.version} (${version.architecture}, ${format})`);
      },
    );

  models
    .command("predict")
    .description("Classifies images with a registered model: the top labels and probabilities of each image.")
    .argument("<model>", "NAME@VERSION, NAME@ALIAS (e.g. fashion-lenet@production), or NAME for its latest version")
    .argument("<images...>", "PNG, JPEG or WebP files (at most 64)")
    .option("--top-k <k>", "how many labels per image", positiveInt, 5)
    .option("--json", "print the API's answer as JSON")
    .action(async (model: string, images: string[], options: { topK: number; json?: boolean }, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      const { name, ref: given } = modelRef(model);
      const ref = await refOrLatest(client, name, given);
      const form = new FormData();
      for (const image of images) form.append("image", readFile(image), basename(image));
      const answer = await dataOf(
        client.POST("/v1/models/{name}/versions/{ref}/predict", {
          params: { path: { name, ref }, query: { topK: options.topK } },
          body: form as never,
          bodySerializer: (value: unknown) => value as never,
        }),
      );
      if (options.json) return printJson(answer);
      answer.predictions.forEach((prediction, index) => {
        const top = prediction.top.map((entry) => `${entry.label} ${(entry.probability * 100).toFixed(1)}%`).join(", ");
        console.log(`${images[index]}\t${top}`);
      });
    });
}

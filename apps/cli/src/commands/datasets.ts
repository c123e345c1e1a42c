import { createReadStream, statSync } from "node:fs";
import { basename } from "node:path";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import type { Command } from "commander";
import { dataOf } from "@trainyard/client";
import { connect } from "../connection.ts";
import { UsageError } from "../errors.ts";
import { printJson, printTable } from "../output.ts";
import { createProgressPrinter } from "../progressBar.ts";

interface DatasetView {
  id: string;
  name: string;
  status: string;
  builtin: boolean;
  classes: string[];
  counts: { train: number; val: number; test: number };
  imageShape: number[] | null;
  error: string | null;
  createdAt: string;
}

const WIDTH = 30;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** The multipart body of POST /v1/datasets, streamed from the file, counting bytes as they are read. */
function uploadBody(name: string, path: string, size: number, onBytes: (sent: number) => void) {
  const boundary = `----trainyard${randomBytes(12).toString("hex")}`;
  const head = Buffer.from(
    `--${boundary}\r\ncontent-disposition: form-data; name="name"\r\n\r\n${name}\r\n` +
      `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${basename(path).replace(/"/g, "")}"\r\n` +
      "content-type: application/octet-stream\r\n\r\n",
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  async function* parts() {
    yield head;
    let sent = 0;
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
      sent += (chunk as Buffer).length;
      onBytes(sent);
      yield chunk as Buffer;
    }
    yield tail;
  }
  return {
    body: Readable.toWeb(Readable.from(parts())),
    headers: { "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": String(head.length + size + tail.length) },
  };
}

function datasetRow(dataset: DatasetView) {
  const counts = `${dataset.counts.train}/${dataset.counts.val}/${dataset.counts.test}`;
  return [dataset.id, dataset.name, dataset.status, dataset.classes.length, counts, dataset.imageShape?.join("×"), dataset.error];
}
const HEADER = ["ID", "NAME", "STATUS", "CLASSES", "TRAIN/VAL/TEST", "IMAGE", "ERROR"];

export function registerDatasets(program: Command) {
  const datasets = program.command("datasets").summary("upload, list, inspect and delete data sets");

  datasets
    .command("upload")
    .description(
      "Uploads a .zip or .tar.gz in ImageFolder layout (train/<class>/<image>, optional val/ and test/) or CSV layout\n" +
        "(train.csv with image,label columns). A progress bar on stderr; prints the data set's id.",
    )
    .argument("<file>", "the archive")
    .requiredOption("--name <name>", "the data set's name")
    .option("--wait", "wait until processing is done (exit 1 if it failed)")
    .option("--json", "print the data set as JSON")
    .action(async (file: string, options: { name: string; wait?: boolean; json?: boolean }, command: Command) => {
      let size: number;
      try {
        size = statSync(file).size;
      } catch {
        throw new UsageError(`cannot read ${file}`);
      }
      const { client } = connect(command.optsWithGlobals(), process.env);
      const printer = createProgressPrinter(process.stderr);
      const { body, headers } = uploadBody(options.name, file, size, (sent) => {
        const filled = Math.round((sent / Math.max(size, 1)) * WIDTH);
        printer.update(`[${"█".repeat(filled)}${"░".repeat(WIDTH - filled)}] ${mib(sent)} / ${mib(size)} uploading ${basename(file)}`);
      });
      let dataset = (await dataOf(
        client.POST("/v1/datasets", { body: body as never, bodySerializer: (value: unknown) => value, headers, duplex: "half" } as never),
      )) as DatasetView;
      printer.done();
      if (options.wait) {
        // Processing has no event stream: ask every second until it leaves `processing`.
        while (dataset.status === "processing") {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          dataset = (await dataOf(client.GET("/v1/datasets/{id}", { params: { path: { id: dataset.id } } }))) as DatasetView;
        }
      }
      if (options.json) printJson(dataset);
      else console.log(`data set ${dataset.id} ${dataset.status}${dataset.error ? `: ${dataset.error}` : ""}`);
      if (dataset.status === "failed") process.exitCode = 1;
    });

  datasets
    .command("list")
    .description("Built-in data sets and the tenant's uploads.")
    .option("--json", "print them as JSON")
    .action(async (options: { json?: boolean }, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      const page = (await dataOf(client.GET("/v1/datasets"))) as { items: DatasetView[] };
      if (options.json) return printJson(page);
      printTable(HEADER, page.items.map(datasetRow));
    });

  datasets
    .command("get")
    .description("One data set as JSON: status, classes, counts, image shape, error.")
    .argument("<id>", "the data set's id (a built-in one's is its name)")
    .action(async (id: string, _options: object, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      printJson(await dataOf(client.GET("/v1/datasets/{id}", { params: { path: { id } } })));
    });

  datasets
    .command("delete")
    .description("Deletes an uploaded data set and its files (409 while a queued or running job uses it).")
    .argument("<id>", "the data set's id")
    .action(async (id: string, _options: object, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      await dataOf(client.DELETE("/v1/datasets/{id}", { params: { path: { id } } }));
      console.log(`deleted data set ${id}`);
    });
}

import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { FINISHED_STATUSES, type JobStatus } from "@trainyard/shared";
import { parseOptions, requireInt, UsageError } from "../args.ts";
import { ApiClient } from "../client.ts";
import { apiBaseUrl } from "../env.ts";
import { createProgressPrinter, renderProgress } from "../progressBar.ts";

interface JobResponse {
  id: string;
  status: string;
  progress: Parameters<typeof renderProgress>[0]["progress"];
  latestMetrics: Parameters<typeof renderProgress>[0]["latestMetrics"];
  result: { testLoss: number; testAccuracy: number; bestEpoch: number } | null;
  error: { code: string; message: string } | null;
  backend: string | null;
}

/** Polls the job once a second, drawing the bar, until it finishes; the job's log events are printed as they come. */
export async function followJob(client: ApiClient, jobId: string): Promise<JobResponse> {
  const printer = createProgressPrinter();
  const logs = new AbortController();
  const logLines = printLogEvents(client, jobId, (line) => printer.log(`trainyard: ${line}`), logs.signal);
  try {
    for (;;) {
      const job = await client.request<JobResponse>("GET", `/v1/jobs/${jobId}`);
      printer.update(renderProgress(job));
      if (FINISHED_STATUSES.includes(job.status as JobStatus)) {
        printer.done();
        return job;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    logs.abort();
    await logLines;
  }
}

/** Reads the job's event stream (SSE) and hands each `log` event's message to `print`; best effort. */
async function printLogEvents(client: ApiClient, jobId: string, print: (line: string) => void, signal: AbortSignal): Promise<void> {
  try {
    const response = await fetch(`${client.baseUrl}/v1/jobs/${jobId}/events`, { headers: client.headers, signal });
    if (!response.ok || !response.body) return;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      const blocks = buffered.split("\n\n");
      buffered = blocks.pop() ?? "";
      for (const block of blocks) {
        const lines = block.split("\n");
        if (!lines.includes("event: log")) continue;
        const data = lines.find((line) => line.startsWith("data: "));
        const message = data ? (JSON.parse(data.slice("data: ".length)) as { message?: unknown }).message : undefined;
        if (typeof message === "string") print(message);
      }
    }
  } catch {
    // Aborted when the job finished, or the stream broke: the bar does not depend on it.
  }
}

/** Saves model.json, the weights and labels.json of the best checkpoint into a folder. */
export async function downloadModel(client: ApiClient, jobId: string, folder: string): Promise<string> {
  const directory = resolve(folder);
  mkdirSync(directory, { recursive: true });
  const modelJson = await client.request<{ weightsManifest: { paths: string[] }[] }>("GET", `/v1/jobs/${jobId}/model/model.json`);
  writeFileSync(join(directory, "model.json"), JSON.stringify(modelJson));
  for (const path of modelJson.weightsManifest.flatMap((group) => group.paths)) {
    writeFileSync(join(directory, path), await client.download(`/v1/jobs/${jobId}/model/${path}`));
  }
  writeFileSync(join(directory, "model.zip"), await client.download(`/v1/jobs/${jobId}/model`));
  return directory;
}

export async function trainCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const options = parseOptions(argv, {
    arch: { type: "string", default: "lenet" },
    dataset: { type: "string", default: "fashion-mnist" },
    epochs: { type: "string" },
    "batch-size": { type: "string" },
    "learning-rate": { type: "string" },
    "max-train-samples": { type: "string" },
    follow: { type: "boolean", default: false },
    out: { type: "string" },
    key: { type: "string" },
    api: { type: "string" },
  });
  const apiKey = options.key ?? env.TRAINYARD_API_KEY;
  if (!apiKey)
    throw new UsageError("an API key is needed: --key or TRAINYARD_API_KEY (create one with `trainyard keys create --tenant NAME`)");
  const client = new ApiClient(options.api ?? apiBaseUrl(env), apiKey);
  const training: Record<string, unknown> = { epochs: requireInt(options.epochs, "epochs", 10) };
  if (options["batch-size"]) training.batchSize = requireInt(options["batch-size"], "batch-size");
  if (options["max-train-samples"]) training.maxTrainSamples = requireInt(options["max-train-samples"], "max-train-samples");
  if (options["learning-rate"]) training.optimizer = { learningRate: Number(options["learning-rate"]) };
  const job = await client.request<JobResponse>("POST", "/v1/jobs", {
    architecture: options.arch,
    dataset: { name: options.dataset },
    training,
  });
  console.log(`submitted job ${job.id}`);
  if (!options.follow) return 0;
  const finished = await followJob(client, job.id);
  if (finished.status !== "succeeded" || !finished.result) {
    console.error(`job ${finished.id} ${finished.status}${finished.error ? `: ${finished.error.code} ${finished.error.message}` : ""}`);
    return 1;
  }
  console.log(
    `trained on backend ${finished.backend}; test accuracy ${(finished.result.testAccuracy * 100).toFixed(2)}% (best epoch ${finished.result.bestEpoch})`,
  );
  const folder = await downloadModel(client, finished.id, options.out ?? join("models", finished.id));
  console.log(`model saved to ${folder}`);
  return 0;
}

import { parentPort } from "node:worker_threads";
import { describeModel, ModelOptionError, type BuildOptions } from "@trainyard/models";
import type { SummaryReply, SummaryRequest } from "./summaries.ts";

/** The thread that describes models, so that no build ever runs on the API's event loop. */
const port = parentPort!;
port.on("message", ({ id, name, options }: SummaryRequest) => {
  let reply: SummaryReply;
  try {
    reply = { id, summary: describeModel(name, options as BuildOptions) };
  } catch (error) {
    reply =
      error instanceof ModelOptionError
        ? { id, optionError: { path: error.path, message: error.message } }
        : { id, failure: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
  port.postMessage(reply);
});
port.postMessage({ ready: true });

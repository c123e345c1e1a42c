import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import {
  importModelFiles,
  ModelOptionError,
  SafetensorsError,
  WeightsMismatchError,
  type ImportRequest,
  type ImportSource,
} from "@trainyard/models";

/**
 * One import, off the API's event loop: builds the architecture, maps the uploaded weights into it and
 * answers the TF.js layers files (or what does not fit). Started per import by modelImport.ts.
 */
export interface ImportThreadInput {
  request: ImportRequest;
  source: ImportSource;
}

export type ImportThreadReply =
  | { ok: true; modelJson: Record<string, unknown>; weights: Uint8Array; classes: number }
  | { ok: false; badInput: boolean; message: string; path: string; problems: string[] };

function replyOf(error: unknown): ImportThreadReply {
  if (error instanceof WeightsMismatchError)
    return { ok: false, badInput: true, message: error.message, path: "file", problems: error.problems };
  if (error instanceof SafetensorsError)
    return {
      ok: false,
      badInput: true,
      message: `the file is not valid safetensors: ${error.message}`,
      path: "file",
      problems: [error.message],
    };
  if (error instanceof ModelOptionError)
    return { ok: false, badInput: true, message: error.message, path: error.path, problems: [error.message] };
  return { ok: false, badInput: false, message: (error as Error).message ?? String(error), path: "", problems: [] };
}

async function run(input: ImportThreadInput): Promise<void> {
  let reply: ImportThreadReply;
  try {
    await tf.setBackend("cpu");
    const { files, classes } = importModelFiles(input.request, input.source);
    reply = { ok: true, modelJson: files.modelJson, weights: files.weights, classes };
  } catch (error) {
    reply = replyOf(error);
  }
  parentPort?.postMessage(reply, reply.ok ? [reply.weights.buffer as ArrayBuffer] : []);
}

parentPort?.once("message", (input: ImportThreadInput) => void run(input));

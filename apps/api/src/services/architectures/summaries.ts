import type { Worker } from "node:worker_threads";
import { getModelDefinition, type InputShape, type ModelSummary } from "@trainyard/models";
import { badRequest, unavailable, type FieldError } from "../../problems.ts";
import { startWorkerThread } from "@trainyard/shared";

export interface SummaryRequest {
  id: number;
  name: string;
  options: { inputShape: InputShape; classes: number; options?: Record<string, unknown> };
}

export type SummaryReply =
  { id: number; summary: ModelSummary } | { id: number; optionError: FieldError } | { id: number; failure: string };

export interface SummaryLimits {
  /** Parameters a model may have (TRAINYARD_MAX_PARAMS). */
  maxParams: number;
  /** Floats of all layer outputs for one sample (TRAINYARD_MAX_ACTIVATIONS). */
  maxActivations: number;
}

/** How a caller names the request's fields in errors: the summary route's query, or a job spec. */
export interface FieldNames {
  classes: string;
  inputShape: string;
  architectureOptions: string;
}

const CACHE_SIZE = 512;
const TIMEOUT_MS = 30_000;
const count = (value: number) => value.toLocaleString("en-US");

/**
 * Model summaries (layers, shapes, parameter and activation counts) described off the event
 * loop in one worker thread, without allocating weights, cached per (architecture, options,
 * shape, classes), and held to a parameter and activation budget: above it, a 400 naming what
 * is too big.
 */
export function createArchitectureSummaries(limits: SummaryLimits) {
  const cache = new Map<string, Promise<ModelSummary | FieldError>>();
  const waiting = new Map<number, { resolve: (reply: SummaryReply) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let thread: Worker | null = null;
  let closed = false;

  function threadFor(): Worker {
    if (thread) return thread;
    const started = startWorkerThread(new URL("./summaryThread.ts", import.meta.url));
    started.unref();
    started.on("message", (reply: SummaryReply | { ready: true }) => {
      if (!("id" in reply)) return;
      waiting.get(reply.id)?.resolve(reply);
      waiting.delete(reply.id);
    });
    const lost = (error: Error) => {
      if (thread === started) thread = null;
      for (const { reject } of waiting.values()) reject(error);
      waiting.clear();
    };
    started.on("error", () => lost(unavailable("the model could not be described just now; try again")));
    // A thread that died (or was stopped for a hung build) fails what it had: the next request starts another.
    started.on("exit", () => lost(unavailable("the model could not be described just now; try again")));
    thread = started;
    return started;
  }

  function describe(request: Omit<SummaryRequest, "id">): Promise<ModelSummary | FieldError> {
    if (closed) return Promise.reject(unavailable("the API is shutting down"));
    const id = nextId++;
    const worker = threadFor();
    return new Promise<SummaryReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A build that hangs is stopped with its thread; the next request starts a new one.
        void worker.terminate();
        reject(unavailable("describing the model took too long; try again"));
      }, TIMEOUT_MS);
      waiting.set(id, {
        resolve: (reply) => (clearTimeout(timer), resolve(reply)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      worker.postMessage({ id, ...request });
    }).then((reply) => {
      if ("summary" in reply) return reply.summary;
      if ("optionError" in reply) return reply.optionError;
      throw new Error(`describing ${request.name} failed: ${reply.failure}`);
    });
  }

  /** Cached, failures excepted (they may be the thread's, not the request's). */
  function cached(request: Omit<SummaryRequest, "id">): Promise<ModelSummary | FieldError> {
    const { name, options } = request;
    const key = JSON.stringify([name, options.inputShape, options.classes, sortedKeys(options.options ?? {})]);
    const hit = cache.get(key);
    if (hit) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    const pending = describe(request);
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
    return pending;
  }

  return {
    /**
     * The summary, or a 400: options the architecture cannot build, an input larger than the
     * activation budget (checked before anything is built), or a model over either budget.
     */
    async summary(
      name: string,
      options: SummaryRequest["options"],
      fields: FieldNames = { classes: "classes", inputShape: "inputShape", architectureOptions: "architectureOptions" },
    ): Promise<ModelSummary> {
      const [height, width, channels] = options.inputShape;
      const inputFloats = height * width * channels;
      if (inputFloats > limits.maxActivations) {
        const message =
          `an input of ${options.inputShape.join("×")} is ${count(inputFloats)} values per image; the activation budget ` +
          `is ${count(limits.maxActivations)} values per sample for all layers (TRAINYARD_MAX_ACTIVATIONS)`;
        throw badRequest(message, [{ path: fields.inputShape, message }]);
      }
      const result = await cached({ name, options });
      if (!("layers" in result)) {
        const path = result.path in fields ? fields[result.path as keyof FieldNames] : result.path;
        throw badRequest(result.message, [{ path, message: result.message }]);
      }
      checkBudget(result, fields);
      return result;
    },

    async close() {
      closed = true;
      await thread?.terminate();
      thread = null;
    },
  };

  function checkBudget(summary: ModelSummary, fields: FieldNames) {
    const described = `${summary.name} at ${summary.inputShape.join("×")} with ${count(summary.classes)} classes`;
    if (summary.totalParams > limits.maxParams) {
      const largest = summary.layers.reduce((a, b) => (b.params > a.params ? b : a));
      const lastWithParams = summary.layers.findLast((layer) => layer.params > 0)!;
      const definition = getModelDefinition(summary.name);
      const path =
        largest === lastWithParams
          ? fields.classes
          : summary.inputShape.join() !== definition.defaultInputShape.join()
            ? fields.inputShape
            : fields.architectureOptions;
      const message =
        `${described} has ${count(summary.totalParams)} parameters (its largest layer, ${largest.name} ` +
        `(${largest.className}), ${count(largest.params)}); at most ${count(limits.maxParams)} are allowed (TRAINYARD_MAX_PARAMS)`;
      throw badRequest(message, [{ path, message }]);
    }
    if (summary.activationFloatsPerSample > limits.maxActivations) {
      const message =
        `${described} has ${count(summary.activationFloatsPerSample)} activation values per sample; at most ` +
        `${count(limits.maxActivations)} are allowed (TRAINYARD_MAX_ACTIVATIONS): use a smaller inputShape`;
      throw badRequest(message, [{ path: fields.inputShape, message }]);
    }
  }
}

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortedKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

export type ArchitectureSummaries = ReturnType<typeof createArchitectureSummaries>;

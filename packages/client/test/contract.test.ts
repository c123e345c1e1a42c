import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import type { OpenAPI3 } from "openapi-typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { putArtifact } from "@trainyard/db";
import { createTrainyardClient, dataOf, TrainyardApiError, type TrainyardClient } from "../src/index.ts";
import { fetchOpenApiDocument, SCHEMA_FILE, schemaSourceOf } from "../scripts/schemaSource.ts";
import { multipartBody, solidPng, zip } from "../../../apps/api/test/helpers/archives.ts";
import { startTestApi, type TestApi } from "../../../apps/api/test/helpers/testApi.ts";
import { LABELS, lenetJob, trainedJob } from "../../../apps/api/test/helpers/trainedJobs.ts";
import { waitFor } from "../../../tests/helpers/processes.ts";
import { randomLenet } from "../../inference/test/lenet.ts";

/**
 * The typed client against its contract: the committed types are what the API's OpenAPI document
 * generates today, and each route answers what its declared response schema says.
 */
let api: TestApi;
let document: OpenAPI3;
let client: TrainyardClient;
let baseUrl: string;
/** "GET /v1/keys 200" → each answer's media type and body (JSON parsed, text as text, bytes and streams not kept). */
const answers = new Map<string, { mediaType: string; body: unknown }[]>();

beforeAll(async () => {
  // Model webhooks to a closed loopback port (their deliveries fail at once, offline), one inference thread.
  api = await startTestApi({ TRAINYARD_WEBHOOK_ALLOW_PRIVATE: "true", TRAINYARD_PREDICT_THREADS: "1" });
  await api.app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = api.app.server.address() as { port: number };
  baseUrl = `http://127.0.0.1:${port}`;
  document = (await fetch(`${baseUrl}/openapi.json`).then((response) => response.json())) as OpenAPI3;
  client = createTrainyardClient({ baseUrl, apiKey: api.keyA });
});

afterAll(async () => {
  await api?.close();
});

const isJson = (mediaType: string) => mediaType === "application/json" || mediaType.endsWith("+json");

function remember(method: string, template: string, response: Response, body: unknown) {
  const key = `${method} ${template} ${response.status}`;
  const mediaType = (response.headers.get("content-type") ?? "").split(";")[0].trim();
  answers.set(key, [...(answers.get(key) ?? []), { mediaType, body }]);
}

/** Records the answer under the route's method and path template, as the OpenAPI document names them. */
async function record<T>(method: string, template: string, call: Promise<{ data?: T; response: Response }>): Promise<T> {
  const { data, response } = await call;
  remember(method, template, response, data);
  return data as T;
}

/**
 * A request the typed client cannot make or would throw on (an error answer, a stream, a CSV),
 * recorded as `record` does. An event stream is not read: only its status and media type are.
 */
async function recordRaw(method: string, template: string, path: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    ...init,
    headers: { authorization: `Bearer ${api.keyA}`, ...(init.headers as Record<string, string> | undefined) },
  });
  const mediaType = (response.headers.get("content-type") ?? "").split(";")[0].trim();
  let body: unknown;
  if (mediaType === "text/event-stream") await response.body?.cancel();
  else if (isJson(mediaType)) body = await response.json();
  else if (mediaType.startsWith("text/")) body = await response.text();
  else await response.arrayBuffer();
  remember(method, template, response, body);
  return response;
}

const json = (body: unknown): RequestInit => ({
  method: "POST",
  body: JSON.stringify(body),
  headers: { "content-type": "application/json" },
});

/** A job whose best checkpoint is a real (random-weight) LeNet, stored as the worker stores it, so it predicts. */
async function predictableJob(): Promise<string> {
  const { stored } = await randomLenet([28, 28, 1], LABELS.length);
  const job = jobOf(await dataOf(client.POST("/v1/jobs", { body: lenetJob })));
  await api.db.$transaction(async (tx) => {
    const file = (kind: string, name: string, contentType: string, data: Buffer) =>
      putArtifact(tx, { jobId: job.id, kind, name, contentType, data });
    await file("best", "model.json", "application/json", Buffer.from(JSON.stringify(stored.modelJson)));
    await file("best", "weights.bin", "application/octet-stream", Buffer.from(stored.weights));
    await file("meta", "labels.json", "application/json", Buffer.from(JSON.stringify(LABELS)));
  });
  await api.db.job.update({ where: { id: job.id }, data: { status: "succeeded", finishedAt: new Date() } });
  return job.id;
}

/** A submit's answer: the job (a dry run's `{ spec, estimate }` is the other 200). */
function jobOf<T extends object | undefined>(answer: T): Extract<T, { id: string }> {
  if (!answer || !("id" in answer)) throw new Error(`expected a job, got ${JSON.stringify(answer)}`);
  return answer as Extract<T, { id: string }>;
}

describe("the typed client", () => {
  it("is generated from the API's current OpenAPI document (run `npm run client:generate` after changing a route)", async () => {
    const fresh = await schemaSourceOf(await fetchOpenApiDocument());
    expect(readFileSync(SCHEMA_FILE, "utf8")).toBe(fresh);
  });

  it("calls each route and gets answers that validate against the route's declared response schema", async () => {
    const png = await solidPng(8, 8, 128);
    const archive = await zip(["a", "b"].flatMap((label) => [0, 1, 2].map((i) => ({ name: `train/${label}/${i}.png`, data: png }))));
    const upload = multipartBody({ name: "contract" }, { filename: "set.zip", data: archive });
    const uploadBody = new Blob([upload.payload]);

    await record("GET", "/v1/architectures", client.GET("/v1/architectures"));
    await record(
      "GET",
      "/v1/architectures/{name}",
      client.GET("/v1/architectures/{name}", { params: { path: { name: "lenet" }, query: { classes: 10 } } }),
    );
    const dataset = await record(
      "POST",
      "/v1/datasets",
      client.POST("/v1/datasets", { body: uploadBody as never, bodySerializer: (body: unknown) => body, headers: upload.headers }),
    );
    await record("GET", "/v1/datasets", client.GET("/v1/datasets"));
    await record("GET", "/v1/datasets/{id}", client.GET("/v1/datasets/{id}", { params: { path: { id: (dataset as { id: string }).id } } }));
    await record("GET", "/v1/queue", client.GET("/v1/queue"));
    await api.db.worker.create({
      data: {
        id: "wrk_contract",
        host: "contract-host",
        pid: 42,
        status: "active",
        devices: [{ id: "cpu:0", name: "CPU", backend: "wasm", busyWithJob: null }],
      },
    });
    await record("GET", "/v1/workers", client.GET("/v1/workers"));
    const key = await record("POST", "/v1/keys", client.POST("/v1/keys", { body: { name: "contract" } }));
    await record("GET", "/v1/keys", client.GET("/v1/keys"));
    await dataOf(client.DELETE("/v1/keys/{id}", { params: { path: { id: (key as { id: string }).id } } }));

    const jobId = await trainedJob(api);
    await record(
      "POST",
      "/v1/models",
      client.POST("/v1/models", { body: { name: "contract-model", fromJobId: jobId, checkpoint: "best" } }),
    );
    await record("GET", "/v1/models", client.GET("/v1/models"));
    await record("GET", "/v1/models/{name}", client.GET("/v1/models/{name}", { params: { path: { name: "contract-model" } } }));
    await record(
      "PUT",
      "/v1/models/{name}/aliases/{alias}",
      client.PUT("/v1/models/{name}/aliases/{alias}", {
        params: { path: { name: "contract-model", alias: "production" } },
        body: { version: 1 },
      }),
    );
    await record("GET", "/v1/jobs", client.GET("/v1/jobs"));
    await record("GET", "/v1/jobs/{id}", client.GET("/v1/jobs/{id}", { params: { path: { id: jobId } } }));
    await record("GET", "/v1/jobs/{id}/metrics", client.GET("/v1/jobs/{id}/metrics", { params: { path: { id: jobId } } }));
    await recordRaw("GET", "/v1/jobs/{id}/metrics", `/v1/jobs/${jobId}/metrics?format=csv`);
    await record(
      "GET",
      "/v1/jobs/{id}/webhook-deliveries",
      client.GET("/v1/jobs/{id}/webhook-deliveries", { params: { path: { id: jobId } } }),
    );
    await recordRaw("GET", "/v1/jobs/{id}/model", `/v1/jobs/${jobId}/model?checkpoint=last`);
    await recordRaw("GET", "/v1/jobs/{id}/model/{file}", `/v1/jobs/${jobId}/model/model.json`);
    await recordRaw("GET", "/v1/jobs/{id}/model/{file}", `/v1/jobs/${jobId}/model/weights.bin`);
    await recordRaw("GET", "/v1/jobs/{id}/events", `/v1/jobs/${jobId}/events`);

    // A submit (202), the same submit again under its Idempotency-Key (200: the first job) and a dry run (200: spec and estimate).
    const spec = { architecture: "lenet", dataset: { name: "synthetic-shapes" }, training: { epochs: 2 }, tags: ["contract"] };
    const submit = () => client.POST("/v1/jobs", { body: spec, headers: { "idempotency-key": "contract-submit" } });
    const running = jobOf(await record("POST", "/v1/jobs", submit()));
    expect(jobOf(await record("POST", "/v1/jobs", submit())).id).toBe(running.id);
    await record("POST", "/v1/jobs", client.POST("/v1/jobs", { body: spec, params: { query: { dryRun: "true" } } }));
    // The JSON columns a worker writes while it trains (progress, latestMetrics), then a cancel (202, cancelling).
    await api.db.job.update({
      where: { id: running.id },
      data: {
        status: "running",
        progress: { epoch: 2, epochs: 2, step: 3, stepsPerEpoch: 10, fraction: 0.65, etaSeconds: null },
        latestMetrics: {
          epoch: 1,
          trainLoss: 0.7,
          trainAccuracy: 0.6,
          valLoss: null,
          valAccuracy: null,
          learningRate: 0.1,
          seconds: 2,
          samplesPerSecond: 50,
        },
        device: "cpu:0",
        devices: ["cpu:0"],
        backend: "wasm",
        workerId: "wrk_contract",
        startedAt: new Date(),
      },
    });
    const runningView = await record("GET", "/v1/jobs/{id}", client.GET("/v1/jobs/{id}", { params: { path: { id: running.id } } }));
    expect(runningView?.progress?.fraction).toBe(0.65);
    const cancelled = await record(
      "POST",
      "/v1/jobs/{id}/cancel",
      client.POST("/v1/jobs/{id}/cancel", { params: { path: { id: running.id } } }),
    );
    expect(cancelled?.status).toBe("cancelling");
    const failed = jobOf(await dataOf(client.POST("/v1/jobs", { body: spec })));
    await api.db.job.update({
      where: { id: failed.id },
      data: { status: "failed", errorCode: "LOSS_NOT_FINITE", errorMessage: "the loss is NaN", finishedAt: new Date() },
    });
    await record("GET", "/v1/jobs", client.GET("/v1/jobs", { params: { query: { tag: "contract", limit: 1 } } }));
    const failedView = await record("GET", "/v1/jobs/{id}", client.GET("/v1/jobs/{id}", { params: { path: { id: failed.id } } }));
    expect(failedView?.error).toEqual({ code: "LOSS_NOT_FINITE", message: "the loss is NaN" });

    // Error answers: problem details under the status each route declares.
    await recordRaw("GET", "/v1/jobs", "/v1/jobs", { headers: { authorization: "Bearer not-a-key" } });
    await recordRaw("GET", "/v1/jobs/{id}", "/v1/jobs/job_missing");
    await recordRaw("POST", "/v1/jobs", "/v1/jobs", {
      body: JSON.stringify({ architecture: "lenet", dataset: {}, training: { epochs: 0 } }),
      headers: { "content-type": "application/json" },
    });
    await recordRaw("POST", "/v1/jobs/{id}/cancel", `/v1/jobs/${jobId}/cancel`);
    await recordRaw("GET", "/v1/jobs/{id}/metrics", "/v1/jobs/job_missing/metrics");
    await recordRaw("GET", "/v1/jobs/{id}/events", "/v1/jobs/job_missing/events");
    await recordRaw("GET", "/v1/jobs/{id}/model", `/v1/jobs/${failed.id}/model`);
    await recordRaw("GET", "/v1/jobs/{id}/model/{file}", "/v1/jobs/job_missing/model/model.json");
    await recordRaw("GET", "/v1/jobs/{id}/webhook-deliveries", "/v1/jobs/job_missing/webhook-deliveries");

    // Model webhooks: one subscribed before a version is registered has a delivery (failed: nothing listens on port 9).
    const webhook = await record(
      "POST",
      "/v1/webhooks",
      client.POST("/v1/webhooks", { body: { url: "http://127.0.0.1:9/contract-hook", secret: "contract-webhook-secret" } }),
    );
    await recordRaw("POST", "/v1/webhooks", "/v1/webhooks", json({ url: "ftp://example.com/hook" }));
    await record("GET", "/v1/webhooks", client.GET("/v1/webhooks"));

    // Predictions (JSON instances) from a job's checkpoint and from the version registered from it.
    const predictJobId = await predictableJob();
    const instances = { instances: [Array.from({ length: 28 }, (_, y) => Array.from({ length: 28 }, (_, x) => [(x * 9 + y * 5) % 256]))] };
    expect((await recordRaw("POST", "/v1/jobs/{id}/predict", `/v1/jobs/${predictJobId}/predict?topK=2`, json(instances))).status).toBe(200);
    await recordRaw("POST", "/v1/jobs/{id}/predict", `/v1/jobs/${predictJobId}/predict`, json({ instances: [[[0]]] }));
    await recordRaw("POST", "/v1/jobs/{id}/predict", "/v1/jobs/job_missing/predict", json(instances));
    await recordRaw("POST", "/v1/jobs/{id}/predict", `/v1/jobs/${failed.id}/predict`, json(instances));
    await record(
      "POST",
      "/v1/models",
      client.POST("/v1/models", { body: { name: "contract-predict", fromJobId: predictJobId, checkpoint: "best" } }),
    );
    const versionPredict = "/v1/models/{name}/versions/{ref}/predict";
    expect((await recordRaw("POST", versionPredict, "/v1/models/contract-predict/versions/1/predict", json(instances))).status).toBe(200);
    await recordRaw("POST", versionPredict, "/v1/models/contract-predict/versions/9/predict", json(instances));
    const deliveries = await record(
      "GET",
      "/v1/webhooks/{id}/deliveries",
      client.GET("/v1/webhooks/{id}/deliveries", { params: { path: { id: webhook!.id } } }),
    );
    expect(deliveries?.items.map((delivery) => delivery.event)).toEqual(["model.version.created"]);
    const deleted = await fetch(`${baseUrl}/v1/webhooks/${webhook!.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${api.keyA}` },
    });
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe("");
    await recordRaw("DELETE", "/v1/webhooks/{id}", `/v1/webhooks/${webhook!.id}`);
    await recordRaw("GET", "/v1/webhooks/{id}/deliveries", `/v1/webhooks/${webhook!.id}/deliveries`);

    // A version's downloads (by alias and by number), and the version's zip imported back as a new model (tfjs).
    const versionModel = "/v1/models/{name}/versions/{ref}/model";
    const versionFile = "/v1/models/{name}/versions/{ref}/model/{file}";
    await recordRaw("GET", versionModel, "/v1/models/contract-model/versions/production/model");
    await recordRaw("GET", versionFile, "/v1/models/contract-model/versions/1/model/model.json");
    await recordRaw("GET", versionFile, "/v1/models/contract-model/versions/1/model/weights.bin");
    await recordRaw("GET", versionModel, "/v1/models/contract-model/versions/9/model");
    await recordRaw("GET", versionFile, "/v1/models/contract-model/versions/1/model/missing.bin");
    const exported = await fetch(`${baseUrl}/v1/models/contract-predict/versions/1/model`, {
      headers: { authorization: `Bearer ${api.keyA}` },
    });
    const importFields = {
      name: "contract-import",
      architecture: "lenet",
      inputShape: "[28, 28, 1]",
      labels: JSON.stringify(LABELS),
      format: "tfjs",
    };
    const imported = multipartBody(importFields, { filename: "model.zip", data: Buffer.from(await exported.arrayBuffer()) });
    const importCall = (body: ReturnType<typeof multipartBody>) =>
      recordRaw("POST", "/v1/models/import", "/v1/models/import", {
        method: "POST",
        body: new Blob([body.payload]),
        headers: body.headers,
      });
    expect((await importCall(imported)).status).toBe(201);
    await importCall(multipartBody(importFields));

    // A sweep: its first trial submitted and trained one epoch (so it has a value and the sweep a best), then cancelled.
    const sweepSpec = {
      name: "contract-sweep",
      base: { architecture: "lenet", dataset: { name: "synthetic-shapes" }, training: { epochs: 2 } },
      parameters: { "training.batchSize": { values: [16, 32] } },
      search: { type: "grid" as const },
      objective: { metric: "valAccuracy" as const, goal: "maximize" as const },
    };
    const sweep = await record("POST", "/v1/sweeps", client.POST("/v1/sweeps", { body: sweepSpec }));
    const sweepId = sweep!.id;
    const trialJobId = await waitFor(
      "the sweep's first trial submitted",
      async () => (await api.db.sweepTrial.findUnique({ where: { sweepId_index: { sweepId, index: 0 } } }))?.jobId,
      10_000,
      50,
    );
    await api.db.epochMetric.create({
      data: {
        jobId: trialJobId,
        epoch: 1,
        trainLoss: 1,
        trainAccuracy: 0.5,
        valLoss: 1,
        valAccuracy: 0.6,
        learningRate: 0.1,
        seconds: 1,
        samplesPerSecond: 10,
      },
    });
    // The status change wakes the planner, which records the trial's value and the sweep's best.
    await api.db.job.update({ where: { id: trialJobId }, data: { status: "running", startedAt: new Date() } });
    await waitFor("the sweep's best", async () => (await api.db.sweep.findUnique({ where: { id: sweepId } }))?.best, 10_000, 50);
    await record("GET", "/v1/sweeps", client.GET("/v1/sweeps"));
    const sweepView = await record("GET", "/v1/sweeps/{id}", client.GET("/v1/sweeps/{id}", { params: { path: { id: sweepId } } }));
    expect(sweepView?.best).toMatchObject({ jobId: trialJobId, value: 0.6 });
    const trials = await record(
      "GET",
      "/v1/sweeps/{id}/trials",
      client.GET("/v1/sweeps/{id}/trials", { params: { path: { id: sweepId } } }),
    );
    // The second is not submitted yet (maxParallel 1): queued without a job.
    expect(trials?.items.map((trial) => [trial.status, trial.jobId])).toEqual([
      ["running", trialJobId],
      ["queued", null],
    ]);
    const stopped = await record(
      "POST",
      "/v1/sweeps/{id}/cancel",
      client.POST("/v1/sweeps/{id}/cancel", { params: { path: { id: sweepId } } }),
    );
    expect(stopped?.status).toBe("cancelled");
    await recordRaw("POST", "/v1/sweeps/{id}/cancel", `/v1/sweeps/${sweepId}/cancel`);
    await recordRaw("POST", "/v1/sweeps", "/v1/sweeps", json({ ...sweepSpec, parameters: { "training.batchSize": { values: [32, 0] } } }));
    await recordRaw("GET", "/v1/sweeps/{id}", "/v1/sweeps/sw_missing");
    await recordRaw("GET", "/v1/sweeps/{id}/trials", "/v1/sweeps/sw_missing/trials");

    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    // Every answer's status and media type is declared; a JSON or text body validates against its schema.
    const validated = new Set<string>();
    for (const [key, bodies] of answers) {
      const [method, template, status] = key.split(" ");
      const operation = (document.paths?.[template] as Record<string, any> | undefined)?.[method.toLowerCase()];
      for (const { mediaType, body } of bodies) {
        const schema = operation?.responses?.[status]?.content?.[mediaType]?.schema;
        expect(schema, `${key} ${mediaType}: not declared`).toBeDefined();
        if (!isJson(mediaType) && !mediaType.startsWith("text/")) continue;
        if (mediaType === "text/event-stream") continue;
        const validate = ajv.compile(schema);
        expect(validate(body), `${key} ${mediaType}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      }
      validated.add(key);
    }
    const declared = [
      "GET /v1/architectures 200",
      "GET /v1/architectures/{name} 200",
      "POST /v1/datasets 201",
      "GET /v1/datasets 200",
      "GET /v1/datasets/{id} 200",
      "GET /v1/queue 200",
      "GET /v1/workers 200",
      "POST /v1/keys 201",
      "GET /v1/keys 200",
      "POST /v1/models 201",
      "GET /v1/models 200",
      "GET /v1/models/{name} 200",
      "PUT /v1/models/{name}/aliases/{alias} 200",
      "POST /v1/jobs 202",
      "POST /v1/jobs 200",
      "GET /v1/jobs 200",
      "GET /v1/jobs/{id} 200",
      "POST /v1/jobs/{id}/cancel 202",
      "GET /v1/jobs/{id}/metrics 200",
      "GET /v1/jobs/{id}/events 200",
      "GET /v1/jobs/{id}/model 200",
      "GET /v1/jobs/{id}/model/{file} 200",
      "GET /v1/jobs/{id}/webhook-deliveries 200",
      "GET /v1/jobs 401",
      "GET /v1/jobs/{id} 404",
      "POST /v1/jobs 400",
      "POST /v1/jobs/{id}/cancel 409",
      "GET /v1/jobs/{id}/metrics 404",
      "GET /v1/jobs/{id}/events 404",
      "GET /v1/jobs/{id}/model 409",
      "GET /v1/jobs/{id}/model/{file} 404",
      "GET /v1/jobs/{id}/webhook-deliveries 404",
      "POST /v1/webhooks 201",
      "POST /v1/webhooks 400",
      "GET /v1/webhooks 200",
      "GET /v1/webhooks/{id}/deliveries 200",
      "GET /v1/webhooks/{id}/deliveries 404",
      "DELETE /v1/webhooks/{id} 404",
      "POST /v1/jobs/{id}/predict 200",
      "POST /v1/jobs/{id}/predict 400",
      "POST /v1/jobs/{id}/predict 404",
      "POST /v1/jobs/{id}/predict 409",
      "POST /v1/models/{name}/versions/{ref}/predict 200",
      "POST /v1/models/{name}/versions/{ref}/predict 404",
      "GET /v1/models/{name}/versions/{ref}/model 200",
      "GET /v1/models/{name}/versions/{ref}/model 404",
      "GET /v1/models/{name}/versions/{ref}/model/{file} 200",
      "GET /v1/models/{name}/versions/{ref}/model/{file} 404",
      "POST /v1/models/import 201",
      "POST /v1/models/import 400",
      "POST /v1/sweeps 202",
      "POST /v1/sweeps 400",
      "GET /v1/sweeps 200",
      "GET /v1/sweeps/{id} 200",
      "GET /v1/sweeps/{id} 404",
      "GET /v1/sweeps/{id}/trials 200",
      "GET /v1/sweeps/{id}/trials 404",
      "POST /v1/sweeps/{id}/cancel 202",
      "POST /v1/sweeps/{id}/cancel 409",
    ];
    for (const key of declared) expect(validated.has(key), key).toBe(true);
    // Each media type a route streams was seen (a CSV, an event stream, a zip, model.json and a weight file).
    const mediaTypesOf = (key: string) => answers.get(key)?.map((answer) => answer.mediaType);
    expect(mediaTypesOf("GET /v1/jobs/{id}/metrics 200")).toEqual(["application/json", "text/csv"]);
    expect(mediaTypesOf("GET /v1/jobs/{id}/events 200")).toEqual(["text/event-stream"]);
    expect(mediaTypesOf("GET /v1/jobs/{id}/model 200")).toEqual(["application/zip"]);
    expect(mediaTypesOf("GET /v1/jobs/{id}/model/{file} 200")).toEqual(["application/json", "application/octet-stream"]);
    expect(mediaTypesOf("GET /v1/models/{name}/versions/{ref}/model 200")).toEqual(["application/zip"]);
    expect(mediaTypesOf("GET /v1/models/{name}/versions/{ref}/model/{file} 200")).toEqual(["application/json", "application/octet-stream"]);
  });

  it("declares a success body for every route but those that answer none (204)", () => {
    const successStatus = (responses: Record<string, { content?: unknown }>) =>
      Object.keys(responses).find((status) => status.startsWith("2") && responses[status].content);
    const without = Object.entries(document.paths ?? {}).flatMap(([template, operations]) =>
      Object.entries(operations as Record<string, { responses?: Record<string, { content?: unknown }> }>)
        .filter(([, operation]) => !successStatus(operation.responses ?? {}))
        .map(([method]) => `${method.toUpperCase()} ${template}`),
    );
    const noContent = [
      "DELETE /v1/datasets/{id}",
      "DELETE /v1/keys/{id}",
      "DELETE /v1/models/{name}/versions/{version}",
      "DELETE /v1/webhooks/{id}",
    ];
    expect(without.filter((operation) => !noContent.includes(operation))).toEqual([]);
    // Those declare their 204, not a default 200 the route never sends.
    for (const operation of noContent) {
      const [method, template] = operation.split(" ");
      const responses = (document.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)[template][
        method.toLowerCase()
      ].responses;
      expect(
        Object.keys(responses).filter((status) => status.startsWith("2")),
        operation,
      ).toEqual(["204"]);
    }
  });

  it("rejects a non-2xx answer with the problem's detail and status", async () => {
    const error = await dataOf(client.GET("/v1/datasets/{id}", { params: { path: { id: "ds_missing" } } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainyardApiError);
    expect((error as TrainyardApiError).status).toBe(404);
    expect((error as TrainyardApiError).message).toBe("GET /v1/datasets/ds_missing → 404: data set ds_missing not found");
  });
});

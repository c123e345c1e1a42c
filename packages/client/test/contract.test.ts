import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import type { OpenAPI3 } from "openapi-typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTrainyardClient, dataOf, TrainyardApiError, type TrainyardClient } from "../src/index.ts";
import { fetchOpenApiDocument, SCHEMA_FILE, schemaSourceOf } from "../scripts/schemaSource.ts";
import { multipartBody, solidPng, zip } from "../../../apps/api/test/helpers/archives.ts";
import { startTestApi, type TestApi } from "../../../apps/api/test/helpers/testApi.ts";
import { trainedJob } from "../../../apps/api/test/helpers/trainedJobs.ts";

/**
 * The typed client against its contract: the committed types are what the API's OpenAPI document
 * generates today, and each route answers what its declared response schema says.
 */
let api: TestApi;
let document: OpenAPI3;
let client: TrainyardClient;
let baseUrl: string;
/** "GET /v1/keys 200" → the answer's body, for every call the client made. */
const answers = new Map<string, unknown[]>();

beforeAll(async () => {
  api = await startTestApi();
  await api.app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = api.app.server.address() as { port: number };
  baseUrl = `http://127.0.0.1:${port}`;
  document = (await fetch(`${baseUrl}/openapi.json`).then((response) => response.json())) as OpenAPI3;
  client = createTrainyardClient({ baseUrl, apiKey: api.keyA });
});

afterAll(async () => {
  await api?.close();
});

/** Records the answer under the route's method and path template, as the OpenAPI document names them. */
async function record<T>(method: string, template: string, call: Promise<{ data?: T; response: Response }>): Promise<T> {
  const { data, response } = await call;
  const key = `${method} ${template} ${response.status}`;
  answers.set(key, [...(answers.get(key) ?? []), data]);
  return data as T;
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

    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    let validated = 0;
    for (const [key, bodies] of answers) {
      const [method, template, status] = key.split(" ");
      const operation = (document.paths?.[template] as Record<string, any> | undefined)?.[method.toLowerCase()];
      const schema = operation?.responses?.[status]?.content?.["application/json"]?.schema;
      if (!schema) continue;
      const validate = ajv.compile(schema);
      for (const body of bodies) expect(validate(body), `${key}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      validated += 1;
    }
    // The routes this package's owner declared schemas for are all checked (jobs' and sweeps' once they declare theirs).
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
    ];
    for (const key of declared) expect(answers.has(key), key).toBe(true);
    expect(validated).toBeGreaterThanOrEqual(declared.length);
  });

  it("rejects a non-2xx answer with the problem's detail and status", async () => {
    const error = await dataOf(client.GET("/v1/datasets/{id}", { params: { path: { id: "ds_missing" } } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainyardApiError);
    expect((error as TrainyardApiError).status).toBe(404);
    expect((error as TrainyardApiError).message).toBe("GET /v1/datasets/ds_missing → 404: data set ds_missing not found");
  });
});

import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

/** Issue 13's model-building requests; the parameter budget is scaled so that LeNet at 1024×1024 is over it. */
const MAX_PARAMS = 100_000_000;
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({ TRAINYARD_MAX_PARAMS: String(MAX_PARAMS) });
});

afterAll(async () => {
  await api?.close();
});

const get = (url: string) => api.app.inject({ method: "GET", url, headers: auth(api.keyA) });
const dryRun = (payload: object) => api.app.inject({ method: "POST", url: "/v1/jobs?dryRun=true", headers: auth(api.keyA), payload });

function expectProblem(response: Awaited<ReturnType<typeof get>>, path: string, detail: RegExp) {
  expect(response.statusCode).toBe(400);
  expect(response.headers["content-type"]).toMatch(/^application\/problem\+json/);
  const body = response.json();
  expect(body.detail).toMatch(detail);
  expect(body.errors).toEqual([{ path, message: body.detail }]);
}

/** Runs `request` while sampling the event loop's delay: a build on the loop shows as a long stall. */
async function withLoopDelay<T>(request: () => Promise<T>): Promise<{ result: T; maxDelayMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const result = await request();
  histogram.disable();
  return { result, maxDelayMs: histogram.max / 1e6 };
}

describe("model summaries and dry runs under a budget (issue 13)", () => {
  it("answers GET /v1/architectures/alexnet?classes=100000 with a 400 naming classes, fast and off the event loop", async () => {
    const started = Date.now();
    const { result, maxDelayMs } = await withLoopDelay(() => get("/v1/architectures/alexnet?classes=100000"));
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(maxDelayMs).toBeLessThan(500);
    expectProblem(
      result,
      "classes",
      /^alexnet at 224×224×1 with 100,000 classes has \d[\d,]+ parameters \(its largest layer, head_fc .*at most 100,000,000 are allowed \(TRAINYARD_MAX_PARAMS\)$/,
    );
  });

  it("answers inputShape=100000,100000,1 with a 400 naming inputShape (a 500 RangeError before), summary and dry run", async () => {
    expectProblem(
      await get("/v1/architectures/lenet?inputShape=100000,100000,1"),
      "inputShape",
      /10,000,000,000 values per image.*TRAINYARD_MAX_ACTIVATIONS/,
    );
    // A job spec's inputShape is bounded by its schema (1024 a side): a 400 there too.
    const response = await dryRun({ architecture: "lenet", dataset: { name: "synthetic-shapes" }, inputShape: [100_000, 100_000, 1] });
    expect(response.statusCode).toBe(400);
    expect(response.json().errors.map((error: { path: string }) => error.path)).toContain("inputShape.0");
  });

  it("refuses a LeNet dry run at inputShape 1024×1024×1 over the parameter budget, naming inputShape", async () => {
    const { result, maxDelayMs } = await withLoopDelay(() =>
      dryRun({ architecture: "lenet", dataset: { name: "synthetic-shapes" }, inputShape: [1024, 1024, 1] }),
    );
    expect(maxDelayMs).toBeLessThan(500);
    expectProblem(result, "inputShape", /^lenet at 1024×1024×1 with \d+ classes has [\d,]+ parameters \(its largest layer, \w+ \(Dense\)/);
  });

  it("holds a job submission (not only a dry run) to TRAINYARD_MAX_PARAMS: a 400 naming inputShape, nothing queued", async () => {
    const jobsOf = async () => (await get("/v1/jobs?limit=200")).json().items.length;
    const before = await jobsOf();
    const spec = { architecture: "lenet", dataset: { name: "synthetic-shapes" }, inputShape: [1024, 1024, 1] };
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await api.app.inject({ method: "POST", url: "/v1/jobs", headers: auth(api.keyA), payload: spec });
      expectProblem(response, "inputShape", /^lenet at 1024×1024×1 with \d+ classes has [\d,]+ parameters .*\(TRAINYARD_MAX_PARAMS\)$/);
    }
    expect(await jobsOf()).toBe(before);
    // Within the budget, the same model is queued.
    const fits = await api.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: auth(api.keyA),
      payload: { ...spec, inputShape: [28, 28, 1] },
    });
    expect(fits.statusCode).toBe(202);
    expect(await jobsOf()).toBe(before + 1);
  });

  it("holds a job submission to TRAINYARD_MAX_ACTIVATIONS: a 400 naming inputShape", async () => {
    // LeNet's 28×28×1 input (784 values) is under this budget; its layers' outputs together are not.
    const small = await startTestApi({ TRAINYARD_MAX_ACTIVATIONS: "2000" });
    try {
      const response = await small.app.inject({
        method: "POST",
        url: "/v1/jobs",
        headers: auth(small.keyA),
        payload: { architecture: "lenet", dataset: { name: "synthetic-shapes" }, inputShape: [28, 28, 1] },
      });
      expectProblem(
        response,
        "inputShape",
        /^lenet at 28×28×1 .* activation values per sample; at most 2,000 are allowed \(TRAINYARD_MAX_ACTIVATIONS\)/,
      );
      const listed = await small.app.inject({ method: "GET", url: "/v1/jobs", headers: auth(small.keyA) });
      expect(listed.json().items).toEqual([]);
    } finally {
      await small.close();
    }
  });

  it("describes VGG-16 at 224×224×3 with 1000 classes (138 M parameters) off the event loop, then from the cache", async () => {
    const big = await startTestApi({ TRAINYARD_MAX_PARAMS: "150000000" });
    try {
      const url = "/v1/architectures/vgg16?inputShape=224,224,3&classes=1000";
      const { result, maxDelayMs } = await withLoopDelay(() => big.app.inject({ method: "GET", url, headers: auth(big.keyA) }));
      expect(result.statusCode).toBe(200);
      expect(result.json()).toMatchObject({ name: "vgg16", inputShape: [224, 224, 3], classes: 1000, totalParams: 138_357_544 });
      expect(maxDelayMs).toBeLessThan(500);
      const started = Date.now();
      const again = await big.app.inject({ method: "GET", url, headers: auth(big.keyA) });
      expect(Date.now() - started).toBeLessThan(100);
      expect(again.json()).toEqual(result.json());
    } finally {
      await big.close();
    }
  });

  it("reports activation memory per sample and per batch in the dry-run estimate", async () => {
    const spec = { architecture: "lenet", dataset: { name: "synthetic-shapes" }, training: { batchSize: 32 } };
    const response = await dryRun(spec);
    expect(response.statusCode).toBe(200);
    const { estimate } = response.json();
    expect(estimate.activationBytesPerSample).toBeGreaterThan(0);
    expect(estimate.activationBytesPerBatch).toBe(estimate.activationBytesPerSample * 32);
    expect(estimate.memoryBytes).toBeGreaterThanOrEqual(estimate.parameters * 4 * 2 + estimate.activationBytesPerBatch);
  });
});

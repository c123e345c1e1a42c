import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

let api: TestApi;
const lenetJob = { architecture: "lenet", dataset: { name: "synthetic-shapes" }, training: { epochs: 1 } };

beforeAll(async () => {
  api = await startTestApi();
});

afterAll(async () => {
  await api?.close();
});

/** `name{labels} value` lines of the exposition whose labels include all of `labels`. */
function values(text: string, name: string, labels: Record<string, string> = {}): number[] {
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
    .map((line) => Number(line.slice(line.lastIndexOf(" ") + 1)));
}

describe("GET /metrics", () => {
  it("counts jobs (PostgreSQL) and queue entries (Redis), and times requests by route pattern and status class", async () => {
    const ids: string[] = [];
    for (const priority of [0, 50]) {
      const response = await api.app.inject({
        method: "POST",
        url: "/v1/jobs",
        headers: auth(api.keyA),
        payload: { ...lenetJob, priority },
      });
      expect(response.statusCode).toBe(202);
      ids.push(response.json().id);
    }
    for (const id of ids)
      expect((await api.app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers: auth(api.keyA) })).statusCode).toBe(200);
    expect((await api.app.inject({ method: "GET", url: `/v1/jobs/${ids[0]}`, headers: auth(api.keyB) })).statusCode).toBe(404);
    expect((await api.app.inject({ method: "GET", url: `/no/such/${ids[0]}` })).statusCode).toBe(404);

    const response = await api.app.inject({ method: "GET", url: "/metrics" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = response.body;
    expect(values(text, "trainyard_jobs", { status: "queued" })).toEqual([2]);
    expect(values(text, "trainyard_jobs", { status: "running" })).toEqual([0]);
    // Both are waiting in BullMQ; a job with a priority waits as `prioritized`.
    const waiting =
      values(text, "trainyard_queue_jobs", { state: "waiting" })[0] + values(text, "trainyard_queue_jobs", { state: "prioritized" })[0];
    expect(waiting).toBe(2);
    expect(values(text, "trainyard_queue_jobs", { state: "active" })).toEqual([0]);
    expect(values(text, "trainyard_event_streams")).toEqual([0]);

    const count = "trainyard_http_request_duration_seconds_count";
    expect(values(text, count, { method: "POST", route: "/v1/jobs", status_class: "2xx" })).toEqual([2]);
    expect(values(text, count, { method: "GET", route: "/v1/jobs/:id", status_class: "2xx" })).toEqual([2]);
    expect(values(text, count, { method: "GET", route: "/v1/jobs/:id", status_class: "4xx" })).toEqual([1]);
    expect(values(text, count, { route: "unmatched", status_class: "4xx" })).toEqual([1]);
    expect(values(text, "trainyard_http_request_duration_seconds_sum", { method: "POST", route: "/v1/jobs" })[0]).toBeGreaterThan(0);
    for (const id of ids) expect(text).not.toContain(id);
    expect(values(text, "process_resident_memory_bytes")[0]).toBeGreaterThan(10e6);
  });
});

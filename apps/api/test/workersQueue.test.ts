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

async function createJob(key: string): Promise<string> {
  const response = await api.app.inject({ method: "POST", url: "/v1/jobs", headers: auth(key), payload: lenetJob });
  expect(response.statusCode).toBe(202);
  return response.json().id;
}

describe("GET /v1/workers", () => {
  it("lists workers, marks silent ones lost and shows only the caller's own job ids", async () => {
    const ownJob = await createJob(api.keyA);
    const foreignJob = await createJob(api.keyB);
    const device = (id: string, busyWithJob: string | null) => ({ id, name: id.toUpperCase(), backend: "cpu", busyWithJob });
    await api.db.worker.createMany({
      data: [
        { id: "wrk_live", host: "gpu-box", pid: 41, status: "active", devices: [device("gpu:0", ownJob), device("gpu:1", foreignJob)] },
        { id: "wrk_silent", host: "old-box", pid: 42, status: "active", devices: [], lastHeartbeatAt: new Date(Date.now() - 60_000) },
        {
          id: "wrk_gone",
          host: "older-box",
          pid: 43,
          status: "active",
          devices: [],
          lastHeartbeatAt: new Date(Date.now() - 2 * 86_400_000),
        },
      ],
    });
    const response = await api.app.inject({ method: "GET", url: "/v1/workers", headers: auth(api.keyA) });
    expect(response.statusCode).toBe(200);
    const workers = response.json();
    expect(workers.map((worker: { id: string }) => worker.id)).toEqual(["wrk_live", "wrk_silent"]);
    expect(workers[0]).toMatchObject({ host: "gpu-box", pid: 41, status: "active" });
    expect(workers[0].devices).toEqual([device("gpu:0", ownJob), device("gpu:1", null)]);
    expect(new Date(workers[0].lastHeartbeatAt).toISOString()).toBe(workers[0].lastHeartbeatAt);
    expect(workers[1].status).toBe("lost");

    const asB = (await api.app.inject({ method: "GET", url: "/v1/workers", headers: auth(api.keyB) })).json();
    expect(asB[0].devices.map((d: { busyWithJob: string | null }) => d.busyWithJob)).toEqual([null, foreignJob]);
  });

  it("needs a key", async () => {
    expect((await api.app.inject({ method: "GET", url: "/v1/workers" })).statusCode).toBe(401);
  });
});

describe("GET /v1/queue", () => {
  it("counts the caller's jobs by status, cancelling as running", async () => {
    const before = (await api.app.inject({ method: "GET", url: "/v1/queue", headers: auth(api.keyB) })).json();
    const cancelled = await createJob(api.keyB);
    await api.app.inject({ method: "POST", url: `/v1/jobs/${cancelled}/cancel`, headers: auth(api.keyB) });
    const running = await createJob(api.keyB);
    await api.db.job.update({ where: { id: running }, data: { status: "cancelling" } });
    await createJob(api.keyB);
    const response = await api.app.inject({ method: "GET", url: "/v1/queue", headers: auth(api.keyB) });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      queued: before.queued + 1,
      running: before.running + 1,
      succeeded: before.succeeded,
      failed: before.failed,
      cancelled: before.cancelled + 1,
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

let api: TestApi;
const jobWith = (training: Record<string, unknown>) => ({ architecture: "lenet", dataset: { name: "synthetic-shapes" }, training });

beforeAll(async () => {
  api = await startTestApi();
});

afterAll(async () => {
  await api?.close();
});

const submit = (training: Record<string, unknown>, url = "/v1/jobs") =>
  api.app.inject({ method: "POST", url, headers: auth(api.keyA), payload: jobWith(training) });

const device = (id: string) => ({ id, name: id.toUpperCase(), backend: null, busyWithJob: null });

describe("training.devices", () => {
  it("is 1 unless asked for, and an integer from 1 to 16", async () => {
    const plain = await submit({ epochs: 1 });
    expect(plain.statusCode).toBe(202);
    expect(plain.json().spec.training.devices).toBe(1);
    for (const devices of [0, 17, 1.5, "2"]) {
      const response = await submit({ epochs: 1, devices });
      expect(response.statusCode, `devices ${JSON.stringify(devices)}`).toBe(400);
      expect(JSON.stringify(response.json())).toContain("devices");
    }
  });

  it("waits while no worker has registered: one may come with enough GPUs", async () => {
    const response = await submit({ epochs: 1, devices: 4 });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ status: "queued", spec: { training: { devices: 4 } } });
  });

  it("is refused at submit when no registered worker has that many GPU slots, else queued", async () => {
    await api.db.worker.createMany({
      data: [
        // CPU slots do not count: the job asks for GPU slots.
        { id: "wrk_cpu", host: "cpu-box", pid: 1, status: "active", devices: [device("cpu:0"), device("cpu:1"), device("cpu:2")] },
        { id: "wrk_gpu", host: "gpu-box", pid: 2, status: "active", devices: [device("gpu:0"), device("gpu:1")] },
        // Gone for two days: not counted.
        {
          id: "wrk_gone",
          host: "old-box",
          pid: 3,
          status: "stopped",
          devices: [0, 1, 2, 3].map((i) => device(`gpu:${i}`)),
          lastHeartbeatAt: new Date(Date.now() - 2 * 86_400_000),
        },
      ],
    });
    const queuedBefore = await api.db.job.count();
    const tooMany = await submit({ epochs: 1, devices: 3 });
    expect(tooMany.statusCode).toBe(400);
    expect(JSON.stringify(tooMany.json())).toContain(
      "asks for 3 GPU slots of one worker; no registered worker has that many (the most is 2)",
    );
    expect(JSON.stringify(tooMany.json())).toContain('"training.devices"');
    // A dry run says the same, and neither queues anything.
    expect((await submit({ epochs: 1, devices: 3 }, "/v1/jobs?dryRun=true")).statusCode).toBe(400);
    expect(await api.db.job.count()).toBe(queuedBefore);
    // A busy or lost worker could still take it later: it waits.
    await api.db.worker.update({ where: { id: "wrk_gpu" }, data: { lastHeartbeatAt: new Date(Date.now() - 3_600_000) } });
    const enough = await submit({ epochs: 1, devices: 2 });
    expect(enough.statusCode).toBe(202);
    expect(enough.json().spec.training.devices).toBe(2);
    // A stopped worker seen within the day still counts (it may restart).
    await api.db.worker.update({ where: { id: "wrk_gpu" }, data: { status: "stopped" } });
    expect((await submit({ epochs: 1, devices: 2 })).statusCode).toBe(202);
  });
});

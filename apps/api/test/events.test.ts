import { Agent, get } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

interface SseEvent {
  id: string;
  event: string;
  data: any;
  receivedAt: number;
}

let api: TestApi;
let baseUrl: string;
const lenetJob = { architecture: "lenet", dataset: { name: "synthetic-shapes" }, training: { epochs: 2 } };
const metrics = {
  epoch: 1,
  trainLoss: 0.9,
  trainAccuracy: 0.6,
  valLoss: 1,
  valAccuracy: 0.55,
  learningRate: 0.9,
  seconds: 2,
  samplesPerSecond: 900,
};
const progress = (step: number) => ({ epoch: 1, epochs: 2, step, stepsPerEpoch: 100, fraction: step / 200, etaSeconds: 10 });

beforeAll(async () => {
  api = await startTestApi();
  await api.app.listen({ port: 0, host: "127.0.0.1" });
  baseUrl = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await api?.close();
});

function parseSse(text: string, receivedAt = Date.now()): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.split("\n\n")) {
    const fields = new Map<string, string>();
    for (const line of block.split("\n")) {
      const colon = line.indexOf(": ");
      if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 2));
    }
    if (fields.has("event"))
      events.push({ id: fields.get("id")!, event: fields.get("event")!, data: JSON.parse(fields.get("data")!), receivedAt });
  }
  return events;
}

/** A live stream over a real socket (node:http: fetch's pool reopens a connection after an abort). */
function openStream(url: string, headers: Record<string, string>, onEvents: (events: SseEvent[]) => void) {
  let buffer = "";
  const request = get(`${baseUrl}${url}`, { headers }, (response) => {
    response.setEncoding("utf8");
    response.on("error", () => undefined);
    response.on("data", (chunk: string) => {
      buffer += chunk;
      const complete = buffer.lastIndexOf("\n\n");
      if (complete < 0) return;
      const events = parseSse(buffer.slice(0, complete + 2));
      buffer = buffer.slice(complete + 2);
      if (events.length > 0) onEvents(events);
    });
    response.on("end", () => onEvents([]));
  });
  request.on("error", () => undefined);
  return { close: () => request.destroy() };
}

/** Collects events until the stream ends or `stopWhen` says enough, then disconnects. */
function follow(url: string, headers: Record<string, string>, stopWhen: (events: SseEvent[]) => boolean = () => false) {
  return new Promise<SseEvent[]>((resolve) => {
    const events: SseEvent[] = [];
    const stream = openStream(url, headers, (batch) => {
      events.push(...batch);
      if (batch.length === 0 || stopWhen(events)) {
        stream.close();
        resolve(events);
      }
    });
  });
}

async function createJob(key = api.keyA): Promise<string> {
  return (await api.app.inject({ method: "POST", url: "/v1/jobs", headers: auth(key), payload: lenetJob })).json().id;
}

async function addEvent(jobId: string, type: string, data: object): Promise<string> {
  return String((await api.db.jobEvent.create({ data: { jobId, type, data } })).id);
}

async function finishedJobWithHistory() {
  const jobId = await createJob();
  await api.db.job.update({ where: { id: jobId }, data: { status: "running" } });
  await addEvent(jobId, "status", { status: "running", workerId: "wrk_1", device: "cpu:0" });
  await addEvent(jobId, "epoch", metrics);
  await addEvent(jobId, "log", { level: "info", message: "checkpoint written" });
  await api.db.job.update({ where: { id: jobId }, data: { status: "succeeded", finishedAt: new Date() } });
  await addEvent(jobId, "status", { status: "succeeded", result: { testLoss: 0.5, testAccuracy: 0.8, bestEpoch: 1 } });
  return jobId;
}

describe("GET /v1/jobs/{id}/events", () => {
  it("replays stored events in order, each with an id, and ends after the terminal status", async () => {
    const jobId = await finishedJobWithHistory();
    const response = await api.app.inject({ method: "GET", url: `/v1/jobs/${jobId}/events`, headers: auth(api.keyA) });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toContain("text/event-stream");
    expect(response.headers["cache-control"]).toBe("no-cache");
    expect(response.body.startsWith("retry: ")).toBe(true);
    const events = parseSse(response.body);
    expect(events.map((event) => event.event)).toEqual(["status", "status", "epoch", "log", "status"]);
    expect(events.map((event) => event.data.status)).toEqual(["queued", "running", undefined, undefined, "succeeded"]);
    expect(events[2].data).toEqual(metrics);
    const ids = events.map((event) => BigInt(event.id));
    expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("resumes after Last-Event-ID with exactly the events that followed", async () => {
    const jobId = await finishedJobWithHistory();
    const all = parseSse((await api.app.inject({ method: "GET", url: `/v1/jobs/${jobId}/events`, headers: auth(api.keyA) })).body);
    const resumed = await api.app.inject({
      method: "GET",
      url: `/v1/jobs/${jobId}/events`,
      headers: { ...auth(api.keyA), "last-event-id": all[1].id },
    });
    expect(parseSse(resumed.body).map((event) => [event.id, event.event])).toEqual(all.slice(2).map((event) => [event.id, event.event]));
  });

  it("answers 404 for another tenant's job and 400 for a malformed Last-Event-ID", async () => {
    const jobId = await createJob();
    expect((await api.app.inject({ method: "GET", url: `/v1/jobs/${jobId}/events`, headers: auth(api.keyB) })).statusCode).toBe(404);
    const malformed = await api.app.inject({
      method: "GET",
      url: `/v1/jobs/${jobId}/events`,
      headers: { ...auth(api.keyA), "last-event-id": "abc" },
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().errors.map((error: { path: string }) => error.path)).toContain("last-event-id");
    const tooLarge = await api.app.inject({
      method: "GET",
      url: `/v1/jobs/${jobId}/events`,
      headers: { ...auth(api.keyA), "last-event-id": "9".repeat(19) },
    });
    expect(tooLarge.statusCode).toBe(400);
  });

  it("follows a running job: progress at most once a second with the last stored id, then epochs and the end", async () => {
    const jobId = await createJob();
    await api.db.job.update({ where: { id: jobId }, data: { status: "running", progress: progress(1) } });
    const runningId = await addEvent(jobId, "status", { status: "running" });
    const writerStartedAt = Date.now();
    const writer = (async () => {
      for (let step = 2; step <= 30; step += 1) {
        await api.db.job.update({ where: { id: jobId }, data: { progress: progress(step) } });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await addEvent(jobId, "epoch", metrics);
      await api.db.job.update({ where: { id: jobId }, data: { status: "succeeded", finishedAt: new Date() } });
      await addEvent(jobId, "status", { status: "succeeded" });
    })();
    const events = await follow(`/v1/jobs/${jobId}/events`, auth(api.keyA));
    await writer;
    const writerSeconds = (Date.now() - writerStartedAt) / 1000;
    expect(events.at(0)?.data.status).toBe("queued");
    expect(events.at(-1)?.data.status).toBe("succeeded");
    const progressEvents = events.filter((event) => event.event === "progress");
    expect(progressEvents.length).toBeGreaterThanOrEqual(2);
    // 29 writes 0.1 s apart take about 3 s (longer on a loaded machine): at most one progress event a second of it.
    expect(progressEvents.length).toBeLessThanOrEqual(Math.floor(writerSeconds) + 1);
    for (let i = 1; i < progressEvents.length; i += 1) {
      expect(progressEvents[i].receivedAt - progressEvents[i - 1].receivedAt).toBeGreaterThanOrEqual(900);
    }
    // Each progress event carries the id of the last stored event before it (the running status, or the
    // epoch when the last progress waited for its interval past it); the last is step 30, before the close.
    progressEvents.forEach((event) => {
      const storedBefore = events.slice(0, events.indexOf(event)).filter((earlier) => earlier.event !== "progress");
      expect(event.id).toBe(storedBefore.at(-1)?.id);
    });
    expect(progressEvents.filter((event) => event.id === runningId).length).toBeGreaterThanOrEqual(1);
    expect(progressEvents.at(-1)?.data).toEqual(progress(30));
    expect(events.indexOf(progressEvents.at(-1)!)).toBeLessThan(events.length - 1);
    expect(events.some((event) => event.event === "epoch")).toBe(true);
  });

  it("sends the last progress before the closing status when the job ends within the progress interval", async () => {
    const jobId = await createJob();
    await api.db.job.update({ where: { id: jobId }, data: { status: "running", progress: progress(1) } });
    await addEvent(jobId, "status", { status: "running" });
    const last = { epoch: 2, epochs: 2, step: 100, stepsPerEpoch: 100, fraction: 1, etaSeconds: 0 };
    let finishedAt = 0;
    const events = await new Promise<SseEvent[]>((resolve) => {
      const seen: SseEvent[] = [];
      let finishing = false;
      const stream = openStream(`/v1/jobs/${jobId}/events`, auth(api.keyA), (batch) => {
        seen.push(...batch);
        if (!finishing && seen.some((event) => event.event === "progress")) {
          finishing = true;
          // The job ends right after the first progress went out, well inside the one-second interval.
          void (async () => {
            await api.db.job.update({ where: { id: jobId }, data: { progress: last } });
            await addEvent(jobId, "epoch", { ...metrics, epoch: 2 });
            await api.db.job.update({ where: { id: jobId }, data: { status: "succeeded", finishedAt: new Date() } });
            await addEvent(jobId, "status", { status: "succeeded" });
            finishedAt = Date.now();
          })();
        }
        if (batch.length === 0 || seen.some((event) => event.data?.status === "succeeded")) {
          stream.close();
          resolve(seen);
        }
      });
    });
    const progressEvents = events.filter((event) => event.event === "progress");
    expect(progressEvents.map((event) => event.data)).toEqual([progress(1), last]);
    expect(progressEvents[1].receivedAt - progressEvents[0].receivedAt).toBeGreaterThanOrEqual(900);
    expect(finishedAt - progressEvents[0].receivedAt).toBeLessThan(900);
    const kinds = events.slice(-3).map((event) => event.event);
    expect(kinds).toEqual(["epoch", "progress", "status"]);
    // Under the id of the epoch event stored before it: resuming from there replays only the close.
    expect(events.at(-2)?.id).toBe(events.at(-3)?.id);
  });

  it("sends the current progress after a resume, under the id the client already has", async () => {
    const jobId = await createJob();
    await api.db.job.update({ where: { id: jobId }, data: { status: "running", progress: progress(7) } });
    const runningId = await addEvent(jobId, "status", { status: "running" });
    const events = await follow(`/v1/jobs/${jobId}/events`, { ...auth(api.keyA), "last-event-id": runningId }, (seen) => seen.length > 0);
    expect(events[0]).toMatchObject({ id: runningId, event: "progress", data: progress(7) });
  });

  it("ends when a queued job is cancelled through the API", async () => {
    const jobId = await createJob();
    const stream = api.app.inject({ method: "GET", url: `/v1/jobs/${jobId}/events`, headers: auth(api.keyA) });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await api.app.inject({ method: "POST", url: `/v1/jobs/${jobId}/cancel`, headers: auth(api.keyA) });
    const events = parseSse((await stream).body);
    expect(events.map((event) => event.data.status)).toEqual(["queued", "cancelled"]);
  });

  it("closes with the job's own status when a finished job has no closing event", async () => {
    const jobId = await createJob();
    await api.db.job.update({ where: { id: jobId }, data: { status: "failed", finishedAt: new Date() } });
    const events = parseSse((await api.app.inject({ method: "GET", url: `/v1/jobs/${jobId}/events`, headers: auth(api.keyA) })).body);
    expect(events.map((event) => [event.event, event.data.status])).toEqual([
      ["status", "queued"],
      ["status", "failed"],
    ]);
    expect(events[1].id).toBe(events[0].id);
  });

  it("stops polling when the client goes away", async () => {
    const openStreams = async () =>
      /trainyard_event_streams (\d+)/.exec((await api.app.inject({ method: "GET", url: "/metrics" })).body)![1];
    const until = async (count: string) => {
      const deadline = Date.now() + 3_000;
      while ((await openStreams()) !== count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      return openStreams();
    };
    expect(await until("0")).toBe("0");
    const jobId = await createJob();
    let stream: { close: () => void } | undefined;
    await new Promise<void>((resolve) => {
      stream = openStream(`/v1/jobs/${jobId}/events`, auth(api.keyA), () => resolve());
    });
    expect(await openStreams()).toBe("1");
    stream!.close();
    expect(await until("0")).toBe("0");
  });

  it("ends open streams when the API shuts down instead of waiting for them", async () => {
    const other = await startTestApi();
    await other.app.listen({ port: 0, host: "127.0.0.1" });
    const port = (other.app.server.address() as AddressInfo).port;
    const jobId = (await other.app.inject({ method: "POST", url: "/v1/jobs", headers: auth(other.keyA), payload: lenetJob })).json().id;
    const agent = new Agent({ keepAlive: true });
    let ended = false;
    await new Promise<void>((resolve) => {
      get(`http://127.0.0.1:${port}/v1/jobs/${jobId}/events`, { headers: auth(other.keyA), agent }, (response) => {
        response.once("data", () => resolve());
        response.on("end", () => (ended = true));
        response.resume();
      });
    });
    const startedAt = Date.now();
    await other.close();
    expect(Date.now() - startedAt).toBeLessThan(4_000);
    expect(ended).toBe(true);
    agent.destroy();
  });
});

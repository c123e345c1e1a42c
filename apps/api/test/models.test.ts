import { afterAll, beforeAll, describe, expect, it } from "vitest";
import yauzl from "yauzl";
import { loadModel, loadRegisteredModel } from "../../worker/src/checkpointStore.ts";
import { checkpoint as writeCheckpoint, LABELS, lenetJob, trainedJob as trainedJobOf } from "./helpers/trainedJobs.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

let api: TestApi;

const trainedJob = (key = api.keyA, size = 4096) => trainedJobOf(api, key, size);

const register = (payload: Record<string, unknown>, key = api.keyA) =>
  api.app.inject({ method: "POST", url: "/v1/models", headers: auth(key), payload });
const get = (url: string, key = api.keyA) => api.app.inject({ method: "GET", url, headers: auth(key) });

beforeAll(async () => {
  api = await startTestApi();
});

afterAll(async () => {
  await api?.close();
});

describe("model registry", () => {
  it("registers a job's best and last checkpoints as versions 1 and 2 of a name, with the job's architecture, labels and metrics", async () => {
    const jobId = await trainedJob();
    const first = await register({ name: "shapes-lenet", fromJobId: jobId, checkpoint: "best", description: "first try" });
    expect(first.statusCode).toBe(201);
    expect(first.headers.location).toBe("/v1/models/shapes-lenet/versions/1");
    expect(first.json()).toMatchObject({
      version: 1,
      aliases: [],
      description: "first try",
      sourceJobId: jobId,
      checkpoint: "best",
      architecture: "lenet",
      labels: LABELS,
      metrics: { epoch: 1, trainAccuracy: 0.6, valAccuracy: 0.5, testAccuracy: 0.8 },
    });
    expect(first.json().inputShape).toHaveLength(3);
    const second = await register({ name: "shapes-lenet", fromJobId: jobId, checkpoint: "last" });
    expect(second.statusCode).toBe(201);
    expect(second.json()).toMatchObject({ version: 2, checkpoint: "last", metrics: { epoch: 2 } });
    expect(second.json().metrics.valAccuracy).toBeCloseTo(0.6);
    // The job's test accuracy is its best checkpoint's (epoch 1), not this one's.
    expect(second.json().metrics.testAccuracy).toBeUndefined();
    const other = await register({ name: "other-name", fromJobId: jobId });
    expect(other.json()).toMatchObject({ version: 1, checkpoint: "best" });

    const model = await get("/v1/models/shapes-lenet");
    expect(model.statusCode).toBe(200);
    expect(model.json().name).toBe("shapes-lenet");
    expect(model.json().versions.map((v: { version: number }) => v.version)).toEqual([1, 2]);
  });

  it("answers 400 naming an invalid name, 404 for an unknown job, 409 for a job without that checkpoint", async () => {
    const jobId = await trainedJob();
    for (const name of ["", "has space", "a@b", "a/b", "-leading", "x".repeat(101)]) {
      const bad = await register({ name, fromJobId: jobId });
      expect(bad.statusCode, name).toBe(400);
      expect(bad.headers["content-type"]).toContain("application/problem+json");
      expect(bad.json().errors.map((e: { path: string }) => e.path)).toContain("name");
    }
    const badCheckpoint = await register({ name: "ok", fromJobId: jobId, checkpoint: "middle" });
    expect(badCheckpoint.statusCode).toBe(400);
    expect((await register({ name: "ok", fromJobId: "job_missing" })).statusCode).toBe(404);
    const queued = await api.app.inject({ method: "POST", url: "/v1/jobs", headers: auth(api.keyA), payload: lenetJob });
    const noCheckpoint = await register({ name: "ok", fromJobId: queued.json().id });
    expect(noCheckpoint.statusCode).toBe(409);
    expect(noCheckpoint.json().detail).toContain("no best checkpoint");
    // Nothing was registered by the refused requests.
    expect((await get("/v1/models/ok")).statusCode).toBe(404);
  });

  it("moves aliases, resolves a ref by number or alias, and answers 404 for an unknown version or alias", async () => {
    const jobId = await trainedJob();
    await register({ name: "aliased", fromJobId: jobId, checkpoint: "best" });
    await register({ name: "aliased", fromJobId: jobId, checkpoint: "last" });
    const put = (alias: string, version: unknown) =>
      api.app.inject({ method: "PUT", url: `/v1/models/aliased/aliases/${alias}`, headers: auth(api.keyA), payload: { version } });
    expect((await put("production", 1)).json()).toMatchObject({ version: 1, aliases: ["production"] });
    await put("staging", 2);
    let versions = (await get("/v1/models/aliased")).json().versions;
    expect(versions.map((v: { aliases: string[] }) => v.aliases)).toEqual([["production"], ["staging"]]);
    const moved = await put("production", 2);
    expect(moved.statusCode).toBe(200);
    versions = (await get("/v1/models/aliased")).json().versions;
    expect(versions.map((v: { aliases: string[] }) => v.aliases)).toEqual([[], ["production", "staging"]]);

    expect((await put("production", 9)).statusCode).toBe(404);
    expect((await put("123", 1)).statusCode).toBe(400);
    expect((await put("production", "one")).statusCode).toBe(400);

    const byAlias = await get("/v1/models/aliased/versions/production/model/model.json");
    const byNumber = await get("/v1/models/aliased/versions/2/model/model.json");
    expect(byAlias.statusCode).toBe(200);
    expect(byAlias.rawPayload.equals(byNumber.rawPayload)).toBe(true);
    expect(JSON.parse(byAlias.body).modelTopology).toEqual({ epoch: 2 });
    expect((await get("/v1/models/aliased/versions/1/model/model.json")).json().modelTopology).toEqual({ epoch: 1 });
    expect((await get("/v1/models/aliased/versions/7/model/model.json")).statusCode).toBe(404);
    expect((await get("/v1/models/aliased/versions/canary/model")).statusCode).toBe(404);
    expect((await get("/v1/models/aliased/versions/1/model/nope.bin")).statusCode).toBe(404);
    expect((await get("/v1/models/missing/versions/1/model")).statusCode).toBe(404);
  });

  it("downloads a version's model.json, weights and zip byte-identical to its job's", async () => {
    const jobId = await trainedJob(api.keyA, 3 * 1024 * 1024 + 17);
    await register({ name: "downloads", fromJobId: jobId, checkpoint: "last" });
    for (const file of ["model.json", "weights.bin"]) {
      const fromJob = await get(`/v1/jobs/${jobId}/model/${file}?checkpoint=last`);
      const fromVersion = await get(`/v1/models/downloads/versions/1/model/${file}`);
      expect(fromVersion.statusCode).toBe(200);
      expect(fromVersion.headers["content-type"]).toBe(fromJob.headers["content-type"]);
      expect(fromVersion.rawPayload.length).toBe(fromJob.rawPayload.length);
      expect(fromVersion.rawPayload.equals(fromJob.rawPayload)).toBe(true);
    }
    const zip = await get("/v1/models/downloads/versions/1/model");
    expect(zip.statusCode).toBe(200);
    expect(zip.headers["content-type"]).toBe("application/zip");
    const entries = await unzip(zip.rawPayload);
    expect([...entries.keys()].sort()).toEqual(["labels.json", "model.json", "trainyard.json", "weights.bin"]);
    const jobEntries = await unzip((await get(`/v1/jobs/${jobId}/model?checkpoint=last`)).rawPayload);
    for (const name of ["labels.json", "model.json", "weights.bin"])
      expect(entries.get(name)!.equals(jobEntries.get(name)!), name).toBe(true);
    expect(JSON.parse(entries.get("trainyard.json")!.toString("utf8"))).toMatchObject({
      model: "downloads",
      version: 1,
      jobId,
      checkpoint: "last",
      preprocessing: { inputShape: [28, 28, 1] },
    });
  });

  it("shares the job's stored artifacts instead of copying them", async () => {
    const jobId = await trainedJob();
    const before = await api.db.artifact.count();
    const chunksBefore = await api.db.artifactChunk.count();
    await register({ name: "shared", fromJobId: jobId });
    await register({ name: "shared", fromJobId: jobId });
    expect(await api.db.artifact.count()).toBe(before);
    expect(await api.db.artifactChunk.count()).toBe(chunksBefore);
    const best = await api.db.artifact.findMany({ where: { jobId, kind: "best" } });
    const references = await api.db.modelVersionArtifact.findMany({ where: { artifactId: { in: best.map((a) => a.id) } } });
    expect(references).toHaveLength(best.length * 2);
  });

  it("keeps a version's weights when its job is deleted, and frees them when the last version referring to them goes", async () => {
    const jobId = await trainedJob();
    await register({ name: "survivor", fromJobId: jobId });
    await register({ name: "survivor", fromJobId: jobId });
    const weightsBefore = (await get("/v1/models/survivor/versions/1/model/weights.bin")).rawPayload;
    const best = await api.db.artifact.findMany({ where: { jobId, kind: "best" } });
    const others = await api.db.artifact.findMany({ where: { jobId, kind: { not: "best" } } });

    await api.db.job.delete({ where: { id: jobId } });
    expect((await get(`/v1/jobs/${jobId}`)).statusCode).toBe(404);
    // The job's other files went with it; the referenced ones stay, detached from it.
    expect(await api.db.artifact.count({ where: { id: { in: others.map((a) => a.id) } } })).toBe(0);
    const kept = await api.db.artifact.findMany({ where: { id: { in: best.map((a) => a.id) } } });
    expect(kept).toHaveLength(best.length);
    expect(kept.every((a) => a.jobId === null && a.checkpointId === null)).toBe(true);
    const after = await get("/v1/models/survivor/versions/1/model/weights.bin");
    expect(after.statusCode).toBe(200);
    expect(after.rawPayload.equals(weightsBefore)).toBe(true);
    expect((await get("/v1/models/survivor")).json().versions[0].sourceJobId).toBe(jobId);

    const del = (version: number) =>
      api.app.inject({ method: "DELETE", url: `/v1/models/survivor/versions/${version}`, headers: auth(api.keyA) });
    expect((await del(1)).statusCode).toBe(204);
    expect((await del(1)).statusCode).toBe(404);
    expect(await api.db.artifact.count({ where: { id: { in: best.map((a) => a.id) } } })).toBe(best.length);
    expect((await get("/v1/models/survivor/versions/2/model/weights.bin")).rawPayload.equals(weightsBefore)).toBe(true);
    expect((await del(2)).statusCode).toBe(204);
    expect(await api.db.artifact.count({ where: { id: { in: best.map((a) => a.id) } } })).toBe(0);
    expect(await api.db.artifactChunk.count({ where: { artifactId: { in: best.map((a) => a.id) } } })).toBe(0);
    // Numbers are never reused.
    const jobId2 = await trainedJob();
    expect((await register({ name: "survivor", fromJobId: jobId2 })).json().version).toBe(3);
  });

  it("deleting a version whose job still exists keeps the job's files", async () => {
    const jobId = await trainedJob();
    await register({ name: "transient", fromJobId: jobId });
    const jobWeights = (await get(`/v1/jobs/${jobId}/model/weights.bin`)).rawPayload;
    const del = await api.app.inject({ method: "DELETE", url: "/v1/models/transient/versions/1", headers: auth(api.keyA) });
    expect(del.statusCode).toBe(204);
    const again = await get(`/v1/jobs/${jobId}/model/weights.bin`);
    expect(again.statusCode).toBe(200);
    expect(again.rawPayload.equals(jobWeights)).toBe(true);
    expect((await get("/v1/models/transient")).json().versions).toEqual([]);
  });

  it("keeps a version's weights when training replaces the job's checkpoint it came from", async () => {
    const jobId = await trainedJob();
    await register({ name: "replaced", fromJobId: jobId, checkpoint: "best" });
    const original = (await get("/v1/models/replaced/versions/1/model/model.json")).json();
    // A resumed run rewrites epoch 1 (saveCheckpoint deletes later checkpoints, putArtifact replaces best).
    await api.db.epochMetric.deleteMany({ where: { jobId } });
    await writeCheckpoint(api, jobId, 1, true, 2048);
    const jobBest = await get(`/v1/jobs/${jobId}/model/weights.bin`);
    expect(jobBest.rawPayload.length).toBe(2048);
    const version = await get("/v1/models/replaced/versions/1/model/weights.bin");
    expect(version.rawPayload.length).toBe(4096);
    expect((await get("/v1/models/replaced/versions/1/model/model.json")).json()).toEqual(original);
    const del = await api.app.inject({ method: "DELETE", url: "/v1/models/replaced/versions/1", headers: auth(api.keyA) });
    expect(del.statusCode).toBe(204);
    expect(await api.db.artifact.count({ where: { jobId: null } })).toBe(await orphansReferenced());
    expect((await get(`/v1/jobs/${jobId}/model/weights.bin`)).rawPayload.length).toBe(2048);
  });

  it("answers 404 for another tenant's model and job, and lists only the tenant's models", async () => {
    const jobId = await trainedJob();
    await register({ name: "private", fromJobId: jobId });
    expect((await register({ name: "stolen", fromJobId: jobId }, api.keyB)).statusCode).toBe(404);
    expect((await get("/v1/models/private", api.keyB)).statusCode).toBe(404);
    expect((await get("/v1/models/private/versions/1/model", api.keyB)).statusCode).toBe(404);
    expect((await get("/v1/models/private/versions/1/model/model.json", api.keyB)).statusCode).toBe(404);
    const alias = await api.app.inject({
      method: "PUT",
      url: "/v1/models/private/aliases/prod",
      headers: auth(api.keyB),
      payload: { version: 1 },
    });
    expect(alias.statusCode).toBe(404);
    const del = await api.app.inject({ method: "DELETE", url: "/v1/models/private/versions/1", headers: auth(api.keyB) });
    expect(del.statusCode).toBe(404);
    expect((await get("/v1/models/private")).json().versions).toHaveLength(1);
    // Tenant B's own "private" is a separate line of versions.
    const jobB = await trainedJob(api.keyB);
    expect((await register({ name: "private", fromJobId: jobB }, api.keyB)).json().version).toBe(1);
    const listB = (await get("/v1/models", api.keyB)).json();
    expect(listB.items.map((m: { name: string }) => m.name)).toEqual(["private"]);
  });

  it("pages the model list newest first", async () => {
    const jobId = await trainedJob(api.keyB);
    for (const name of ["page-a", "page-b", "page-c"]) await register({ name, fromJobId: jobId }, api.keyB);
    const seen: string[] = [];
    let url = "/v1/models?limit=2";
    for (;;) {
      const page = (await get(url, api.keyB)).json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((m: { name: string }) => m.name));
      if (!page.nextCursor) break;
      url = `/v1/models?limit=2&cursor=${page.nextCursor}`;
    }
    expect(seen).toEqual(["page-c", "page-b", "page-a", "private"]);
  });
});

describe("model registry, data sets and OpenAPI", () => {
  it("keeps a version when its job's data set is deleted", async () => {
    const jobId = await trainedJob();
    const datasetId = "ds_models_test";
    await api.db.dataset.create({
      data: { id: datasetId, tenantId: api.tenantA, name: "uploaded", status: "ready", classes: LABELS, imageShape: [28, 28, 1] },
    });
    await api.db.job.update({ where: { id: jobId }, data: { datasetId } });
    await register({ name: "from-upload", fromJobId: jobId });
    const weights = (await get("/v1/models/from-upload/versions/1/model/weights.bin")).rawPayload;
    const deleted = await api.app.inject({ method: "DELETE", url: `/v1/datasets/${datasetId}`, headers: auth(api.keyA) });
    expect(deleted.statusCode).toBe(204);
    await api.db.job.delete({ where: { id: jobId } });
    const after = await get("/v1/models/from-upload/versions/1/model/weights.bin");
    expect(after.statusCode).toBe(200);
    expect(after.rawPayload.equals(weights)).toBe(true);
    expect((await get("/v1/models/from-upload/versions/1/model")).statusCode).toBe(200);
  });

  it("lists the registry's routes in OpenAPI with their response schemas", async () => {
    const spec = (await api.app.inject({ url: "/openapi.json" })).json();
    const paths = spec.paths as Record<string, Record<string, { responses: Record<string, { content?: unknown }> }>>;
    expect(paths["/v1/models"]?.post?.responses["201"]?.content).toBeDefined();
    expect(paths["/v1/models"]?.get?.responses["200"]?.content).toBeDefined();
    expect(paths["/v1/models/{name}"]?.get?.responses["200"]?.content).toBeDefined();
    expect(paths["/v1/models/{name}/aliases/{alias}"]?.put?.responses["200"]?.content).toBeDefined();
    expect(paths["/v1/models/{name}/versions/{version}"]?.delete).toBeDefined();
    expect(paths["/v1/models/{name}/versions/{ref}/model"]?.get).toBeDefined();
    expect(paths["/v1/models/{name}/versions/{ref}/model/{file}"]?.get).toBeDefined();
    const jobBody = JSON.stringify((paths["/v1/jobs"]?.post as { requestBody?: unknown }).requestBody);
    expect(jobBody).toContain('"fromModel"');
    expect(jobBody).toContain('"fromJobId"');
  });
});

describe("fine-tuning from a registered model", () => {
  const submit = (fineTune: Record<string, unknown>, key = api.keyA, extra: Record<string, unknown> = {}) =>
    api.app.inject({ method: "POST", url: "/v1/jobs", headers: auth(key), payload: { ...lenetJob, ...extra, fineTune } });

  it("resolves name@alias at submit to the version, inheriting its shape, and the worker loads that version's weights", async () => {
    const jobId = await trainedJob();
    await register({ name: "pretrained", fromJobId: jobId, checkpoint: "best" });
    await register({ name: "pretrained", fromJobId: jobId, checkpoint: "last" });
    await api.app.inject({
      method: "PUT",
      url: "/v1/models/pretrained/aliases/production",
      headers: auth(api.keyA),
      payload: { version: 2 },
    });
    const source = (await get(`/v1/jobs/${jobId}`)).json().spec;

    const created = await submit({ fromModel: "pretrained@production", freeze: "backbone", headLearningRateMultiplier: 10 });
    expect(created.statusCode).toBe(202);
    const spec = created.json().spec;
    expect(spec.fineTune).toEqual({ fromModel: "pretrained@2", checkpoint: "best", freeze: "backbone", headLearningRateMultiplier: 10 });
    expect(spec.inputShape).toEqual(source.inputShape);
    expect(spec.architectureOptions).toEqual(source.architectureOptions);
    const byNumber = await submit({ fromModel: "pretrained@1" });
    expect(byNumber.json().spec.fineTune.fromModel).toBe("pretrained@1");

    // What the worker hands the trainer: the version's model, the job's last checkpoint here.
    const loaded = await loadRegisteredModel(api.db, api.tenantA, spec.fineTune.fromModel);
    const last = await loadModel(api.db, jobId, "last");
    expect(loaded).not.toBeNull();
    expect(loaded!.modelJson).toEqual(last!.modelJson);
    expect(Buffer.from(loaded!.weights).equals(Buffer.from(last!.weights))).toBe(true);
    // Still there once the source job is gone; gone with the version.
    await api.db.job.deleteMany({
      where: { OR: [{ id: jobId }, { spec: { path: ["fineTune", "fromModel"], string_starts_with: "pretrained@" } }] },
    });
    expect((await loadRegisteredModel(api.db, api.tenantA, "pretrained@2"))!.modelJson).toEqual(last!.modelJson);
    await api.app.inject({ method: "DELETE", url: "/v1/models/pretrained/versions/2", headers: auth(api.keyA) });
    expect(await loadRegisteredModel(api.db, api.tenantA, "pretrained@2")).toBeNull();
  });

  it("refuses to delete a version a queued job is to fine-tune from, until that job is finished", async () => {
    const jobId = await trainedJob();
    await register({ name: "in-use", fromJobId: jobId });
    const tuned = await submit({ fromModel: "in-use@1" });
    expect(tuned.statusCode).toBe(202);
    const del = () => api.app.inject({ method: "DELETE", url: "/v1/models/in-use/versions/1", headers: auth(api.keyA) });
    const refused = await del();
    expect(refused.statusCode).toBe(409);
    expect(refused.json().detail).toContain("1 queued or running job");
    const cancelled = await api.app.inject({ method: "POST", url: `/v1/jobs/${tuned.json().id}/cancel`, headers: auth(api.keyA) });
    expect(cancelled.statusCode).toBe(202);
    expect((await del()).statusCode).toBe(204);
  });

  it("numbers concurrent registrations of one new name 1…n without a gap or a duplicate", async () => {
    const jobId = await trainedJob();
    const answers = await Promise.all(Array.from({ length: 6 }, () => register({ name: "concurrent", fromJobId: jobId })));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(6).fill(201));
    expect(answers.map((a) => a.json().version).sort()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("refuses an unknown or foreign model, a different architecture, and both or neither source", async () => {
    const jobId = await trainedJob();
    await register({ name: "mine", fromJobId: jobId });
    const paths = async (response: Awaited<ReturnType<typeof submit>>) => {
      expect(response.statusCode).toBe(400);
      return response.json().errors.map((e: { path: string }) => e.path);
    };
    expect(await paths(await submit({ fromModel: "mine@9" }))).toEqual(["fineTune.fromModel"]);
    expect(await paths(await submit({ fromModel: "mine@nope" }))).toEqual(["fineTune.fromModel"]);
    expect(await paths(await submit({ fromModel: "mine" }))).toEqual(["fineTune.fromModel"]);
    expect(await paths(await submit({ fromModel: "mine@1" }, api.keyB))).toEqual(["fineTune.fromModel"]);
    expect(await paths(await submit({ fromModel: "mine@1", fromJobId: jobId }))).toEqual(["fineTune.fromJobId"]);
    expect(await paths(await submit({ freeze: "none" }))).toEqual(["fineTune.fromJobId"]);
    expect(await paths(await submit({ fromModel: "mine@1" }, api.keyA, { architecture: "alexnet" }))).toContain("architecture");
    expect((await submit({ fromJobId: jobId })).statusCode).toBe(202);
  });
});

async function orphansReferenced(): Promise<number> {
  return api.db.artifact.count({ where: { jobId: null, modelVersions: { some: {} } } });
}

/** A zip's entries, read with yauzl. */
function unzip(archive: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(archive, { lazyEntries: true }, (error, zipFile) => {
      if (error || !zipFile) return reject(error ?? new Error("no zip"));
      const entries = new Map<string, Buffer>();
      zipFile.on("entry", (entry: yauzl.Entry) => {
        zipFile.openReadStream(entry, async (streamError, stream) => {
          if (streamError || !stream) return reject(streamError ?? new Error("no stream"));
          const chunks: Buffer[] = [];
          for await (const chunk of stream) chunks.push(chunk as Buffer);
          entries.set(entry.fileName, Buffer.concat(chunks));
          zipFile.readEntry();
        });
      });
      zipFile.on("end", () => resolve(entries));
      zipFile.on("error", reject);
      zipFile.readEntry();
    });
  });
}

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import yazl from "yazl";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "@trainyard/datasets";
import { createTestDatabase, TEST_REDIS_URL, uniqueQueuePrefix } from "../helpers/database.ts";
import { freePort, waitFor, type ServiceProcess } from "../helpers/processes.ts";
import { deleteQueueKeys } from "../helpers/redis.ts";
import { imageSettings, interpolate, namedVolumeMounts, readCompose, readRepoFile, REPO_ROOT, type ComposeService } from "./deployFiles.ts";

/**
 * docker-compose.yml run without Docker: the migrate, api and worker-cpu services' exact `command` and
 * `environment` (over their image's ENV and WORKDIR, read from the Dockerfile) as local processes.
 * What the containers would see is remapped: the image's /app is this checkout, each named volume a
 * folder under a temp root (both services mount the same one), DATABASE_URL a private database, REDIS_URL
 * the local Redis with a queue prefix of the test's own, and the API's port a free one.
 */
const compose = readCompose();
const SIDE = 16;
const PER_CLASS = 24;

let root: string;
let queuePrefix: string;
let dropDatabase: () => Promise<void>;
let databaseUrl: string;
let apiPort: number;
const running: ServiceProcess[] = [];

/** A container path as this machine sees it: under a mounted volume's folder, or the checkout for WORKDIR. */
function hostPath(service: ComposeService, workdir: string, value: string): string {
  for (const [volume, target] of namedVolumeMounts(service)) {
    if (value === target || value.startsWith(`${target}/`)) return join(root, "volumes", volume, value.slice(target.length));
  }
  if (value === workdir || value.startsWith(`${workdir}/`)) return join(REPO_ROOT, value.slice(workdir.length));
  return value;
}

/** The environment a service's container gets (image ENV, then compose `environment`), remapped to this machine. */
async function serviceEnv(name: string): Promise<{ env: NodeJS.ProcessEnv; command: string[] }> {
  const service = compose.services[name];
  const image = imageSettings(readRepoFile(service.build!.dockerfile), { PATH: process.env.PATH });
  const composeEnv = Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([key, value]) => [key, interpolate(String(value), { POSTGRES_PASSWORD: "unused" })]),
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries({ ...image.env, ...composeEnv })) {
    env[key] = value.split(":").map((part) => hostPath(service, image.workdir, part)).join(":");
  }
  expect(env.DATABASE_URL, `${name} sets DATABASE_URL`).toMatch(/^postgresql:\/\/.+@postgres:5432\//);
  expect(env.REDIS_URL, `${name} sets REDIS_URL`).toBe("redis://redis:6379");
  Object.assign(env, { DATABASE_URL: databaseUrl, REDIS_URL: TEST_REDIS_URL, TRAINYARD_QUEUE_PREFIX: queuePrefix, HOME: root });
  // Each container has its own network: here every port a service listens on gets a free one.
  for (const key of Object.keys(env).filter((key) => key === "PORT" || key.endsWith("_PORT"))) env[key] = String(key === "PORT" ? apiPort : await freePort());
  return { env, command: service.command! };
}

function runService(name: string, command: string[], env: NodeJS.ProcessEnv): ServiceProcess {
  const child = spawn(command[0], command.slice(1), { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const service = {
    child,
    output: () => `--- ${name} ---\n${output}`,
    stop: async (signal: NodeJS.Signals = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
  running.push(service);
  return service;
}

/** A one-off command in a service's container (`docker compose run --rm <service> …`) or its healthcheck. */
function runOnce(command: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000) {
  const result = spawnSync(command[0], command.slice(1), { cwd: REPO_ROOT, env, encoding: "utf8", timeout: timeoutMs });
  return { status: result.status, stdout: result.stdout, output: `${result.stdout}${result.stderr}` };
}

function healthcheckCommand(name: string): string[] {
  const [kind, ...command] = compose.services[name].healthcheck!.test;
  expect(kind).toBe("CMD");
  return command;
}

async function twoClassZip(): Promise<Buffer> {
  const random = seededRandom(7);
  const zip = new yazl.ZipFile();
  for (const [label, level] of [
    ["dark", 40],
    ["bright", 210],
  ] as const) {
    for (let i = 0; i < PER_CLASS; i += 1) {
      const pixels = Buffer.from(Array.from({ length: SIDE * SIDE }, () => Math.max(0, Math.min(255, Math.round(level + (random() - 0.5) * 50)))));
      zip.addBuffer(await sharp(pixels, { raw: { width: SIDE, height: SIDE, channels: 1 } }).png().toBuffer(), `train/${label}/${i}.png`);
    }
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "trainyard-compose-"));
  for (const volume of Object.keys(compose.volumes ?? {})) mkdirSync(join(root, "volumes", volume), { recursive: true });
  const database = await createTestDatabase();
  databaseUrl = database.url;
  dropDatabase = database.drop;
  queuePrefix = uniqueQueuePrefix();
  apiPort = await freePort();
});

afterAll(async () => {
  await Promise.all(running.map((service) => service.stop("SIGKILL")));
  await deleteQueueKeys(queuePrefix).catch(() => undefined);
  await dropDatabase?.();
  rmSync(root, { recursive: true, force: true });
});

describe("docker-compose.yml's services as local processes", () => {
  it("migrate, a first API key, api and worker-cpu take an upload and train a short job on it", async () => {
    const migrate = await serviceEnv("migrate");
    const migrated = runOnce(migrate.command, migrate.env, 180_000);
    expect(migrated.status, migrated.output).toBe(0);

    const api = await serviceEnv("api");
    // README's `docker compose run --rm api trainyard keys create --tenant me`: the key is the last line.
    const keys = runOnce(["trainyard", "keys", "create", "--tenant", "me"], api.env, 180_000);
    expect(keys.status, keys.output).toBe(0);
    const apiKey = keys.stdout.trim().split("\n").at(-1)!;
    expect(apiKey).toMatch(/^ty_/);

    const apiProcess = runService("api", api.command, api.env);
    const worker = await serviceEnv("worker-cpu");
    const workerProcess = runService("worker-cpu", worker.command, worker.env);
    // Warnings and errors only: the API logs every request at info.
    const logs = () => `${apiProcess.output()}\n${workerProcess.output()}`.split("\n").filter((line) => !line.startsWith('{"level":30')).join("\n");
    const apiHealth = healthcheckCommand("api");
    await waitFor("the api service's healthcheck to pass", async () => runOnce(apiHealth, api.env).status === 0, 120_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${logs()}`);
    });
    const baseUrl = `http://127.0.0.1:${apiPort}`;
    const authorization = `Bearer ${apiKey}`;

    const form = new FormData();
    form.append("name", "dark-or-bright");
    form.append("file", new Blob([new Uint8Array(await twoClassZip())]), "dark-or-bright.zip");
    const upload = await fetch(`${baseUrl}/v1/datasets`, { method: "POST", headers: { authorization }, body: form });
    expect(upload.status, await upload.clone().text()).toBe(201);
    const { id: datasetId } = (await upload.json()) as { id: string };
    const dataset = await waitFor(
      "the upload to be processed",
      async () => {
        const current = await (await fetch(`${baseUrl}/v1/datasets/${datasetId}`, { headers: { authorization } })).json();
        return current.status === "processing" ? null : current;
      },
      60_000,
    );
    expect(dataset.status, JSON.stringify(dataset)).toBe("ready");
    // The API wrote it into the shared volume, where the worker (same mount, same TRAINYARD_DATA_DIR) reads it.
    expect(existsSync(join(root, "volumes", "trainyard-data", "datasets", datasetId))).toBe(true);

    // A 503 (the API's model description timed out on a busy machine) says to retry after a few seconds.
    const submit = () =>
      fetch(`${baseUrl}/v1/jobs`, {
        method: "POST",
        headers: { authorization, "content-type": "application/json" },
        body: JSON.stringify({
          architecture: "lenet",
          architectureOptions: { activation: "relu", pooling: "max" },
          dataset: { id: datasetId },
          training: { epochs: 1, batchSize: 16, seed: 3, optimizer: { type: "adam", learningRate: 0.002 } },
        }),
      });
    let submitted = await submit();
    for (let attempt = 1; attempt < 5 && submitted.status === 503; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, Number(submitted.headers.get("retry-after") ?? 5) * 1000));
      submitted = await submit();
    }
    expect(submitted.status, await submitted.clone().text()).toBe(202);
    const { id: jobId } = (await submitted.json()) as { id: string };
    const job = await waitFor(
      "the job to finish",
      async () => {
        const current = await (await fetch(`${baseUrl}/v1/jobs/${jobId}`, { headers: { authorization } })).json();
        return ["succeeded", "failed", "canceled"].includes(current.status) ? current : null;
      },
      150_000,
      250,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${logs()}`);
    });
    expect(job.status, `${JSON.stringify(job)}\n${logs()}`).toBe("succeeded");

    const workerHealth = runOnce(healthcheckCommand("worker-cpu"), worker.env);
    expect(workerHealth.status, workerHealth.output).toBe(0);
    await workerProcess.stop();
    await waitFor("the stopped worker's healthcheck to fail", async () => runOnce(healthcheckCommand("worker-cpu"), worker.env).status === 1, 30_000);
  }, 480_000);
});

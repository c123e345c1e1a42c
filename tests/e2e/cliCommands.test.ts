/** The CLI's commands as a user runs them: the real binary against a real API and worker, one stack for the file. */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { solidPng, zip } from "../../apps/api/test/helpers/archives.ts";
import { buildProgram } from "../../apps/cli/src/program.ts";
import { freePort, TRAINYARD_BIN, waitFor } from "../helpers/processes.ts";
import { startStack, type Stack } from "../helpers/stack.ts";

let stack: Stack;
let home: string;

/** `trainyard …` in a process of its own, with a config dir of its own and no API settings from the environment. */
function trainyard(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const { TRAINYARD_API_URL: _url, TRAINYARD_API_KEY: _key, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [TRAINYARD_BIN, ...args],
      { env: { ...inherited, XDG_CONFIG_HOME: join(home, "config"), ...env }, timeout: 180_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}
const withStack = () => ["--api", stack.baseUrl, "--key", stack.apiKey];

/** A table the CLI printed to a pipe: tab-separated rows, the header first. */
const rowsOf = (stdout: string) =>
  stdout
    .trim()
    .split("\n")
    .map((line) => line.split("\t"));

/** A zip in ImageFolder layout: classes a and b, four 8×8 PNGs each. */
async function shapesArchive(name: string): Promise<string> {
  const png = await solidPng(8, 8, 100);
  const archive = join(home, name);
  writeFileSync(
    archive,
    await zip(["a", "b"].flatMap((label) => [0, 1, 2, 3].map((i) => ({ name: `train/${label}/${i}.png`, data: png })))),
  );
  return archive;
}

/** The job trained (and succeeded) by the YAML case, for the cases that need a finished job. */
let finishedJobId: string | undefined;

beforeAll(async () => {
  stack = await startStack();
  home = mkdtempSync(join(tmpdir(), "trainyard-cli-commands-"));
});

afterAll(async () => {
  await stack?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe("trainyard's commands", () => {
  it("has a description and a help text for every command and subcommand, and the binary prints them", async () => {
    const paths: string[][] = [];
    const walk = (command: ReturnType<typeof buildProgram>, path: string[]) => {
      for (const sub of command.commands) {
        expect(sub.description() || sub.summary(), [...path, sub.name()].join(" ")).not.toBe("");
        expect(sub.helpInformation()).toContain(`Usage: trainyard ${[...path, sub.name()].join(" ")}`);
        paths.push([...path, sub.name()]);
        walk(sub, [...path, sub.name()]);
      }
    };
    walk(buildProgram(), []);
    for (const expected of [
      "login",
      "train",
      "jobs logs",
      "jobs metrics",
      "datasets upload",
      "sweeps create",
      "keys revoke",
      "models predict",
      "workers",
      "queue",
    ])
      expect(paths.map((path) => path.join(" "))).toContain(expected);

    const [top, train, logs] = await Promise.all([
      trainyard(["--help"]),
      trainyard(["train", "--help"]),
      trainyard(["jobs", "logs", "--help"]),
    ]);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain("Exit codes: 0 done, 1 failed");
    expect(train.code).toBe(0);
    expect(train.stdout).toContain("-f, --file <path>");
    expect(logs.stdout).toContain("Usage: trainyard jobs logs [options] <id>");
  });

  it("exits 2 on a usage error and 3 when the API does not answer", async () => {
    const closedPort = await freePort();
    const [usage, unknown, unreachable] = await Promise.all([
      trainyard(["train", "--epochs", "x", ...withStack()]),
      trainyard(["jobz"]),
      trainyard(["queue", "--api", `http://127.0.0.1:${closedPort}`, "--key", "ty_x"]),
    ]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("'--epochs <n>' argument 'x' is invalid");
    expect(unknown.code).toBe(2);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain(`the API at http://127.0.0.1:${closedPort} is unreachable`);
  });

  it("logs in to a file only its owner can read, which later commands use", async () => {
    const login = await trainyard(["login", ...withStack()]);
    expect(login.code, login.stderr).toBe(0);
    const file = join(home, "config", "trainyard", "config.json");
    expect(login.stdout).toContain(`stored in ${file}`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const queue = await trainyard(["queue", "--json"]);
    expect(queue.code, queue.stderr).toBe(0);
    expect(Object.keys(JSON.parse(queue.stdout)).sort()).toEqual(["cancelled", "failed", "queued", "running", "succeeded"]);
    rmSync(file);
  });

  it("trains from a YAML spec with --wait, then lists, shows and exports the job's metrics as CSV", async () => {
    const spec = join(home, "job.yaml");
    writeFileSync(
      spec,
      "architecture: lenet\ndataset: { name: synthetic-shapes }\ntraining:\n  epochs: 1\n  batchSize: 50\n  maxTrainSamples: 200\ntags: [cli-yaml]\n",
    );
    const train = await trainyard(["train", "-f", spec, "--wait", "--json", ...withStack()]);
    expect(train.code, `${train.stderr}\n${stack.logs()}`).toBe(0);
    const job = JSON.parse(train.stdout) as { id: string; status: string; spec: { tags: string[]; training: { epochs: number } } };
    expect(job.status).toBe("succeeded");
    expect(job.spec.tags).toEqual(["cli-yaml"]);
    expect(job.spec.training.epochs).toBe(1);

    const [list, get, csv] = await Promise.all([
      trainyard(["jobs", "list", "--tag", "cli-yaml", ...withStack()]),
      trainyard(["jobs", "get", job.id, ...withStack()]),
      trainyard(["jobs", "metrics", job.id, "--csv", ...withStack()]),
    ]);
    const rows = list.stdout
      .trim()
      .split("\n")
      .map((line) => line.split("\t"));
    expect(rows[0]).toEqual(["ID", "STATUS", "ARCHITECTURE", "DATASET", "EPOCH", "TEST ACC", "CREATED"]);
    expect(rows.slice(1).map((row) => row.slice(0, 4))).toEqual([[job.id, "succeeded", "lenet", "synthetic-shapes"]]);
    expect(JSON.parse(get.stdout).id).toBe(job.id);
    const lines = csv.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^epoch,trainLoss,trainAccuracy/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^1,/);
    finishedJobId = job.id;
  });

  it("exits 1 when the job it waits for ends without succeeding", async () => {
    const waiting = trainyard(["train", "--arch", "lenet", "--dataset", "synthetic-shapes", "--epochs", "50", "--wait", ...withStack()]);
    const id = await (async () => {
      for (;;) {
        const page = (await stack.request("GET", "/v1/jobs?limit=1")).body as {
          items: { id: string; spec: { training: { epochs: number } } }[];
        };
        if (page.items[0]?.spec.training.epochs === 50) return page.items[0].id;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    const cancel = await trainyard(["jobs", "cancel", id, ...withStack()]);
    expect(cancel.code, cancel.stderr).toBe(0);
    const result = await waiting;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`job ${id} cancelled`);
  });

  it("uploads a data set with a progress bar on stderr and lists it", async () => {
    const archive = await shapesArchive("shapes.zip");
    const upload = await trainyard(["datasets", "upload", archive, "--name", "cli-upload", "--wait", ...withStack()]);
    expect(upload.code, upload.stderr).toBe(0);
    expect(upload.stderr).toMatch(/\] [\d.]+ MiB \/ [\d.]+ MiB uploading shapes\.zip/);
    const id = upload.stdout.match(/^data set (ds_\S+) ready$/m)?.[1];
    expect(id, upload.stdout).toBeDefined();
    const list = await trainyard(["datasets", "list", ...withStack()]);
    expect(list.stdout.split("\n").find((line) => line.startsWith(`${id}\t`))).toMatch(/\tcli-upload\tready\t2\t/);
  });

  it("creates, lists and revokes an API key; the revoked key is refused at once", async () => {
    const created = await trainyard(["keys", "create", "--name", "cli-ci", ...withStack()]);
    expect(created.code, created.stderr).toBe(0);
    const secret = created.stdout.trim().split("\n").at(-1)!;
    expect(secret).toMatch(/^ty_/);
    const id = created.stderr.match(/key (key_\S+) \(cli-ci\)/)?.[1];
    expect(id, created.stderr).toBeDefined();
    expect((await trainyard(["queue", "--api", stack.baseUrl, "--key", secret])).code).toBe(0);
    const list = await trainyard(["keys", "list", ...withStack()]);
    expect(list.stdout).toContain(`${id}\tcli-ci\t${secret.slice(0, 7)}\t`);
    expect(list.stdout).not.toContain(secret);
    expect((await trainyard(["keys", "revoke", id!, ...withStack()])).stdout.trim()).toBe(`revoked key ${id}`);
    const refused = await trainyard(["queue", "--api", stack.baseUrl, "--key", secret]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("GET /v1/queue → 401: unknown or revoked API key");
  });

  it("runs a grid sweep from a YAML spec to the end, and lists, shows and tabulates it and its trials", async () => {
    const file = join(home, "sweep.yaml");
    writeFileSync(
      file,
      [
        "name: cli-sweep",
        "base:",
        "  architecture: lenet",
        "  dataset: { name: synthetic-shapes }",
        "  training: { epochs: 1, batchSize: 50, maxTrainSamples: 200, seed: 1 }",
        "parameters:",
        "  training.optimizer.learningRate: { values: [0.3, 0.9] }",
        "search: { type: grid }",
        "objective: { metric: valAccuracy, goal: maximize }",
        "maxParallel: 2",
        "",
      ].join("\n"),
    );
    const created = await trainyard(["sweeps", "create", "-f", file, ...withStack()]);
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.match(/^sweep (swp_\S+) running: 2 trials$/m)?.[1];
    expect(id, created.stdout).toBeDefined();

    type Trial = {
      index: number;
      jobId: string | null;
      params: Record<string, unknown>;
      status: string;
      value: number | null;
      epochsDone: number;
    };
    const early = await trainyard(["sweeps", "trials", id!, "--json", ...withStack()]);
    expect((JSON.parse(early.stdout) as { items: Trial[] }).items.map((trial) => trial.params)).toEqual([
      { "training.optimizer.learningRate": 0.3 },
      { "training.optimizer.learningRate": 0.9 },
    ]);

    await waitFor(
      "the sweep to finish",
      async () => (await stack.request("GET", `/v1/sweeps/${id}`)).body.status !== "running",
      240_000,
      500,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${JSON.stringify((await stack.request("GET", `/v1/sweeps/${id}/trials`)).body)}\n${stack.logs()}`);
    });
    const [get, trialsJson, trialsTable, list] = await Promise.all([
      trainyard(["sweeps", "get", id!, ...withStack()]),
      trainyard(["sweeps", "trials", id!, "--json", ...withStack()]),
      trainyard(["sweeps", "trials", id!, ...withStack()]),
      trainyard(["sweeps", "list", ...withStack()]),
    ]);
    const sweep = JSON.parse(get.stdout) as {
      id: string;
      status: string;
      trials: Record<string, number>;
      best: { jobId: string; params: Record<string, unknown>; value: number } | null;
      createdAt: string;
      finishedAt: string | null;
    };
    expect(sweep).toMatchObject({ id, status: "succeeded", finishedAt: expect.any(String) });
    expect(sweep.trials).toEqual({ total: 2, queued: 0, running: 0, succeeded: 2, failed: 0, pruned: 0, cancelled: 0 });

    const trials = (JSON.parse(trialsJson.stdout) as { items: Trial[] }).items;
    for (const trial of trials) {
      expect(trial.jobId).toMatch(/^job_/);
      expect(trial.status).toBe("succeeded");
      expect(trial.epochsDone).toBe(1);
      expect(typeof trial.value, JSON.stringify(trial)).toBe("number");
    }
    const values = trials.map((trial) => trial.value!);
    expect(sweep.best?.value).toBe(Math.max(...values));
    expect(sweep.best?.jobId).toBe(trials[values.indexOf(Math.max(...values))]!.jobId);

    const rows = rowsOf(trialsTable.stdout);
    expect(rows[0]).toEqual(["TRIAL", "JOB", "STATUS", "VALUE", "EPOCHS", "PARAMETERS"]);
    expect(rows.slice(1)).toEqual(
      trials.map((trial) => [
        String(trial.index),
        trial.jobId,
        "succeeded",
        trial.value!.toFixed(4),
        "1",
        `training.optimizer.learningRate=${String(trial.params["training.optimizer.learningRate"])}`,
      ]),
    );
    expect(rows[1]![5]).toBe("training.optimizer.learningRate=0.3");

    const listed = rowsOf(list.stdout);
    expect(listed[0]).toEqual(["ID", "NAME", "STATUS", "TRIALS", "BEST", "BEST JOB", "CREATED"]);
    expect(listed.find((row) => row[0] === id)).toEqual([
      id,
      "cli-sweep",
      "succeeded",
      "2/2 done, 0 running, 0 pruned, 0 failed",
      sweep.best!.value.toFixed(4),
      sweep.best!.jobId,
      sweep.createdAt,
    ]);
  });

  it("cancels a running sweep: its running trial's job is cancelled, the trial not yet submitted never is", async () => {
    const file = join(home, "sweep-cancel.json");
    writeFileSync(
      file,
      JSON.stringify({
        name: "cli-sweep-cancel",
        base: { architecture: "lenet", dataset: { name: "synthetic-shapes" }, training: { epochs: 50, batchSize: 50 } },
        parameters: { "training.optimizer.learningRate": { values: [0.3, 0.9] } },
        search: { type: "grid" },
        objective: { metric: "valLoss", goal: "minimize" },
        maxParallel: 1,
      }),
    );
    const created = await trainyard(["sweeps", "create", "-f", file, "--json", ...withStack()]);
    expect(created.code, created.stderr).toBe(0);
    const { id, status } = JSON.parse(created.stdout) as { id: string; status: string };
    expect(status).toBe("running");
    type Trial = { jobId: string | null; status: string };
    const trials = async () => (await stack.request("GET", `/v1/sweeps/${id}/trials`)).body.items as Trial[];
    const first = await waitFor("the first trial to be submitted", async () => (await trials())[0]?.jobId, 60_000, 200);

    const cancel = await trainyard(["sweeps", "cancel", id, ...withStack()]);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout.trim()).toBe(`sweep ${id} cancelled`);
    const again = await trainyard(["sweeps", "cancel", id, ...withStack()]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`POST /v1/sweeps/${id}/cancel → 409: sweep ${id} has already been cancelled`);

    await waitFor(
      "both trials to be cancelled",
      async () => (await trials()).every((trial) => trial.status === "cancelled"),
      60_000,
      250,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${JSON.stringify(await trials())}\n${stack.logs()}`);
    });
    const [get, table, job] = await Promise.all([
      trainyard(["sweeps", "get", id, ...withStack()]),
      trainyard(["sweeps", "trials", id, ...withStack()]),
      trainyard(["jobs", "get", first, ...withStack()]),
    ]);
    const sweep = JSON.parse(get.stdout) as { status: string; finishedAt: string | null; trials: Record<string, number> };
    expect(sweep.status).toBe("cancelled");
    expect(sweep.finishedAt).not.toBeNull();
    expect(sweep.trials).toMatchObject({ total: 2, cancelled: 2, succeeded: 0, running: 0, queued: 0 });
    const rows = rowsOf(table.stdout);
    expect(rows.slice(1).map((row) => [row[0], row[1], row[2], row[5]])).toEqual([
      ["0", first, "cancelled", "training.optimizer.learningRate=0.3"],
      ["1", "-", "cancelled", "training.optimizer.learningRate=0.9"],
    ]);
    expect((JSON.parse(job.stdout) as { status: string; spec: { tags: string[] } }).status).toBe("cancelled");
    expect((JSON.parse(job.stdout) as { spec: { tags: string[] } }).spec.tags).toContain(`sweep:${id}`);
  });

  it("prints a finished job's log lines and downloads its model", async () => {
    let jobId = finishedJobId;
    if (!jobId) {
      const submitted = await stack.submit({
        architecture: "lenet",
        dataset: { name: "synthetic-shapes" },
        training: { epochs: 1, batchSize: 50, maxTrainSamples: 200 },
      });
      const job = await stack.waitForJob(
        submitted,
        (job) => ["succeeded", "failed", "cancelled"].includes(job.status),
        180_000,
        "a job to finish",
      );
      expect(job.status).toBe("succeeded");
      jobId = submitted;
    }

    // The log events the API stored for the job, read from its event stream (it ends: the job has finished).
    const stream = await fetch(`${stack.baseUrl}/v1/jobs/${jobId}/events`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    const stored = (await stream.text())
      .split("\n\n")
      .filter((block) => /^event: log$/m.test(block))
      .map((block) => (JSON.parse(block.match(/^data: (.*)$/m)![1]!) as { message: string }).message);
    expect(
      stored.some((line) => /^training on (cpu|gpu):\d+ with the \w+ backend/.test(line)),
      stored.join("\n"),
    ).toBe(true);

    const out = join(home, "download");
    const [logs, download] = await Promise.all([
      trainyard(["jobs", "logs", jobId, ...withStack()]),
      trainyard(["jobs", "download", jobId, "--out", out, ...withStack()]),
    ]);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout.trim().split("\n")).toEqual(stored);

    expect(download.code, download.stderr).toBe(0);
    expect(download.stdout.trim()).toBe(`model saved to ${out}`);
    const modelJson = JSON.parse(readFileSync(join(out, "model.json"), "utf8")) as {
      modelTopology: unknown;
      weightsManifest: { paths: string[]; weights: { shape: number[]; dtype: string }[] }[];
    };
    const served = await fetch(`${stack.baseUrl}/v1/jobs/${jobId}/model/model.json`, {
      headers: { authorization: `Bearer ${stack.apiKey}` },
    });
    expect(modelJson).toEqual(await served.json());
    expect(modelJson.modelTopology).toBeTruthy();
    const files = modelJson.weightsManifest.flatMap((group) => group.paths);
    expect(files.length).toBeGreaterThan(0);
    const bytes = modelJson.weightsManifest
      .flatMap((group) => group.weights)
      .reduce((sum, weight) => sum + weight.shape.reduce((product, side) => product * side, 1) * 4, 0);
    expect(files.reduce((sum, file) => sum + statSync(join(out, file)).size, 0)).toBe(bytes);
    expect(existsSync(join(out, "model.zip"))).toBe(true);
    const archive = readFileSync(join(out, "model.zip"));
    expect(archive.subarray(0, 4)).toEqual(Buffer.from("PK\x03\x04", "latin1"));
    for (const name of ["model.json", "labels.json", ...files]) expect(archive.includes(name), name).toBe(true);
  });

  it("shows an uploaded and a built-in data set, deletes the upload, and then answers the API's 404 for it", async () => {
    const archive = await shapesArchive("doomed.zip");
    const upload = await trainyard(["datasets", "upload", archive, "--name", "cli-doomed", "--wait", "--json", ...withStack()]);
    expect(upload.code, upload.stderr).toBe(0);
    const { id } = JSON.parse(upload.stdout) as { id: string };
    expect(id).toMatch(/^ds_/);

    const [get, builtin, builtinDelete] = await Promise.all([
      trainyard(["datasets", "get", id, ...withStack()]),
      trainyard(["datasets", "get", "synthetic-shapes", ...withStack()]),
      trainyard(["datasets", "delete", "synthetic-shapes", ...withStack()]),
    ]);
    expect(get.code, get.stderr).toBe(0);
    const dataset = JSON.parse(get.stdout) as { counts: Record<string, number> };
    expect(dataset).toMatchObject({ id, name: "cli-doomed", status: "ready", builtin: false, classes: ["a", "b"], error: null });
    expect(dataset.counts.train + dataset.counts.val + dataset.counts.test).toBe(8);
    expect(JSON.parse(builtin.stdout)).toMatchObject({
      id: "synthetic-shapes",
      name: "synthetic-shapes",
      counts: { train: 4000, val: 0, test: 1000 },
      builtin: true,
      classes: ["square", "disc", "horizontal-bar", "vertical-bar"],
      imageShape: [28, 28, 1],
    });
    expect(builtinDelete.code).toBe(1);
    expect(builtinDelete.stderr).toContain(
      "DELETE /v1/datasets/synthetic-shapes → 409: synthetic-shapes is built in and cannot be deleted",
    );

    const deleted = await trainyard(["datasets", "delete", id, ...withStack()]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout.trim()).toBe(`deleted data set ${id}`);
    const [gone, list] = await Promise.all([
      trainyard(["datasets", "get", id, ...withStack()]),
      trainyard(["datasets", "list", ...withStack()]),
    ]);
    expect(gone.code).toBe(1);
    expect(gone.stdout).toBe("");
    expect(gone.stderr.trim()).toBe(`trainyard: GET /v1/datasets/${id} → 404: data set ${id} not found`);
    expect(rowsOf(list.stdout).map((row) => row[0])).not.toContain(id);
  });

  it("lists the stack's worker with its device, and the queue's counts as the job list has them", async () => {
    const [workers, queue] = await Promise.all([trainyard(["workers", ...withStack()]), trainyard(["queue", ...withStack()])]);
    expect(workers.code, workers.stderr).toBe(0);
    const rows = rowsOf(workers.stdout);
    expect(rows[0]).toEqual(["WORKER", "HOST", "PID", "STATUS", "DEVICE", "BACKEND", "JOB", "HEARTBEAT"]);
    const api = (await stack.request("GET", "/v1/workers")).body as {
      id: string;
      devices: { id: string; name: string; backend: string | null; busyWithJob: string | null }[];
    }[];
    expect(api).toHaveLength(1);
    const [worker] = api;
    expect(worker!.devices.length).toBeGreaterThan(0);
    expect(rows.slice(1).map((row) => row.slice(0, 7))).toEqual(
      worker!.devices.map((device) => [
        worker!.id,
        hostname(),
        String(stack.workers[0]!.child.pid),
        "active",
        `${device.id} ${device.name}`,
        device.backend ?? "-",
        device.busyWithJob ?? "-",
      ]),
    );
    expect(rows[1]![4]).toMatch(/^(cpu|gpu):\d+ \S/);

    expect(queue.code, queue.stderr).toBe(0);
    const jobs = (await stack.request("GET", "/v1/jobs?limit=200")).body.items as { status: string }[];
    const counts: Record<string, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
    for (const { status } of jobs) {
      const key = status === "cancelling" ? "running" : status;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    expect(rowsOf(queue.stdout)).toEqual([["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"], Object.values(counts).map(String)]);
    expect(counts.succeeded).toBeGreaterThan(0);
  });
});

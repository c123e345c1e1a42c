/** The CLI's commands as a user runs them: the real binary against a real API and worker, one stack for the file. */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { solidPng, zip } from "../../apps/api/test/helpers/archives.ts";
import { buildProgram } from "../../apps/cli/src/program.ts";
import { freePort, TRAINYARD_BIN } from "../helpers/processes.ts";
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
    const png = await solidPng(8, 8, 100);
    const archive = join(home, "shapes.zip");
    writeFileSync(
      archive,
      await zip(["a", "b"].flatMap((label) => [0, 1, 2, 3].map((i) => ({ name: `train/${label}/${i}.png`, data: png })))),
    );
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
});

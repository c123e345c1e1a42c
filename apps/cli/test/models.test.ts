/** `trainyard models register|list|alias|download|delete|import` run as a process against the real API on PostgreSQL. */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import yazl from "yazl";
import { getModel, layersModelFiles } from "@trainyard/models";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "../../api/test/helpers/testApi.ts";
import { trainedJob } from "../../api/test/helpers/trainedJobs.ts";
import { TRAINYARD_BIN } from "../../../tests/helpers/processes.ts";

let api: TestApi;
let baseUrl: string;

function trainyard(args: string[], key: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [TRAINYARD_BIN, ...args],
      { env: { ...process.env, TRAINYARD_API_URL: baseUrl, TRAINYARD_API_KEY: key }, encoding: "utf8", timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
      },
    );
  });
}

beforeAll(async () => {
  api = await startTestApi();
  await api.app.listen({ port: 0, host: "127.0.0.1" });
  baseUrl = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await api?.close();
});

/** A real LeNet (random weights) as the zip a job's model download is: model.json and weights.bin. */
async function lenetZip(): Promise<Buffer> {
  await tf.setBackend("cpu");
  const model = getModel("lenet", { inputShape: [28, 28, 1], classes: 3 });
  const files = layersModelFiles(
    model,
    model.getWeights().map((weight) => weight.dataSync() as Float32Array),
  );
  model.dispose();
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from(JSON.stringify(files.modelJson)), "model.json");
  zip.addBuffer(Buffer.from(files.weights), "weights.bin");
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe("trainyard models", () => {
  it("registers a job's checkpoints and lists the versions with aliases, accuracy and source", async () => {
    const jobId = await trainedJob(api);
    const first = await trainyard(["models", "register", "--name", "cli-lenet", "--job", jobId], api.keyA);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout.trim()).toBe(`registered cli-lenet version 1 from job ${jobId} (best)`);
    const second = await trainyard(["models", "register", "--name", "cli-lenet", "--job", jobId, "--checkpoint", "last"], api.keyA);
    expect(second.stdout.trim()).toBe(`registered cli-lenet version 2 from job ${jobId} (last)`);
    const alias = await trainyard(["models", "alias", "cli-lenet@2", "production"], api.keyA);
    expect(alias.code).toBe(0);
    expect(alias.stdout.trim()).toBe("cli-lenet@production is version 2");

    const list = await trainyard(["models", "list"], api.keyA);
    expect(list.code).toBe(0);
    const rows = list.stdout
      .trim()
      .split("\n")
      .map((line) => line.split("\t"));
    expect(rows[0]).toEqual(["NAME", "VERSION", "ALIASES", "ARCHITECTURE", "ACCURACY", "SOURCE", "CREATED"]);
    expect(rows.slice(1).map((row) => row.slice(0, 6))).toEqual([
      ["cli-lenet", "1", "-", "lenet", "80.00%", `${jobId} (best)`],
      ["cli-lenet", "2", "production", "lenet", "60.00%", `${jobId} (last)`],
    ]);
    const one = await trainyard(["models", "list", "--name", "cli-lenet"], api.keyA);
    expect(one.stdout).toBe(list.stdout);
    // Another tenant sees none of it.
    const foreign = await trainyard(["models", "list"], api.keyB);
    expect(foreign.stdout.trim().split("\n")).toHaveLength(1);
  });

  it("downloads a version by alias as the API serves it, refuses an alias on a non-number, and deletes a version", async () => {
    const jobId = await trainedJob(api);
    await trainyard(["models", "register", "--name", "cli-kept", "--job", jobId], api.keyA);
    await trainyard(["models", "register", "--name", "cli-kept", "--job", jobId, "--checkpoint", "last"], api.keyA);
    expect((await trainyard(["models", "alias", "cli-kept@1", "production"], api.keyA)).code).toBe(0);
    const directory = mkdtempSync(join(tmpdir(), "trainyard-cli-download-"));
    try {
      const saved = await trainyard(["models", "download", "cli-kept@production", "--out", directory], api.keyA);
      expect(saved.stderr).toBe("");
      expect(saved.stdout.trim()).toBe(`model saved to ${directory}`);
      const served = async (file: string) =>
        (
          await api.app.inject({
            method: "GET",
            url: `/v1/models/cli-kept/versions/1/model${file}`,
            headers: { authorization: `Bearer ${api.keyA}` },
          })
        ).rawPayload;
      const modelJson = JSON.parse(readFileSync(join(directory, "model.json"), "utf8"));
      expect(modelJson).toEqual(JSON.parse((await served("/model.json")).toString("utf8")));
      const weightFiles: string[] = modelJson.weightsManifest.flatMap((group: { paths: string[] }) => group.paths);
      expect(weightFiles.length).toBeGreaterThan(0);
      for (const file of weightFiles) expect(readFileSync(join(directory, file)).equals(await served(`/${file}`)), file).toBe(true);
      expect(readFileSync(join(directory, "model.zip")).subarray(0, 4).toString("latin1")).toBe("PK\u0003\u0004");
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
    const notANumber = await trainyard(["models", "alias", "cli-kept@production", "staging"], api.keyA);
    expect(notANumber.code).toBe(2);
    expect(notANumber.stderr).toContain("NAME@VERSION");
    const deleted = await trainyard(["models", "delete", "cli-kept@2"], api.keyA);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout.trim()).toBe("deleted cli-kept version 2");
    const list = await trainyard(["models", "list", "--name", "cli-kept"], api.keyA);
    expect(
      list.stdout
        .trim()
        .split("\n")
        .slice(1)
        .map((line) => line.split("\t").slice(0, 3)),
    ).toEqual([["cli-kept", "1", "production"]]);
    const again = await trainyard(["models", "delete", "cli-kept@2"], api.keyA);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("404");
  });

  it("imports a TF.js zip as a new model's first version, and refuses a malformed input shape as a usage error", async () => {
    const directory = mkdtempSync(join(tmpdir(), "trainyard-cli-import-"));
    try {
      const file = join(directory, "lenet.zip");
      writeFileSync(file, await lenetZip());
      const labels = JSON.stringify(["circle", "square", "triangle"]);
      const args = ["models", "import", file, "--name", "outside-lenet", "--arch", "lenet", "--labels", labels];
      const imported = await trainyard([...args, "--input-shape", "28,28,1"], api.keyA);
      expect(imported.stderr).toBe("");
      expect(imported.code).toBe(0);
      expect(imported.stdout.trim()).toBe("imported outside-lenet version 1 (lenet, tfjs)");
      const version = (
        await api.app.inject({ method: "GET", url: "/v1/models/outside-lenet", headers: { authorization: `Bearer ${api.keyA}` } })
      ).json().versions[0];
      expect(version).toMatchObject({
        version: 1,
        sourceJobId: null,
        architecture: "lenet",
        inputShape: [28, 28, 1],
        labels: JSON.parse(labels),
      });
      const usage = await trainyard([...args, "--input-shape", "28x28"], api.keyA);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain("--input-shape is H,W,C");
      // Weights that do not fit the architecture: the API's 400, exit code 1.
      const misfit = await trainyard([...args, "--input-shape", "32,32,1"], api.keyA);
      expect(misfit.code).toBe(1);
      expect(misfit.stderr).toContain("400");
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it("fails with the API's problem for an unknown job, an invalid name, and a usage error without --job", async () => {
    const unknown = await trainyard(["models", "register", "--name", "x", "--job", "job_missing"], api.keyA);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("404");
    const invalid = await trainyard(["models", "register", "--name", "a b", "--job", "job_missing"], api.keyA);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("name:");
    const usage = await trainyard(["models", "register", "--name", "x"], api.keyA);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("required option '--job <id>' not specified");
    const missing = await trainyard(["models", "list", "--name", "nope"], api.keyA);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("404");
  });
});

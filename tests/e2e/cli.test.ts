import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRAINYARD_BIN } from "../helpers/processes.ts";
import { startStack, type Stack } from "../helpers/stack.ts";

/** `trainyard train …` as a user runs it: a real process against a real API and worker. */
function trainyard(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TRAINYARD_BIN, ...args], { timeout: 180_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

let stack: Stack;
let out: string;

beforeAll(async () => {
  // Two data-parallel replicas whatever the machine: the log line below names them.
  stack = await startStack({ env: { TRAINYARD_REPLICAS: "2" } });
  out = mkdtempSync(join(tmpdir(), "trainyard-cli-"));
});

afterAll(async () => {
  await stack?.stop();
  if (out) rmSync(out, { recursive: true, force: true });
});

describe("trainyard train --follow", () => {
  it("submits a job, shows progress and the job's log lines, and saves the trained model", async () => {
    const result = await trainyard([
      ...["train", "--arch", "lenet", "--dataset", "synthetic-shapes", "--epochs", "2", "--batch-size", "50"],
      ...["--max-train-samples", "600", "--follow", "--out", out, "--key", stack.apiKey, "--api", stack.baseUrl],
    ]);
    expect(result.code, `${result.stdout}\n${result.stderr}\n${stack.logs()}`).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toMatch(/^submitted job job_/);
    // Not a terminal: every redraw of the bar is a line of its own, the last at 100%.
    expect(lines.some((line) => /100\.0% epoch 2\/2 step 12\/12/.test(line))).toBe(true);
    expect(lines).toContain("trainyard: 2 data-parallel replicas (threads); each batch split 25 + 25");
    expect(lines.some((line) => /^trainyard: training on cpu:0 with the (wasm|cpu) backend/.test(line))).toBe(true);
    expect(result.stdout).toMatch(/trained on backend (wasm|cpu); test accuracy \d+\.\d\d% \(best epoch [12]\)/);
    expect(lines).toContain(`model saved to ${out}`);
    for (const file of ["model.json", "weights.bin", "model.zip"]) expect(existsSync(join(out, file)), file).toBe(true);
    const modelJson = JSON.parse(readFileSync(join(out, "model.json"), "utf8")) as { modelTopology: unknown; weightsManifest: unknown[] };
    expect(modelJson.modelTopology).toBeTruthy();
    expect(modelJson.weightsManifest).toHaveLength(1);
  });

  it("exits 1 with the API's explanation when the job is invalid", async () => {
    const result = await trainyard([
      "train",
      "--arch",
      "lenet5000",
      "--dataset",
      "synthetic-shapes",
      "--key",
      stack.apiKey,
      "--api",
      stack.baseUrl,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/POST \/v1\/jobs → 400/);
    expect(result.stderr).toContain("architecture");
  });
});

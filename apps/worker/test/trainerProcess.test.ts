import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkBackend } from "../src/trainerProcess.ts";

describe("the trainer child", () => {
  it("starts from any working directory: its TypeScript loader is found from the repository, not the cwd", async () => {
    // `npx --prefix <repo> trainyard demo` from another folder: the worker's children inherit that cwd.
    const repository = process.cwd();
    const elsewhere = mkdtempSync(join(tmpdir(), "trainyard-cwd-"));
    process.chdir(elsewhere);
    try {
      const answer = await checkBackend("cpu", { gpu: null });
      expect(answer).toMatchObject({ type: "checked", backend: "cpu", device: "cpu:0" });
    } finally {
      process.chdir(repository);
      rmSync(elsewhere, { recursive: true, force: true });
    }
  }, 60_000);
});

import * as tf from "@tensorflow/tfjs";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSafetensors, toFloat32 } from "@trainyard/models";
import { writeSafetensors } from "../../../packages/models/test/torchvision/writeSafetensors.ts";
import { multipartBody } from "./helpers/archives.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

/**
 * POST /v1/models/import through the real API and PostgreSQL: a torchvision ResNet-18 exported by PyTorch
 * (export.py, random weights) at 64×64, imported, downloaded again as TF.js files and run: its logits are
 * PyTorch's. Then the same version's zip imported in the tfjs format, and the 400s for what does not fit.
 */
let api: TestApi;
let directory: string;
let stateDict: Buffer;

const SIZE = 64;

function importModel(fields: Record<string, string>, file?: { filename: string; data: Buffer }, key = api.keyA) {
  const body = multipartBody(fields, file);
  return api.app.inject({ method: "POST", url: "/v1/models/import", headers: { ...auth(key), ...body.headers }, payload: body.payload });
}

const torchvisionFields = (name: string) => ({
  name,
  architecture: "resnet18",
  architectureOptions: JSON.stringify({ variant: "torchvision" }),
  inputShape: `[${SIZE}, ${SIZE}, 3]`,
  format: "torchvision",
});

async function download(url: string): Promise<Buffer> {
  const response = await api.app.inject({ method: "GET", url, headers: auth(api.keyA) });
  expect(response.statusCode, url).toBe(200);
  return response.rawPayload;
}

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), "trainyard-import-"));
  const exportScript = new URL("../../../packages/models/test/torchvision/export.py", import.meta.url).pathname;
  execFileSync("/usr/bin/python3", [exportScript, directory, `resnet18:${SIZE}:1`], { encoding: "utf8" });
  stateDict = readFileSync(join(directory, "resnet18.safetensors"));
  api = await startTestApi();
  await tf.setBackend("cpu");
}, 300_000);

afterAll(async () => {
  await api?.close();
  if (directory) rmSync(directory, { recursive: true, force: true });
});

describe("POST /v1/models/import", () => {
  it("imports a torchvision state_dict as a version whose downloaded model gives PyTorch's logits", async () => {
    const response = await importModel(torchvisionFields("imagenet-resnet18"), { filename: "resnet18.safetensors", data: stateDict });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.headers.location).toBe("/v1/models/imagenet-resnet18/versions/1");
    const version = response.json();
    expect(version).toMatchObject({
      version: 1,
      sourceJobId: null,
      checkpoint: null,
      architecture: "resnet18",
      inputShape: [SIZE, SIZE, 3],
    });
    expect(version.architectureOptions).toEqual({ variant: "torchvision" });
    expect(version.labels).toHaveLength(1000);

    const base = "/v1/models/imagenet-resnet18/versions/1/model";
    const modelJson = JSON.parse((await download(`${base}/model.json`)).toString("utf8"));
    const weights = await download(`${base}/weights.bin`);
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: modelJson.modelTopology,
        weightSpecs: modelJson.weightsManifest[0].weights,
        weightData: new Uint8Array(weights).buffer,
      }),
    );
    const check = readSafetensors(readFileSync(join(directory, "resnet18.check.safetensors")));
    const pixels = check.get("input")!;
    const theirs = toFloat32("logits", check.get("logits")!);
    const logitModel = tf.model({ inputs: model.inputs, outputs: model.getLayer("head_fc").output as tf.SymbolicTensor });
    const ours = tf.tidy(() => (logitModel.predict(tf.tensor(toFloat32("input", pixels), pixels.shape)) as tf.Tensor).dataSync());
    const largest = Math.max(...theirs.map(Math.abs));
    const difference = Math.max(...theirs.map((logit, index) => Math.abs(ours[index] - logit)));
    expect(largest).toBeGreaterThan(0);
    expect(difference / largest).toBeLessThan(1e-4);
    model.dispose();

    // The version's zip, imported back in the tfjs format, keeps every weight as it was.
    const zip = await download(base);
    const reimported = await importModel(
      { ...torchvisionFields("resnet18-from-zip"), format: "tfjs", labels: JSON.stringify(version.labels) },
      { filename: "model.zip", data: zip },
    );
    expect(reimported.statusCode, reimported.body).toBe(201);
    // Compared by hash: a deep equality of two 45 MB buffers takes vitest minutes.
    const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
    expect(sha256(await download("/v1/models/resnet18-from-zip/versions/1/model/weights.bin"))).toBe(sha256(weights));

    // Another tenant does not see it.
    const other = await api.app.inject({ method: "GET", url: "/v1/models/imagenet-resnet18", headers: auth(api.keyB) });
    expect(other.statusCode).toBe(404);
  }, 600_000);

  it("answers 400 naming missing, extra and wrong-shaped tensors, bad files and bad fields", async () => {
    const original = readSafetensors(stateDict);
    const tensors: Parameters<typeof writeSafetensors>[0] = {};
    for (const [name, entry] of original) {
      if (name === "layer1.0.conv1.weight") continue;
      const data = new Uint8Array(entry.bytes);
      tensors[name] = { dtype: entry.dtype, shape: name === "fc.bias" ? [10, 100] : entry.shape, data };
    }
    tensors["layer5.0.conv1.weight"] = { shape: [1], data: new Float32Array([1]) };
    const mismatched = await importModel(torchvisionFields("broken"), { filename: "broken.safetensors", data: writeSafetensors(tensors) });
    expect(mismatched.statusCode).toBe(400);
    expect(mismatched.headers["content-type"]).toContain("application/problem+json");
    const messages = mismatched.json().errors.map((error: { message: string }) => error.message);
    expect(messages).toContain("missing tensor layer1.0.conv1.weight [64, 64, 3, 3]");
    expect(messages).toContain("unexpected tensor layer5.0.conv1.weight");
    expect(messages).toContain("tensor fc.bias has shape [10, 100], the network needs [1000]");

    const truncated = await importModel(torchvisionFields("broken"), { filename: "x.safetensors", data: stateDict.subarray(0, 1000) });
    expect(truncated.statusCode).toBe(400);
    expect(truncated.json().errors[0].path).toBe("file");
    expect(truncated.json().detail).toContain("not valid safetensors");

    const noVariant = await importModel(
      { ...torchvisionFields("broken"), architectureOptions: "{}" },
      { filename: "x.safetensors", data: stateDict },
    );
    expect(noVariant.statusCode).toBe(400);
    expect(noVariant.json().errors[0].path).toBe("architectureOptions.variant");

    const tooManyLabels = await importModel(
      { ...torchvisionFields("broken"), labels: JSON.stringify(Array.from({ length: 10_001 }, (_, index) => `c${index}`)) },
      { filename: "x.safetensors", data: stateDict },
    );
    expect(tooManyLabels.statusCode).toBe(400);
    expect(tooManyLabels.json().errors.map((error: { path: string }) => error.path)).toContain("labels");

    const badFields = await importModel({
      name: "a b",
      architecture: "resnet18",
      inputShape: "[64, 64]",
      format: "onnx",
      architectureOptions: "{",
    });
    expect(badFields.statusCode).toBe(400);
    const paths = badFields.json().errors.map((error: { path: string }) => error.path);
    expect(paths).toEqual(expect.arrayContaining(["name", "inputShape", "format", "architectureOptions", "file"]));

    const notZip = await importModel(
      { ...torchvisionFields("broken"), format: "tfjs" },
      { filename: "x.zip", data: Buffer.from("not a zip") },
    );
    expect(notZip.statusCode).toBe(400);
    expect(notZip.json().errors[0].path).toBe("file");
    // Nothing was registered by the refused requests.
    expect((await api.app.inject({ method: "GET", url: "/v1/models/broken", headers: auth(api.keyA) })).statusCode).toBe(404);
  }, 300_000);
});

/**
 * The model page's "drop an image to predict" in a real browser (Debian's chromium driven by
 * playwright-core) against the API on PostgreSQL: a version holding a real LeNet (random
 * weights, 300 classes) answers an image set on the file input with the same top-k the API gives,
 * and every version's metrics are listed. Screenshot: /tmp/model-dashboard.png.
 */
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { putArtifact } from "@trainyard/db";
import { randomLenet } from "../../../packages/inference/test/lenet.ts";
import { auth, startTestApi, type TestApi } from "../../api/test/helpers/testApi.ts";

const LABELS = Array.from({ length: 300 }, (_, i) => `species-${i}`);
let api: TestApi;
let baseUrl: string;
let browser: Browser;
let page: Page;
let image: Buffer;

beforeAll(async () => {
  api = await startTestApi();
  await api.app.listen({ port: 0, host: "127.0.0.1" });
  baseUrl = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
  const submitted = await api.app.inject({
    method: "POST",
    url: "/v1/jobs",
    headers: auth(api.keyA),
    payload: { architecture: "lenet", dataset: { name: "synthetic-shapes" }, training: { epochs: 1 } },
  });
  expect(submitted.statusCode).toBe(202);
  const jobId = submitted.json().id as string;
  const { stored } = await randomLenet([28, 28, 1], LABELS.length);
  await api.db.$transaction(async (tx) => {
    const modelJson = Buffer.from(JSON.stringify(stored.modelJson));
    await putArtifact(tx, { jobId, kind: "best", name: "model.json", contentType: "application/json", data: modelJson });
    await putArtifact(tx, { jobId, kind: "best", name: "weights.bin", contentType: "application/octet-stream", data: stored.weights });
    await putArtifact(tx, {
      jobId,
      kind: "meta",
      name: "labels.json",
      contentType: "application/json",
      data: Buffer.from(JSON.stringify(LABELS)),
    });
  });
  await api.db.job.update({
    where: { id: jobId },
    data: { status: "succeeded", result: { testLoss: 5.7, testAccuracy: 0.004, bestEpoch: 1 }, finishedAt: new Date() },
  });
  const registered = await api.app.inject({
    method: "POST",
    url: "/v1/models",
    headers: auth(api.keyA),
    payload: { name: "leaves", fromJobId: jobId, checkpoint: "best" },
  });
  expect(registered.statusCode, registered.body).toBe(201);
  const aliased = await api.app.inject({
    method: "PUT",
    url: "/v1/models/leaves/aliases/production",
    headers: auth(api.keyA),
    payload: { version: 1 },
  });
  expect(aliased.statusCode).toBe(200);
  // A diagonal stripe: something for the network to be confident or unsure about.
  const pixels = Buffer.alloc(28 * 28, 0).map((_, i) => (Math.abs((i % 28) - Math.floor(i / 28)) < 3 ? 255 : 20));
  image = await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
    .png()
    .toBuffer();

  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  const context = await browser.newContext();
  await context.addInitScript((key) => localStorage.setItem("trainyard.apiKey", key), api.keyA);
  page = await context.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
});

describe("the model page's prediction", () => {
  it("predicts an image set on the file input with the production version and shows the API's top 5", async () => {
    await page.goto(`${baseUrl}/dashboard#/models/leaves`);
    await page.getByRole("heading", { level: 2, name: "Predict" }).waitFor();
    expect(await page.locator("#predict-ref").inputValue()).toBe("production");
    await page.locator("#predict-file").setInputFiles({ name: "stripe.png", mimeType: "image/png", buffer: image });
    const rows = page.locator('figure[data-file="stripe.png"] ol.top-k li');
    await rows.first().waitFor({ timeout: 30_000 });
    expect(await page.locator("#predict-status").textContent()).toBe("Version 1 of leaves: top 5 of 1 image.");

    const direct = await api.app.inject({
      method: "POST",
      url: "/v1/models/leaves/versions/production/predict?topK=5",
      headers: { ...auth(api.keyA), "content-type": "multipart/form-data; boundary=x" },
      payload: Buffer.concat([
        Buffer.from('--x\r\ncontent-disposition: form-data; name="image"; filename="stripe.png"\r\ncontent-type: image/png\r\n\r\n'),
        image,
        Buffer.from("\r\n--x--\r\n"),
      ]),
    });
    expect(direct.statusCode, direct.body).toBe(200);
    const top = direct.json().predictions[0].top as { label: string; probability: number }[];
    expect(top).toHaveLength(5);
    expect(await rows.locator(".top-label").allTextContents()).toEqual(top.map((entry) => entry.label));
    expect(await rows.locator(".top-probability").allTextContents()).toEqual(
      top.map((entry) => expect.stringMatching(new RegExp(`^${(entry.probability * 100).toFixed(1)}\\s?%$`))),
    );
    expect(await page.locator('figure[data-file="stripe.png"] img').evaluate((element: HTMLImageElement) => element.naturalWidth)).toBe(28);

    const metrics = await page.locator('tr[data-metrics="1"] td').allTextContents();
    // No epoch row was recorded for this checkpoint: only the job's test metrics are known.
    expect(metrics[0]).toBe("—");
    expect(metrics.at(-1)).toMatch(/^0\.4\s?%$/);
    await page.screenshot({ path: "/tmp/model-dashboard.png", fullPage: true });
  });

  it("shows the API's problem for a file that is not an image", async () => {
    await page.locator("#predict-file").setInputFiles({ name: "notes.png", mimeType: "image/png", buffer: Buffer.from("not a png") });
    await page.locator("#predict-status .error").waitFor();
    expect(await page.locator("#predict-status").textContent()).toMatch(/^Could not predict: .*notes\.png/);
    expect(await page.locator("#predict-results figure").count()).toBe(0);
  });
});

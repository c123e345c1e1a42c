import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTrainyard, waitFor, type ServiceProcess } from "../helpers/processes.ts";
import { startStack, type Stack } from "../helpers/stack.ts";

/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core) against real
 * API and worker processes, PostgreSQL and Redis: key prompt, the new-job form and its
 * validation errors, the jobs list, a LeNet job watched live to the end, its curves, a model
 * download, cancelling, architectures and workers.
 */
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"];
const EPOCHS = 2;
const TRAINING_TIMEOUT_MS = 240_000;
const FINISHED_SELECTOR = ["succeeded", "failed", "cancelled"].map((status) => `#job-status [data-status="${status}"]`).join(", ");

let stack: Stack;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let screenshots: string;
let jobId: string;
let restartedApi: ServiceProcess | undefined;
const pageErrors: string[] = [];
const apiCalls: { method: string; path: string; search: string; authorization?: string; lastEventId?: string }[] = [];

beforeAll(async () => {
  stack = await startStack();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (!url.pathname.startsWith("/v1/")) return;
    const headers = request.headers();
    const call = {
      method: request.method(),
      path: url.pathname,
      search: url.search,
      authorization: headers.authorization,
      lastEventId: headers["last-event-id"],
    };
    apiCalls.push(call);
    // The headers as sent on the wire, once known (the synchronous ones are what the page asked for).
    void request
      .allHeaders()
      .then((sent) => Object.assign(call, { authorization: sent.authorization, lastEventId: sent["last-event-id"] }))
      .catch(() => undefined);
  });
  screenshots = mkdtempSync(join(tmpdir(), "trainyard-dashboard-"));
});

afterAll(async () => {
  await browser?.close();
  await restartedApi?.stop();
  await stack?.stop();
});

const nav = (name: string) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
const statusOf = async () => page.locator("#job-status [data-status]").getAttribute("data-status");
const points = (chart: string, series: string) => page.locator(`svg[data-chart="${chart}"] g[data-series="${series}"] circle.point`);

/** Polls the job page's status badge until the job has finished; answers every status seen on the way. */
async function watchUntilFinished(timeoutMs: number) {
  const statuses = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await statusOf();
    if (status) statuses.add(status);
    if ((await page.locator(FINISHED_SELECTOR).count()) > 0) break;
    await page.waitForTimeout(250);
  }
  return statuses;
}

describe("the dashboard in chromium", () => {
  it("serves the page without a key, then asks for one and refuses a wrong one", async () => {
    const response = await page.goto(`${stack.baseUrl}/dashboard`);
    expect(response?.status()).toBe(200);
    await expect(page.title()).resolves.toBe("Trainyard");
    const keyInput = page.getByLabel("API key");
    await keyInput.fill("not-a-key");
    await page.getByRole("button", { name: "Save key" }).click();
    await page.getByText("The API does not know this key.").waitFor();
    expect(await keyInput.getAttribute("aria-invalid")).toBe("true");

    await keyInput.fill(stack.apiKey);
    await page.getByRole("button", { name: "Save key" }).click();
    await page.getByRole("heading", { level: 1, name: "Jobs" }).waitFor();
    expect(await page.evaluate(() => localStorage.getItem("trainyard.apiKey"))).toBe(stack.apiKey);
    await page.getByText("No jobs yet.").waitFor();
  });

  it("shows the API's validation error next to the epochs field and creates nothing", async () => {
    await nav("New job").click();
    await page.getByRole("heading", { level: 1, name: "New job" }).waitFor();
    await page.getByLabel("Architecture").selectOption("lenet");
    await page.getByLabel("Dataset").selectOption("name:fashion-mnist");
    await page.getByLabel("Epochs").fill("0");
    await page.getByRole("button", { name: "Start training" }).click();

    const fieldError = page.locator('[data-field="epochs"] .field-error');
    await fieldError.filter({ hasText: /\S/ }).waitFor();
    expect(await fieldError.getAttribute("id")).toBe("epochs-error");
    const epochs = page.getByLabel("Epochs");
    expect(await epochs.getAttribute("aria-invalid")).toBe("true");
    expect(await epochs.getAttribute("aria-describedby")).toContain("epochs-error");
    await expect(page.getByRole("alert").filter({ hasText: "The job was not started" }).count()).resolves.toBe(1);
    // Only the epochs field is marked.
    await expect(page.locator('[aria-invalid="true"]').count()).resolves.toBe(1);
    await page.screenshot({ path: join(screenshots, "new-job-error.png"), fullPage: true });
    expect((await stack.request("GET", "/v1/jobs")).body.items).toEqual([]);
  });

  it("submits a LeNet job from the form and lists it", async () => {
    await page.getByLabel("Epochs").fill(String(EPOCHS));
    await page.getByLabel("Batch size").fill("32");
    await page.getByLabel("Optimizer").selectOption("adam");
    await page.getByLabel("Learning rate").fill("0.005");
    await page.getByLabel("Max train samples").fill("2000");
    await page.getByLabel("Tags").fill('dashboard, <img src=x onerror="window.pwned=1">');
    await page.getByRole("button", { name: "Start training" }).click();
    await page.waitForURL(/#\/jobs\/[^/?]+$/);
    jobId = decodeURIComponent(new URL(page.url()).hash.split("/")[2]);
    await page
      .getByRole("status")
      .filter({ hasText: `Job ${jobId} submitted.` })
      .waitFor();
    const job = await stack.job(jobId);
    expect(job.spec).toMatchObject({
      architecture: "lenet",
      dataset: { name: "fashion-mnist" },
      training: { epochs: EPOCHS, batchSize: 32, maxTrainSamples: 2000, optimizer: { type: "adam", learningRate: 0.005 } },
      tags: ["dashboard", '<img src=x onerror="window.pwned=1">'],
    });

    await nav("Jobs").click();
    const row = page.locator(`tr[data-job-id="${jobId}"]`);
    await row.waitFor();
    const cells = await row.locator("th, td").allInnerTexts();
    expect(cells[0]).toBe(jobId);
    expect(cells[2]).toBe("lenet");
    expect(cells[3]).toBe("fashion-mnist");
    await expect(row.locator("progress").count()).resolves.toBe(1);

    // The status filter asks the API and the list follows it.
    await page.getByLabel("Status").selectOption("failed");
    await page.getByText("No failed jobs.").waitFor();
    await expect(row.count()).resolves.toBe(0);
    await page.getByLabel("Status").selectOption("");
    await row.waitFor();
    expect(apiCalls.some((call) => call.path === "/v1/jobs" && call.method === "GET")).toBe(true);

    await row.getByRole("link", { name: jobId }).click();
    await page.getByRole("heading", { level: 1, name: `Job ${jobId}` }).waitFor();
  });

  it("follows the job live to succeeded and draws two points per curve", async () => {
    const statuses = await watchUntilFinished(TRAINING_TIMEOUT_MS);
    expect(await statusOf(), `statuses seen: ${[...statuses].join(", ")}\n${stack.logs()}`).toBe("succeeded");
    expect(statuses.has("running") || statuses.has("queued")).toBe(true);

    for (const [chart, series] of [
      ["loss", ["trainLoss", "valLoss"]],
      ["accuracy", ["trainAccuracy", "valAccuracy"]],
    ] as const) {
      const svg = page.locator(`svg[data-chart="${chart}"]`);
      expect(await svg.getAttribute("role")).toBe("img");
      for (const key of series) {
        await expect(points(chart, key).count(), `${chart}/${key}`).resolves.toBe(EPOCHS);
        await expect(svg.locator(`g[data-series="${key}"] polyline`).count()).resolves.toBe(1);
        const epochs = await points(chart, key).evaluateAll((circles) => circles.map((c) => c.getAttribute("data-epoch")));
        expect(epochs).toEqual(["1", "2"]);
      }
    }
    // Accuracy points sit inside the plot: y grows downwards, so accuracy in [0, 1] maps between the axis ends.
    const ys = await page
      .locator('svg[data-chart="accuracy"] circle.point')
      .evaluateAll((circles) => circles.map((c) => Number(c.getAttribute("cy"))));
    for (const y of ys) expect(y).toBeGreaterThan(0);

    // The event log and the epoch rows came over the stream, read with fetch and the key.
    await page.locator(".log li", { hasText: "epoch 2:" }).waitFor();
    await page.locator(".log li", { hasText: "succeeded" }).waitFor();
    const streams = apiCalls.filter((call) => call.path === `/v1/jobs/${jobId}/events`);
    expect(streams.length).toBeGreaterThanOrEqual(1);
    await expect(page.locator("#job-progress").evaluate((element) => (element as HTMLProgressElement).value)).resolves.toBe(1);

    const result = await page.locator("#job-result").innerText();
    const job = await stack.job(jobId);
    expect(result).toContain(`${(job.result.testAccuracy * 100).toFixed(1)} %`);

    // A tag is text, not markup.
    await page.getByText('<img src=x onerror="window.pwned=1">').waitFor();
    await expect(page.locator("main img").count()).resolves.toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();

    // After the closing status the page reloads the job: created, started and finished times, the backend.
    await page.waitForFunction(() => document.querySelectorAll("#job-run time").length === 3);
    await page.getByRole("definition").filter({ hasText: job.backend }).first().waitFor();
    await page.screenshot({ path: join(screenshots, "job.png"), fullPage: true });
    console.info(`dashboard screenshots in ${screenshots}`);
  });

  it("downloads the model zip with the key", async () => {
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download model (best)" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`${jobId}-best.zip`);
    const path = await download.path();
    const bytes = readFileSync(path);
    expect(bytes.subarray(0, 2).toString()).toBe("PK");
    for (const name of ["model.json", "labels.json", "trainyard.json"]) expect(bytes.includes(Buffer.from(name))).toBe(true);
    await page.getByText(`Downloaded ${jobId}-best.zip.`).waitFor();
  });

  it("resumes the live stream with Last-Event-ID when the API restarts mid-training", async () => {
    const epochs = 3;
    const id = await stack.submit({
      architecture: "lenet",
      dataset: { name: "fashion-mnist" },
      training: { epochs, batchSize: 32, maxTrainSamples: 2000, optimizer: { type: "adam", learningRate: 0.005 } },
    });
    await page.goto(`${stack.baseUrl}/dashboard#/jobs/${id}`);
    await points("loss", "trainLoss").first().waitFor({ timeout: TRAINING_TIMEOUT_MS });
    const before = apiCalls.filter((call) => call.path === `/v1/jobs/${id}/events`).length;

    await stack.api.stop(); // SIGTERM: the API ends its event streams and exits
    restartedApi = startTrainyard("api", stack.env);
    await waitFor("the API to come back", () => fetch(`${stack.baseUrl}/healthz`).then((r) => r.ok), 60_000);

    const statuses = await watchUntilFinished(TRAINING_TIMEOUT_MS);
    expect(await statusOf(), `statuses seen: ${[...statuses].join(", ")}\n${restartedApi.output()}`).toBe("succeeded");
    const resumed = apiCalls.filter((call) => call.path === `/v1/jobs/${id}/events`).slice(before);
    expect(resumed.length).toBeGreaterThanOrEqual(1);
    expect(Number(resumed.at(-1)!.lastEventId)).toBeGreaterThan(0);
    // Every epoch once: the replay after the resume point neither loses nor repeats one.
    for (const [chart, key] of [
      ["loss", "trainLoss"],
      ["loss", "valLoss"],
      ["accuracy", "trainAccuracy"],
      ["accuracy", "valAccuracy"],
    ]) {
      const drawn = await points(chart, key).evaluateAll((circles) => circles.map((c) => c.getAttribute("data-epoch")));
      expect(drawn, `${chart}/${key}`).toEqual(["1", "2", "3"]);
    }
    await expect(page.locator(".log li", { hasText: /^epoch\s+epoch 2:/ }).count()).resolves.toBe(1);
  });

  it("cancels a running job with the Cancel button", async () => {
    const id = await stack.submit({
      architecture: "lenet",
      dataset: { name: "fashion-mnist" },
      training: { epochs: 50, batchSize: 64, maxTrainSamples: 2000, optimizer: { type: "adam", learningRate: 0.005 } },
    });
    await page.goto(`${stack.baseUrl}/dashboard#/jobs/${id}`);
    await page.locator('#job-status [data-status="running"]').waitFor({ timeout: 60_000 });
    const dialogs: string[] = [];
    page.once("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    await page.getByRole("button", { name: "Cancel job" }).click();
    await page.locator('#job-status [data-status="cancelled"]').waitFor({ timeout: 60_000 });
    expect(dialogs).toEqual([`Cancel job ${id}?`]);
    expect(await page.getByRole("button", { name: "Cancel job" }).isDisabled()).toBe(true);
    expect((await stack.job(id)).status).toBe("cancelled");
  });

  it("lists architectures with a layer table, and the workers", async () => {
    await nav("Architectures").click();
    await page.getByRole("heading", { level: 1, name: "Architectures" }).waitFor();
    expect(await page.locator("tr[data-architecture]").count()).toBeGreaterThan(5);
    await page.getByRole("link", { name: "lenet", exact: true }).click();
    const layers = page.locator("table.layers-table tbody tr");
    await layers.first().waitFor();
    expect(await layers.count()).toBeGreaterThan(4);
    const lastRow = await layers.last().locator("td, th").allInnerTexts();
    expect(lastRow[3]).toBe("10");
    await page.screenshot({ path: join(screenshots, "architecture.png"), fullPage: true });

    // A shape the network cannot take: the API's reason is shown by the field.
    await page.getByLabel("Input shape (H,W,C)").fill("4,4,1");
    await page.getByRole("button", { name: "Show summary" }).click();
    await page.locator("#input-shape-error").filter({ hasText: /\S/ }).waitFor();
    expect(await page.getByLabel("Input shape (H,W,C)").getAttribute("aria-invalid")).toBe("true");

    await nav("Workers").click();
    const worker = page.locator("tr[data-worker-id]");
    await worker.first().waitFor();
    await expect(worker.locator('[data-status="active"]').count()).resolves.toBe(1);
    await page.screenshot({ path: join(screenshots, "workers.png"), fullPage: true });
  });

  it("pages through the jobs with the cursor and picks up new jobs by itself", async () => {
    await page.goto(`${stack.baseUrl}/dashboard#/jobs?limit=2`);
    const rows = page.locator("tr[data-job-id]");
    await rows.nth(1).waitFor();
    const ids = () => rows.evaluateAll((elements) => elements.map((element) => element.getAttribute("data-job-id")));
    const firstPage = await ids();
    expect(firstPage).toHaveLength(2);
    expect(await page.getByRole("button", { name: "← Newer" }).isDisabled()).toBe(true);

    await page.getByRole("button", { name: "Older →" }).click();
    await page.waitForFunction((previous) => {
      const shown = Array.from(document.querySelectorAll("tr[data-job-id]"), (row) => row.getAttribute("data-job-id"));
      return shown.length > 0 && !shown.some((id) => previous.includes(id));
    }, firstPage);
    expect((await ids()).length).toBeGreaterThanOrEqual(1);
    expect(apiCalls.some((call) => call.path === "/v1/jobs" && /[?&]cursor=/.test(call.search))).toBe(true);
    await page.getByText("Page 2").waitFor();

    await page.getByRole("button", { name: "← Newer" }).click();
    await page.getByText("Page 1").waitFor();
    expect(await ids()).toEqual(firstPage);

    // A refresh rebuilds the rows but leaves keyboard focus on the same job's link.
    const focusedId = firstPage[0]!;
    await rows.first().getByRole("link").focus();
    const stamp = page.locator(".toolbar .muted");
    const before = await stamp.innerText();
    await page.waitForFunction((text) => document.querySelector(".toolbar .muted")?.textContent !== text, before, { timeout: 10_000 });
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe(focusedId);

    // Auto-refresh: a job submitted elsewhere shows up without touching the page.
    const id = await stack.submit({
      architecture: "lenet",
      dataset: { name: "fashion-mnist" },
      training: { epochs: 1, maxTrainSamples: 500 },
    });
    await page.locator(`tr[data-job-id="${id}"]`).waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(screenshots, "jobs.png"), fullPage: true });
  });

  it("sent the key on every API call and threw no page errors", async () => {
    expect(apiCalls.length).toBeGreaterThan(10);
    const [first, ...rest] = apiCalls;
    expect(first.authorization).toBe("Bearer not-a-key");
    for (const call of rest) expect(call.authorization, `${call.method} ${call.path}`).toBe(`Bearer ${stack.apiKey}`);
    expect(pageErrors).toEqual([]);
  });
});

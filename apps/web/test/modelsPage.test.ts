/**
 * The dashboard's model pages in a real browser (Debian's chromium driven by playwright-core)
 * against the API on PostgreSQL: the models list, one model's versions with aliases and
 * accuracy, and a version's zip downloaded with the key.
 */
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth, startTestApi, type TestApi } from "../../api/test/helpers/testApi.ts";
import { trainedJob } from "../../api/test/helpers/trainedJobs.ts";

let api: TestApi;
let baseUrl: string;
let browser: Browser;
let page: Page;
let jobId: string;

beforeAll(async () => {
  api = await startTestApi();
  await api.app.listen({ port: 0, host: "127.0.0.1" });
  baseUrl = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
  jobId = await trainedJob(api);
  for (const checkpoint of ["best", "last"]) {
    const registered = await api.app.inject({
      method: "POST",
      url: "/v1/models",
      headers: auth(api.keyA),
      payload: { name: "page-lenet", fromJobId: jobId, checkpoint },
    });
    expect(registered.statusCode).toBe(201);
  }
  await api.app.inject({
    method: "PUT",
    url: "/v1/models/page-lenet/aliases/production",
    headers: auth(api.keyA),
    payload: { version: 2 },
  });
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  const context = await browser.newContext({ acceptDownloads: true });
  await context.addInitScript((key) => localStorage.setItem("trainyard.apiKey", key), api.keyA);
  page = await context.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
});

describe("the dashboard's model pages", () => {
  it("lists the registered models with their versions, aliases and latest accuracy", async () => {
    await page.goto(`${baseUrl}/dashboard#/models`);
    await page.getByRole("heading", { level: 1, name: "Models" }).waitFor();
    const row = page.locator('tr[data-model="page-lenet"]');
    await row.waitFor();
    expect(await row.locator("td").allTextContents()).toEqual(["2", "2", "production → 2", expect.stringMatching(/^60\.0\s?%$/)]);
    expect(await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Models" }).getAttribute("aria-current")).toBe(
      "page",
    );
  });

  it("shows one model's versions and downloads a version's zip with the key", async () => {
    await page.locator('tr[data-model="page-lenet"] a').click();
    await page.getByRole("heading", { level: 1, name: "page-lenet" }).waitFor();
    const second = page.locator('tr[data-version="2"]');
    const cells = await second.locator("td").allTextContents();
    expect(cells.slice(0, 5)).toEqual(["production", "lenet", "28 × 28 × 1", "3", expect.stringMatching(/^60\.0\s?%$/)]);
    expect(cells[5]).toBe(`${jobId} (last)`);
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator('button[data-download="2"]').click()]);
    expect(download.suggestedFilename()).toBe("page-lenet-2.zip");
    const saved = readFileSync((await download.path())!);
    const direct = await api.app.inject({ method: "GET", url: "/v1/models/page-lenet/versions/production/model", headers: auth(api.keyA) });
    expect(saved.subarray(0, 2).toString()).toBe("PK");
    expect(saved.length).toBe(direct.rawPayload.length);
  });
});

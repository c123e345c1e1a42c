import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTrainyard, waitFor, type ServiceProcess } from "../helpers/processes.ts";
import { startStack, type Stack } from "../helpers/stack.ts";

/** Six LeNet trials on a few hundred Fashion-MNIST images, two epochs each: the cheapest sweep that trains for real. */
const SWEEP = {
  name: "fashion-lenet-lr",
  base: {
    architecture: "lenet",
    dataset: { name: "fashion-mnist" },
    training: { epochs: 2, batchSize: 64, maxTrainSamples: 192, seed: 3, optimizer: { type: "adam" } },
  },
  parameters: {
    "training.optimizer.learningRate": { values: [0.001, 0.005, 0.02] },
    "training.batchSize": { values: [32, 64] },
  },
  search: { type: "grid" },
  objective: { metric: "valAccuracy", goal: "maximize" },
  maxParallel: 2,
  pruning: { type: "asha", minEpochs: 1, reductionFactor: 2 },
};

/** This test kills the API, not a worker: a queue lock that outlives a slow renewal on a busy machine keeps trials from being retried. */
const UNHURRIED_LOCKS = { TRAINYARD_LOCK_DURATION_MS: "30000", TRAINYARD_STALLED_INTERVAL_MS: "15000" };

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"];
const SCREENSHOT = "/tmp/sweep-dashboard.png";

let stack: Stack;
/** The API started again after the first was killed. */
let api: ServiceProcess | undefined;
let sweepId: string;

beforeAll(async () => {
  // The worker starts once the API answers: both loading at once on a busy machine can outlast the stack's wait for the API.
  stack = await startStack({ workers: 0, env: { TRAINYARD_SWEEP_INTERVAL_MS: "500", ...UNHURRIED_LOCKS } });
  stack.startWorker();
});

afterAll(async () => {
  await api?.stop();
  await stack?.stop();
});

describe("a sweep across an API restart", () => {
  it("runs six LeNet trials to the end when the API is killed mid-sweep: every trial submitted once, none lost", async () => {
    // A 503 (the architecture summary timed out on a busy machine) is to be retried, as its Retry-After says.
    let created = await stack.request("POST", "/v1/sweeps", SWEEP);
    for (let attempt = 1; created.status === 503 && attempt < 4; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 5000));
      created = await stack.request("POST", "/v1/sweeps", SWEEP);
    }
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    sweepId = created.body.id as string;
    const trials = async () => (await stack.request("GET", `/v1/sweeps/${sweepId}/trials`)).body.items as Record<string, any>[];

    // Killed (no graceful close) once a first trial has finished and later ones are under way.
    await waitFor(
      "a first trial to finish",
      async () => (await trials()).some((trial) => ["succeeded", "cancelled"].includes(trial.status)),
      240_000,
      250,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${JSON.stringify(await trials())}\n${stack.logs()}`);
    });
    await stack.api.stop("SIGKILL");
    api = startTrainyard("api", stack.env);
    await waitFor("the API to be back", () => fetch(`${stack.baseUrl}/healthz`).then((r) => r.ok), 60_000, 200);

    const sweep = await waitFor(
      "the sweep to finish",
      async () => {
        const current = (await stack.request("GET", `/v1/sweeps/${sweepId}`)).body;
        return current.status === "running" ? null : current;
      },
      300_000,
      500,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${api?.output()}\n${stack.logs()}`);
    });
    expect(sweep.status).toBe("succeeded");
    const finished = await trials();
    expect(finished).toHaveLength(6);
    const jobs = (await stack.request("GET", `/v1/jobs?tag=sweep:${sweepId}&limit=50`)).body.items as Record<string, any>[];
    // One job per trial, and every job is a trial's.
    expect(jobs).toHaveLength(6);
    expect(new Set(finished.map((trial) => trial.jobId))).toEqual(new Set(jobs.map((job) => job.id)));
    for (const trial of finished) {
      const job = jobs.find((candidate) => candidate.id === trial.jobId)!;
      expect(job.spec.training.optimizer.learningRate).toBe(trial.params["training.optimizer.learningRate"]);
      expect(job.spec.training.batchSize).toBe(trial.params["training.batchSize"]);
      expect(job.status).toBe(trial.status);
      expect(trial.pruned ? ["cancelled", "succeeded"] : ["succeeded"]).toContain(trial.status);
      expect(trial.epochsDone).toBe(trial.pruned && trial.status === "cancelled" ? trial.epochsDone : 2);
      expect(trial.value).toBeGreaterThan(0);
    }
    console.info(
      finished
        .map(
          (t) =>
            `| ${t.index} | ${t.params["training.batchSize"]} | ${t.params["training.optimizer.learningRate"]} | ${t.status}${t.pruned ? " (pruned)" : ""} | ${t.epochsDone} | ${t.value.toFixed(4)} |`,
        )
        .join("\n"),
    );
    const pruned = finished.filter((trial) => trial.pruned);
    expect(sweep.trials).toMatchObject({ total: 6, queued: 0, running: 0, pruned: pruned.length });
    expect(sweep.trials.succeeded + sweep.trials.pruned + sweep.trials.failed + sweep.trials.cancelled).toBe(6);
    const best = finished.reduce((a, b) => (b.value > a.value ? b : a));
    expect(sweep.best).toEqual({ jobId: best.jobId, params: best.params, value: best.value });
  }, 600_000);

  it("shows the sweep in the dashboard: the list, trials sorted by objective, curves with pruned ends, parameter scatters", async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
      const pageErrors: string[] = [];
      page.on("pageerror", (error) => pageErrors.push(error.message));
      await page.goto(`${stack.baseUrl}/dashboard`);
      await page.evaluate((key) => localStorage.setItem("trainyard.apiKey", key), stack.apiKey);
      await page.goto(`${stack.baseUrl}/dashboard#/sweeps`);
      const row = page.locator(`tr[data-sweep="${sweepId}"]`);
      await row.waitFor();
      expect(await row.locator("td").nth(1).textContent()).toBe("6 / 6");

      await row.getByRole("link", { name: SWEEP.name }).click();
      await page.locator("table.trials-table tbody tr").first().waitFor();
      const trials = (await stack.request("GET", `/v1/sweeps/${sweepId}/trials`)).body.items as Record<string, any>[];
      const byValue = [...trials].sort((a, b) => b.value - a.value || a.index - b.index).map((trial) => String(trial.index));
      const rowOrder = () =>
        page.locator("table.trials-table tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-trial")));
      expect(await rowOrder()).toEqual(byValue);
      await page.locator('button[data-sort="objective"]').click();
      const worstFirst = [...trials].sort((a, b) => a.value - b.value || a.index - b.index).map((trial) => String(trial.index));
      expect(await rowOrder()).toEqual(worstFirst);
      await page.locator('button[data-sort="objective"]').click();

      const curves = page.locator('svg[data-chart="sweep-curves"]');
      expect(await curves.locator("g.trial-line").count()).toBe(6);
      const prunedCount = trials.filter((trial) => trial.pruned).length;
      expect(await curves.locator('g.trial-line[data-pruned="true"] g.pruned-mark').count()).toBe(prunedCount);
      for (const path of Object.keys(SWEEP.parameters)) {
        expect(await page.locator(`svg[data-chart="scatter-${path}"] circle.scatter-point`).count()).toBe(6);
      }
      // A grid's axis is marked at its values; learning rates a decade apart on a log scale.
      const ticks = (path: string) => page.locator(`svg[data-chart="scatter-${path}"] g.axes > text:not(.axis-label)`).allTextContents();
      const lrTicks = await ticks("training.optimizer.learningRate");
      expect(lrTicks.slice(0, 3)).toEqual(["0.001", "0.005", "0.02"]);
      expect((await ticks("training.batchSize")).slice(0, 2)).toEqual(["32", "64"]);
      expect(await page.locator('svg[data-chart="scatter-training.optimizer.learningRate"] .axis-label').first().textContent()).toContain(
        "(log)",
      );
      const best = (await stack.request("GET", `/v1/sweeps/${sweepId}`)).body.best;
      expect(await page.locator(`[data-best="${best.jobId}"]`).count()).toBe(1);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(pageErrors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});

// @ts-check
/** Hyperparameter sweeps: the list, and one sweep's trials (sortable), objective curves and parameter scatters. */
import { api } from "../api.js";
import { dataTable, definitionList, formatNumber, h, replace, s, statusBadge, timeElement } from "../dom.js";

const REFRESH_MS = 3000;
/** Trial colours by index (SVG presentation attributes: the page's CSP allows no inline styles). */
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
const colorOf = (/** @type {number} */ index) => PALETTE[index % PALETTE.length];

/** @param {any} sweep */
const objectiveLabel = (sweep) => `${sweep.spec.objective.metric} (${sweep.spec.objective.goal})`;

/** @param {any} sweep */
function trialsDone(sweep) {
  const counts = sweep.trials;
  return counts.succeeded + counts.failed + counts.pruned + counts.cancelled;
}

/** @param {import("../app.js").ViewContext} context */
export async function sweepsView({ main, signal }) {
  const page = await api("/v1/sweeps?limit=200", { signal });
  replace(
    main,
    h("h1", {}, "Sweeps"),
    page.items.length === 0
      ? h("p", { class: "empty" }, "No sweeps yet. Start one with POST /v1/sweeps or `trainyard sweeps create -f sweep.yaml`.")
      : h(
          "div",
          { class: "table-wrap" },
          dataTable(
            { class: "sweeps-table" },
            "Hyperparameter sweeps, newest first",
            ["Name", "Status", "Trials done", "Pruned", "Objective", "Best", "Created"],
            h(
              "tbody",
              {},
              page.items.map((/** @type {any} */ sweep) =>
                h(
                  "tr",
                  { "data-sweep": sweep.id },
                  h("th", { scope: "row" }, h("a", { href: `#/sweeps/${encodeURIComponent(sweep.id)}` }, sweep.name)),
                  h("td", {}, statusBadge(sweep.status)),
                  h("td", { class: "num" }, `${trialsDone(sweep)} / ${sweep.trials.total}`),
                  h("td", { class: "num" }, String(sweep.trials.pruned)),
                  h("td", {}, objectiveLabel(sweep)),
                  h("td", { class: "num" }, sweep.best ? formatNumber(sweep.best.value) : "—"),
                  h("td", {}, timeElement(sweep.createdAt)),
                ),
              ),
            ),
          ),
        ),
  );
}

/**
 * Trials ordered by objective, best first (for `maximize`, highest first); trials without a value last.
 * @param {any[]} trials
 * @param {"maximize" | "minimize"} goal
 * @param {boolean} bestFirst
 */
export function sortByObjective(trials, goal, bestFirst) {
  const sign = (goal === "maximize") === bestFirst ? -1 : 1;
  return [...trials].sort((a, b) => {
    if (a.value === null || b.value === null) return a.value === null ? (b.value === null ? a.index - b.index : 1) : -1;
    return sign * (a.value - b.value) || a.index - b.index;
  });
}

/** @param {unknown} value */
const paramText = (value) => (typeof value === "number" ? formatNumber(value) : JSON.stringify(value));

const WIDTH = 520;
const HEIGHT = 260;
const MARGIN = { top: 16, right: 16, bottom: 44, left: 56 };
const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;

/**
 * @param {number[]} values
 * @returns {[number, number]}
 */
function extent(values) {
  const low = Math.min(...values);
  const high = Math.max(...values);
  const pad = high > low ? (high - low) * 0.06 : Math.abs(low) * 0.1 || 0.5;
  return [low - pad, high + pad];
}

/**
 * The frame of a plot: axes, tick labels and axis names; answers the pixel mappings.
 * @param {{ xTicks: { at: number, label: string }[], yDomain: [number, number], xDomain: [number, number], xLabel: string, yLabel: string }} frame
 */
function axes({ xTicks, yDomain, xDomain, xLabel, yLabel }) {
  const px = (/** @type {number} */ x) => MARGIN.left + ((x - xDomain[0]) / (xDomain[1] - xDomain[0])) * plotWidth;
  const py = (/** @type {number} */ y) => MARGIN.top + (1 - (y - yDomain[0]) / (yDomain[1] - yDomain[0])) * plotHeight;
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => yDomain[0] + f * (yDomain[1] - yDomain[0]));
  const bottom = MARGIN.top + plotHeight;
  const node = s(
    "g",
    { class: "axes", "aria-hidden": "true" },
    s("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: bottom, y2: bottom }),
    s("line", { x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: bottom }),
    xTicks.map((tick) => s("text", { x: px(tick.at).toFixed(1), y: bottom + 16, "text-anchor": "middle" }, tick.label)),
    yTicks.map((y) => s("text", { x: MARGIN.left - 6, y: (py(y) + 4).toFixed(1), "text-anchor": "end" }, formatNumber(y, 3))),
    s("text", { class: "axis-label", x: MARGIN.left + plotWidth / 2, y: HEIGHT - 6, "text-anchor": "middle" }, xLabel),
    s(
      "text",
      {
        class: "axis-label",
        x: 14,
        y: MARGIN.top + plotHeight / 2,
        "text-anchor": "middle",
        transform: `rotate(-90 14 ${MARGIN.top + plotHeight / 2})`,
      },
      yLabel,
    ),
  );
  return { node, px, py };
}

/**
 * Each trial's objective per epoch; a pruned trial's line ends in a cross where it was stopped.
 * @param {any} sweep
 * @param {any[]} trials
 * @param {Map<string, any[]>} epochsByJob
 */
function curvesChart(sweep, trials, epochsByJob) {
  const metric = sweep.spec.objective.metric;
  const lines = trials.map((trial) => ({
    trial,
    points: (epochsByJob.get(trial.jobId) ?? [])
      .filter((row) => typeof row[metric] === "number")
      .map((row) => ({ x: /** @type {number} */ (row.epoch), y: /** @type {number} */ (row[metric]) })),
  }));
  const all = lines.flatMap((line) => line.points);
  const epochs = Math.max(2, ...all.map((point) => point.x), Number(sweep.spec.base?.training?.epochs) || 1);
  const frame = axes({
    xTicks: Array.from({ length: epochs }, (_, i) => ({ at: i + 1, label: String(i + 1) })),
    xDomain: [0.7, epochs + 0.3],
    yDomain: all.length ? extent(all.map((point) => point.y)) : [0, 1],
    xLabel: "epoch",
    yLabel: metric,
  });
  const { px, py } = frame;
  return s(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": `${metric} per epoch of each trial`,
      "data-chart": "sweep-curves",
    },
    frame.node,
    lines.map(({ trial, points }) => {
      const color = colorOf(trial.index);
      const last = points.at(-1);
      return s(
        "g",
        { class: "trial-line", "data-trial": trial.index, "data-pruned": String(trial.pruned) },
        points.length > 1 &&
          s("polyline", {
            points: points.map((point) => `${px(point.x).toFixed(1)},${py(point.y).toFixed(1)}`).join(" "),
            fill: "none",
            stroke: color,
            "stroke-width": 2,
            "stroke-dasharray": trial.pruned ? "5 4" : null,
          }),
        points.map((point) =>
          s(
            "circle",
            { cx: px(point.x).toFixed(1), cy: py(point.y).toFixed(1), r: 3, fill: color },
            s("title", {}, `trial ${trial.index}, epoch ${point.x}: ${formatNumber(point.y)}`),
          ),
        ),
        trial.pruned &&
          last &&
          s(
            "g",
            { class: "pruned-mark", stroke: color, "stroke-width": 2.5 },
            s("title", {}, `trial ${trial.index} pruned after epoch ${last.x}`),
            s("line", { x1: px(last.x) - 6, x2: px(last.x) + 6, y1: py(last.y) - 6, y2: py(last.y) + 6 }),
            s("line", { x1: px(last.x) - 6, x2: px(last.x) + 6, y1: py(last.y) + 6, y2: py(last.y) - 6 }),
          ),
      );
    }),
  );
}

/**
 * @typedef {{ position: (value: unknown) => number, domain: [number, number], ticks: { at: number, label: string }[], log: boolean }} ParameterAxis
 */

/**
 * A numeric parameter's axis: marked at a grid's listed values (up to six), otherwise at the ends
 * and middle of the values seen, never at the padding around them (a learning rate below 0). Log
 * scale for logUniform, and for positive values a decade or more apart (learning rates, weight decay).
 * @param {any} domain the parameter's search domain
 * @param {number[]} tried the values the trials took
 * @returns {ParameterAxis}
 */
function numericAxis(domain, tried) {
  /** @type {number[]} */
  const listed = Array.isArray(domain.values) ? [...new Set(domain.values.filter((v) => typeof v === "number"))].sort((a, b) => a - b) : [];
  const spanned = [...listed, ...tried];
  if (spanned.length === 0) return { position: () => 0, domain: [0, 1], ticks: [], log: false };
  const low = Math.min(...spanned);
  const high = Math.max(...spanned);
  const log = low > 0 && ("logUniform" in domain || high / low >= 10);
  const position = (/** @type {unknown} */ value) => (log ? Math.log10(/** @type {number} */ (value)) : /** @type {number} */ (value));
  const ends = [position(low), position(high)];
  const ticks =
    listed.length > 0 && listed.length <= 6
      ? listed.map((value) => ({ at: position(value), label: formatNumber(value, 3) }))
      : [ends[0], (ends[0] + ends[1]) / 2, ends[1]].map((at) => ({ at, label: formatNumber(log ? 10 ** at : at, 3) }));
  return { position, domain: extent(ends), ticks, log };
}

/**
 * A text parameter's axis: each value a category, in the order the trials first took them.
 * @param {unknown[]} values
 * @returns {ParameterAxis}
 */
function categoryAxis(values) {
  const categories = [...new Set(values.map((value) => JSON.stringify(value)))];
  return {
    position: (value) => categories.indexOf(JSON.stringify(value)),
    domain: [-0.5, categories.length - 0.5],
    ticks: categories.map((label, at) => ({ at, label })),
    log: false,
  };
}

/**
 * One parameter against the objective, one dot per trial with a value; text values are spread as categories.
 * @param {any} sweep
 * @param {any[]} trials
 * @param {string} path
 */
function scatterChart(sweep, trials, path) {
  const metric = sweep.spec.objective.metric;
  const withValue = trials.filter((trial) => trial.value !== null && trial.params[path] !== undefined);
  const numeric = withValue.every((trial) => typeof trial.params[path] === "number");
  const axis = numeric
    ? numericAxis(
        sweep.spec.parameters[path],
        withValue.map((trial) => trial.params[path]),
      )
    : categoryAxis(trials.map((trial) => trial.params[path]));
  const frame = axes({
    xTicks: axis.ticks,
    xDomain: axis.domain,
    yDomain: withValue.length ? extent(withValue.map((trial) => trial.value)) : [0, 1],
    xLabel: `${path}${axis.log ? " (log)" : ""}`,
    yLabel: metric,
  });
  return s(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": `${path} against ${metric}`,
      "data-chart": `scatter-${path}`,
    },
    frame.node,
    withValue.map((trial) =>
      s(
        "circle",
        {
          class: "scatter-point",
          "data-trial": trial.index,
          cx: frame.px(axis.position(trial.params[path])).toFixed(1),
          cy: frame.py(trial.value).toFixed(1),
          r: 5,
          fill: trial.pruned ? "none" : colorOf(trial.index),
          stroke: colorOf(trial.index),
          "stroke-width": 2,
        },
        s(
          "title",
          {},
          `trial ${trial.index}: ${path} = ${paramText(trial.params[path])}, ${metric} ${formatNumber(trial.value)}${trial.pruned ? " (pruned)" : ""}`,
        ),
      ),
    ),
  );
}

/** @param {import("../app.js").ViewContext} context */
export async function sweepPage({ main, params, signal, flash }) {
  const [id] = params;
  const base = `/v1/sweeps/${encodeURIComponent(id)}`;
  /** Epoch rows of finished trials do not change: fetched once. */
  const finishedEpochs = new Map();
  let bestFirst = true;
  /** @type {any} */
  let sweep;
  /** @type {any[]} */
  let trials = [];
  /** @type {Map<string, any[]>} */
  let epochsByJob = new Map();

  const tableRegion = h("div", { class: "table-wrap" });
  const chartsRegion = h("div", { class: "charts" });
  const summaryRegion = h("div", {});
  const heading = h("h1", {});

  function renderTable() {
    const paths = Object.keys(sweep.spec.parameters);
    const sortButton = h(
      "button",
      {
        type: "button",
        class: "link-button",
        "data-sort": "objective",
        "aria-label": `Sort by ${sweep.spec.objective.metric}, ${bestFirst ? "worst" : "best"} first`,
        onclick: () => {
          bestFirst = !bestFirst;
          renderTable();
        },
      },
      `${sweep.spec.objective.metric} ${bestFirst === (sweep.spec.objective.goal === "maximize") ? "▼" : "▲"}`,
    );
    const table = h(
      "table",
      { class: "trials-table" },
      h("caption", {}, "Trials"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Trial"),
          paths.map((path) => h("th", { scope: "col" }, path)),
          h(
            "th",
            { scope: "col", "aria-sort": bestFirst === (sweep.spec.objective.goal === "maximize") ? "descending" : "ascending" },
            sortButton,
          ),
          h("th", { scope: "col" }, "Epochs"),
          h("th", { scope: "col" }, "Status"),
          h("th", { scope: "col" }, "Job"),
        ),
      ),
      h(
        "tbody",
        {},
        sortByObjective(trials, sweep.spec.objective.goal, bestFirst).map((trial) =>
          h(
            "tr",
            { "data-trial": trial.index, class: sweep.best?.jobId && sweep.best.jobId === trial.jobId ? "best-trial" : null },
            h(
              "th",
              { scope: "row" },
              h(
                "span",
                { class: "swatch", "aria-hidden": "true" },
                s("svg", { width: 10, height: 10 }, s("circle", { cx: 5, cy: 5, r: 5, fill: colorOf(trial.index) })),
              ),
              ` ${trial.index}`,
            ),
            paths.map((path) => h("td", { class: "num" }, paramText(trial.params[path]))),
            h("td", { class: "num", "data-value": trial.value ?? "" }, formatNumber(trial.value)),
            h("td", { class: "num" }, String(trial.epochsDone)),
            h("td", {}, statusBadge(trial.pruned ? "pruned" : trial.status)),
            h(
              "td",
              {},
              trial.jobId ? h("a", { href: `#/jobs/${encodeURIComponent(trial.jobId)}` }, trial.jobId.slice(0, 14) + "…") : "not submitted",
            ),
          ),
        ),
      ),
    );
    replace(tableRegion, table);
  }

  function render() {
    replace(heading, `Sweep ${sweep.name} `, statusBadge(sweep.status));
    const counts = sweep.trials;
    const cancel =
      sweep.status === "running" &&
      h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: async () => {
            await api(`${base}/cancel`, { method: "POST", signal });
            flash("Sweep cancelled; its unfinished trials are being cancelled.");
            await refresh();
          },
        },
        "Cancel sweep",
      );
    replace(
      summaryRegion,
      definitionList([
        ["Objective", objectiveLabel(sweep)],
        [
          "Search",
          sweep.spec.search.type === "grid" ? "grid" : `random, ${sweep.spec.search.trials} trials, seed ${sweep.spec.search.seed}`,
        ],
        [
          "Pruning",
          sweep.spec.pruning ? `ASHA, min ${sweep.spec.pruning.minEpochs} epochs, η = ${sweep.spec.pruning.reductionFactor}` : "none",
        ],
        [
          "Trials",
          `${counts.total} total: ${counts.queued} queued, ${counts.running} running, ${counts.succeeded} succeeded, ${counts.pruned} pruned, ${counts.failed} failed, ${counts.cancelled} cancelled`,
        ],
        [
          "Best",
          sweep.best
            ? h(
                "span",
                { "data-best": sweep.best.jobId },
                `${formatNumber(sweep.best.value)} — `,
                h(
                  "a",
                  { href: `#/jobs/${encodeURIComponent(sweep.best.jobId)}` },
                  Object.entries(sweep.best.params)
                    .map(([path, value]) => `${path} = ${paramText(value)}`)
                    .join(", "),
                ),
              )
            : "—",
        ],
        ["Created", timeElement(sweep.createdAt)],
        ["Finished", timeElement(sweep.finishedAt)],
      ]),
      cancel && h("div", { class: "actions" }, cancel),
    );
    renderTable();
    replace(
      chartsRegion,
      h(
        "figure",
        {},
        h("figcaption", {}, `${sweep.spec.objective.metric} per epoch (dashed and crossed: pruned)`),
        curvesChart(sweep, trials, epochsByJob),
      ),
      Object.keys(sweep.spec.parameters).map((path) =>
        h(
          "figure",
          {},
          h("figcaption", {}, `${path} against ${sweep.spec.objective.metric} (hollow: pruned)`),
          scatterChart(sweep, trials, path),
        ),
      ),
    );
  }

  async function refresh() {
    const [nextSweep, page] = await Promise.all([api(base, { signal }), api(`${base}/trials`, { signal })]);
    const submitted = page.items.filter((/** @type {any} */ trial) => trial.jobId);
    const rows = await Promise.all(
      submitted.map(async (/** @type {any} */ trial) => {
        if (finishedEpochs.has(trial.jobId)) return [trial.jobId, finishedEpochs.get(trial.jobId)];
        const { epochs } = await api(`/v1/jobs/${encodeURIComponent(trial.jobId)}/metrics`, { signal });
        if (["succeeded", "failed", "cancelled"].includes(trial.status)) finishedEpochs.set(trial.jobId, epochs);
        return [trial.jobId, epochs];
      }),
    );
    if (signal.aborted) return;
    sweep = nextSweep;
    trials = page.items;
    epochsByJob = new Map(/** @type {[string, any[]][]} */ (rows));
    render();
  }

  await refresh();
  replace(main, heading, summaryRegion, chartsRegion, tableRegion);
  const timer = setInterval(() => {
    if (sweep.status !== "running" && trials.every((trial) => !["queued", "running"].includes(trial.status))) return;
    refresh().catch(() => undefined);
  }, REFRESH_MS);
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
}

// @ts-check
/** One job: spec, status, progress, live curves from the event stream, cancel, downloads. */
import { api, ApiError, authHeaders, downloadOnClick, notifyUnauthorized } from "../api.js";
import { lineChart } from "../chart.js";
import { dataTable, definitionList, formatDuration, formatNumber, formatPercent, h, replace, statusBadge, timeElement } from "../dom.js";
import { followEventStream, StreamHttpError } from "../sse.js";
import { progressFraction } from "./jobs.js";

const FINISHED = ["succeeded", "failed", "cancelled"];
const CANCELLABLE = ["queued", "running"];
const LOG_LINES = 100;

/**
 * @typedef {object} EpochRow
 * @property {number} epoch
 * @property {number} trainLoss
 * @property {number} trainAccuracy
 * @property {number | null} valLoss
 * @property {number | null} valAccuracy
 * @property {number} [learningRate]
 * @property {number} [seconds]
 * @property {number} [samplesPerSecond]
 */

/**
 * The spec as label/value rows.
 * @param {any} spec
 * @returns {[string, import("../dom.js").Child][]}
 */
export function specRows(spec) {
  const training = spec.training ?? {};
  const optimizer = training.optimizer ?? {};
  const schedule = training.lrSchedule ?? { type: "constant" };
  const augmentation = spec.augmentation ?? {};
  const optimizerText = [
    `${optimizer.type ?? "sgd"}, learning rate ${formatNumber(optimizer.learningRate)}`,
    optimizer.momentum ? `momentum ${optimizer.momentum}${optimizer.nesterov ? " (Nesterov)" : ""}` : "",
    optimizer.weightDecay ? `weight decay ${optimizer.weightDecay}` : "",
  ]
    .filter(Boolean)
    .join(", ");
  const scheduleText =
    schedule.type === "step"
      ? `step: ×${schedule.gamma} every ${schedule.stepEpochs} epochs`
      : schedule.type === "cosine"
        ? `cosine: ${schedule.warmupEpochs} warm-up epochs, down to ${schedule.minLearningRate}`
        : "constant";
  const augmentations = [
    augmentation.horizontalFlip && "horizontal flip",
    augmentation.verticalFlip && "vertical flip",
    augmentation.randomResizedCrop && `random resized crop (scale ${augmentation.randomResizedCrop.scale?.join("–")})`,
    augmentation.colorJitter && "colour jitter",
    augmentation.normalize && `normalize (mean ${augmentation.normalize.mean?.join(", ")}; std ${augmentation.normalize.std?.join(", ")})`,
  ].filter(Boolean);
  const options =
    spec.architectureOptions && Object.keys(spec.architectureOptions).length > 0 ? ` ${JSON.stringify(spec.architectureOptions)}` : "";
  const early = training.earlyStopping;
  return [
    ["Architecture", `${spec.architecture}${options}`],
    ["Dataset", spec.dataset?.name ?? spec.dataset?.id ?? "—"],
    ["Input shape", Array.isArray(spec.inputShape) ? spec.inputShape.join(" × ") : "default"],
    ["Epochs", String(training.epochs ?? "—")],
    ["Batch size", String(training.batchSize ?? "—")],
    ["Optimizer", optimizerText],
    ["Learning-rate schedule", scheduleText],
    ["Validation split", String(training.validationSplit ?? "—")],
    ["Early stopping", early ? `${early.metric}, patience ${early.patience}, min delta ${early.minDelta}` : "off"],
    ["Max train samples", training.maxTrainSamples == null ? "all" : String(training.maxTrainSamples)],
    ["Seed", String(training.seed ?? "—")],
    ["Augmentation", augmentations.length > 0 ? augmentations.join("; ") : "none"],
    [
      "Fine-tuned from",
      spec.fineTune
        ? [
            h("a", { href: `#/jobs/${encodeURIComponent(spec.fineTune.fromJobId)}`, class: "mono" }, spec.fineTune.fromJobId),
            ` (${spec.fineTune.checkpoint}, freeze ${spec.fineTune.freeze})`,
          ]
        : "—",
    ],
    ["Priority", String(spec.priority ?? 0)],
    [
      "Tags",
      Array.isArray(spec.tags) && spec.tags.length > 0
        ? spec.tags.map((/** @type {string} */ tag) => h("span", { class: "tag" }, tag))
        : "—",
    ],
    ["Webhook", spec.webhook?.url ? `${spec.webhook.url} (${(spec.webhook.events ?? []).join(", ")})` : "—"],
  ];
}

/**
 * The two charts for a set of epoch rows.
 * @param {EpochRow[]} rows sorted by epoch
 * @param {number} plannedEpochs
 */
export function metricCharts(rows, plannedEpochs) {
  /**
   * @param {keyof EpochRow} key
   * @returns {{ x: number, y: number }[]}
   */
  const points = (key) =>
    rows
      .filter((row) => typeof row[key] === "number" && Number.isFinite(row[key]))
      .map((row) => ({ x: row.epoch, y: /** @type {number} */ (row[key]) }));
  const loss = lineChart({
    id: "loss",
    title: "Loss per epoch",
    xLabel: "epoch",
    yLabel: "loss",
    xMax: plannedEpochs,
    series: [
      { key: "trainLoss", label: "train loss", points: points("trainLoss") },
      { key: "valLoss", label: "validation loss", dashed: true, points: points("valLoss") },
    ],
  });
  const accuracy = lineChart({
    id: "accuracy",
    title: "Accuracy per epoch",
    xLabel: "epoch",
    yLabel: "accuracy",
    xMax: plannedEpochs,
    yDomain: [0, 1],
    formatY: (y) => `${Math.round(y * 100)}%`,
    series: [
      { key: "trainAccuracy", label: "train accuracy", points: points("trainAccuracy") },
      { key: "valAccuracy", label: "validation accuracy", dashed: true, points: points("valAccuracy") },
    ],
  });
  return [loss, accuracy];
}

/**
 * The progress bar and its line.
 * @param {any} job
 */
function progressBlock(job) {
  const progress = job.progress;
  const fraction = progressFraction(job);
  const planned = job.spec?.training?.epochs;
  const parts = progress
    ? [
        `Epoch ${progress.epoch} of ${progress.epochs ?? planned}`,
        progress.stepsPerEpoch ? `step ${progress.step} of ${progress.stepsPerEpoch}` : "",
        !FINISHED.includes(job.status) && progress.etaSeconds != null ? `about ${formatDuration(progress.etaSeconds)} left` : "",
      ]
    : [job.status === "queued" ? "Waiting for a worker" : "No progress reported yet"];
  return [
    h("progress", {
      id: "job-progress",
      max: 1,
      value: fraction,
      "aria-labelledby": "progress-heading",
      "aria-describedby": "progress-text",
    }),
    h("p", { id: "progress-text" }, `${Math.round(fraction * 100)} % · `, parts.filter(Boolean).join(", ")),
  ];
}

/**
 * The test result of a finished job, or its error.
 * @param {any} job
 */
function outcomeBlock(job) {
  const result = job.result;
  const error = job.error;
  return [
    result &&
      definitionList(
        [
          ["Test accuracy", formatPercent(result.testAccuracy)],
          ["Test loss", formatNumber(result.testLoss)],
          ["Best epoch", String(result.bestEpoch)],
        ],
        { class: "result", id: "job-result" },
      ),
    error && h("div", { class: "error", role: "alert" }, h("strong", {}, error.code), ": ", error.message),
  ];
}

/**
 * Every epoch's metrics, in a collapsed table.
 * @param {EpochRow[]} rows
 */
function metricsTable(rows) {
  return h(
    "details",
    {},
    h("summary", {}, `Metrics per epoch (${rows.length})`),
    dataTable(
      { class: "metrics-table" },
      null,
      ["Epoch", "Train loss", "Train accuracy", "Val loss", "Val accuracy", "Learning rate", "Seconds", "Samples/s"],
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, String(row.epoch)),
            h("td", { class: "num" }, formatNumber(row.trainLoss)),
            h("td", { class: "num" }, formatPercent(row.trainAccuracy)),
            h("td", { class: "num" }, formatNumber(row.valLoss)),
            h("td", { class: "num" }, formatPercent(row.valAccuracy)),
            h("td", { class: "num" }, formatNumber(row.learningRate)),
            h("td", { class: "num" }, formatNumber(row.seconds, 3)),
            h("td", { class: "num" }, formatNumber(row.samplesPerSecond, 4)),
          ),
        ),
      ),
    ),
  );
}

/**
 * Where and when the job ran.
 * @param {any} job
 */
function runDetails(job) {
  return definitionList([
    ["Device", job.device ?? "—"],
    ["Backend", job.backend ?? "—"],
    ["Worker", job.workerId ?? "—"],
    ["Attempts", String(job.attempts ?? 0)],
    ["Created", timeElement(job.createdAt)],
    ["Started", timeElement(job.startedAt)],
    ["Finished", timeElement(job.finishedAt)],
  ]);
}

/**
 * A stream event's data (JSON, or the text as it came).
 * @param {import("../sse.js").SseEvent} event
 * @returns {any}
 */
function eventData(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return event.data;
  }
}

/**
 * The page's one line for a status event.
 * @param {any} data
 */
function statusLine(data) {
  return [data.status, data.reason ? `(${data.reason})` : "", data.device ? `on ${data.device}` : ""].filter(Boolean).join(" ");
}

/** @param {import("../app.js").ViewContext} context */
export async function jobPage({ main, params, signal }) {
  const [id] = params;
  const base = `/v1/jobs/${encodeURIComponent(id)}`;
  /** @type {any} */
  let job;
  /** @type {{ epochs: EpochRow[] }} */
  let metrics;
  try {
    [job, metrics] = await Promise.all([api(base, { signal }), api(`${base}/metrics`, { signal })]);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      replace(
        main,
        h("h1", {}, "Job not found"),
        h("p", {}, `There is no job ${id} for this key. `, h("a", { href: "#/jobs" }, "Back to the jobs.")),
      );
      return;
    }
    throw error;
  }
  /** @type {Map<number, EpochRow>} */
  const epochs = new Map(metrics.epochs.map((row) => [row.epoch, row]));

  const statusSlot = h("span", { class: "status-slot", id: "job-status" });
  const cancelButton = h("button", { type: "button", class: "danger" }, "Cancel job");
  const downloadBest = h("button", { type: "button" }, "Download model (best)");
  const downloadLast = h("button", { type: "button" }, "Download model (last)");
  const downloadCsv = h("button", { type: "button" }, "Metrics CSV");
  const actionMessage = h("p", { class: "action-message", role: "status" });
  const progressSlot = h("div", { class: "progress-block" });
  const connection = h("p", { class: "connection muted", "aria-live": "off" });
  const resultSlot = h("div");
  const chartsSlot = h("div", { class: "charts" });
  const tableSlot = h("div");
  const runSlot = h("div", { id: "job-run" });
  const log = h("ol", { class: "log" });

  replace(
    main,
    h("div", { class: "title-row" }, h("h1", {}, "Job ", h("span", { class: "mono" }, id)), statusSlot),
    h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")),
    h("div", { class: "actions", role: "group", "aria-label": "Job actions" }, cancelButton, downloadBest, downloadLast, downloadCsv),
    actionMessage,
    h(
      "section",
      { "aria-labelledby": "progress-heading" },
      h("h2", { id: "progress-heading" }, "Progress"),
      progressSlot,
      connection,
      resultSlot,
    ),
    h("section", { "aria-labelledby": "curves-heading" }, h("h2", { id: "curves-heading" }, "Loss and accuracy"), chartsSlot, tableSlot),
    h(
      "div",
      { class: "columns" },
      h(
        "section",
        { "aria-labelledby": "spec-heading" },
        h("h2", { id: "spec-heading" }, "Spec"),
        definitionList(specRows(job.spec ?? {}), { class: "spec" }),
        h("details", {}, h("summary", {}, "Full spec (JSON)"), h("pre", {}, JSON.stringify(job.spec, null, 2))),
      ),
      h("section", { "aria-labelledby": "run-heading" }, h("h2", { id: "run-heading" }, "Run"), runSlot),
    ),
    h("section", { "aria-labelledby": "events-heading" }, h("h2", { id: "events-heading" }, "Events"), log),
  );

  function renderStatus() {
    replace(statusSlot, statusBadge(job.status));
    cancelButton.disabled = !CANCELLABLE.includes(job.status);
    const hasCheckpoint = job.status === "succeeded" || epochs.size > 0;
    downloadBest.disabled = !hasCheckpoint;
    downloadLast.disabled = !hasCheckpoint;
    downloadCsv.disabled = epochs.size === 0;
  }

  function renderProgress() {
    replace(progressSlot, ...progressBlock(job));
    replace(resultSlot, ...outcomeBlock(job));
  }

  function renderCharts() {
    const rows = [...epochs.values()].sort((a, b) => a.epoch - b.epoch);
    const planned = job.progress?.epochs ?? job.spec?.training?.epochs ?? 1;
    replace(
      chartsSlot,
      metricCharts(rows, planned).map((chart) => h("figure", {}, chart)),
    );
    replace(tableSlot, metricsTable(rows));
  }

  function renderRun() {
    replace(runSlot, runDetails(job));
  }

  /** Everything the job row says; the charts change only with the epochs (renderCharts). */
  function renderJob() {
    renderStatus();
    renderProgress();
    renderRun();
  }

  /**
   * @param {string} type
   * @param {string} text
   */
  function addLog(type, text) {
    log.prepend(h("li", {}, h("span", { class: `log-type log-${type.replace(/[^a-z]/g, "")}` }, type), " ", text));
    while (log.children.length > LOG_LINES) log.lastElementChild?.remove();
  }

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let refetchTimer;
  /** The stream says what changed; the job itself says everything else (times, device, result). */
  function refetchSoon() {
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(async () => {
      try {
        const fresh = await api(base, { signal });
        // A stream event newer than this answer may already have moved the status on.
        if (!(FINISHED.includes(job.status) && !FINISHED.includes(fresh.status))) job = fresh;
        renderJob();
      } catch {
        // the stream keeps the page current; the next event tries again
      }
    }, 300);
  }
  signal.addEventListener("abort", () => clearTimeout(refetchTimer), { once: true });

  /** @param {import("../sse.js").SseEvent} event */
  function onEvent(event) {
    const data = eventData(event);
    switch (event.type) {
      case "status": {
        job.status = data.status;
        if (data.result) job.result = data.result;
        if (data.status === "failed") job.error = { code: data.code ?? "FAILED", message: data.message ?? "" };
        addLog("status", statusLine(data));
        renderStatus();
        renderProgress();
        refetchSoon();
        break;
      }
      case "progress":
        job.progress = data;
        renderProgress();
        break;
      case "epoch":
        epochs.set(data.epoch, data);
        job.latestMetrics = data;
        addLog("epoch", `epoch ${data.epoch}: train loss ${formatNumber(data.trainLoss)}, val accuracy ${formatPercent(data.valAccuracy)}`);
        renderStatus();
        renderCharts();
        break;
      default:
        addLog(event.type, typeof data === "string" ? data : (data?.message ?? JSON.stringify(data)));
        refetchSoon(); // a log line marks a change the job row records too (e.g. the backend in use)
    }
  }

  cancelButton.addEventListener("click", async () => {
    if (!window.confirm(`Cancel job ${id}?`)) return;
    cancelButton.disabled = true;
    try {
      job = await api(`${base}/cancel`, { method: "POST", signal });
      replace(actionMessage, `Cancel requested: the job is ${job.status}.`);
      renderJob();
    } catch (error) {
      replace(actionMessage, h("span", { class: "error" }, `Could not cancel: ${error instanceof Error ? error.message : String(error)}`));
      renderStatus();
    }
  });

  const downloadOptions = { preparing: true, onSettled: renderStatus };
  downloadOnClick(downloadBest, actionMessage, `${base}/model?checkpoint=best`, `${id}-best.zip`, downloadOptions);
  downloadOnClick(downloadLast, actionMessage, `${base}/model?checkpoint=last`, `${id}-last.zip`, downloadOptions);
  downloadOnClick(downloadCsv, actionMessage, `${base}/metrics?format=csv`, `${id}-metrics.csv`, downloadOptions);

  renderJob();
  renderCharts();
  if (FINISHED.includes(job.status)) {
    replace(connection, "The job has finished; nothing more will change.");
    return;
  }

  replace(connection, "Connecting to the live stream…");
  void followEventStream(`${base}/events`, {
    headers: authHeaders,
    signal,
    onEvent,
    shouldReconnect: () => !FINISHED.includes(job.status),
    onOpen: ({ lastEventId }) => replace(connection, lastEventId ? `Live (resumed after event ${lastEventId}).` : "Live."),
    onError: (error, { fatal, retryInMs }) => {
      if (error instanceof StreamHttpError && error.status === 401) notifyUnauthorized();
      const reason = error instanceof Error ? error.message : String(error);
      replace(
        connection,
        fatal || retryInMs === null
          ? `Live updates stopped: ${reason}`
          : `Connection lost (${reason}); reconnecting in ${formatDuration(retryInMs / 1000)}.`,
      );
    },
  }).then(() => {
    if (!signal.aborted && FINISHED.includes(job.status)) replace(connection, `The job has ${job.status}; the stream has ended.`);
  });
}

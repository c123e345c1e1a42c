// @ts-check
/** The model registry: every registered model, and one model's versions with their aliases and metrics. */
import { api, downloadOnClick, postForm } from "../api.js";
import { dataTable, formatNumber, formatPercent, h, replace, timeElement } from "../dom.js";

/**
 * The accuracy a version is known by: the test accuracy of its job, else its validation accuracy.
 * @param {Record<string, unknown> | null} metrics
 * @returns {number | null}
 */
export function versionAccuracy(metrics) {
  const value = metrics?.testAccuracy ?? metrics?.valAccuracy;
  return typeof value === "number" ? value : null;
}

/** @param {any} version */
function accuracyCell(version) {
  const accuracy = versionAccuracy(version.metrics);
  return h("td", { class: "num" }, accuracy === null ? "—" : formatPercent(accuracy));
}

/** @param {import("../app.js").ViewContext} context */
export async function modelsView({ main, signal }) {
  /** @type {any[]} */
  const models = [];
  let cursor = null;
  do {
    const page = await api(`/v1/models?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { signal });
    models.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  replace(
    main,
    h("h1", {}, "Models"),
    models.length === 0
      ? h(
          "p",
          { class: "empty" },
          "No registered models yet. Register a job's checkpoint with POST /v1/models or `trainyard models register`.",
        )
      : h(
          "div",
          { class: "table-wrap" },
          dataTable(
            { class: "models-table" },
            "Registered models",
            ["Name", "Versions", "Latest", "Aliases", "Accuracy (latest)"],
            h(
              "tbody",
              {},
              models.map((model) => {
                const latest = model.versions.at(-1);
                return h(
                  "tr",
                  { "data-model": model.name },
                  h("th", { scope: "row" }, h("a", { href: `#/models/${encodeURIComponent(model.name)}` }, model.name)),
                  h("td", { class: "num" }, String(model.versions.length)),
                  h("td", { class: "num" }, latest ? String(latest.version) : "—"),
                  h(
                    "td",
                    {},
                    model.versions
                      .flatMap((/** @type {any} */ v) => v.aliases.map((/** @type {string} */ a) => `${a} → ${v.version}`))
                      .join(", ") || "—",
                  ),
                  latest ? accuracyCell(latest) : h("td", {}, "—"),
                );
              }),
            ),
          ),
        ),
  );
}

/** @param {import("../app.js").ViewContext} context */
export async function modelView({ main, params, signal }) {
  const [name] = params;
  const model = await api(`/v1/models/${encodeURIComponent(name)}`, { signal });
  const message = h("p", { "aria-live": "polite", id: "model-message" });
  const base = `/v1/models/${encodeURIComponent(model.name)}/versions`;
  replace(
    main,
    h("h1", {}, model.name),
    h("p", {}, h("a", { href: "#/models" }, "All models")),
    message,
    h(
      "div",
      { class: "table-wrap" },
      dataTable(
        { class: "versions-table" },
        "Versions",
        ["Version", "Aliases", "Architecture", "Input", "Classes", "Accuracy", "Source job", "Registered", "Download"],
        h(
          "tbody",
          {},
          model.versions.map((/** @type {any} */ version) => {
            const button = h("button", { type: "button", "data-download": String(version.version) }, "zip");
            downloadOnClick(button, message, `${base}/${version.version}/model`, `${model.name}-${version.version}.zip`);
            return h(
              "tr",
              { "data-version": String(version.version) },
              h("th", { scope: "row" }, String(version.version)),
              h("td", {}, version.aliases.join(", ") || "—"),
              h("td", {}, version.architecture),
              h("td", {}, version.inputShape.join(" × ")),
              h("td", { class: "num" }, String(version.labels.length)),
              accuracyCell(version),
              h(
                "td",
                {},
                version.sourceJobId
                  ? [h("a", { href: `#/jobs/${encodeURIComponent(version.sourceJobId)}` }, version.sourceJobId), ` (${version.checkpoint})`]
                  : "—",
              ),
              h("td", {}, timeElement(version.createdAt)),
              h("td", {}, button),
            );
          }),
        ),
      ),
    ),
    model.versions.length > 0 && predictSection(model),
    model.versions.length > 0 && h("div", { class: "table-wrap" }, metricsTable(model.versions)),
  );
}

/** Metric columns of a version, in the order a reader compares them. */
const METRIC_COLUMNS = [
  ["epoch", "Epoch"],
  ["trainLoss", "Train loss"],
  ["trainAccuracy", "Train acc."],
  ["valLoss", "Val. loss"],
  ["valAccuracy", "Val. acc."],
  ["testLoss", "Test loss"],
  ["testAccuracy", "Test acc."],
];

/**
 * Every version's metrics side by side: accuracies as percentages, losses as numbers.
 * @param {any[]} versions
 */
function metricsTable(versions) {
  return dataTable(
    { class: "metrics-table" },
    "Metrics of each version (of the checkpoint it was registered from)",
    ["Version", ...METRIC_COLUMNS.map(([, title]) => title)],
    h(
      "tbody",
      {},
      versions.map((version) =>
        h(
          "tr",
          { "data-metrics": String(version.version) },
          h("th", { scope: "row" }, String(version.version)),
          METRIC_COLUMNS.map(([key]) => {
            const value = version.metrics?.[key];
            const text =
              typeof value !== "number"
                ? "—"
                : key.endsWith("Accuracy")
                  ? formatPercent(value)
                  : key === "epoch"
                    ? String(value)
                    : formatNumber(value);
            return h("td", { class: "num" }, text);
          }),
        ),
      ),
    ),
  );
}

/**
 * The version a prediction goes to first: the `production` alias when there is one, else the latest.
 * @param {any[]} versions
 * @returns {string}
 */
export function defaultPredictRef(versions) {
  if (versions.some((version) => version.aliases.includes("production"))) return "production";
  return String(versions.at(-1)?.version ?? 1);
}

/**
 * One image's top-k: each label with its probability as text and as a bar.
 * @param {File} file
 * @param {{ label: string, probability: number }[]} top
 */
function predictionFigure(file, top) {
  const url = URL.createObjectURL(file);
  const image = h("img", { src: url, alt: file.name, class: "predict-thumb" });
  image.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
  return h(
    "figure",
    { class: "prediction", "data-file": file.name },
    image,
    h(
      "figcaption",
      {},
      h("strong", {}, file.name),
      h(
        "ol",
        { class: "top-k" },
        top.map(({ label, probability }) =>
          h(
            "li",
            { "data-label": label },
            h("span", { class: "top-label" }, label),
            h("meter", { min: "0", max: "1", value: String(probability) }),
            h("span", { class: "num top-probability" }, formatPercent(probability)),
          ),
        ),
      ),
    ),
  );
}

/**
 * "Drop an image to predict": a drop zone around a file input; the chosen or dropped images go to
 * POST …/versions/{ref}/predict as multipart `image` files, and each one's top-k is shown.
 * @param {any} model
 */
function predictSection(model) {
  const refs = [
    ...model.versions.flatMap((/** @type {any} */ v) => v.aliases.map((/** @type {string} */ a) => [a, `${a} (version ${v.version})`])),
    ...model.versions.map((/** @type {any} */ v) => [String(v.version), `version ${v.version}`]),
  ];
  const select = h(
    "select",
    { id: "predict-ref", name: "ref" },
    refs.map(([value, text]) => h("option", { value }, text)),
  );
  /** @type {HTMLSelectElement} */ (select).value = defaultPredictRef(model.versions);
  const topK = h("input", { id: "predict-top-k", name: "topK", type: "number", min: "1", max: "10000", value: "5" });
  const input = h("input", { id: "predict-file", type: "file", accept: "image/png,image/jpeg,image/webp", multiple: "" });
  const status = h("p", { "aria-live": "polite", id: "predict-status" });
  const results = h("div", { class: "predictions", id: "predict-results" });
  const zone = h(
    "div",
    { class: "drop-zone", id: "predict-drop" },
    h("p", {}, "Drop images here (PNG, JPEG or WebP, up to 64), or "),
    h("label", { for: "predict-file" }, "choose files"),
    input,
  );

  /** @param {File[]} files */
  async function predict(files) {
    if (files.length === 0) return;
    const ref = /** @type {HTMLSelectElement} */ (select).value;
    const k = /** @type {HTMLInputElement} */ (topK).value || "5";
    const form = new FormData();
    for (const file of files) form.append("image", file, file.name);
    replace(status, `Predicting ${files.length} image${files.length === 1 ? "" : "s"} with ${ref}…`);
    replace(results);
    const path = `/v1/models/${encodeURIComponent(model.name)}/versions/${encodeURIComponent(ref)}/predict?topK=${encodeURIComponent(k)}`;
    try {
      const answer = await postForm(path, form);
      replace(
        status,
        `Version ${answer.model.version} of ${answer.model.name}: top ${k} of ${files.length} image${files.length === 1 ? "" : "s"}.`,
      );
      replace(
        results,
        answer.predictions.map((/** @type {any} */ prediction, /** @type {number} */ i) => predictionFigure(files[i], prediction.top)),
      );
    } catch (error) {
      replace(status, h("span", { class: "error" }, `Could not predict: ${error instanceof Error ? error.message : String(error)}`));
    }
  }

  input.addEventListener("change", () => {
    void predict([.../** @type {HTMLInputElement} */ ((input).files ?? [])]);
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    void predict([.../** @type {DragEvent} */ ((event).dataTransfer?.files ?? [])]);
  });

  return h(
    "section",
    { class: "predict", "aria-labelledby": "predict-heading" },
    h("h2", { id: "predict-heading" }, "Predict"),
    h(
      "div",
      { class: "predict-options" },
      h("label", { for: "predict-ref" }, "Version or alias"),
      select,
      h("label", { for: "predict-top-k" }, "Top"),
      topK,
    ),
    zone,
    status,
    results,
  );
}

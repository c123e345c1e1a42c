// @ts-check
/** The model registry: every registered model, and one model's versions with their aliases and metrics. */
import { api, downloadOnClick } from "../api.js";
import { dataTable, formatPercent, h, replace, timeElement } from "../dom.js";

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
  );
}

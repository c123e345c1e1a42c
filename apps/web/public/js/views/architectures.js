// @ts-check
/** The model zoo: a list, and one architecture's layer table for a chosen input shape. */
import { api, ApiError } from "../api.js";
import { dataTable, definitionList, formatNumber, h, replace } from "../dom.js";

/** @param {import("../app.js").ViewContext} context */
export async function architecturesView({ main, signal }) {
  const architectures = await api("/v1/architectures", { signal });
  replace(
    main,
    h("h1", {}, "Architectures"),
    h(
      "div",
      { class: "table-wrap" },
      dataTable(
        { class: "architectures-table" },
        "Networks a job can train",
        ["Name", "Family", "Paper", "Year", "Default input", "Description"],
        h(
          "tbody",
          {},
          architectures.map((/** @type {any} */ arch) =>
            h(
              "tr",
              { "data-architecture": arch.name },
              h("th", { scope: "row" }, h("a", { href: `#/architectures/${encodeURIComponent(arch.name)}` }, arch.name)),
              h("td", {}, arch.family),
              h("td", {}, arch.paper),
              h("td", { class: "num" }, String(arch.year)),
              h("td", {}, arch.defaultInputShape?.join(" × ")),
              h("td", {}, arch.description),
            ),
          ),
        ),
      ),
    ),
  );
}

/** @param {import("../app.js").ViewContext} context */
export async function architectureView({ main, params, query, signal, navigate }) {
  const [name] = params;
  const architectures = await api("/v1/architectures", { signal });
  const info = architectures.find((/** @type {any} */ arch) => arch.name === name);
  if (!info) {
    replace(
      main,
      h("h1", {}, "Unknown architecture"),
      h("p", {}, `There is no architecture ${name}. `, h("a", { href: "#/architectures" }, "All architectures.")),
    );
    return;
  }
  const requestedShape = query.get("inputShape") ?? info.defaultInputShape.join(",");
  const requestedClasses = query.get("classes") ?? "10";

  const shapeInput = h("input", {
    id: "input-shape",
    name: "inputShape",
    value: requestedShape,
    pattern: "\\d+,\\d+,\\d+",
    "aria-describedby": "input-shape-help input-shape-error",
  });
  const classesInput = h("input", {
    id: "classes",
    name: "classes",
    type: "number",
    min: 2,
    value: requestedClasses,
    "aria-describedby": "classes-error",
  });
  const shapeError = h("p", { class: "field-error", id: "input-shape-error" });
  const classesError = h("p", { class: "field-error", id: "classes-error" });
  const result = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "inline-form", "aria-label": "Build options", novalidate: true },
    h(
      "div",
      { class: "field" },
      h("label", { for: "input-shape" }, "Input shape (H,W,C)"),
      shapeInput,
      h("p", { class: "help", id: "input-shape-help" }, `Default ${info.defaultInputShape.join(",")}.`),
      shapeError,
    ),
    h("div", { class: "field" }, h("label", { for: "classes" }, "Classes"), classesInput, classesError),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Show summary")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ inputShape: shapeInput.value.replace(/\s+/g, ""), classes: classesInput.value });
    navigate(`#/architectures/${encodeURIComponent(name)}?${params}`);
  });

  replace(
    main,
    h("h1", {}, info.name),
    h("p", {}, h("a", { href: "#/architectures" }, "← All architectures")),
    definitionList([
      ["Family", info.family],
      ["Paper", info.paper],
      ["Year", String(info.year)],
      ["Description", info.description],
    ]),
    form,
    result,
  );

  let summary;
  try {
    const search = new URLSearchParams({ inputShape: requestedShape, classes: requestedClasses });
    summary = await api(`/v1/architectures/${encodeURIComponent(name)}?${search}`, { signal });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 400) throw error;
    for (const problem of error.errors.length > 0 ? error.errors : [{ path: "", message: error.message }]) {
      const [field, message] = problem.path === "classes" ? [classesInput, classesError] : [shapeInput, shapeError];
      message.append(problem.message);
      field.setAttribute("aria-invalid", "true");
    }
    replace(result, h("p", { class: "error", role: "alert" }, `No summary: ${error.message}`));
    return;
  }

  replace(
    result,
    h("h2", {}, "Summary"),
    definitionList([
      ["Input shape", summary.inputShape.join(" × ")],
      ["Classes", String(summary.classes)],
      ["Trainable parameters", formatNumber(summary.trainableParams)],
      ["Total parameters", formatNumber(summary.totalParams)],
      ["Layers", String(summary.layers.length)],
    ]),
    h(
      "div",
      { class: "table-wrap" },
      dataTable(
        { class: "layers-table" },
        `Layers of ${summary.name} for input ${summary.inputShape.join(" × ")}`,
        ["#", "Name", "Type", "Output shape", "Parameters"],
        h(
          "tbody",
          {},
          summary.layers.map((/** @type {any} */ layer, /** @type {number} */ index) =>
            h(
              "tr",
              {},
              h("td", { class: "num" }, String(index + 1)),
              h("th", { scope: "row", class: "mono" }, layer.name),
              h("td", {}, layer.className),
              h(
                "td",
                { class: "mono" },
                Array.isArray(layer.outputShape) ? layer.outputShape.map((/** @type {unknown} */ d) => d ?? "?").join(" × ") : "—",
              ),
              h("td", { class: "num" }, formatNumber(layer.params)),
            ),
          ),
        ),
      ),
    ),
  );
}

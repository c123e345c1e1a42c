// @ts-check
/** The "new job" form: POST /v1/jobs, with the API's validation errors shown next to their fields. */
import { api, ApiError, newIdempotencyKey } from "../api.js";
import { definitionList, formatDuration, formatNumber, h, replace } from "../dom.js";

const OPTIMIZERS = ["sgd", "adam", "adamw", "rmsprop"];

/**
 * @typedef {object} Field
 * @property {string} name      the control's id and name
 * @property {string} label
 * @property {string} path      the spec path the API names in errors (e.g. "training.epochs")
 * @property {HTMLInputElement | HTMLSelectElement} control
 * @property {string} [help]
 * @property {HTMLElement} [error]
 */

/**
 * Which field an error path belongs to: the field with the longest path that is the error's
 * path or a prefix of it ("dataset.name" → dataset, "tags.1" → tags).
 * @template {{ path: string }} T
 * @param {string} path
 * @param {T[]} fields
 * @returns {T | null}
 */
export function fieldForPath(path, fields) {
  /** @type {T | null} */
  let best = null;
  for (const field of fields) {
    if ((path === field.path || path.startsWith(`${field.path}.`)) && (!best || field.path.length > best.path.length)) best = field;
  }
  return best;
}

/**
 * A number from an input; "" means "not given" (the API's default applies).
 * @param {string} raw
 * @returns {number | string | undefined}
 */
export function numberOrUndefined(raw) {
  const text = raw.trim();
  if (text === "") return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : text; // a non-number goes to the API, which names the field
}

/**
 * The request body from the form's values.
 * @param {Record<string, string>} values
 */
export function specFromValues(values) {
  /** @type {Record<string, unknown>} */
  const optimizer = { type: values.optimizer || "sgd" };
  const learningRate = numberOrUndefined(values.learningRate ?? "");
  if (learningRate !== undefined) optimizer.learningRate = learningRate;
  /** @type {Record<string, unknown>} */
  const training = { optimizer };
  for (const key of ["epochs", "batchSize", "maxTrainSamples"]) {
    const value = numberOrUndefined(values[key] ?? "");
    if (value !== undefined) training[key] = value;
  }
  const [kind, ...rest] = (values.dataset ?? "").split(":");
  const ref = rest.join(":");
  /** @type {Record<string, unknown>} */
  const spec = {
    architecture: values.architecture,
    dataset: kind === "id" ? { id: ref } : { name: ref },
    training,
  };
  const tags = (values.tags ?? "")
    .split(",")
    .map((tag) => tag.trim())
    .filter(Boolean);
  if (tags.length > 0) spec.tags = tags;
  return spec;
}

/** @param {import("../app.js").ViewContext} context */
export async function newJobView({ main, signal, navigate, flash }) {
  const [architectures, datasets] = await Promise.all([api("/v1/architectures", { signal }), api("/v1/datasets", { signal })]);

  /**
   * @param {string} name
   * @param {Record<string, string | number | boolean | undefined>} attributes
   */
  const input = (name, attributes) => h("input", { id: name, name, ...attributes });

  const architectureSelect = h(
    "select",
    { id: "architecture", name: "architecture", required: true },
    architectures.map((/** @type {any} */ arch) =>
      h(
        "option",
        { value: arch.name, selected: arch.name === "lenet" },
        arch.family && arch.family !== arch.name ? `${arch.name} — ${arch.family} (${arch.year})` : `${arch.name} (${arch.year})`,
      ),
    ),
  );
  const architectureHelp = h("p", { class: "help", id: "architecture-help" });
  const describeArchitecture = () => {
    const arch = architectures.find((/** @type {any} */ item) => item.name === architectureSelect.value);
    replace(architectureHelp, arch ? `${arch.description} Default input ${arch.defaultInputShape?.join(" × ")}. ${arch.paper}` : "");
  };
  architectureSelect.addEventListener("change", describeArchitecture);

  const datasetSelect = h(
    "select",
    { id: "dataset", name: "dataset", required: true },
    datasets.items.map((/** @type {any} */ dataset) =>
      h(
        "option",
        {
          value: dataset.builtin ? `name:${dataset.name}` : `id:${dataset.id}`,
          disabled: dataset.status !== "ready",
          selected: dataset.name === "fashion-mnist",
        },
        `${dataset.name}${dataset.builtin ? " (built-in)" : ""}${dataset.status !== "ready" ? ` — ${dataset.status}` : ""}`,
      ),
    ),
  );
  const optimizerSelect = h(
    "select",
    { id: "optimizer", name: "optimizer" },
    OPTIMIZERS.map((name) => h("option", { value: name }, name)),
  );

  /** @type {Field[]} */
  const fields = [
    { name: "architecture", label: "Architecture", path: "architecture", control: architectureSelect },
    { name: "dataset", label: "Dataset", path: "dataset", control: datasetSelect },
    { name: "epochs", label: "Epochs", path: "training.epochs", control: input("epochs", { type: "number", min: 1, step: 1, value: 10 }) },
    {
      name: "batchSize",
      label: "Batch size",
      path: "training.batchSize",
      control: input("batchSize", { type: "number", min: 1, step: 1, value: 256 }),
    },
    { name: "optimizer", label: "Optimizer", path: "training.optimizer.type", control: optimizerSelect },
    {
      name: "learningRate",
      label: "Learning rate",
      path: "training.optimizer.learningRate",
      control: input("learningRate", { type: "number", min: 0, step: "any", placeholder: "architecture default" }),
      help: "Empty: the architecture's recommended rate for the optimizer.",
    },
    {
      name: "maxTrainSamples",
      label: "Max train samples",
      path: "training.maxTrainSamples",
      control: input("maxTrainSamples", { type: "number", min: 1, step: 1, placeholder: "all" }),
      help: "Train on a seeded subset, for quick runs. Empty: the whole training set.",
    },
    {
      name: "tags",
      label: "Tags",
      path: "tags",
      control: input("tags", { type: "text", placeholder: "experiment-7, lenet", autocomplete: "off" }),
      help: "Comma-separated.",
    },
  ];

  const summary = h("div", { class: "form-summary", tabindex: "-1" });
  const estimateSlot = h("div", { class: "estimate", "aria-live": "polite" });
  const submitButton = h("button", { type: "submit" }, "Start training");
  const checkButton = h("button", { type: "button", class: "secondary" }, "Check and estimate");
  let idempotencyKey = newIdempotencyKey();

  const form = h(
    "form",
    { class: "job-form", novalidate: true, "aria-labelledby": "new-job-heading" },
    summary,
    fields.map((field) => {
      field.error = h("p", { class: "field-error", id: `${field.name}-error` });
      const describedBy = [field.help && `${field.name}-help`, field.name === "architecture" && "architecture-help", `${field.name}-error`]
        .filter(Boolean)
        .join(" ");
      field.control.setAttribute("aria-describedby", describedBy);
      return h(
        "div",
        { class: "field", "data-field": field.name },
        h("label", { for: field.name }, field.label),
        field.control,
        field.name === "architecture" && architectureHelp,
        field.help && h("p", { class: "help", id: `${field.name}-help` }, field.help),
        field.error,
      );
    }),
    h("div", { class: "actions" }, submitButton, checkButton),
    estimateSlot,
  );
  form.addEventListener("input", () => {
    idempotencyKey = newIdempotencyKey(); // a changed body is a new request
  });

  replace(main, h("h1", { id: "new-job-heading" }, "New job"), form);
  describeArchitecture();

  function clearErrors() {
    replace(summary);
    summary.classList.remove("has-errors");
    for (const field of fields) {
      replace(/** @type {HTMLElement} */ (field.error));
      field.control.removeAttribute("aria-invalid");
    }
  }

  /** @param {unknown} error */
  function showErrors(error) {
    const problems = error instanceof ApiError ? error.errors : [];
    const unplaced = [];
    /** @type {Field | null} */
    let first = null;
    for (const problem of problems) {
      const field = fieldForPath(problem.path, fields);
      if (!field) {
        unplaced.push(problem);
        continue;
      }
      const text = problem.path === field.path ? problem.message : `${problem.path}: ${problem.message}`;
      append(/** @type {HTMLElement} */ (field.error), text);
      field.control.setAttribute("aria-invalid", "true");
      first ??= field;
    }
    const title =
      error instanceof ApiError
        ? problems.length > 0
          ? `The job was not started: ${problems.length === 1 ? "1 field needs" : `${problems.length} fields need`} attention.`
          : `The job was not started: ${error.message}`
        : `The job was not started: ${error instanceof Error ? error.message : String(error)}`;
    summary.classList.add("has-errors");
    replace(
      summary,
      h("p", { role: "alert" }, title),
      unplaced.length > 0 &&
        h(
          "ul",
          {},
          unplaced.map((problem) => h("li", {}, `${problem.path || "request"}: ${problem.message}`)),
        ),
    );
    if (first && unplaced.length === 0) first.control.focus();
    else summary.focus();
  }

  /**
   * @param {HTMLElement} element
   * @param {string} text
   */
  function append(element, text) {
    if (element.textContent) element.append(document.createElement("br"));
    element.append(text);
  }

  function values() {
    /** @type {Record<string, string>} */
    const result = {};
    for (const field of fields) result[field.name] = field.control.value;
    return result;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    submitButton.disabled = true;
    try {
      const job = await api("/v1/jobs", {
        method: "POST",
        body: specFromValues(values()),
        headers: { "idempotency-key": idempotencyKey },
        signal,
      });
      flash(`Job ${job.id} submitted.`);
      navigate(`#/jobs/${encodeURIComponent(job.id)}`);
    } catch (error) {
      if (signal.aborted) return;
      showErrors(error);
    } finally {
      submitButton.disabled = false;
    }
  });

  checkButton.addEventListener("click", async () => {
    clearErrors();
    replace(estimateSlot, "Checking…");
    try {
      const { spec, estimate } = await api("/v1/jobs?dryRun=true", { method: "POST", body: specFromValues(values()), signal });
      replace(
        estimateSlot,
        h("h2", {}, "Estimate"),
        definitionList([
          ["Parameters", formatNumber(estimate.parameters)],
          ["Memory", `${formatNumber(estimate.memoryBytes / 2 ** 20, 3)} MiB`],
          ["Training samples", formatNumber(estimate.trainSamples)],
          ["Steps per epoch", formatNumber(estimate.stepsPerEpoch)],
          ["Time per epoch", estimate.secondsPerEpoch == null ? "not measured yet" : `about ${formatDuration(estimate.secondsPerEpoch)}`],
          ["Learning rate", formatNumber(spec.training.optimizer.learningRate)],
          ["Input shape", spec.inputShape.join(" × ")],
        ]),
      );
    } catch (error) {
      if (signal.aborted) return;
      replace(estimateSlot);
      showErrors(error);
    }
  });
}

// @ts-check
/** Jobs list: status filter, cursor pagination, auto-refresh. */
import { api } from "../api.js";
import { dataTable, formatPercent, h, replace, statusBadge, timeElement } from "../dom.js";

export const STATUSES = ["queued", "running", "succeeded", "failed", "cancelling", "cancelled"];
const PAGE_SIZE = 20;
const REFRESH_MS = 3_000;

/**
 * The dataset a spec names, by display name when the list of data sets knows it.
 * @param {any} spec
 * @param {Map<string, string>} names
 */
export function datasetLabel(spec, names) {
  const ref = spec?.dataset ?? {};
  if (typeof ref.name === "string") return ref.name;
  if (typeof ref.id === "string") return names.get(ref.id) ?? ref.id;
  return "—";
}

/**
 * How far a job is, from 0 to 1; a succeeded job is done whatever its last progress said.
 * @param {any} job
 */
export function progressFraction(job) {
  const fraction = job.progress?.fraction;
  return job.status === "succeeded" ? 1 : typeof fraction === "number" ? Math.min(1, Math.max(0, fraction)) : 0;
}

/** @param {any} job */
export function progressCell(job) {
  const progress = job.progress;
  const fraction = progressFraction(job);
  const epochs = progress?.epochs ?? job.spec?.training?.epochs;
  const text = progress ? `epoch ${progress.epoch}/${epochs}` : job.status === "queued" ? "waiting" : `${Math.round(fraction * 100)} %`;
  return h(
    "div",
    { class: "progress-cell" },
    h("progress", { max: 1, value: fraction, "aria-label": `Progress: ${Math.round(fraction * 100)} %` }),
    h("span", { class: "progress-text" }, text),
  );
}

/** @param {import("../app.js").ViewContext} context */
export async function jobsView({ main, query, signal, navigate }) {
  const status = STATUSES.includes(query.get("status") ?? "") ? /** @type {string} */ (query.get("status")) : "";
  const requestedLimit = Number(query.get("limit"));
  const limit = Number.isInteger(requestedLimit) && requestedLimit >= 1 && requestedLimit <= 200 ? requestedLimit : PAGE_SIZE;
  /** Cursors of the pages seen so far: page i is fetched with cursors[i]. */
  const cursors = [/** @type {string | null} */ (null)];
  let page = 0;
  /** @type {string | null} */
  let nextCursor = null;
  /** @type {Map<string, string>} */
  const datasetNames = new Map();

  const statusSelect = h(
    "select",
    { id: "status-filter", name: "status" },
    h("option", { value: "" }, "All statuses"),
    STATUSES.map((value) => h("option", { value, selected: value === status }, value)),
  );
  statusSelect.addEventListener("change", () => {
    const next = new URLSearchParams();
    if (statusSelect.value) next.set("status", statusSelect.value);
    if (limit !== PAGE_SIZE) next.set("limit", String(limit));
    navigate(next.size > 0 ? `#/jobs?${next}` : "#/jobs");
  });
  const autoRefresh = h("input", { id: "auto-refresh", type: "checkbox", checked: true });
  const refreshButton = h("button", { type: "button" }, "Refresh now");
  const updated = h("span", { class: "muted", "aria-live": "off" });
  const summary = h("p", { class: "queue-summary" });
  const tbody = h("tbody");
  const table = dataTable(
    { class: "jobs-table", tabindex: "-1" },
    status ? `Jobs with status ${status}, newest first` : "All jobs, newest first",
    ["Job", "Status", "Architecture", "Dataset", "Progress", "Test accuracy", "Created"],
    tbody,
  );
  const newer = h("button", { type: "button" }, "← Newer");
  const older = h("button", { type: "button" }, "Older →");
  const pageLabel = h("span", { class: "muted" });
  const errorBox = h("div", { role: "alert" });

  replace(
    main,
    h("div", { class: "title-row" }, h("h1", {}, "Jobs"), h("a", { class: "button", href: "#/new" }, "New job")),
    summary,
    h(
      "div",
      { class: "toolbar" },
      h("label", { for: "status-filter" }, "Status"),
      statusSelect,
      h("span", { class: "check" }, autoRefresh, h("label", { for: "auto-refresh" }, `Auto-refresh every ${REFRESH_MS / 1000} s`)),
      refreshButton,
      updated,
    ),
    errorBox,
    h("div", { class: "table-wrap" }, table),
    h("nav", { class: "pagination", "aria-label": "Pages" }, newer, pageLabel, older),
  );

  api("/v1/datasets", { signal })
    .then((/** @type {any} */ body) => {
      for (const dataset of body?.items ?? []) datasetNames.set(dataset.id, dataset.name);
    })
    .catch(() => undefined);

  /** @param {any} job */
  const row = (job) =>
    h(
      "tr",
      { "data-job-id": job.id, "data-status": job.status },
      h("th", { scope: "row" }, h("a", { href: `#/jobs/${encodeURIComponent(job.id)}`, class: "mono" }, job.id)),
      h("td", {}, statusBadge(job.status)),
      h("td", {}, job.spec?.architecture ?? "—"),
      h("td", {}, datasetLabel(job.spec, datasetNames)),
      h("td", {}, progressCell(job)),
      h("td", { class: "num" }, formatPercent(job.result?.testAccuracy)),
      h("td", {}, timeElement(job.createdAt)),
    );

  let loading = false;
  async function load() {
    if (loading) return;
    loading = true;
    try {
      const params = new URLSearchParams({ limit: String(limit) });
      if (status) params.set("status", status);
      const cursor = cursors[page];
      if (cursor) params.set("cursor", cursor);
      const [list, counts] = await Promise.all([api(`/v1/jobs?${params}`, { signal }), api("/v1/queue", { signal }).catch(() => null)]);
      if (signal.aborted) return;
      nextCursor = list.nextCursor ?? null;
      // Rows are rebuilt; a keyboard user's focus on a job link moves to the same link in the new row.
      const focusedJob = tbody.contains(document.activeElement) ? document.activeElement?.closest("tr")?.getAttribute("data-job-id") : null;
      replace(
        tbody,
        list.items.length > 0
          ? list.items.map(row)
          : h(
              "tr",
              {},
              h("td", { colspan: 7, class: "empty" }, page > 0 ? "No more jobs." : status ? `No ${status} jobs.` : "No jobs yet."),
            ),
      );
      if (counts) {
        replace(
          summary,
          STATUSES.filter((name) => name in counts).map((name, index) => [index > 0 ? " · " : "", `${counts[name]} ${name}`]),
        );
      }
      if (focusedJob) {
        const link = [...tbody.querySelectorAll("tr[data-job-id] a")].find(
          (a) => a.closest("tr")?.getAttribute("data-job-id") === focusedJob,
        );
        /** @type {HTMLElement} */ (link ?? table).focus();
      }
      newer.disabled = page === 0;
      older.disabled = !nextCursor;
      replace(pageLabel, `Page ${page + 1}`);
      replace(updated, `Updated ${new Date().toLocaleTimeString()}`);
      replace(errorBox);
    } catch (error) {
      if (signal.aborted) return;
      replace(errorBox, h("p", { class: "error" }, `Could not load the jobs: ${error instanceof Error ? error.message : String(error)}`));
    } finally {
      loading = false;
    }
  }

  newer.addEventListener("click", () => {
    if (page > 0) page -= 1;
    void load();
  });
  older.addEventListener("click", () => {
    if (!nextCursor) return;
    page += 1;
    cursors[page] = nextCursor;
    cursors.length = page + 1;
    void load();
  });
  refreshButton.addEventListener("click", () => void load());

  await load();
  const timer = setInterval(() => {
    if (autoRefresh.checked && !document.hidden) void load();
  }, REFRESH_MS);
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
}

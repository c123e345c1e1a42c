// @ts-check
/** Workers heard from recently, their devices, and which of the caller's jobs each device runs. */
import { api } from "../api.js";
import { dataTable, h, replace, statusBadge, timeElement } from "../dom.js";

const REFRESH_MS = 5_000;

/** @param {import("../app.js").ViewContext} context */
export async function workersView({ main, signal }) {
  const tbody = h("tbody");
  const updated = h("span", { class: "muted" });
  const errorBox = h("div", { role: "alert" });
  replace(
    main,
    h("h1", {}, "Workers"),
    h("p", { class: "muted" }, "Workers heard from in the last 24 hours; a worker silent for 15 s is lost. ", updated),
    errorBox,
    h(
      "div",
      { class: "table-wrap" },
      dataTable({ class: "workers-table" }, "Workers", ["Worker", "Status", "Host", "PID", "Devices", "Last heartbeat"], tbody),
    ),
  );

  async function load() {
    try {
      const workers = await api("/v1/workers", { signal });
      if (signal.aborted) return;
      replace(
        tbody,
        workers.length === 0
          ? h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No worker has reported in the last 24 hours."))
          : workers.map((/** @type {any} */ worker) =>
              h(
                "tr",
                { "data-worker-id": worker.id },
                h("th", { scope: "row", class: "mono" }, worker.id),
                h("td", {}, statusBadge(worker.status)),
                h("td", {}, worker.host),
                h("td", { class: "num" }, String(worker.pid)),
                h(
                  "td",
                  {},
                  h(
                    "ul",
                    { class: "devices" },
                    worker.devices.map((/** @type {any} */ device) =>
                      h(
                        "li",
                        {},
                        h("span", { class: "mono" }, device.id),
                        ` ${device.name}`,
                        device.backend ? ` (${device.backend})` : "",
                        " — ",
                        device.busyWithJob
                          ? [
                              "busy with ",
                              h("a", { href: `#/jobs/${encodeURIComponent(device.busyWithJob)}`, class: "mono" }, device.busyWithJob),
                            ]
                          : "idle or busy with another tenant's job",
                      ),
                    ),
                  ),
                ),
                h("td", {}, timeElement(worker.lastHeartbeatAt)),
              ),
            ),
      );
      replace(updated, `Updated ${new Date().toLocaleTimeString()}.`);
      replace(errorBox);
    } catch (error) {
      if (signal.aborted) return;
      replace(
        errorBox,
        h("p", { class: "error" }, `Could not load the workers: ${error instanceof Error ? error.message : String(error)}`),
      );
    }
  }

  await load();
  const timer = setInterval(() => {
    if (!document.hidden) void load();
  }, REFRESH_MS);
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
}

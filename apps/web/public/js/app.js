// @ts-check
/** The dashboard shell: API key, hash routes, one view at a time. */
import { ApiError, checkApiKey, getApiKey, onUnauthorized, setApiKey } from "./api.js";
import { h, replace } from "./dom.js";
import { architecturesView, architectureView } from "./views/architectures.js";
import { jobsView } from "./views/jobs.js";
import { jobPage } from "./views/job.js";
import { modelsView, modelView } from "./views/models.js";
import { newJobView } from "./views/newJob.js";
import { sweepPage, sweepsView } from "./views/sweeps.js";
import { workersView } from "./views/workers.js";

/**
 * @typedef {object} ViewContext
 * @property {HTMLElement} main
 * @property {string[]} params     the route's captured parts, URI-decoded
 * @property {URLSearchParams} query the part of the hash after "?"
 * @property {AbortSignal} signal  aborted when the user leaves the view
 * @property {(message: string, kind?: "info" | "error") => void} flash  a message that stays until the next navigation but one
 * @property {(hash: string) => void} navigate
 */

/** @typedef {(context: ViewContext) => void | Promise<void>} View */

/** @type {[RegExp, string, View][]} */
const ROUTES = [
  [/^\/jobs$/, "jobs", jobsView],
  [/^\/jobs\/([^/]+)$/, "jobs", jobPage],
  [/^\/new$/, "new", newJobView],
  [/^\/models$/, "models", modelsView],
  [/^\/models\/([^/]+)$/, "models", modelView],
  [/^\/sweeps$/, "sweeps", sweepsView],
  [/^\/sweeps\/([^/]+)$/, "sweeps", sweepPage],
  [/^\/architectures$/, "architectures", architecturesView],
  [/^\/architectures\/([^/]+)$/, "architectures", architectureView],
  [/^\/workers$/, "workers", workersView],
];

const main = /** @type {HTMLElement} */ (document.getElementById("main"));
const flashRegion = /** @type {HTMLElement} */ (document.getElementById("flash"));
const keyStatus = /** @type {HTMLElement} */ (document.getElementById("key-status"));

/** @type {AbortController | null} */
let current = null;
let firstRender = true;

/**
 * @param {string} message
 * @param {"info" | "error"} [kind]
 */
function flash(message, kind = "info") {
  flashRegion.className = `flash flash-${kind}`;
  replace(flashRegion, message ? h("p", {}, message) : null);
  flashSurvivesNavigation = Boolean(message);
}

/** A message set just before navigating ("Job … submitted") is shown on the page navigated to. */
let flashSurvivesNavigation = false;

/** @param {string} hash */
function navigate(hash) {
  if (location.hash === hash) void render();
  else location.hash = hash;
}

function renderKeyStatus() {
  const key = getApiKey();
  replace(
    keyStatus,
    key
      ? [
          h("span", { class: "key-hint" }, `Key …${key.slice(-4)}`),
          " ",
          h("button", { type: "button", class: "link-button", onclick: () => showKeyForm("") }, "Change key"),
        ]
      : h("span", { class: "key-hint" }, "No API key"),
  );
}

/**
 * @param {string} key
 * @returns {Promise<string>} why the key cannot be saved, "" when the API accepts it
 */
async function keyProblem(key) {
  if (!key) return "Enter a key.";
  try {
    return (await checkApiKey(key)) ? "" : "The API does not know this key.";
  } catch (failure) {
    return `Could not check the key: ${failure instanceof Error ? failure.message : String(failure)}`;
  }
}

/** @param {string} message why the key is asked for */
function showKeyForm(message) {
  current?.abort();
  current = new AbortController();
  const input = h("input", {
    id: "api-key",
    name: "apiKey",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "api-key-help api-key-error",
  });
  const error = h("p", { id: "api-key-error", class: "field-error" }, message);
  const form = h(
    "form",
    { class: "key-form" },
    h("h1", { id: "key-heading" }, "API key"),
    h(
      "p",
      { id: "api-key-help" },
      "The dashboard calls the Trainyard API with your key. It stays in this browser (localStorage) and is sent only to this server.",
    ),
    h("div", { class: "field" }, h("label", { for: "api-key" }, "API key"), input, error),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save key")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    const text = await keyProblem(key);
    if (text) {
      replace(error, text);
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    setApiKey(key);
    renderKeyStatus();
    flash("Key saved.");
    if (!location.hash || location.hash === "#") location.hash = "#/jobs";
    else void render();
  });
  replace(main, form);
  renderKeyStatus();
  input.focus();
}

async function render() {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  if (!getApiKey()) {
    showKeyForm("");
    return;
  }
  const [path, search = ""] = (location.hash.replace(/^#/, "") || "/jobs").split("?");
  renderKeyStatus();
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (route && link.getAttribute("data-nav") === route[1]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (flashSurvivesNavigation) flashSurvivesNavigation = false;
  else flash("");
  if (!route) {
    replace(
      main,
      h("h1", { tabindex: "-1" }, "Not found"),
      h("p", {}, "There is no such page. ", h("a", { href: "#/jobs" }, "Go to the jobs.")),
    );
    return;
  }
  const [pattern, , view] = route;
  const params = /** @type {RegExpExecArray} */ (pattern.exec(path)).slice(1).map(decodeURIComponent);
  replace(main, h("p", { class: "loading" }, "Loading…"));
  try {
    await view({ main, params, query: new URLSearchParams(search), signal: controller.signal, flash, navigate });
  } catch (error) {
    if (controller.signal.aborted) return;
    if (error instanceof ApiError && error.status === 401) return; // the key form is already shown
    replace(
      main,
      h("h1", {}, "Something went wrong"),
      h("p", { role: "alert" }, error instanceof Error ? error.message : String(error)),
      h("p", {}, h("a", { href: "#/jobs" }, "Back to the jobs")),
    );
  }
  if (!firstRender && !controller.signal.aborted) {
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
  }
  firstRender = false;
}

onUnauthorized(() => {
  setApiKey(null);
  showKeyForm("The API did not accept the saved key (401). Enter a valid key.");
});

window.addEventListener("hashchange", () => void render());
// Another tab saved or forgot a key.
window.addEventListener("storage", () => {
  renderKeyStatus();
  if (!getApiKey()) showKeyForm("");
});
renderKeyStatus();
void render();

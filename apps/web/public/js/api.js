// @ts-check
/** The API from the browser: the key lives in localStorage and goes out as a Bearer header. */
import { h, replace } from "./dom.js";

const KEY_STORAGE = "trainyard.apiKey";

/** @returns {string | null} */
export function getApiKey() {
  try {
    return localStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

/** @param {string | null} key */
export function setApiKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

/** @returns {Record<string, string>} */
export function authHeaders() {
  const key = getApiKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/**
 * @typedef {object} Problem RFC 9457 problem details, as the API sends them
 * @property {string} [type]
 * @property {string} [title]
 * @property {number} [status]
 * @property {string} [detail]
 * @property {{ path: string, message: string }[]} [errors]
 */

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {Problem} problem
   */
  constructor(status, problem) {
    super(problem.detail || problem.title || `the API answered ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

/** @type {Set<() => void>} */
const unauthorizedListeners = new Set();

/**
 * Called whenever the API answers 401 (no key, or a key it does not know).
 * @param {() => void} listener
 */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export function notifyUnauthorized() {
  for (const listener of unauthorizedListeners) listener();
}

/**
 * @param {Response} response
 * @returns {Promise<ApiError>}
 */
async function errorFrom(response) {
  const text = await response.text().catch(() => "");
  /** @type {Problem} */
  let problem = { status: response.status, title: response.statusText };
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === "object") problem = parsed;
  } catch {
    if (text) problem.detail = text.slice(0, 500);
  }
  if (response.status === 401) notifyUnauthorized();
  return new ApiError(response.status, problem);
}

/**
 * @typedef {object} RequestOptions
 * @property {string} [method]
 * @property {unknown} [body] sent as JSON
 * @property {Record<string, string>} [headers]
 * @property {AbortSignal} [signal]
 */

/**
 * Calls the API and answers the parsed JSON body (null for an empty body); throws ApiError.
 * @param {string} path e.g. "/v1/jobs?limit=20"
 * @param {RequestOptions} [options]
 * @returns {Promise<any>}
 */
export async function api(path, options = {}) {
  const response = await send(path, options);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/**
 * POSTs a multipart form (the browser sets its boundary) and answers the parsed JSON; throws ApiError.
 * @param {string} path
 * @param {FormData} form
 * @param {AbortSignal} [signal]
 * @returns {Promise<any>}
 */
export async function postForm(path, form, signal) {
  const response = await fetch(path, {
    method: "POST",
    headers: { accept: "application/json", ...authHeaders() },
    body: form,
    signal,
    cache: "no-store",
  });
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

/**
 * @param {string} path
 * @param {RequestOptions} options
 * @returns {Promise<Response>} a 2xx response
 */
async function send(path, { method = "GET", body, headers = {}, signal } = {}) {
  /** @type {Record<string, string>} */
  const allHeaders = { accept: "application/json", ...authHeaders(), ...headers };
  if (body !== undefined) allHeaders["content-type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers: allHeaders,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    cache: "no-store",
  });
  if (!response.ok) throw await errorFrom(response);
  return response;
}

/**
 * Whether the API accepts a key, without storing it or raising the 401 alarm.
 * @param {string} key
 * @returns {Promise<boolean>} false for 401; other failures throw
 */
export async function checkApiKey(key) {
  const response = await fetch("/v1/queue", { headers: { accept: "application/json", authorization: `Bearer ${key}` }, cache: "no-store" });
  if (response.status === 401) return false;
  if (!response.ok) throw new ApiError(response.status, { status: response.status, title: response.statusText });
  return true;
}

/**
 * Fetches a file with the key and hands it to the browser as a download (a blob URL, since a
 * plain link cannot carry the Authorization header).
 * @param {string} path
 * @param {string} fallbackName used when the answer names no file
 */
export async function download(path, fallbackName) {
  const response = await send(path, { headers: { accept: "*/*" } });
  const disposition = response.headers.get("content-disposition") ?? "";
  const name = /filename="?([^";]+)"?/i.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}

/**
 * Makes `button` download `path` (saved as `name` unless the answer names the file) with the key,
 * reporting the outcome in `message`; the button is disabled meanwhile.
 * @param {HTMLButtonElement} button
 * @param {HTMLElement} message
 * @param {string} path
 * @param {string} name
 * @param {{ preparing?: boolean, onSettled?: () => void }} [options] preparing: say so in `message` while it downloads
 */
export function downloadOnClick(button, message, path, name, { preparing = false, onSettled } = {}) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    if (preparing) replace(message, `Preparing ${name}…`);
    try {
      const saved = await download(path, name);
      replace(message, `Downloaded ${saved}.`);
    } catch (error) {
      replace(message, h("span", { class: "error" }, `Could not download: ${error instanceof Error ? error.message : String(error)}`));
    } finally {
      button.disabled = false;
      onSettled?.();
    }
  });
}

/**
 * A random Idempotency-Key (crypto.getRandomValues works outside secure contexts too).
 * @returns {string}
 */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

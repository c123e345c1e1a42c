// @ts-check
/**
 * Building DOM without HTML strings: every piece of text goes in as a text node, so nothing
 * the API answers (tags, names, error messages) can become markup.
 */

/** @typedef {Node | string | number | null | undefined | false | ChildList} Child */
/** @typedef {Child[]} ChildList */
/** @typedef {Record<string, string | number | boolean | null | undefined | EventListener>} Attributes */

/**
 * @param {Element} element
 * @param {Attributes} attributes
 */
function applyAttributes(element, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (typeof value === "function") {
      throw new Error(`attribute ${name} cannot be a function`);
    } else if (name === "value" && "value" in element) {
      /** @type {HTMLInputElement} */ (element).value = String(value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

/**
 * @param {Node} parent
 * @param {Child[]} children
 */
export function append(parent, ...children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, ...child);
    else if (typeof child === "string" || typeof child === "number") parent.appendChild(document.createTextNode(String(child)));
    else parent.appendChild(child);
  }
  return parent;
}

/**
 * An HTML element: h("a", { href: "#/jobs" }, "Jobs").
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attributes} [attributes]
 * @param {Child[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  applyAttributes(element, attributes);
  append(element, ...children);
  return element;
}

export const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * An SVG element, same rules as h().
 * @param {string} tag
 * @param {Attributes} [attributes]
 * @param {Child[]} children
 * @returns {SVGElement}
 */
export function s(tag, attributes = {}, ...children) {
  const element = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
  applyAttributes(element, attributes);
  append(element, ...children);
  return element;
}

/**
 * Replaces an element's children.
 * @param {Element} element
 * @param {Child[]} children
 */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, ...children);
  return element;
}

/** @param {string | null | undefined} iso */
export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/**
 * A <time> element with the ISO value as its machine-readable datetime.
 * @param {string | null | undefined} iso
 */
export function timeElement(iso) {
  return iso ? h("time", { datetime: iso, title: iso }, formatTime(iso)) : "—";
}

/** @param {number | null | undefined} value */
export function formatPercent(value) {
  return typeof value === "number" && Number.isFinite(value) ? `${(value * 100).toFixed(1)} %` : "—";
}

/**
 * @param {number | null | undefined} value
 * @param {number} [digits]
 */
export function formatNumber(value, digits = 4) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  if (Number.isInteger(value)) return value.toLocaleString();
  return String(Number(value.toPrecision(digits)));
}

/** @param {number | null | undefined} seconds */
export function formatDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "—";
  const total = Math.max(0, Math.round(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = total % 60;
  if (hours > 0) return `${hours} h ${minutes} min`;
  if (minutes > 0) return `${minutes} min ${rest} s`;
  return `${rest} s`;
}

/**
 * A status as a labelled badge (the CSS colours it, the text says it).
 * @param {string} status
 */
export function statusBadge(status) {
  return h("span", { class: `status status-${status.replace(/[^a-z-]/g, "")}`, "data-status": status }, status);
}

/**
 * A <dl> from label/value pairs; values may be nodes.
 * @param {[string, Child][]} rows
 * @param {Attributes} [attributes]
 */
export function definitionList(rows, attributes = {}) {
  return h(
    "dl",
    attributes,
    rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? "—")]),
  );
}

/**
 * A table: an optional caption, one header row of column labels, then the body.
 * @param {Attributes} attributes
 * @param {string | null} caption
 * @param {string[]} columns
 * @param {Child} body a <tbody>
 */
export function dataTable(attributes, caption, columns, body) {
  return h(
    "table",
    attributes,
    caption !== null && h("caption", {}, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        columns.map((label) => h("th", { scope: "col" }, label)),
      ),
    ),
    body,
  );
}

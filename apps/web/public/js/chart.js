// @ts-check
/** A small line chart drawn as inline SVG: epochs on x, one polyline and one circle per point per series. */
import { s } from "./dom.js";

/**
 * @typedef {object} Series
 * @property {string} key      stable name, written to data-series (e.g. "trainLoss")
 * @property {string} label    shown in the legend and point titles (e.g. "train loss")
 * @property {boolean} [dashed]
 * @property {{ x: number, y: number }[]} points
 */

/**
 * @typedef {object} ChartOptions
 * @property {string} id         written to data-chart and used for the title/desc ids
 * @property {string} title
 * @property {Series[]} series
 * @property {string} xLabel
 * @property {string} yLabel
 * @property {number} [xMax]     at least this many epochs on the axis (the planned epochs)
 * @property {[number, number]} [yDomain] fixed y range (accuracy: [0, 1]); otherwise 0 to a rounded maximum
 * @property {(y: number) => string} [formatY]
 */

const WIDTH = 520;
const HEIGHT = 260;
const MARGIN = { top: 28, right: 16, bottom: 44, left: 56 };

/**
 * A step of 1, 2 or 5 × 10^n that splits `span` into about `count` parts.
 * @param {number} span
 * @param {number} count
 */
export function niceStep(span, count) {
  if (!(span > 0)) return 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / magnitude;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude;
}

/**
 * @param {number} min
 * @param {number} max
 * @param {number} step
 */
function ticks(min, max, step) {
  const values = [];
  const first = Math.ceil(min / step - 1e-9) * step;
  for (let value = first; value <= max + step * 1e-6; value += step) values.push(Number(value.toPrecision(12)));
  return values;
}

/** @param {number} value */
const defaultFormat = (value) => String(Number(value.toPrecision(3)));

/**
 * @param {ChartOptions} options
 * @returns {SVGElement}
 */
export function lineChart({ id, title, series, xLabel, yLabel, xMax = 1, yDomain, formatY = defaultFormat }) {
  const points = series.flatMap((line) => line.points).filter((point) => Number.isFinite(point.x) && Number.isFinite(point.y));
  const lastX = Math.max(1, xMax, ...points.map((point) => point.x));
  // A little room either side, so that the first and last points do not sit on the frame.
  const pad = lastX > 1 ? Math.min(2, Math.max(0.1, (lastX - 1) * 0.04)) : 0.5;
  const [x0, x1] = [1 - pad, lastX + pad];
  let [y0, y1] = yDomain ?? [0, 1];
  if (!yDomain && points.length > 0) {
    const low = Math.min(0, ...points.map((point) => point.y));
    const high = Math.max(...points.map((point) => point.y));
    const step = niceStep(high - low || 1, 5);
    y0 = Math.floor(low / step) * step;
    y1 = Math.ceil(high / step) * step;
    if (y1 <= y0) y1 = y0 + step;
  }
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  /** @param {number} x */
  const px = (x) => MARGIN.left + ((x - x0) / (x1 - x0)) * plotWidth;
  /** @param {number} y */
  const py = (y) => MARGIN.top + (1 - (y - y0) / (y1 - y0)) * plotHeight;
  const round = (/** @type {number} */ value) => Number(value.toFixed(2));

  const titleId = `${id}-title`;
  const descId = `${id}-desc`;
  const summary = series
    .map((line) => {
      const last = line.points[line.points.length - 1];
      return last ? `${line.label}: ${line.points.length} epochs, last ${formatY(last.y)}` : `${line.label}: no data yet`;
    })
    .join("; ");

  const xStep = Math.max(1, Math.ceil(niceStep(lastX - 1, 8)));
  const xTicks = ticks(1, lastX, xStep);
  const yTicks = ticks(y0, y1, niceStep(y1 - y0, 5));

  const grid = s(
    "g",
    { class: "grid", "aria-hidden": "true" },
    yTicks.map((y) => s("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: round(py(y)), y2: round(py(y)) })),
  );
  const axes = s(
    "g",
    { class: "axes", "aria-hidden": "true" },
    s("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: MARGIN.top + plotHeight, y2: MARGIN.top + plotHeight }),
    s("line", { x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: MARGIN.top + plotHeight }),
    xTicks.map((x) => s("line", { x1: round(px(x)), x2: round(px(x)), y1: MARGIN.top + plotHeight, y2: MARGIN.top + plotHeight + 4 })),
    xTicks.map((x) => s("text", { x: round(px(x)), y: MARGIN.top + plotHeight + 16, "text-anchor": "middle" }, String(x))),
    yTicks.map((y) => s("text", { x: MARGIN.left - 6, y: round(py(y)) + 4, "text-anchor": "end" }, formatY(y))),
    s("text", { class: "axis-label", x: MARGIN.left + plotWidth / 2, y: HEIGHT - 6, "text-anchor": "middle" }, xLabel),
    s(
      "text",
      {
        class: "axis-label",
        x: 14,
        y: MARGIN.top + plotHeight / 2,
        "text-anchor": "middle",
        transform: `rotate(-90 14 ${MARGIN.top + plotHeight / 2})`,
      },
      yLabel,
    ),
  );

  const lines = series.map((line, index) => {
    const visible = line.points.filter((point) => Number.isFinite(point.x) && Number.isFinite(point.y)).sort((a, b) => a.x - b.x);
    return s(
      "g",
      { class: `series series-${index}${line.dashed ? " dashed" : ""}`, "data-series": line.key },
      visible.length > 1 && s("polyline", { points: visible.map((point) => `${round(px(point.x))},${round(py(point.y))}`).join(" ") }),
      visible.map((point) =>
        s(
          "circle",
          { class: "point", cx: round(px(point.x)), cy: round(py(point.y)), r: 3.5, "data-epoch": point.x },
          s("title", {}, `epoch ${point.x}: ${line.label} ${formatY(point.y)}`),
        ),
      ),
    );
  });

  const legend = s(
    "g",
    { class: "legend", "aria-hidden": "true" },
    series.map((line, index) => {
      const x = MARGIN.left + index * 130;
      return s(
        "g",
        { class: `series series-${index}${line.dashed ? " dashed" : ""}` },
        s("line", { x1: x, x2: x + 22, y1: 12, y2: 12 }),
        s("text", { x: x + 28, y: 16 }, line.label),
      );
    }),
  );

  const empty =
    points.length === 0 &&
    s(
      "text",
      { class: "empty", x: MARGIN.left + plotWidth / 2, y: MARGIN.top + plotHeight / 2, "text-anchor": "middle" },
      "no finished epoch yet",
    );

  return s(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-labelledby": `${titleId} ${descId}`,
      "data-chart": id,
    },
    s("title", { id: titleId }, title),
    s("desc", { id: descId }, summary),
    grid,
    axes,
    lines,
    legend,
    empty,
  );
}

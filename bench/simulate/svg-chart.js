/**
 * A small, dependency-free SVG line chart for the simulation's curves
 * (fraction of nodes reached over time, traffic over time): axes with round
 * tick values, one polyline per series (step-shaped when asked), optional
 * dashed reference lines (targets), a legend. Output is a standalone SVG
 * document that browsers and image viewers open directly.
 */

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/**
 * @typedef {object} Series
 * @property {string} name legend label
 * @property {[number, number][]} points (x, y), x ascending
 * @property {boolean} [step] draw as a step function (value holds until the next point)
 * @property {string} [color]
 */

/**
 * @typedef {object} ReferenceLine
 * @property {'x' | 'y'} axis vertical line at an x value, or horizontal at a y value
 * @property {number} value
 * @property {string} label
 */

/**
 * @typedef {object} ChartSpec
 * @property {string} title
 * @property {string} [subtitle]
 * @property {string} xLabel
 * @property {string} yLabel
 * @property {Series[]} series
 * @property {ReferenceLine[]} [references]
 * @property {[number, number]} [xDomain] default: from 0 to the largest x (and reference)
 * @property {[number, number]} [yDomain] default: from 0 to the largest y (and reference)
 * @property {'linear' | 'log'} [xScale] `log`: x drawn as log10(1 + x), ticks at 0, 1, 10, 100 ... (a
 *   propagation curve whose last percent takes ten times longer than the rest stays readable)
 * @property {(v: number) => string} [xFormat]
 * @property {(v: number) => string} [yFormat]
 * @property {number} [width]
 * @property {number} [height]
 */

/** Escape text for SVG. */
function esc(text) {
  return String(text).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

/**
 * About `count` round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi].
 * @returns {number[]}
 */
export function niceTicks(lo, hi, count = 6) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Ticks of a log10(1 + x) axis: 0 and the powers of ten up to the first at or above `hi`. */
function logTicks(hi) {
  const ticks = [0];
  for (let v = 1; ticks.at(-1) < hi; v *= 10) ticks.push(v);
  return ticks;
}

/**
 * Render a line chart.
 * @param {ChartSpec} spec
 * @returns {string} an SVG document
 */
export function lineChart(spec) {
  const width = spec.width ?? 760;
  const height = spec.height ?? 440;
  const margin = {top: spec.subtitle ? 58 : 40, right: 24, bottom: 56, left: 72};
  const longestName = Math.max(0, ...spec.series.map((s) => s.name.length));
  const legendColumns = Math.max(1, Math.min(3, Math.floor((width - 96) / (longestName * 6.5 + 40))));
  const legendHeight = 18 * Math.ceil(spec.series.length / legendColumns);
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom - legendHeight;
  const refs = spec.references ?? [];
  const allX = spec.series.flatMap((s) => s.points.map(([x]) => x)).concat(refs.filter((r) => r.axis === 'x').map((r) => r.value));
  const allY = spec.series.flatMap((s) => s.points.map(([, y]) => y)).concat(refs.filter((r) => r.axis === 'y').map((r) => r.value));
  const [x0, x1] = spec.xDomain ?? [0, Math.max(1e-9, ...allX)];
  const [y0, y1] = spec.yDomain ?? [0, Math.max(1e-9, ...allY)];
  const log = spec.xScale === 'log';
  const xTicks = log ? logTicks(x1) : niceTicks(x0, x1);
  const yTicks = niceTicks(y0, y1, 5);
  const xHi = Math.max(x1, xTicks.at(-1));
  const yHi = Math.max(y1, yTicks.at(-1));
  const tx = log ? (x) => Math.log10(1 + Math.max(0, x)) : (x) => x;
  const sx = (x) => margin.left + ((tx(x) - tx(x0)) / (tx(xHi) - tx(x0) || 1)) * plotW;
  const sy = (y) => margin.top + plotH - ((y - y0) / (yHi - y0 || 1)) * plotH;
  const fx = spec.xFormat ?? ((v) => String(v));
  const fy = spec.yFormat ?? ((v) => String(v));
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(spec.title)}</text>`);
  if (spec.subtitle) out.push(`<text x="${width / 2}" y="42" text-anchor="middle" fill="#555">${esc(spec.subtitle)}</text>`);
  // Grid and ticks.
  for (const t of xTicks) {
    const x = sx(t).toFixed(1);
    out.push(`<line x1="${x}" y1="${margin.top}" x2="${x}" y2="${margin.top + plotH}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${margin.top + plotH + 16}" text-anchor="middle">${esc(fx(t))}</text>`);
  }
  for (const t of yTicks) {
    const y = sy(t).toFixed(1);
    out.push(`<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotW}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${margin.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(fy(t))}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${margin.top + plotH + 38}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`);
  // Reference lines.
  for (const ref of refs) {
    if (ref.axis === 'x') {
      const x = sx(ref.value).toFixed(1);
      out.push(`<line x1="${x}" y1="${margin.top}" x2="${x}" y2="${margin.top + plotH}" stroke="#888" stroke-dasharray="5 4"/>`);
      // Near the right edge the label goes to the left of its line, so it stays inside the plot.
      const right = Number(x) > margin.left + plotW * 0.6;
      out.push(`<text x="${x}" y="${margin.top + 12}" dx="${right ? -4 : 4}" text-anchor="${right ? 'end' : 'start'}" fill="#555">${esc(ref.label)}</text>`);
    } else {
      const y = sy(ref.value).toFixed(1);
      out.push(`<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotW}" y2="${y}" stroke="#888" stroke-dasharray="5 4"/>`);
      out.push(`<text x="${margin.left + plotW - 4}" y="${y}" dy="-4" text-anchor="end" fill="#555">${esc(ref.label)}</text>`);
    }
  }
  // Series.
  spec.series.forEach((series, i) => {
    const color = series.color ?? PALETTE[i % PALETTE.length];
    const coords = [];
    series.points.forEach(([x, y], j) => {
      if (series.step && j > 0) coords.push(`${sx(x).toFixed(1)},${sy(series.points[j - 1][1]).toFixed(1)}`);
      coords.push(`${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    });
    if (coords.length > 0) out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${coords.join(' ')}"/>`);
    const lx = margin.left + (i % legendColumns) * (plotW / legendColumns);
    const ly = margin.top + plotH + 52 + 18 * Math.floor(i / legendColumns);
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${lx + 28}" y="${ly}" dominant-baseline="middle">${esc(series.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/**
 * The cumulative curve of arrival times: (t, fraction of `total` reached by t),
 * one point per distinct time, starting at (0, 0). Thinned to at most `maxPoints`.
 * @param {readonly number[]} arrivals times of the observers that were reached
 * @param {number} total observers (reached or not)
 * @returns {[number, number][]}
 */
export function cumulativeCurve(arrivals, total, maxPoints = 400) {
  const sorted = [...arrivals].sort((a, b) => a - b);
  const points = [[0, 0]];
  for (let i = 0; i < sorted.length; i++) {
    if (i + 1 < sorted.length && sorted[i + 1] === sorted[i]) continue;
    points.push([sorted[i], (i + 1) / total]);
  }
  if (points.length <= maxPoints) return points;
  const every = Math.ceil(points.length / maxPoints);
  return points.filter((_, i) => i % every === 0 || i === points.length - 1);
}

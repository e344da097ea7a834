/**
 * Small SVG plots drawn as strings: no browser, no DOM, no plotting library, so they render in a
 * headless notebook run, in nbconvert's HTML export and in a saved .svg file alike. Each builder
 * takes plain numbers; adapters from werkplaats results live in plots.ts.
 */
import { element, formatValue, text } from "./markup.js";

const FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif";
const INK = "#222";
const GRID = "#e5e5e5";
const MUTED = "#666";
const SUPPRESSED = "#c2410c";
export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

/** Round tick values covering [min, max], about `count` of them (1-2-5 steps). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return niceTicks(min - pad, max + pad, count);
  }
  const raw = (max - min) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const start = Math.floor(min / step) * step;
  const ticks: number[] = [];
  for (let v = start; v <= max + step * 1e-9; v += step) ticks.push(Math.round(v / step) * step);
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks.map((t) => Number(t.toPrecision(12)));
}

/**
 * Ticks for a ratio axis on a log scale: round linear steps within a factor of three, then
 * doublings (0.25, 0.5, 1, 2, 4),
 * 1-2-5 steps for a wider range, powers of ten for a very wide one — at most about nine, with one
 * tick beyond each end.
 */
export function ratioTicks(min: number, max: number): number[] {
  // A range narrower than ±5% around its values is widened, so that ticks stay readable.
  const lo = Math.max(max / min < 1.1 ? min / 1.05 : min, 1e-12);
  const hi = Math.max(max / min < 1.1 ? max * 1.05 : max, lo * 1.0001);
  // Within a factor of three, round linear steps (0.8, 0.9, 1, 1.1 …) read best, even on a log axis.
  if (hi / lo < 3) {
    const linearTicks = niceTicks(lo, hi, 5);
    if (linearTicks[0] > 0) return linearTicks;
  }
  const series: number[][] = [
    Array.from({ length: 41 }, (_, k) => 2 ** (k - 20)),
    Array.from({ length: 25 }, (_, k) => 10 ** (Math.floor(k / 3) - 4) * [1, 2, 5][k % 3]),
    Array.from({ length: 25 }, (_, k) => 10 ** (k - 12)),
  ];
  let ticks: number[] = [];
  for (const candidates of series) {
    const below = candidates.filter((c) => c <= lo).pop() ?? candidates[0];
    const above = candidates.find((c) => c >= hi) ?? candidates[candidates.length - 1];
    ticks = candidates.filter((c) => c >= below && c <= above).map((c) => Number(c.toPrecision(6)));
    if (ticks.length <= 9) return ticks;
  }
  return ticks;
}

function linear(domain: [number, number], range: [number, number]): (v: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

function label(x: number, y: number, s: string, attrs: Record<string, string | number> = {}): string {
  return element("text", { x, y, "font-size": 12, fill: INK, ...attrs }, text(s));
}

/** A subtitle longer than the plot is wide is cut with an ellipsis (its full text stays in <desc>). */
function fit(s: string, width: number, size = 11): string {
  const max = Math.floor(width / (size * 0.6));
  return s.length <= max ? s : `${s.slice(0, Math.max(1, max - 1))}…`;
}

function svgDocument(options: { width: number; height: number; title: string; subtitle?: string; description?: string }, body: readonly string[]): string {
  return element(
    "svg",
    {
      xmlns: "http://www.w3.org/2000/svg",
      width: options.width,
      height: options.height,
      viewBox: `0 0 ${options.width} ${options.height}`,
      role: "img",
      "font-family": FONT,
    },
    [
      element("title", {}, text(options.title)),
      options.description ? element("desc", {}, text(options.description)) : "",
      element("rect", { x: 0, y: 0, width: options.width, height: options.height, fill: "#fff" }),
      label(12, 22, options.title, { "font-size": 15, "font-weight": 600 }),
      options.subtitle ? label(12, 39, fit(options.subtitle, options.width - 24), { "font-size": 11, fill: MUTED }) : "",
      ...body,
    ],
  );
}

/** Generous width of a label in sans-serif (capitals and digits are wide), for margins. */
function textWidth(s: string, size = 12): number {
  return s.length * size * 0.68;
}

/** A tick label: no trailing zeros (0.5, not 0.50). */
function tickLabel(v: number): string {
  return String(Number(v.toPrecision(6)));
}

function xAxis(options: { ticks: number[]; x: (v: number) => number; y0: number; y1: number; title?: string; format?: (v: number) => string }): string[] {
  const f = options.format ?? tickLabel;
  const parts = options.ticks.flatMap((t) => [
    element("line", { x1: options.x(t), x2: options.x(t), y1: options.y0, y2: options.y1, stroke: GRID }),
    label(options.x(t), options.y1 + 15, f(t), { "text-anchor": "middle", fill: MUTED, "font-size": 11 }),
  ]);
  parts.push(element("line", { x1: options.x(options.ticks[0]), x2: options.x(options.ticks[options.ticks.length - 1]), y1: options.y1, y2: options.y1, stroke: MUTED }));
  if (options.title) {
    const mid = (options.x(options.ticks[0]) + options.x(options.ticks[options.ticks.length - 1])) / 2;
    parts.push(label(mid, options.y1 + 32, options.title, { "text-anchor": "middle", fill: MUTED }));
  }
  return parts;
}

function yAxis(options: { ticks: number[]; y: (v: number) => number; x0: number; x1: number; title?: string; format?: (v: number) => string }): string[] {
  const f = options.format ?? tickLabel;
  const parts = options.ticks.flatMap((t) => [
    element("line", { x1: options.x0, x2: options.x1, y1: options.y(t), y2: options.y(t), stroke: GRID }),
    label(options.x0 - 6, options.y(t) + 4, f(t), { "text-anchor": "end", fill: MUTED, "font-size": 11 }),
  ]);
  parts.push(element("line", { x1: options.x0, x2: options.x0, y1: options.y(options.ticks[0]), y2: options.y(options.ticks[options.ticks.length - 1]), stroke: MUTED }));
  if (options.title) {
    const mid = (options.y(options.ticks[0]) + options.y(options.ticks[options.ticks.length - 1])) / 2;
    parts.push(label(14, mid, options.title, { "text-anchor": "middle", fill: MUTED, transform: `rotate(-90 14 ${Math.round(mid)})` }));
  }
  return parts;
}

export interface Bar {
  label: string;
  /** Bars of the same label and different series are drawn side by side. */
  series?: string;
  /** null: withheld (suppressed) by the stations. */
  value: number | null;
  /** Optional interval drawn as a whisker (e.g. a 95% CI of a mean). */
  lower?: number;
  upper?: number;
}

export interface BarChartOptions {
  title: string;
  /** A line under the title, e.g. the dataset and filter. */
  subtitle?: string;
  bars: readonly Bar[];
  valueLabel?: string;
  description?: string;
  width?: number;
}

/** Horizontal bars (long neighbourhood codes stay readable); withheld bars are marked. */
export function barChart(options: BarChartOptions): string {
  const width = options.width ?? 640;
  const labels = [...new Set(options.bars.map((b) => b.label))];
  const series = [...new Set(options.bars.map((b) => b.series ?? ""))];
  const barHeight = series.length > 1 ? 14 : 18;
  const groupHeight = barHeight * series.length + 8;
  const legendHeight = series.length > 1 ? 22 : 0;
  const head = options.subtitle ? 54 : 36;
  const top = head + 8 + legendHeight;
  const left = Math.min(240, Math.max(60, ...labels.map((l) => textWidth(l) + 20)));
  const right = width - 70;
  const plotBottom = top + labels.length * groupHeight;
  const height = plotBottom + 46;
  const values = options.bars.flatMap((b) => [b.value ?? 0, b.upper ?? 0]);
  const ticks = niceTicks(Math.min(0, ...values), Math.max(1, ...values));
  const x = linear([ticks[0], ticks[ticks.length - 1]], [left, right]);
  const body: string[] = [...xAxis({ ticks, x, y0: top - 4, y1: plotBottom, title: options.valueLabel })];
  if (series.length > 1) {
    series.forEach((s, i) => {
      const lx = left + i * 120;
      body.push(element("rect", { x: lx, y: head, width: 12, height: 12, fill: PALETTE[i % PALETTE.length] }));
      body.push(label(lx + 16, head + 10, s));
    });
  }
  labels.forEach((l, li) => {
    const gy = top + li * groupHeight + 4;
    body.push(label(left - 8, gy + (barHeight * series.length) / 2 + 4, l, { "text-anchor": "end" }));
    series.forEach((s, si) => {
      const bar = options.bars.find((b) => b.label === l && (b.series ?? "") === s);
      if (!bar) return;
      const y = gy + si * barHeight;
      if (bar.value === null) {
        body.push(element("rect", { x: x(0), y: y + 1, width: 64, height: barHeight - 3, fill: "none", stroke: SUPPRESSED, "stroke-dasharray": "3 2", class: "suppressed" }));
        body.push(label(x(0) + 4, y + barHeight - 5, "suppressed", { fill: SUPPRESSED, "font-size": 10, "font-style": "italic" }));
        return;
      }
      const x0 = x(Math.min(0, bar.value));
      body.push(element("rect", { x: x0, y: y + 1, width: Math.max(0.5, Math.abs(x(bar.value) - x(0))), height: barHeight - 3, fill: PALETTE[si % PALETTE.length] }));
      if (bar.lower !== undefined && bar.upper !== undefined) {
        const cy = y + barHeight / 2;
        body.push(element("line", { x1: x(bar.lower), x2: x(bar.upper), y1: cy, y2: cy, stroke: INK }));
      }
      const shown = Number.isInteger(bar.value) ? String(bar.value) : String(Number(bar.value.toFixed(2)));
      body.push(label(x(Math.max(bar.value, bar.upper ?? bar.value)) + 4, y + barHeight - 5, shown, { "font-size": 11, fill: MUTED }));
    });
  });
  return svgDocument({ width, height, title: options.title, subtitle: options.subtitle, description: options.description }, body);
}

export interface HistogramBin {
  from: number;
  to: number;
  /** null: withheld by the stations. */
  count: number | null;
  /** Why it was withheld. */
  reason?: string;
}

export function histogram(options: { title: string; subtitle?: string; bins: readonly HistogramBin[]; xLabel?: string; yLabel?: string; description?: string; width?: number }): string {
  const width = options.width ?? 640;
  const height = 340;
  const [left, right, top, bottom] = [64, width - 20, options.subtitle ? 58 : 40, height - 50];
  const bins = [...options.bins].sort((a, b) => a.from - b.from);
  const lo = bins.length ? bins[0].from : 0;
  const hi = bins.length ? bins[bins.length - 1].to : 1;
  const x = linear([lo, hi], [left, right]);
  const yTicks = niceTicks(0, Math.max(1, ...bins.map((b) => b.count ?? 0)));
  const y = linear([0, yTicks[yTicks.length - 1]], [bottom, top]);
  const edges = bins.length <= 14 ? [...bins.map((b) => b.from), hi] : niceTicks(lo, hi).filter((t) => t >= lo && t <= hi);
  const body: string[] = [
    ...yAxis({ ticks: yTicks, y, x0: left, x1: right, title: options.yLabel ?? "count" }),
    ...xAxis({ ticks: edges, x, y0: bottom, y1: bottom, title: options.xLabel }),
  ];
  for (const b of bins) {
    if (b.count === null) {
      body.push(element("rect", { x: x(b.from) + 1, y: top, width: Math.max(1, x(b.to) - x(b.from) - 2), height: bottom - top, fill: "none", stroke: SUPPRESSED, "stroke-dasharray": "3 2", class: "suppressed" }));
      body.push(label((x(b.from) + x(b.to)) / 2, bottom - 6, "suppressed", { fill: SUPPRESSED, "font-size": 9, "text-anchor": "middle", "font-style": "italic" }));
      continue;
    }
    body.push(element("rect", { x: x(b.from) + 0.5, y: y(b.count), width: Math.max(0.5, x(b.to) - x(b.from) - 1), height: bottom - y(b.count), fill: PALETTE[0] }));
  }
  return svgDocument({ width, height, title: options.title, subtitle: options.subtitle, description: options.description }, body);
}

export interface ForestRow {
  label: string;
  estimate: number;
  lower: number;
  upper: number;
}

/** Estimates with confidence intervals, one row per term; ratios on a log axis around 1. */
export function forestPlot(options: { title: string; subtitle?: string; rows: readonly ForestRow[]; xLabel?: string; logScale?: boolean; reference?: number; description?: string; width?: number }): string {
  const log = options.logScale ?? false;
  const reference = options.reference ?? (log ? 1 : 0);
  const rowHeight = 24;
  const top = options.subtitle ? 66 : 48;
  const left = Math.min(240, Math.max(80, ...options.rows.map((r) => textWidth(r.label) + 16)));
  const estimateText = (r: ForestRow) => `${formatValue(r.estimate, 2)} (${formatValue(r.lower, 2)}–${formatValue(r.upper, 2)})`;
  const rightColumn = Math.max(110, ...options.rows.map((r) => textWidth(estimateText(r), 11) + 10));
  const width = Math.max(options.width ?? 640, left + 280 + rightColumn);
  const right = width - rightColumn;
  const bottom = top + options.rows.length * rowHeight;
  const height = bottom + 50;
  const finite = options.rows.flatMap((r) => [r.lower, r.upper, r.estimate]).filter((v) => Number.isFinite(v) && (!log || v > 0));
  const lo = Math.min(reference, ...finite);
  const hi = Math.max(reference, ...finite);
  const ticks = log ? ratioTicks(lo, hi) : niceTicks(lo, hi);
  const t = log ? Math.log : (v: number) => v;
  const scale = linear([t(ticks[0]), t(ticks[ticks.length - 1])], [left, right]);
  const x = (v: number) => scale(t(Math.min(Math.max(v, ticks[0]), ticks[ticks.length - 1])));
  const body: string[] = [
    ...xAxis({ ticks, x, y0: top - 6, y1: bottom, title: options.xLabel }),
    element("line", { x1: x(reference), x2: x(reference), y1: top - 6, y2: bottom, stroke: MUTED, "stroke-dasharray": "4 3" }),
    label(right + 10, top - 10, "estimate (95% CI)", { fill: MUTED, "font-size": 11 }),
  ];
  options.rows.forEach((r, i) => {
    const cy = top + i * rowHeight + rowHeight / 2;
    body.push(label(left - 8, cy + 4, r.label, { "text-anchor": "end" }));
    body.push(element("line", { x1: x(r.lower), x2: x(r.upper), y1: cy, y2: cy, stroke: INK, "stroke-width": 1.5 }));
    body.push(element("rect", { x: x(r.estimate) - 4, y: cy - 4, width: 8, height: 8, fill: PALETTE[0] }));
    body.push(label(right + 10, cy + 4, estimateText(r), { "font-size": 11 }));
  });
  return svgDocument({ width, height, title: options.title, subtitle: options.subtitle, description: options.description }, body);
}

function squareFrame(title: string, xLabel: string, yLabel: string, max: number, description?: string): { x: (v: number) => number; y: (v: number) => number; head: string[]; wrap: (body: string[]) => string } {
  const size = 300;
  const [left, top] = [64, 44];
  const ticks = niceTicks(0, max, 5);
  const x = linear([0, ticks[ticks.length - 1]], [left, left + size]);
  const y = linear([0, ticks[ticks.length - 1]], [top + size, top]);
  const head = [
    ...yAxis({ ticks, y, x0: left, x1: left + size, title: yLabel }),
    ...xAxis({ ticks, x, y0: top, y1: top + size, title: xLabel }),
    element("line", { x1: x(0), y1: y(0), x2: x(ticks[ticks.length - 1]), y2: y(ticks[ticks.length - 1]), stroke: MUTED, "stroke-dasharray": "4 3" }),
  ];
  return { x, y, head, wrap: (body) => svgDocument({ width: left + size + 250, height: top + size + 50, title, description }, body) };
}

/** ROC curve with the chance diagonal; `auc` is printed when given. */
export function rocCurve(options: { title: string; points: ReadonlyArray<{ fpr: number; tpr: number }>; auc?: number; description?: string }): string {
  const frame = squareFrame(options.title, "1 − specificity (false-positive rate)", "sensitivity", 1, options.description);
  const points = [{ fpr: 0, tpr: 0 }, ...options.points, { fpr: 1, tpr: 1 }].sort((a, b) => a.fpr - b.fpr || a.tpr - b.tpr);
  const body = [
    ...frame.head,
    element("polyline", { points: points.map((p) => `${frame.x(p.fpr).toFixed(1)},${frame.y(p.tpr).toFixed(1)}`).join(" "), fill: "none", stroke: PALETTE[0], "stroke-width": 2 }),
  ];
  if (options.auc !== undefined) body.push(label(frame.x(1) + 14, frame.y(0.5), `AUC ${formatValue(options.auc, 3)}`, { "font-size": 14, "font-weight": 600 }));
  return frame.wrap(body);
}

/** Observed against predicted risk per risk group; a well-calibrated model sits on the diagonal. */
export function calibrationPlot(options: { title: string; groups: ReadonlyArray<{ label: string; predicted: number; observed: number; n?: number }>; description?: string }): string {
  const max = Math.min(1, Math.max(0.1, ...options.groups.flatMap((g) => [g.predicted, g.observed]).filter(Number.isFinite)) * 1.1);
  const frame = squareFrame(options.title, "predicted risk", "observed proportion", max, options.description);
  const body = [...frame.head];
  const largest = Math.max(1, ...options.groups.map((g) => g.n ?? 1));
  options.groups.forEach((g, i) => {
    if (!Number.isFinite(g.predicted) || !Number.isFinite(g.observed)) return;
    const r = g.n !== undefined ? 4 + 8 * Math.sqrt(g.n / largest) : 6;
    body.push(element("circle", { cx: frame.x(g.predicted), cy: frame.y(g.observed), r, fill: PALETTE[i % PALETTE.length], "fill-opacity": 0.8 }));
    body.push(label(frame.x(g.predicted) + r + 3, frame.y(g.observed) + 4, g.label, { "font-size": 11 }));
  });
  options.groups.forEach((g, i) => {
    const x = frame.x(max) + 24;
    body.push(label(x, 70 + i * 36, `${g.label}${g.n !== undefined ? ` (n ${g.n})` : ""}`, { "font-size": 11 }));
    body.push(label(x, 84 + i * 36, `observed ${formatValue(g.observed, 3)} · predicted ${formatValue(g.predicted, 3)}`, { "font-size": 11, fill: MUTED }));
  });
  return frame.wrap(body);
}

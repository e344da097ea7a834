/**
 * From werkplaats results and models to figures: the adapters between shapes.ts and svg.ts.
 */
import { Figure } from "./figure.js";
import { formatValue } from "./markup.js";
import { type CountLike, evaluationView, isCountLike, isMeanLike, type MeanLike, modelView, refusalOf, suppressionOf } from "./shapes.js";
import { type Bar, barChart, calibrationPlot, forestPlot, type HistogramBin, histogram, rocCurve } from "./svg.js";

function groupLabel(group: Record<string, string>, columns: readonly string[]): string {
  return columns.map((c) => group[c]).join(" · ") || "all";
}

/** A level for a legend or axis; a bare "true"/"false" says nothing without its column. */
function levelLabel(column: string, level: string): string {
  return level === "true" || level === "false" ? `${column} = ${level}` : level;
}

function seriesLabel(group: Record<string, string>, columns: readonly string[]): string {
  return columns.map((c) => levelLabel(c, group[c])).join(" · ");
}

function whereNote(r: { dataset: string; where?: string; stations: string[] }): string {
  return `${r.dataset}${r.where ? ` where ${r.where}` : ""} · ${r.stations.length} stations`;
}

/**
 * Counts as bars: one bar per level of the first group-by column, side by side per level of
 * the second (if any). Withheld cells are drawn as marked empty bars.
 */
export function countChart(result: CountLike, options: { title?: string } = {}): Figure {
  const [main, second] = result.by;
  const bars: Bar[] = result.cells.map((c) => ({
    label: main === undefined ? "all" : levelLabel(main, c.group[main]),
    series: second === undefined ? undefined : seriesLabel(c.group, result.by.slice(1)),
    value: suppressionOf(c) !== undefined ? null : c.count,
  }));
  const title = options.title ?? `Count${result.by.length ? ` by ${result.by.join(" and ")}` : ""}`;
  const withheld = result.cells.filter((c) => suppressionOf(c) !== undefined).length;
  const summary =
    result.cells.map((c) => `${groupLabel(c.group, result.by)}: ${suppressionOf(c) !== undefined ? "suppressed" : c.count}`).join(", ") +
    (withheld ? ` (${withheld} suppressed)` : "");
  return new Figure({ title, svg: barChart({ title, subtitle: whereNote(result), bars, valueLabel: "count", description: summary }), summary });
}

/** Means as bars with a 95% interval (mean ± 1.96 sd/√n) as whiskers. */
export function meanChart(result: MeanLike, options: { title?: string } = {}): Figure {
  const [main, second] = result.by;
  const bars: Bar[] = result.cells.map((c) => {
    const ok = suppressionOf(c) === undefined && c.mean !== null && Number.isFinite(c.mean);
    const half = ok && c.sd !== null && c.n !== null && c.n > 1 && Number.isFinite(c.sd) ? (1.96 * c.sd) / Math.sqrt(c.n) : undefined;
    return {
      label: main === undefined ? "all" : levelLabel(main, c.group[main]),
      series: second === undefined ? undefined : seriesLabel(c.group, result.by.slice(1)),
      value: ok ? c.mean : null,
      lower: half !== undefined ? c.mean! - half : undefined,
      upper: half !== undefined ? c.mean! + half : undefined,
    };
  });
  const title = options.title ?? `Mean ${result.column}${result.by.length ? ` by ${result.by.join(" and ")}` : ""}`;
  const summary = result.cells.map((c) => `${groupLabel(c.group, result.by)}: ${suppressionOf(c) !== undefined ? "suppressed" : formatValue(c.mean, 2)}`).join(", ");
  return new Figure({ title, svg: barChart({ title, subtitle: whereNote(result), bars, valueLabel: `mean ${result.column} (95% CI)`, description: summary }), summary });
}

/** A histogram from bins (see countBins for bins counted across the federation). */
export function histogramChart(options: { title: string; subtitle?: string; bins: readonly HistogramBin[]; xLabel?: string }): Figure {
  const summary = options.bins.map((b) => `[${b.from}, ${b.to}): ${b.count ?? "suppressed"}`).join(", ");
  return new Figure({ title: options.title, svg: histogram({ ...options, description: summary }), summary });
}

/**
 * A forest plot of a model's coefficients with 95% CIs, without the intercept. For logistic and
 * Poisson models the default shows odds or rate ratios on a log axis.
 */
export function coefficientPlot(model: unknown, options: { title?: string; exponentiate?: boolean } = {}): Figure {
  const view = modelView(model);
  if (view === undefined) throw new TypeError("coefficientPlot needs a fitted model with coefficients");
  const exp = options.exponentiate ?? view.ratioName !== undefined;
  const f = exp ? Math.exp : (v: number) => v;
  const rows = view.coefficients
    .filter((c) => c.term !== "(Intercept)" && c.lower !== undefined && c.upper !== undefined)
    .map((c) => ({ label: c.term, estimate: f(c.estimate), lower: f(c.lower!), upper: f(c.upper!) }));
  const what = exp ? (view.ratioName ?? "exp(coefficient)") : "coefficient";
  const title = options.title ?? `${what[0].toUpperCase()}${what.slice(1)}s with 95% CI`;
  const summary = rows.map((r) => `${r.label}: ${formatValue(r.estimate, 2)} (${formatValue(r.lower, 2)}–${formatValue(r.upper, 2)})`).join("; ");
  return new Figure({ title, svg: forestPlot({ title, rows, logScale: exp, xLabel: `${what} (95% CI)${exp ? ", log scale" : ""}`, description: summary }), summary });
}

/** The ROC curve of a model evaluation (needs ROC points; the AUC alone gives no curve). */
export function rocChart(evaluation: unknown, options: { title?: string } = {}): Figure {
  const view = evaluationView(evaluation);
  if (view?.roc === undefined) throw new TypeError("rocChart needs an evaluation with ROC points");
  const title = options.title ?? "ROC curve";
  const summary = `AUC ${view.auc !== undefined ? formatValue(view.auc, 3) : "not given"}, ${view.roc.length} thresholds`;
  return new Figure({ title, svg: rocCurve({ title, points: view.roc, auc: view.auc, description: summary }), summary });
}

/** Observed against predicted risk per risk group (low / medium / high). */
export function calibrationChart(evaluation: unknown, options: { title?: string } = {}): Figure {
  const view = evaluationView(evaluation);
  if (view?.calibration === undefined) throw new TypeError("calibrationChart needs an evaluation with calibration groups");
  const title = options.title ?? "Calibration by risk group";
  const summary = view.calibration.map((g) => `${g.label}: observed ${formatValue(g.observed, 3)}, predicted ${formatValue(g.predicted, 3)}`).join("; ");
  return new Figure({ title, svg: calibrationPlot({ title, groups: view.calibration, description: summary }), summary });
}

/** The natural chart of anything werkplaats returns. */
export function plot(x: unknown, options: { title?: string } = {}): Figure | Figure[] {
  if (isCountLike(x)) return countChart(x, options);
  if (isMeanLike(x)) return meanChart(x, options);
  if (modelView(x) !== undefined) return coefficientPlot(x, options);
  const evaluation = evaluationView(x);
  if (evaluation !== undefined) {
    return [...(evaluation.roc ? [rocChart(x)] : []), ...(evaluation.calibration ? [calibrationChart(x)] : [])];
  }
  throw new TypeError("plot: nothing to draw for this value (a count, mean, model or evaluation is needed)");
}

/** The part of a dataset query countBins uses (`fed.dataset(name)` or a `.where(…)` of it). */
export interface CountableQuery {
  where(expression: string): CountableQuery;
  count(): Promise<CountLike>;
  readonly dataset?: string;
  readonly whereText?: string;
}

/** One count, or the station's reason for refusing it (a refusal is a withheld cell). */
async function countOrReason(query: CountableQuery): Promise<{ result?: CountLike; reason?: string }> {
  try {
    return { result: await query.count() };
  } catch (err) {
    const reason = refusalOf(err);
    if (reason === undefined) throw err;
    return { reason };
  }
}

/**
 * A federated histogram: one count per bin `[edge_i, edge_i+1)` (the last bin includes its
 * upper edge). Each bin is its own job, so each is protected by the stations' minimum subset
 * size; a bin a station refuses is shown as suppressed.
 */
export async function countBins(query: CountableQuery, column: string, edges: readonly number[]): Promise<HistogramBin[]> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(column)) throw new TypeError(`countBins: "${column}" is not a column name`);
  const bins: HistogramBin[] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    const [from, to] = [edges[i], edges[i + 1]];
    if (!Number.isFinite(from) || !Number.isFinite(to) || !(to > from)) throw new TypeError("countBins: edges must be finite and increasing");
    const last = i + 2 === edges.length;
    const { result, reason } = await countOrReason(query.where(`${column} >= ${from} and ${column} ${last ? "<=" : "<"} ${to}`));
    const cell = result?.cells[0];
    const withheld = reason ?? (cell === undefined ? "no answer" : suppressionOf(cell));
    bins.push({ from, to, count: withheld !== undefined ? null : cell!.count, ...(withheld !== undefined ? { reason: withheld } : {}) });
  }
  return bins;
}


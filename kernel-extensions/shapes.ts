/**
 * What the display code reads from werkplaats results and models, by shape rather than by
 * class: a notebook may hold results from another copy of the SDK (a project's own
 * node_modules), and `instanceof` would fail across copies. Fields that are still arriving
 * (per-cell suppression, GLM models and their evaluation) are optional and read tolerantly.
 */

export interface CellBase {
  group: Record<string, string>;
  /** True (or the reason) when the stations withheld this cell. */
  suppressed?: boolean | string;
  reason?: string;
  suppressionReason?: string;
}

export interface CountLike {
  kind: "count";
  dataset: string;
  where?: string;
  by: string[];
  cells: Array<CellBase & { count: number | null }>;
  stations: string[];
}

export interface MeanLike {
  kind: "mean";
  dataset: string;
  column: string;
  where?: string;
  by: string[];
  cells: Array<CellBase & { n: number | null; mean: number | null; sd: number | null }>;
  stations: string[];
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null;
}

export function isCountLike(x: unknown): x is CountLike {
  return isObject(x) && x.kind === "count" && Array.isArray(x.cells) && Array.isArray(x.by);
}

export function isMeanLike(x: unknown): x is MeanLike {
  return isObject(x) && x.kind === "mean" && Array.isArray(x.cells) && Array.isArray(x.by);
}

/**
 * The reason when a station refused a question under its disclosure policy (a subset or cell
 * below its minimum size, too many levels …), or undefined for any other error. Refusals come as
 * PolicyRefused, or as StationError with remote code POLICY_REFUSED.
 */
export function refusalOf(err: unknown): string | undefined {
  if (!isObject(err) || typeof err.message !== "string") return undefined;
  return err.code === "POLICY_REFUSED" || err.remoteCode === "POLICY_REFUSED" ? err.message : undefined;
}

/** Why a cell was withheld, or undefined when it was not. */
export function suppressionOf(cell: CellBase): string | undefined {
  if (!cell.suppressed) return undefined;
  return cell.reason ?? cell.suppressionReason ?? (typeof cell.suppressed === "string" ? cell.suppressed : "withheld by a station's disclosure policy");
}

/** One row of a model's coefficient table, whatever the model object calls its fields. */
export interface CoefficientRow {
  term: string;
  estimate: number;
  se?: number;
  statistic?: number;
  p?: number;
  lower?: number;
  upper?: number;
}

export interface ModelView {
  title: string;
  family?: string;
  link?: string;
  /** Exponentiated coefficients are odds ratios (logit) or rate ratios (log). */
  ratioName?: "odds ratio" | "rate ratio";
  coefficients: CoefficientRow[];
  facts: Array<[string, string]>;
}

function num(o: Record<string, unknown>, ...names: string[]): number | undefined {
  for (const n of names) {
    const v = o[n];
    if (typeof v === "number") return v;
  }
  return undefined;
}

function str(o: Record<string, unknown>, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = o[n];
    if (typeof v === "string") return v;
    if (isObject(v) && typeof v.name === "string") return v.name;
  }
  return undefined;
}

function coefficientRows(raw: unknown): CoefficientRow[] | undefined {
  const list: unknown[] | undefined = Array.isArray(raw)
    ? raw
    : isObject(raw)
      ? Object.entries(raw).map(([term, v]) => (isObject(v) ? { term, ...v } : { term, estimate: v }))
      : undefined;
  if (list === undefined) return undefined;
  const rows: CoefficientRow[] = [];
  for (const item of list) {
    if (!isObject(item)) return undefined;
    const term = str(item, "term", "name", "label");
    const estimate = num(item, "estimate", "coef", "coefficient", "beta", "value");
    if (term === undefined || estimate === undefined) return undefined;
    const ci = Array.isArray(item.ci) ? item.ci : Array.isArray(item.confInt) ? item.confInt : undefined;
    rows.push({
      term,
      estimate,
      se: num(item, "std_error", "se", "stdError", "standardError", "bse"),
      statistic: num(item, "z", "zValue", "statistic", "t"),
      p: num(item, "p_value", "p", "pValue", "pvalue"),
      lower: num(item, "ci_low", "lower", "ciLower", "low") ?? (typeof ci?.[0] === "number" ? ci[0] : undefined),
      upper: num(item, "ci_high", "upper", "ciUpper", "high") ?? (typeof ci?.[1] === "number" ? ci[1] : undefined),
    });
  }
  return rows;
}

/** Read a fitted model (the SDK's GLM, or its toJSON()) into what a table and a plot need. */
export function modelView(x: unknown): ModelView | undefined {
  if (!isObject(x)) return undefined;
  const json = typeof x.toJSON === "function" ? (x.toJSON as () => unknown)() : x;
  for (const source of [x, json]) {
    if (!isObject(source)) continue;
    const coefficients = coefficientRows(source.coefficients ?? source.params ?? source.coef);
    if (coefficients === undefined || coefficients.length === 0) continue;
    const merged: Record<string, unknown> = { ...(isObject(json) ? json : {}), ...source };
    const family = str(merged, "family");
    const link = str(merged, "link") ?? (isObject(merged.family) ? str(merged.family, "link") : undefined);
    const ratioName = link === "logit" || family === "binomial" ? "odds ratio" : link === "log" || family === "poisson" ? "rate ratio" : undefined;
    const facts: Array<[string, string]> = [];
    const fact = (label: string, value: unknown) => {
      if (typeof value === "number") facts.push([label, Number.isInteger(value) ? String(value) : value.toFixed(3)]);
      else if (typeof value === "string" || typeof value === "boolean") facts.push([label, String(value)]);
      else if (Array.isArray(value) && value.every((v) => typeof v === "string")) facts.push([label, value.join(", ")]);
    };
    fact("observations", merged.n ?? merged.nobs ?? merged.observations);
    fact("iterations", merged.iterations);
    fact("converged", merged.converged);
    fact("deviance", merged.deviance);
    fact("null deviance", merged.nullDeviance ?? merged.null_deviance);
    fact("AIC", merged.aic ?? merged.AIC);
    fact("log-likelihood", merged.logLikelihood ?? merged.loglik);
    if (Array.isArray(merged.warnings) && merged.warnings.length > 0) fact("warnings", merged.warnings);
    fact("stations", merged.stations);
    const formula = str(merged, "formula");
    return {
      title: `${family ?? "generalised linear"} model${formula ? `: ${formula}` : ""}`,
      family,
      link,
      ratioName,
      coefficients,
      facts,
    };
  }
  return undefined;
}

export interface RocPoint {
  fpr: number;
  tpr: number;
}

export interface CalibrationGroup {
  label: string;
  predicted: number;
  observed: number;
  n?: number;
}

export interface EvaluationView {
  auc?: number;
  /** Further one-number summaries (Brier score, Hosmer–Lemeshow …), label → value. */
  facts: Array<[string, string]>;
  roc?: RocPoint[];
  calibration?: CalibrationGroup[];
}

/** Read a model evaluation (AUC, ROC points, calibration by risk group). */
export function evaluationView(x: unknown): EvaluationView | undefined {
  if (!isObject(x)) return undefined;
  const auc = num(x, "auc", "AUC");
  const rocRaw = Array.isArray(x.roc) ? x.roc : isObject(x.roc) && Array.isArray(x.roc.points) ? x.roc.points : undefined;
  const roc = rocRaw
    ?.filter(isObject)
    .map((p) => ({ fpr: num(p, "fpr", "falsePositiveRate", "x") ?? NaN, tpr: num(p, "tpr", "truePositiveRate", "sensitivity", "y") ?? NaN }))
    .filter((p) => Number.isFinite(p.fpr) && Number.isFinite(p.tpr));
  const calRaw = Array.isArray(x.riskGroups) ? x.riskGroups : Array.isArray(x.calibration) ? x.calibration : undefined;
  const calibration = calRaw?.filter(isObject).map((g, i) => ({
    label: str(g, "label", "group", "riskGroup", "name") ?? `group ${i + 1}`,
    predicted: num(g, "expectedRate", "predicted", "meanPredicted", "predictedRate") ?? NaN,
    observed: num(g, "observedRate", "observed", "rate") ?? NaN,
    n: num(g, "n", "count"),
  }));
  if (auc === undefined && roc === undefined && calibration === undefined) return undefined;
  const facts: Array<[string, string]> = [];
  const n = num(x, "n");
  const events = num(x, "events");
  if (n !== undefined) facts.push(["rows", `${n}${events !== undefined ? ` (${events} events)` : ""}`]);
  const brier = num(x, "brier");
  if (brier !== undefined) facts.push(["Brier score", brier.toFixed(4)]);
  const oe = num(x, "observedOverExpected");
  if (oe !== undefined) facts.push(["observed / expected", oe.toFixed(3)]);
  const hl = isObject(x.hosmerLemeshow) ? x.hosmerLemeshow : undefined;
  if (hl) {
    const stat = num(hl, "statistic");
    const df = num(hl, "df");
    const p = num(hl, "p_value", "p");
    if (stat !== undefined && p !== undefined) facts.push(["Hosmer–Lemeshow", `χ² ${stat.toFixed(2)}${df !== undefined ? ` on ${df} df` : ""}, p ${p < 0.001 ? "<0.001" : p.toFixed(3)}`]);
  }
  return { auc, roc, calibration, facts };
}

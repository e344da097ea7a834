import type { Expr } from "./expression.js";

/**
 * A group-by column with the levels the coordinator agreed for the whole federation, so that
 * every station lays out its vector the same way and the vectors add up cell by cell.
 */
export interface GroupBy {
  column: string;
  levels: string[];
  /**
   * One more cell after `levels` for the rows whose value is missing (R's table(useNA = …)):
   * without it those rows fall out of every cell and the cells no longer add up to the rows
   * selected. Absent (false) keeps the older layout, for a coordinator that does not send it.
   */
  missing?: boolean;
}

/** The label of a group-by's missing-value cell, in results and refusals. */
export const MISSING_LEVEL = "(missing)";

/** Cells one group-by column spans: its levels, and the missing-value cell when it has one. */
export function levelCount(g: GroupBy): number {
  return g.levels.length + (g.missing ? 1 : 0);
}

/** The label of each of a group-by's cells, in layout order: its levels, then "(missing)". */
export function levelLabels(g: GroupBy): string[] {
  return g.missing ? [...g.levels, MISSING_LEVEL] : [...g.levels];
}

/** GLM families and links as named on the wire (R's names). */
export type FamilyName = "binomial" | "poisson" | "gaussian";
export type LinkName = "logit" | "log" | "identity";

export type Computation =
  /** Rows per cell of the group-by (row-major over `by`; one cell when `by` is empty). */
  | { kind: "count"; by: GroupBy[] }
  /**
   * Per cell: [n, Σ(x − shift), Σ(x − shift)²] of the non-missing values of `column`. All three
   * are plain sums, so they add across stations; a shift near the mean (agreed for the whole
   * federation) avoids cancellation in the variance. Absent: 0.
   */
  | { kind: "moments"; column: string; by: GroupBy[]; shift?: number }
  /**
   * Per cell of `by`, HISTOGRAM_EXTRA + edges.length − 1 counts of the non-missing values of
   * `column`: [below edges[0], bin 0, …, bin m−2, above edges[m−1], missing] for m edges
   * (strictly increasing). Bins are half-open [e_k, e_k+1) except the last, [e_m−2, e_m−1],
   * as in numpy and R's hist(right = FALSE, include.lowest = TRUE).
   */
  | { kind: "histogram"; column: string; edges: number[]; by: GroupBy[] }
  /**
   * A fine histogram for quantiles: the histogram layout with `bins` equal-width bins between
   * `lower` and `upper` (edges lower + k·(upper − lower)/bins). A kind of its own so that a
   * policy can allow coarse histograms without allowing fine ones.
   */
  | {
      kind: "quantile";
      column: string;
      lower: number;
      upper: number;
      bins: number;
      by: GroupBy[];
      /**
       * The probabilities whose quantiles the stations compute and release (the fine bins are
       * never released: common/release-layout.ts). Absent: the quartiles.
       */
      probabilities?: number[];
    }
  /**
   * An indicator set: for each indicator in turn, per cell of its `by`, [denominator,
   * numerator] (INDICATOR_VALUES_PER_CELL), concatenated in the order given. Denominator: the
   * job's rows that match `denominator` (all of them when absent) and on which `numerator` is
   * known (true or false under three-valued logic, so a missing value leaves a row out rather
   * than counting it as "no"); numerator: those on which `numerator` is true.
   */
  | { kind: "indicators"; indicators: IndicatorSpec[] }
  /**
   * Score, information (upper triangle) and log-likelihood of a GLM at `beta`; the station parses
   * `formula` with the same parser as the SDK and builds dummies from `levels`.
   */
  | {
      kind: "glm";
      formula: string;
      family: FamilyName;
      link: LinkName;
      levels: Record<string, string[]>;
      beta: number[];
      weights?: string;
    }
  /**
   * Federated evaluation of a binomial GLM at `beta`: per-bin event counts over a fine grid of
   * predicted probability, Brier score sums and observed/expected events per risk group (layout in
   * station-daemon/compute/glm-evaluate.ts). `bins` cells equally wide on the logit scale between
   * logit −10 and 10 (the end cells open); `riskCutpoints` ascending probabilities splitting the
   * risk groups (two cut-points give low / medium / high).
   */
  | {
      kind: "glm_evaluate";
      formula: string;
      family: FamilyName;
      link: LinkName;
      levels: Record<string, string[]>;
      beta: number[];
      weights?: string;
      bins: number;
      riskCutpoints: number[];
    };

export interface IndicatorSpec {
  numerator: Expr;
  denominator?: Expr;
  by: GroupBy[];
}

/** Counts per cell of a histogram besides its bins: below, above and missing. */
export const HISTOGRAM_EXTRA = 3;
/** [denominator, numerator] per cell of an indicator. */
export const INDICATOR_VALUES_PER_CELL = 2;

/** Values per cell of a histogram with `edges` edges: below, the bins, above, missing. */
export function histogramWidth(edges: number): number {
  return edges - 1 + HISTOGRAM_EXTRA;
}

/** The edges of a quantile job's fine histogram: `bins` + 1 numbers from lower to upper. */
export function quantileEdges(c: { lower: number; upper: number; bins: number }): number[] {
  const width = (c.upper - c.lower) / c.bins;
  return Array.from({ length: c.bins + 1 }, (_, k) => (k === c.bins ? c.upper : c.lower + k * width));
}

/** Length of an indicator set's vector. */
export function indicatorsLength(indicators: readonly IndicatorSpec[]): number {
  return indicators.reduce((n, i) => n + INDICATOR_VALUES_PER_CELL * cellCount(i.by), 0);
}

/** Length of the station vector of a descriptive computation (not the GLM kinds). */
export function descriptiveLength(c: Computation): number {
  switch (c.kind) {
    case "count":
      return cellCount(c.by);
    case "moments":
      return 3 * cellCount(c.by);
    case "histogram":
      return histogramWidth(c.edges.length) * cellCount(c.by);
    case "quantile":
      return histogramWidth(c.bins + 1) * cellCount(c.by);
    case "indicators":
      return indicatorsLength(c.indicators);
    default:
      throw new Error(`"${c.kind}" is not a descriptive computation`);
  }
}

export interface JobSpec {
  dataset: string;
  where?: Expr;
  computation: Computation;
}

/** Number of cells a group-by spans: the product of its level counts (missing-value cells included). */
export function cellCount(by: readonly GroupBy[]): number {
  return by.reduce((n, g) => n * levelCount(g), 1);
}

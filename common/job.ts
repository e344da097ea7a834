import type { Expr } from "./expression.js";

/**
 * A group-by column with the levels the coordinator agreed for the whole federation, so that
 * every station lays out its vector the same way and the vectors add up cell by cell.
 */
export interface GroupBy {
  column: string;
  levels: string[];
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

export interface JobSpec {
  dataset: string;
  where?: Expr;
  computation: Computation;
}

/** Number of cells a group-by spans: the product of its level counts. */
export function cellCount(by: readonly GroupBy[]): number {
  return by.reduce((n, g) => n * g.levels.length, 1);
}

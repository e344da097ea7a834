/**
 * The row sets a job releases a statistic of, for the station's differencing record
 * (governance/released-rows.ts): any two of them that differ by a few rows would, subtracted,
 * give the statistic of those few. Per computation kind:
 *
 * - count, moments, histogram, quantile: the rows its where-expression selects;
 * - indicators: per indicator, its denominator's rows and its numerator's rows (over all cells);
 * - glm, glm_evaluate: the model's rows (complete cases with a non-zero prior weight) — its
 *   where-expression's rows are not released as such, so an honest model over rows with a few
 *   missing values is not mistaken for differencing against its filter.
 *
 * A numerator is compared with every other set but its own denominator: that difference is the
 * non-events, a count the cell rules judge, not a difference of two releases.
 *
 * Per-cell sets of grouped tables are not recorded, by measurement: compared station by station
 * they refuse honest work (a station whose women under 70 are few refuses `where sex == "F"`
 * after `where age >= 70` by sex, although the federation's difference is large), and the
 * secure sum hides a small difference at one station among the others'. Nor are histogram,
 * quantile or evaluation bins. governance/README.md lists what this leaves open.
 */
import type { Expr } from "../../common/expression.js";
import type { Computation } from "../../common/job.js";
import type { Table } from "../data/table.js";
import { cellOfRows } from "./descriptive.js";
import type { GlmDesign } from "./glm-design.js";

export interface RowSetsOptions {
  table: Table;
  /** The where-expression's rows. */
  rows: Uint8Array;
  computation: Computation;
  /** Evaluates a filter (compute/filter.ts evaluateWhere). */
  evaluate: (expr: Expr) => Uint8Array;
  /** A model job's design, for its rows. */
  design?: GlmDesign;
}

/** A released row set; `partOf`: the index of the set it lies within by design (a numerator's denominator). */
export interface ReleasedRowSet {
  mask: Uint8Array;
  partOf?: number;
}

export function releasedRowSets(options: RowSetsOptions): ReleasedRowSet[] {
  const { table, rows, computation: c } = options;
  switch (c.kind) {
    case "count":
    case "moments":
    case "histogram":
    case "quantile":
      return [{ mask: rows }];
    case "indicators": {
      const sets: ReleasedRowSet[] = [];
      for (const indicator of c.indicators) {
        const isTrue = options.evaluate(indicator.numerator);
        const isFalse = options.evaluate({ kind: "not", arg: indicator.numerator });
        const inDenominator = indicator.denominator ? options.evaluate(indicator.denominator) : undefined;
        const selected = new Uint8Array(table.rowCount);
        for (let r = 0; r < selected.length; r++) {
          selected[r] = rows[r] === 1 && (inDenominator === undefined || inDenominator[r] === 1) && (isTrue[r] === 1 || isFalse[r] === 1) ? 1 : 0;
        }
        // Rows in some cell of the indicator's group-by (a missing group-by value leaves a row out).
        const cell = cellOfRows({ table, rows: selected, by: indicator.by });
        const denominator = new Uint8Array(table.rowCount);
        const numerator = new Uint8Array(table.rowCount);
        for (let r = 0; r < cell.length; r++) {
          if (cell[r] < 0) continue;
          denominator[r] = 1;
          if (isTrue[r] === 1) numerator[r] = 1;
        }
        sets.push({ mask: denominator });
        sets.push({ mask: numerator, partOf: sets.length - 1 });
      }
      return sets;
    }
    case "glm":
    case "glm_evaluate": {
      const d = options.design;
      if (!d) return [];
      const used = new Uint8Array(table.rowCount);
      for (let r = 0; r < d.n; r++) if (!d.weights || d.weights[r] !== 0) used[d.tableRows[r]] = 1;
      return [{ mask: used }];
    }
  }
}

/**
 * The row sets a job releases a statistic of, for the station's differencing record
 * (governance/released-rows.ts): any two of them that differ by a few rows would, subtracted,
 * give the statistic of those few. Per computation kind:
 *
 * - count, histogram, quantile: each group-by cell's rows (all of a cell's rows are counted
 *   somewhere in it, missing values included); without a group-by, the where-expression's rows;
 * - moments: each cell's rows with a value (n, Σx and Σx² are over those);
 * - indicators: per indicator and cell, its denominator's rows and its numerator's rows;
 * - glm, glm_evaluate: the model's rows (complete cases with a non-zero prior weight).
 *
 * Only sets whose statistic is released count: the where-expression's rows of a model or of a
 * grouped table are not (rows with a missing value fall out of every released sum), so an honest
 * model over rows with a few missing values is not mistaken for differencing against its filter.
 * A numerator is compared with every other set but its own denominator: that difference is the
 * cell's non-events, a count the cell rules judge, not a difference of two releases.
 *
 * Not recorded (see governance/README.md, what remains possible): the bins of a histogram or
 * quantile job and the probability bins and risk groups of an evaluation, which are many and
 * small by design.
 */
import type { Expr } from "../../common/expression.js";
import { cellCount, type Computation } from "../../common/job.js";
import type { Table } from "../data/table.js";
import { cellOfRows } from "./descriptive.js";
import type { GlmDesign } from "./glm-design.js";

/** One mask per non-empty cell of `cell` (cell indices as cellOfRows gives them). */
function cellMasks(cell: Int32Array, cells: number, keep?: (row: number) => boolean): Uint8Array[] {
  const masks = new Map<number, Uint8Array>();
  for (let r = 0; r < cell.length; r++) {
    const c = cell[r];
    if (c < 0 || c >= cells || (keep && !keep(r))) continue;
    let m = masks.get(c);
    if (!m) masks.set(c, (m = new Uint8Array(cell.length)));
    m[r] = 1;
  }
  return [...masks.values()];
}

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
  const sets: ReleasedRowSet[] = [];
  const add = (masks: Uint8Array[]) => sets.push(...masks.map((mask) => ({ mask })));
  switch (c.kind) {
    case "count":
    case "histogram":
    case "quantile":
      add(c.by.length > 0 ? cellMasks(cellOfRows({ table, rows, by: c.by }), cellCount(c.by)) : [rows]);
      break;
    case "moments": {
      const column = table.columns.get(c.column);
      const values = column && column.kind !== "categorical" ? column.values : undefined;
      add(cellMasks(cellOfRows({ table, rows, by: c.by }), cellCount(c.by), (r) => values !== undefined && values[r] === values[r]));
      break;
    }
    case "indicators":
      for (const indicator of c.indicators) {
        const isTrue = options.evaluate(indicator.numerator);
        const isFalse = options.evaluate({ kind: "not", arg: indicator.numerator });
        const inDenominator = indicator.denominator ? options.evaluate(indicator.denominator) : undefined;
        const selected = new Uint8Array(table.rowCount);
        for (let r = 0; r < selected.length; r++) {
          selected[r] = rows[r] === 1 && (inDenominator === undefined || inDenominator[r] === 1) && (isTrue[r] === 1 || isFalse[r] === 1) ? 1 : 0;
        }
        const cell = cellOfRows({ table, rows: selected, by: indicator.by });
        const cells = cellCount(indicator.by);
        for (let k = 0; k < cells; k++) {
          const denominator = cellMasks(cell, cells, (r) => cell[r] === k);
          if (denominator.length === 0) continue;
          sets.push({ mask: denominator[0] });
          const numerator = cellMasks(cell, cells, (r) => cell[r] === k && isTrue[r] === 1);
          if (numerator.length > 0) sets.push({ mask: numerator[0], partOf: sets.length - 1 });
        }
      }
      break;
    case "glm":
    case "glm_evaluate": {
      const d = options.design;
      if (d) {
        const used = new Uint8Array(table.rowCount);
        for (let r = 0; r < d.n; r++) if (!d.weights || d.weights[r] !== 0) used[d.tableRows[r]] = 1;
        sets.push({ mask: used });
      }
      break;
    }
  }
  return sets;
}

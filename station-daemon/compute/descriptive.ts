/**
 * Descriptive compute kernels: counts and moments per cell of a group-by. They know nothing of
 * masking, policy or networks; each returns a Float64Array in a layout that every station and the
 * coordinator agree on, so that the secure-aggregation layer can add the vectors cell by cell.
 *
 * Cells are row-major over `by`: the first GroupBy varies slowest, so with by = [sex (F, M),
 * quintile (1..5)] cell 0 is (F, 1), cell 4 is (F, 5) and cell 5 is (M, 1). No group-by is one
 * cell.
 *
 * Grouping (pinned by test/descriptive-kernels.test.ts):
 * - A row with a missing value in a group-by column falls in that column's missing-value cell,
 *   the one after its listed levels, when the GroupBy has `missing` (R's table(useNA = …)); the
 *   SDK always asks for it, so the cells add up to the rows selected. Without `missing` such a
 *   row is not counted (R's table() default, and this layout's older form).
 * - Categorical columns group by their levels. Every level the station's column holds must be
 *   among the GroupBy's levels, else BadInput: the coordinator did not list a level this station
 *   has, and silently dropping its rows would make the federation's total wrong. Listed levels the
 *   station lacks are simply zero.
 * - Boolean columns group by the levels "false" and "true", and the GroupBy must list both.
 * - Numeric columns group only if integer-valued; levels are the decimal text of the integer
 *   ("1".."5" for income_quintile, "-1", "0"; never "1.0" or "01").
 * - These checks look at *all* rows of the dataset, never only the rows the filter selected:
 *   otherwise whether a job fails would tell the coordinator whether some filtered, possibly tiny
 *   group holds a given level (say, one diagnosis among the over-100s of one postcode). The error
 *   names the column and, for categorical columns, the level (levels are released metadata),
 *   but never a numeric value.
 *
 * Moments: per cell [n, Σ(x − c), Σ(x − c)²] over the non-missing values of a numeric or boolean
 * column, for a shift c agreed by the coordinator (default 0, which gives the plain
 * [n, sum, sum of squares] of common/job.ts). Why the shift: the federation's variance is
 * (S2 − S1²/N)/(N − 1), which cancels catastrophically when the mean is large against the
 * spread (timestamps, incomes, lab values in µmol/L) — with c near the mean it is well
 * conditioned, and the smaller S2 also needs fewer bits in the fixed-point ring of secure
 * aggregation. Because every station uses the same c the three numbers stay plain sums and add
 * across stations. Within a station the sums are accumulated directly: Σ(x − c)² is a sum of
 * non-negative terms, so it carries only a small relative rounding error, and for integer and
 * boolean columns all three numbers are exact (the shifted sum of booleans is a count).
 *
 * Histograms: per cell [below, bin 0, …, bin m−2, above, missing] for m strictly increasing
 * edges; bins half-open [e_k, e_k+1) except the last, which is closed, as in numpy. "Missing"
 * counts the selected rows of the cell whose value is missing, so the cell's row count is the
 * sum of all m + 2 numbers. A quantile job is the same kernel with equal-width edges
 * (common/job.ts quantileEdges), computed by the same function on both sides so that bins agree
 * bit for bit.
 *
 * Indicator sets: for each indicator, per cell of its own group-by, [denominator, numerator]:
 * the selected rows that also match the indicator's denominator filter and on which its
 * numerator is known, and of those the rows on which the numerator is true. Each filter is
 * evaluated once over the whole table; the job's `where` selects the rows as for every kernel.
 */
import type { Expr } from "../../common/expression.js";
import { cellCount, type GroupBy, INDICATOR_VALUES_PER_CELL, type IndicatorSpec, histogramWidth, levelCount } from "../../common/job.js";
import { BadInput, UnknownColumn } from "../../common/errors.js";
import type { Column, Table } from "../data/table.js";

export interface CountCellsOptions {
  table: Table;
  /** 1 for each row the job's filter selected; length table.rowCount. */
  rows: Uint8Array;
  by: readonly GroupBy[];
}

export interface MomentCellsOptions extends CountCellsOptions {
  column: string;
  /** The shift c agreed by the coordinator for the whole federation; 0 when not given. */
  shift?: number;
}

/** Values per cell in momentCells' result: n, Σ(x − c), Σ(x − c)². */
export const MOMENTS_PER_CELL = 3;

function columnOf(table: Table, name: string): Column {
  const column = table.columns.get(name);
  if (column === undefined) throw new UnknownColumn(name, table.name, [...table.columns.keys()]);
  return column;
}

/**
 * Each level's index in `group.levels`, after checking the list the coordinator sent: not empty,
 * strings only, no level twice. The SQL kernels make the same checks with this function.
 */
export function levelPositions(group: GroupBy): Map<string, number> {
  const levels = group.levels;
  if (!Array.isArray(levels) || levels.length === 0) throw new BadInput(`group-by column "${group.column}" has no levels`);
  const position = new Map<string, number>();
  levels.forEach((level, i) => {
    if (typeof level !== "string") throw new BadInput(`group-by column "${group.column}" has a level that is not a string`);
    if (position.has(level)) throw new BadInput(`group-by column "${group.column}" lists the level "${level}" twice`);
    position.set(level, i);
  });
  return position;
}

/**
 * For each row, the index of its level in `group.levels`, or -1 when the value is missing.
 * Throws BadInput when any row of the dataset holds a value the levels do not list.
 */
function levelIndexOf(table: Table, group: GroupBy): Int32Array {
  const column = columnOf(table, group.column);
  const levels = group.levels;
  const position = levelPositions(group);
  const n = table.rowCount;
  const index = new Int32Array(n);
  switch (column.kind) {
    case "categorical": {
      const map = column.levels.map((level) => {
        const i = position.get(level);
        if (i === undefined) {
          throw new BadInput(
            `column "${column.name}" at this station has the level "${level}", which the group-by does not list ` +
              `(listed: ${levels.map((l) => `"${l}"`).join(", ")})`);
        }
        return i;
      });
      for (let r = 0; r < n; r++) {
        const c = column.codes[r];
        index[r] = c < 0 ? -1 : map[c];
      }
      return index;
    }
    case "boolean": {
      const f = position.get("false");
      const t = position.get("true");
      if (f === undefined || t === undefined || levels.length !== 2) {
        throw new BadInput(`column "${column.name}" is boolean; group it by the levels "false" and "true"`);
      }
      for (let r = 0; r < n; r++) {
        const v = column.values[r];
        index[r] = v !== v ? -1 : v === 1 ? t : f;
      }
      return index;
    }
    case "numeric": {
      const numeric = new Map<number, number>();
      for (const [level, i] of position) {
        const value = Number(level);
        if (!/^-?\d+$/.test(level) || !Number.isSafeInteger(value) || String(value) !== level) {
          throw new BadInput(
            `column "${column.name}" is numeric; its group-by levels must be integers in decimal text, not "${level}"`);
        }
        numeric.set(value, i);
      }
      for (let r = 0; r < n; r++) {
        const v = column.values[r];
        if (v !== v) {
          index[r] = -1;
          continue;
        }
        const i = numeric.get(v);
        if (i === undefined) {
          throw new BadInput(Number.isInteger(v)
            ? `column "${column.name}" at this station has a value the group-by levels do not list`
            : `column "${column.name}" is numeric but not integer-valued, so it cannot be grouped`);
        }
        index[r] = i;
      }
      return index;
    }
  }
}

/**
 * For each row, its cell, or -1 when the row is not selected or a group-by value is missing and
 * that group-by has no missing-value cell.
 */
export function cellOfRows(options: CountCellsOptions): Int32Array {
  const { table, rows, by } = options;
  const n = table.rowCount;
  if (!(rows instanceof Uint8Array) || rows.length !== n) {
    throw new BadInput(`the row selection has ${rows?.length} entries; the table has ${n} rows`);
  }
  const cell = new Int32Array(n);
  for (let r = 0; r < n; r++) cell[r] = rows[r] === 1 ? 0 : -1;
  for (const group of by) {
    const index = levelIndexOf(table, group);
    const width = levelCount(group);
    const missing = group.missing ? group.levels.length : -1;
    for (let r = 0; r < n; r++) {
      const c = cell[r];
      if (c < 0) continue;
      const i = index[r] < 0 ? missing : index[r];
      cell[r] = i < 0 ? -1 : c * width + i;
    }
  }
  return cell;
}

/** Selected rows per cell of `by`; length cellCount(by). */
export function countCells(options: CountCellsOptions): Float64Array {
  const cells = cellCount(options.by);
  const cell = cellOfRows(options);
  const counts = new Float64Array(cells);
  for (let r = 0; r < cell.length; r++) {
    const c = cell[r];
    if (c >= 0) counts[c]++;
  }
  return counts;
}

/**
 * Per cell [n, Σ(x − c), Σ(x − c)²] of the non-missing values of a numeric or boolean column
 * over the selected rows; length MOMENTS_PER_CELL × cellCount(by), cell-major.
 */
export function momentCells(options: MomentCellsOptions): Float64Array {
  const column = columnOf(options.table, options.column);
  if (column.kind === "categorical") {
    throw new BadInput(`column "${column.name}" is categorical; moments need a numeric or boolean column`);
  }
  const shift = options.shift ?? 0;
  if (typeof shift !== "number" || !Number.isFinite(shift)) throw new BadInput("the moments shift must be a finite number");
  const cells = cellCount(options.by);
  const cell = cellOfRows(options);
  const values = column.values;
  const out = new Float64Array(MOMENTS_PER_CELL * cells);
  for (let r = 0; r < cell.length; r++) {
    const c = cell[r];
    const v = values[r];
    if (c < 0 || v !== v) continue;
    const d = v - shift;
    out[3 * c] += 1;
    out[3 * c + 1] += d;
    out[3 * c + 2] += d * d;
  }
  return out;
}

export interface HistogramCellsOptions extends CountCellsOptions {
  column: string;
  /** Strictly increasing, finite; at least two. */
  edges: readonly number[];
}

/** The bin of x among `edges`, in [0, m − 2] when edges[0] ≤ x ≤ edges[m − 1]. */
function binOf(edges: readonly number[], x: number): number {
  let lo = 0;
  let hi = edges.length - 1;
  // Invariant: edges[lo] ≤ x < edges[hi] (or x == the last edge, handled by the caller).
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (x < edges[mid]) hi = mid;
    else lo = mid;
  }
  return lo;
}

/** Histogram edges as the coordinator sent them: at least two, finite, strictly increasing. */
export function checkEdges(edges: readonly number[]): void {
  if (!Array.isArray(edges) || edges.length < 2) throw new BadInput("a histogram needs at least two edges");
  for (let k = 0; k < edges.length; k++) {
    if (typeof edges[k] !== "number" || !Number.isFinite(edges[k])) throw new BadInput("histogram edges must be finite numbers");
    if (k > 0 && !(edges[k] > edges[k - 1])) throw new BadInput("histogram edges must be strictly increasing");
  }
}

/**
 * Per cell [below, bins…, above, missing] of a numeric or boolean column over the selected rows;
 * length histogramWidth(edges.length) × cellCount(by), cell-major.
 */
export function histogramCells(options: HistogramCellsOptions): Float64Array {
  const column = columnOf(options.table, options.column);
  if (column.kind === "categorical") {
    throw new BadInput(`column "${column.name}" is categorical; a histogram needs a numeric column (count it by its levels instead)`);
  }
  const edges = options.edges;
  checkEdges(edges);
  const m = edges.length;
  const width = histogramWidth(m);
  const first = edges[0];
  const last = edges[m - 1];
  const cell = cellOfRows(options);
  const values = column.values;
  const out = new Float64Array(width * cellCount(options.by));
  for (let r = 0; r < cell.length; r++) {
    const c = cell[r];
    if (c < 0) continue;
    const v = values[r];
    const base = width * c;
    if (v !== v) out[base + width - 1]++;
    else if (v < first) out[base]++;
    else if (v > last) out[base + m]++;
    else out[base + 1 + (v === last ? m - 2 : binOf(edges, v))]++;
  }
  return out;
}

export interface IndicatorCellsOptions {
  table: Table;
  /** The job's selection, as for every kernel. */
  rows: Uint8Array;
  indicators: readonly IndicatorSpec[];
  /** Evaluates a filter over the table: 1 where true (compute/filter.ts evaluateWhere). */
  evaluate: (expr: Expr) => Uint8Array;
}

/** [denominator, numerator] per cell of each indicator, concatenated in order. */
export function indicatorCells(options: IndicatorCellsOptions): Float64Array {
  const { table, rows, indicators, evaluate } = options;
  if (!Array.isArray(indicators) || indicators.length === 0) throw new BadInput("an indicator set needs at least one indicator");
  const parts: Float64Array[] = [];
  for (const indicator of indicators) {
    const isTrue = evaluate(indicator.numerator);
    const isFalse = evaluate({ kind: "not", arg: indicator.numerator });
    const inDenominator = indicator.denominator ? evaluate(indicator.denominator) : undefined;
    const selected = new Uint8Array(table.rowCount);
    for (let r = 0; r < selected.length; r++) {
      selected[r] = rows[r] === 1 && (inDenominator === undefined || inDenominator[r] === 1) && (isTrue[r] === 1 || isFalse[r] === 1) ? 1 : 0;
    }
    const cell = cellOfRows({ table, rows: selected, by: indicator.by });
    const out = new Float64Array(INDICATOR_VALUES_PER_CELL * cellCount(indicator.by));
    for (let r = 0; r < cell.length; r++) {
      const c = cell[r];
      if (c < 0) continue;
      out[INDICATOR_VALUES_PER_CELL * c]++;
      if (isTrue[r] === 1) out[INDICATOR_VALUES_PER_CELL * c + 1]++;
    }
    parts.push(out);
  }
  const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

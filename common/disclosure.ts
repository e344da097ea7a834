/**
 * Cell suppression on a combined table: which entries the stations withhold from the analyst
 * (station-daemon/release/) and what the SDK shows (sdk/results/). One implementation, read by
 * both, so that "withheld" means the same on either side.
 *
 * The table is a list of entries and a list of *lines*: a line says that some entries add up to
 * another entry (a row and its row total, a histogram's bins and its n, a risk group's events and
 * non-events and its size). Entries may be *hidden*: part of the arithmetic but never released
 * (an indicator cell's "without the condition" = denominator − numerator). An entry is:
 *
 *   0 released
 *   1 withheld, primary: a count of 1 … minCellSize − 1 people (0 is released: it names no one)
 *   2 withheld, secondary: withheld so that a primary entry cannot be recovered
 *
 * Secondary suppression, as τ-ARGUS and sdcTable do it for the layouts we release (tables with
 * their margins, up to a few dimensions), in two steps that repeat until neither changes anything:
 *
 * 1. The singleton rule, per line: a line holding a withheld entry must hold at least two
 *    *non-zero* unknown entries (withheld or hidden). One unknown is recovered by subtraction; a
 *    zero partner does not protect either — it turns "x + 0 = 3" into the exact upper bound 3.
 *    While a line breaks the rule, its smallest non-zero released member is withheld too
 *    (a cell before a total, so that totals stay shown where they can).
 * 2. The audit: with the released entries known, every line is one linear equation in the
 *    unknown entries. A withheld entry is recovered exactly iff its unit vector lies in the row
 *    space of those equations (Gaussian elimination). Step 1 alone misses e.g. a withheld cell
 *    that is a bridge between two otherwise protected rectangles of a crosstab. Each entry found
 *    recoverable gets one more partner in one of its lines, and both steps run again.
 *
 * What it does not do: bounds from non-negativity (an LP would find that a withheld cell lies in
 * [3, 4]), optimal (smallest-loss) patterns, and anything across separate jobs — that is what
 * cell-key perturbation is for (common/perturbation.ts).
 */
import { BadInput } from "./errors.js";

/** The default minimum cell size: the stations' default too. */
export const DEFAULT_MIN_CELL_SIZE = 10;

export const RELEASED = 0;
export const PRIMARY = 1;
export const SECONDARY = 2;
export type WithheldCode = typeof RELEASED | typeof PRIMARY | typeof SECONDARY;

export function checkMinCellSize(minCellSize: number | undefined): number {
  const m = minCellSize ?? DEFAULT_MIN_CELL_SIZE;
  if (!Number.isInteger(m) || m < 1) throw new BadInput(`minCellSize must be a whole number of at least 1, not ${minCellSize}`);
  return m;
}

/** 1 … minCellSize − 1: shown, it could single out a person. */
export function isSmall(count: number, minCellSize: number): boolean {
  return count > 0 && count < minCellSize;
}

export function primaryReason(minCellSize: number, what = "people"): string {
  return `fewer than ${minCellSize} ${what} (minimum cell size ${minCellSize})`;
}

export const SECONDARY_REASON = "withheld so that another withheld cell cannot be recovered from the totals released with it";

export interface SuppressionLine {
  /** Indices of the entries that add up to the total. */
  cells: readonly number[];
  /** Index of the entry holding their total. */
  total: number;
}

export interface SuppressionTable {
  /** True values of every entry (hidden ones included). */
  values: ArrayLike<number>;
  lines: readonly SuppressionLine[];
  /** Entries that are withheld whatever the rule says (primary): counts of 1 … k − 1, … */
  primary: ReadonlySet<number> | readonly number[];
  /** Entries never released (arithmetic only); they protect, and are never marked. */
  hidden?: ReadonlySet<number>;
  /** Entries that may not be chosen as secondary partners (e.g. not counts: sums of values). */
  notCandidates?: ReadonlySet<number>;
}

/**
 * Returns, per entry, 0 released, 1 primary, 2 secondary (hidden entries read 0: the caller
 * never releases them). Deterministic: the same table always gives the same pattern, as every
 * station must produce byte-identical releases.
 */
export function suppressTable(table: SuppressionTable): Uint8Array {
  const { values, lines } = table;
  const n = values.length;
  const hidden = table.hidden ?? new Set<number>();
  const status = new Uint8Array(n);
  // A hidden entry can be sensitive too (the people *without* the condition, when few): it is
  // never released, but must not be recoverable either.
  const sensitiveHidden = new Set<number>();
  for (const i of table.primary) {
    if (hidden.has(i)) sensitiveHidden.add(i);
    else status[i] = PRIMARY;
  }
  const sensitive = (i: number) => status[i] !== RELEASED || sensitiveHidden.has(i);
  if (lines.length === 0) return status;
  const members = lines.map((l) => [...l.cells, l.total]);
  const linesOf: number[][] = Array.from({ length: n }, () => []);
  members.forEach((m, j) => m.forEach((i) => linesOf[i].push(j)));
  const unknown = (i: number) => status[i] !== RELEASED || hidden.has(i);
  const candidate = (i: number) => status[i] === RELEASED && !hidden.has(i) && !table.notCandidates?.has(i);

  const needsPartner = (j: number) => members[j].some(sensitive) && members[j].filter((i) => unknown(i) && values[i] !== 0).length < 2;
  /**
   * Withholds one more non-zero released member of line j (cells before the total): preferably
   * one whose other lines need a partner too — so that withheld cells close into rectangles, as
   * the hypercube method's do — and among those the smallest.
   */
  const addPartner = (j: number): boolean => {
    const line = lines[j];
    const rank = (i: number) => (linesOf[i].some((k) => k !== j && needsPartner(k)) ? 0 : 1);
    const pick = (pool: readonly number[]) => {
      let best = -1;
      let bestRank = 2;
      for (const i of pool) {
        if (!candidate(i) || values[i] === 0) continue;
        const r = rank(i);
        if (best < 0 || r < bestRank || (r === bestRank && (values[i] < values[best] || (values[i] === values[best] && i < best)))) {
          best = i;
          bestRank = r;
        }
      }
      return best;
    };
    let i = pick(line.cells);
    if (i < 0) i = pick([line.total]);
    if (i < 0) return false;
    status[i] = SECONDARY;
    return true;
  };

  for (let round = 0; round < n + 1; round++) {
    // 1. singleton rule
    for (let changed = true; changed; ) {
      changed = false;
      for (let j = 0; j < lines.length; j++) {
        if (needsPartner(j) && addPartner(j)) changed = true;
      }
    }
    // 2. audit by linear algebra
    const exposed = recoverable({ n, lines: members, totals: lines.map((l) => l.total), unknown, sensitive });
    if (exposed.length === 0) return status;
    let progressed = false;
    for (const i of exposed) {
      // The line of this entry with the most room: one more partner there.
      for (const j of linesOf[i]) {
        if (addPartner(j)) {
          progressed = true;
          break;
        }
      }
    }
    if (!progressed) {
      // Nothing left to withhold beside them: withhold every released member of their lines.
      for (const i of exposed) for (const j of linesOf[i]) for (const k of members[j]) if (candidate(k)) status[k] = SECONDARY;
      if (recoverable({ n, lines: members, totals: lines.map((l) => l.total), unknown, sensitive }).length > 0) {
        // Fail closed: a table we cannot protect is not released at all.
        for (let i = 0; i < n; i++) if (!hidden.has(i) && status[i] === RELEASED) status[i] = SECONDARY;
      }
      return status;
    }
  }
  return status;
}

/**
 * The withheld entries whose value follows exactly from the released ones: those whose unit
 * vector is in the row space of the lines' equations restricted to the unknown entries.
 */
export function recoverable(options: {
  n: number;
  /** Members of each line (cells and total). */
  lines: readonly (readonly number[])[];
  /** The total's index of each line (coefficient −1; the cells +1). */
  totals: readonly number[];
  unknown: (i: number) => boolean;
  sensitive: (i: number) => boolean;
}): number[] {
  const { lines, totals } = options;
  const column = new Map<number, number>();
  const rows: Map<number, number>[] = [];
  lines.forEach((m, j) => {
    const row = new Map<number, number>();
    for (const i of m) {
      if (!options.unknown(i)) continue;
      if (!column.has(i)) column.set(i, column.size);
      const c = column.get(i)!;
      row.set(c, (row.get(c) ?? 0) + (i === totals[j] ? -1 : 1));
    }
    for (const [c, v] of row) if (v === 0) row.delete(c);
    if (row.size > 0) rows.push(row);
  });
  if (rows.length === 0) return [];
  const variables = column.size;
  // Reduced row echelon form over the rationals, in floating point: the coefficients are small
  // integers and the tables small, so a tolerance of 1e-9 separates zero from non-zero safely.
  const pivotRow = new Int32Array(variables).fill(-1);
  const reduced: Map<number, number>[] = [];
  for (const row of rows) {
    const r = new Map(row);
    for (const [c, rowIndex] of pivotEntries(pivotRow)) {
      const f = r.get(c);
      if (f === undefined) continue;
      for (const [k, v] of reduced[rowIndex]) {
        const x = (r.get(k) ?? 0) - f * v;
        if (Math.abs(x) < 1e-9) r.delete(k);
        else r.set(k, x);
      }
    }
    if (r.size === 0) continue;
    let pivot = -1;
    for (const c of r.keys()) if (pivot < 0 || c < pivot) pivot = c;
    const p = r.get(pivot)!;
    for (const [k, v] of r) r.set(k, v / p);
    // Eliminate the new pivot from earlier rows, keeping the form reduced.
    for (const earlier of reduced) {
      const f = earlier.get(pivot);
      if (f === undefined) continue;
      for (const [k, v] of r) {
        const x = (earlier.get(k) ?? 0) - f * v;
        if (Math.abs(x) < 1e-9) earlier.delete(k);
        else earlier.set(k, x);
      }
    }
    pivotRow[pivot] = reduced.length;
    reduced.push(r);
  }
  const out: number[] = [];
  for (const [i, c] of column) {
    if (!options.sensitive(i)) continue;
    const r = pivotRow[c];
    if (r >= 0 && reduced[r].size === 1) out.push(i);
  }
  return out.sort((a, b) => a - b);
}

function* pivotEntries(pivotRow: Int32Array): Generator<[number, number]> {
  for (let c = 0; c < pivotRow.length; c++) if (pivotRow[c] >= 0) yield [c, pivotRow[c]];
}

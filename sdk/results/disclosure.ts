/**
 * Disclosure control on combined results: which cells an analyst is shown.
 *
 * What this is, and what it is not. The stations protect their own rows: each refuses to
 * contribute a cell of 1 … (its minimum − 1) people (station-daemon/governance/). This layer runs
 * in the analyst's own process, on the federation's sum, which the SDK necessarily holds — so it
 * is a safeguard against *publishing* a small number by accident (a notebook shared, a table
 * pasted into a report), not a barrier against the analyst. It can still be stricter than the
 * stations: with the default minimum of 10 a combined cell of 10 … 19 made of two stations'
 * parts is shown, one with a `minCellSize` of 20 is not.
 *
 * Primary suppression: a cell whose count (or group size) is 1 … minCellSize − 1 is withheld.
 * Zero is shown: a 0 names no one, tables of health data are full of structural zeros (no
 * 18-year-olds with dementia), and withholding them would make most small tables unreadable
 * while protecting nobody; stations likewise let a 0 through.
 *
 * Secondary suppression: a result that also shows totals (a count's grand total, a crosstab's
 * margins, a histogram's n) lets anyone recover one withheld cell by subtraction. The rule, for
 * every "line" — a set of shown numbers that add up to another shown number, the total counted
 * as part of its line — is that no line may hold exactly one withheld entry. While one does, the
 * smallest non-zero shown cell of that line is withheld too ("withheld so that …"); when the
 * line has no such cell, its total is withheld; and, as the last resort, its smallest zero cell.
 * Withholding a total can break another line (a row total is a cell of the margins column), so
 * the rule runs until no line changes. This is the usual greedy heuristic (as in τ-ARGUS's
 * "hypercube" for two-way tables): it stops exact recovery from one line, not every bound one
 * could derive by linear programming over many lines, nor differencing across separate queries
 * (stations' subset limits and audit logs are the defence there).
 */
import { BadInput } from "../../common/errors.js";

/** The default minimum cell size of results: the stations' default too. */
export const DEFAULT_MIN_CELL_SIZE = 10;

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

export interface SuppressionLine {
  /** Indices of the entries that add up to the total. */
  cells: number[];
  /** Index of the entry holding their total. */
  total: number;
  /** For the reason: "row total", "grand total", … */
  name: string;
}

export interface Suppression {
  suppressed: boolean;
  reason?: string;
}

/**
 * Applies primary suppression to `values` (entries at the `primary` indices; totals are checked
 * too) and then the secondary rule over `lines`. `values` are the true numbers; the answer says,
 * per entry, whether it is withheld and why.
 */
export function suppress(options: {
  values: readonly number[];
  lines: readonly SuppressionLine[];
  minCellSize: number;
  /** What the numbers count, for the reason ("people" by default). */
  what?: string;
}): Suppression[] {
  const { values, lines, minCellSize } = options;
  const out: Suppression[] = values.map((v) =>
    isSmall(v, minCellSize) ? { suppressed: true, reason: primaryReason(minCellSize, options.what) } : { suppressed: false },
  );
  const withhold = (i: number, line: SuppressionLine) => {
    out[i] = { suppressed: true, reason: `withheld so that a suppressed cell cannot be recovered from the ${line.name}` };
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const line of lines) {
      const members = [...line.cells, line.total];
      if (members.filter((i) => out[i].suppressed).length !== 1) continue;
      const shown = line.cells.filter((i) => !out[i].suppressed);
      const nonZero = shown.filter((i) => values[i] !== 0).sort((a, b) => values[a] - values[b] || a - b);
      if (nonZero.length > 0) withhold(nonZero[0], line);
      else if (!out[line.total].suppressed) withhold(line.total, line);
      else if (shown.length > 0) withhold(shown[0], line);
      else continue;
      changed = true;
    }
  }
  return out;
}

import type { Provenance } from "../../common/provenance.js";
import type { GroupBy } from "../../common/job.js";
import { cellLevels } from "./cells.js";
import { type ReleaseInput, type WithheldKind, generalNotes, marks, readRelease } from "./release.js";
import { formatNumber } from "./table-text.js";
import { Result, type Tabular } from "./result.js";

export interface SummaryCell {
  group: Record<string, string>;
  /** Non-missing values; null (with every statistic) when the cell is withheld. */
  n: number | null;
  sum: number | null;
  mean: number | null;
  /** Sample variance (divisor n − 1); NaN when n < 2. */
  variance: number | null;
  sd: number | null;
  suppressed?: boolean;
  withheld?: WithheldKind;
  reason?: string;
}

/**
 * n, sum, mean, variance and SD of a column per cell, from summed shifted moments
 * [n, Σ(x − c), Σ(x − c)²] (station-daemon/compute/descriptive.ts):
 *   sum = Σ(x − c) + n·c,  mean = c + Σ(x − c)/n,  variance = (Σ(x − c)² − (Σ(x − c))²/n)/(n − 1).
 * With c near the mean the variance does not cancel catastrophically (the query finds c with a
 * first, one-cell job unless given one).
 */
export class SummaryResult extends Result {
  readonly kind = "summary";
  readonly dataset: string;
  readonly column: string;
  readonly where?: string;
  readonly by: string[];
  readonly cells: SummaryCell[];
  readonly stations: string[];
  /** The shift c the moments were taken about. */
  readonly shift: number;
  readonly notes: string[];

  constructor(options: { dataset: string; column: string; where?: string; by: readonly GroupBy[]; shift: number; stations: string[]; provenance?: Provenance } & ReleaseInput) {
    super(options.provenance);
    this.dataset = options.dataset;
    this.column = options.column;
    this.where = options.where;
    this.by = options.by.map((g) => g.column);
    this.stations = options.stations;
    this.shift = options.shift;
    const c = options.shift;
    const { values, withheld, notes } = readRelease({ kind: "moments", column: options.column, by: [...options.by] }, options);
    this.notes = notes;
    this.cells = cellLevels(options.by).map((group, i) => {
      const n = Math.round(values[3 * i]);
      const s1 = values[3 * i + 1];
      const s2 = values[3 * i + 2];
      if (withheld[3 * i]) return { group, n: null, sum: null, mean: null, variance: null, sd: null, ...marks(withheld[3 * i], notes) };
      const variance = n > 1 ? Math.max(0, (s2 - (s1 * s1) / n) / (n - 1)) : NaN;
      return { group, n, sum: s1 + n * c, mean: n > 0 ? c + s1 / n : NaN, variance, sd: Math.sqrt(variance) };
    });
  }

  get(group: Record<string, string>): SummaryCell | undefined {
    return this.cells.find((c) => this.by.every((b) => c.group[b] === group[b]));
  }

  protected resultJSON(): object {
    return { kind: this.kind, dataset: this.dataset, column: this.column, where: this.where, by: this.by, stations: this.stations, cells: this.cells, notes: this.notes };
  }

  tabular(): Tabular {
    const title = `summary of ${this.column} in ${this.dataset}${this.where ? ` where ${this.where}` : ""} (${this.stations.length} stations)`;
    const header = [...this.by, "n", "sum", "mean", "variance", "sd"];
    const rows = this.cells.map((c) => [
      ...this.by.map((b) => c.group[b]),
      ...(c.suppressed ? ["suppressed", "", "", "", ""] : [String(c.n), formatNumber(c.sum ?? NaN), formatNumber(c.mean ?? NaN), formatNumber(c.variance ?? NaN), formatNumber(c.sd ?? NaN)]),
    ]);
    const notes = [...new Set(this.cells.flatMap((x) => (x.reason ? [`suppressed: ${x.reason}`] : [])))];
    return { title, header, rows, numeric: header.map((_, i) => i >= this.by.length), notes: [...notes, ...generalNotes(this.notes)] };
  }
}

import type { Provenance } from "../../common/provenance.js";
import type { GroupBy } from "../../common/job.js";
import { cellLevels } from "./cells.js";
import { type ReleaseInput, type WithheldKind, generalNotes, marks, readRelease } from "./release.js";
import { formatNumber } from "./table-text.js";
import { Result, type Tabular } from "./result.js";

export interface MeanCell {
  group: Record<string, string>;
  /** NaN (with mean and sd) when the cell is withheld; toJSON shows null. */
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1); NaN when n < 2. */
  sd: number;
  suppressed?: boolean;
  withheld?: WithheldKind;
  reason?: string;
}

/** Mean (and SD) of a column, from summed per-cell moments [n, sum, sum of squares]. */
export class MeanResult extends Result {
  readonly kind = "mean";
  readonly dataset: string;
  readonly column: string;
  readonly where?: string;
  readonly by: string[];
  readonly cells: MeanCell[];
  readonly stations: string[];

  readonly notes: string[];

  /** A cell the stations withheld (its n was 1 … k − 1) is withheld whole. */
  constructor(options: { dataset: string; column: string; where?: string; by: readonly GroupBy[]; stations: string[]; provenance?: Provenance } & ReleaseInput) {
    super(options.provenance);
    this.dataset = options.dataset;
    this.column = options.column;
    this.where = options.where;
    this.by = options.by.map((g) => g.column);
    this.stations = options.stations;
    const { values, withheld, notes } = readRelease({ kind: "moments", column: options.column, by: [...options.by] }, options);
    this.notes = notes;
    this.cells = cellLevels(options.by).map((group, i) => {
      const n = values[3 * i];
      const s = values[3 * i + 1];
      const ss = values[3 * i + 2];
      const mean = n > 0 ? s / n : NaN;
      const variance = n > 1 ? Math.max(0, (ss - (s * s) / n) / (n - 1)) : NaN;
      if (withheld[3 * i]) return { group, n: NaN, mean: NaN, sd: NaN, ...marks(withheld[3 * i], notes) };
      return { group, n: Math.round(n), mean, sd: Math.sqrt(variance) };
    });
  }

  /** The overall mean when there is no group-by. */
  get mean(): number {
    return this.cells.length === 1 ? this.cells[0].mean : NaN;
  }

  get(group: Record<string, string>): MeanCell | undefined {
    return this.cells.find((c) => this.by.every((b) => c.group[b] === group[b]));
  }

  protected resultJSON(): object {
    return { kind: this.kind, dataset: this.dataset, column: this.column, where: this.where, by: this.by, stations: this.stations, cells: this.cells };
  }

  tabular(): Tabular {
    const title = `mean of ${this.column} in ${this.dataset}${this.where ? ` where ${this.where}` : ""} (${this.stations.length} stations)`;
    const rows = this.cells.map((c) =>
      c.suppressed ? [...this.by.map((b) => c.group[b]), "suppressed", "", ""] : [...this.by.map((b) => c.group[b]), String(c.n), formatNumber(c.mean), formatNumber(c.sd)],
    );
    const notes = [...new Set(this.cells.flatMap((c) => (c.reason ? [`suppressed: ${c.reason}`] : [])))];
    return { title, header: [...this.by, "n", "mean", "sd"], rows, numeric: [...this.by.map(() => false), true, true, true], notes: [...notes, ...generalNotes(this.notes)] };
  }
}

import type { Provenance } from "../../common/provenance.js";
import type { GroupBy } from "../../common/job.js";
import { countMarginOffsets } from "../../common/release-layout.js";
import { cellLevels } from "./cells.js";
import { type ReleaseInput, type WithheldKind, generalNotes, marks, readRelease } from "./release.js";
import { Result, type Tabular } from "./result.js";

export interface CountCell {
  /** Group-by column → level; empty without group-by. */
  group: Record<string, string>;
  /** null when withheld. */
  count: number | null;
  suppressed?: boolean;
  /** Why the stations withheld it: primary (a small cell) or secondary (protecting one). */
  withheld?: WithheldKind;
  reason?: string;
}

/** One marginal table of a count over several columns: the counts summed over the others. */
export interface CountMargin {
  by: string[];
  cells: CountCell[];
}

/**
 * A federated count: one cell per combination of group-by levels, zeros included, with every
 * margin and the total. The stations decide what is withheld, on the combined table
 * (station-daemon/release/): cells of 1 … k − 1 people (primary) and enough others that no
 * withheld cell can be recovered from the released margins (secondary).
 */
export class CountResult extends Result {
  readonly kind = "count";
  readonly dataset: string;
  readonly where?: string;
  readonly by: string[];
  readonly cells: CountCell[];
  /** Rows over all cells; null when withheld. */
  readonly total: number | null;
  /** Marginal tables (by one column, by two, …; up to four columns), as the stations released them. */
  readonly margins: CountMargin[];
  readonly stations: string[];
  /** The stations' notes: perturbation, why cells are withheld. */
  readonly notes: string[];

  constructor(options: { dataset: string; where?: string; by: readonly GroupBy[]; stations: string[]; provenance?: Provenance } & ReleaseInput) {
    super(options.provenance);
    this.dataset = options.dataset;
    this.where = options.where;
    this.by = options.by.map((g) => g.column);
    this.stations = options.stations;
    const { values, withheld, notes } = readRelease({ kind: "count", by: [...options.by] }, options);
    this.notes = notes;
    const cell = (i: number, group: Record<string, string>): CountCell => (withheld[i] ? { group, count: null, ...marks(withheld[i], notes) } : { group, count: Math.round(values[i]) });
    const groups = cellLevels(options.by);
    this.cells = groups.map((group, i) => cell(i, group));
    this.margins = [];
    let total: CountCell = groups.length === 1 ? this.cells[0] : { group: {}, count: null };
    for (const { mask, offset } of countMarginOffsets(options.by)) {
      const kept = options.by.filter((_, d) => mask & (1 << d));
      const margin = { by: kept.map((g) => g.column), cells: cellLevels(kept).map((group, k) => cell(offset + k, group)) };
      if (mask === 0) total = margin.cells[0];
      else this.margins.push(margin);
    }
    this.total = total.count;
  }

  /** The count of one cell, by its levels: `result.get({ sex: "M" })`; null when withheld. */
  get(group: Record<string, string>): number | null | undefined {
    return this.cells.find((c) => this.by.every((b) => c.group[b] === group[b]))?.count;
  }

  protected resultJSON(): object {
    return { kind: this.kind, dataset: this.dataset, where: this.where, by: this.by, stations: this.stations, cells: this.cells, margins: this.margins, total: this.total, notes: this.notes };
  }

  override toString(): string {
    if (this.by.length === 0) return `${this.tabular().title}: ${this.total ?? "suppressed"}`;
    return super.toString();
  }

  tabular(): Tabular {
    const title = `count of ${this.dataset}${this.where ? ` where ${this.where}` : ""} (${this.stations.length} stations)`;
    const rows = this.cells.map((c) => [...this.by.map((b) => c.group[b]), c.count === null ? "suppressed" : String(c.count)]);
    const notes = [...new Set([...this.cells, ...this.margins.flatMap((m) => m.cells)].flatMap((c) => (c.reason ? [c.reason] : [])))].map((r) => `suppressed: ${r}`);
    return { title, header: [...this.by, "count"], rows, numeric: [...this.by.map(() => false), true], notes: [`total: ${this.total ?? "suppressed"}`, ...notes, ...generalNotes(this.notes)] };
  }
}

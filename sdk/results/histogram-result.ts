import type { Provenance } from "../../common/provenance.js";
import { type GroupBy, histogramWidth } from "../../common/job.js";
import { cellLevels } from "./cells.js";
import { type ResultRecord, fillColumns } from "./dataframe.js";
import { type ReleaseInput, type WithheldKind, generalNotes, marks, readRelease } from "./release.js";
import { Result, type Tabular } from "./result.js";

export interface HistogramBin {
  /** The bin is [from, to), the last one [from, to]. */
  from: number;
  to: number;
  count: number | null;
  suppressed?: boolean;
  withheld?: WithheldKind;
  reason?: string;
}

export interface HistogramTail {
  count: number | null;
  suppressed?: boolean;
  withheld?: WithheldKind;
  reason?: string;
}

export interface HistogramCell {
  group: Record<string, string>;
  /** Non-missing values, in and outside the edges. */
  n: number | null;
  missing: HistogramTail;
  below: HistogramTail;
  bins: HistogramBin[];
  above: HistogramTail;
  suppressed?: boolean;
  reason?: string;
}

/**
 * Counts per bin, per cell of a group-by, from one histogram job. The stations release the
 * bins, below, above, missing and each cell's n (common/release-layout.ts) and decide what is
 * withheld: bins of 1 … k − 1 values, and others so that none follows from n.
 */
export class HistogramResult extends Result {
  readonly kind = "histogram";
  readonly dataset: string;
  readonly column: string;
  readonly where?: string;
  readonly by: string[];
  readonly edges: number[];
  readonly cells: HistogramCell[];
  readonly stations: string[];
  readonly notes: string[];

  constructor(options: { dataset: string; column: string; where?: string; by: readonly GroupBy[]; edges: readonly number[]; stations: string[]; provenance?: Provenance } & ReleaseInput) {
    super(options.provenance);
    this.dataset = options.dataset;
    this.column = options.column;
    this.where = options.where;
    this.by = options.by.map((g) => g.column);
    this.edges = [...options.edges];
    this.stations = options.stations;
    const m = this.edges.length;
    const width = histogramWidth(m);
    const { values, withheld, notes } = readRelease({ kind: "histogram", column: options.column, edges: [...options.edges], by: [...options.by] }, options);
    this.notes = notes;
    const groups = cellLevels(options.by);
    const nAt = width * groups.length;
    this.cells = groups.map((group, i) => {
      const tail = (k: number): HistogramTail => (withheld[k] ? { count: null, ...marks(withheld[k], notes) } : { count: Math.round(values[k]) });
      const base = width * i;
      const bins = this.edges.slice(0, -1).map((from, k) => ({ from, to: this.edges[k + 1], ...tail(base + 1 + k) }));
      const cell: HistogramCell = { group, n: withheld[nAt + i] ? null : Math.round(values[nAt + i]), missing: tail(base + width - 1), below: tail(base), bins, above: tail(base + width - 2) };
      if (withheld[nAt + i]) Object.assign(cell, marks(withheld[nAt + i], notes));
      return cell;
    });
  }

  get(group: Record<string, string> = {}): HistogramCell | undefined {
    return this.cells.find((c) => this.by.every((b) => c.group[b] === group[b]));
  }

  /** One record per bin of each cell, then its below, above and missing counts (`from`/`to` null where open). */
  override records(): ResultRecord[] {
    const last = this.edges[this.edges.length - 1];
    const withheld = (x: { suppressed?: boolean; reason?: string }): ResultRecord => (x.suppressed ? { suppressed: true, reason: x.reason ?? null } : {});
    return fillColumns(
      this.cells.flatMap((c) => [
        ...c.bins.map((b, k) => ({ ...c.group, bin: `[${b.from}, ${b.to}${k === c.bins.length - 1 ? "]" : ")"}`, from: b.from, to: b.to, count: b.count, ...withheld(b) })),
        { ...c.group, bin: `below ${this.edges[0]}`, from: null, to: this.edges[0], count: c.below.count, ...withheld(c.below) },
        { ...c.group, bin: `above ${last}`, from: last, to: null, count: c.above.count, ...withheld(c.above) },
        { ...c.group, bin: "missing", from: null, to: null, count: c.missing.count, ...withheld(c.missing) },
      ]),
    );
  }

  protected resultJSON(): object {
    return { kind: this.kind, dataset: this.dataset, column: this.column, where: this.where, by: this.by, edges: this.edges, stations: this.stations, cells: this.cells, notes: this.notes };
  }

  tabular(): Tabular {
    const show = (t: { count: number | null }) => (t.count === null ? "x" : String(t.count));
    const title = `histogram of ${this.column} in ${this.dataset}${this.where ? ` where ${this.where}` : ""} (${this.stations.length} stations)`;
    const last = this.edges.length - 2;
    const header = [...this.by, `< ${this.edges[0]}`, ...this.edges.slice(0, -1).map((e, k) => `[${e}, ${this.edges[k + 1]}${k === last ? "]" : ")"}`), `> ${this.edges[last + 1]}`, "n", "missing"];
    const rows = this.cells.map((c) => [...this.by.map((b) => c.group[b]), show(c.below), ...c.bins.map(show), show(c.above), c.n === null ? "x" : String(c.n), show(c.missing)]);
    const reasons = [...new Set(this.cells.flatMap((c) => [c.below, ...c.bins, c.above, c.missing, c].flatMap((t) => (t.reason ? [t.reason] : []))))];
    return { title, header, rows, numeric: header.map((_, i) => i >= this.by.length), notes: [...reasons.map((r) => `x: ${r}`), ...generalNotes(this.notes)] };
  }
}

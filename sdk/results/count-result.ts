import type { Provenance } from "../../common/provenance.js";
import type { GroupBy } from "../../common/job.js";
import { cellLevels } from "./cells.js";
import { suppress } from "./disclosure.js";
import { Result, type Tabular } from "./result.js";

export interface CountCell {
  /** Group-by column → level; empty without group-by. */
  group: Record<string, string>;
  /** null when withheld. */
  count: number | null;
  suppressed?: boolean;
  reason?: string;
}

/**
 * A federated count: one cell per combination of group-by levels, zeros included. With a
 * `minCellSize` (the query always gives one), cells of 1 … minCellSize − 1 are withheld, and —
 * because the total is shown — a second cell when only one would be (results/disclosure.ts).
 */
export class CountResult extends Result {
  readonly kind = "count";
  readonly dataset: string;
  readonly where?: string;
  readonly by: string[];
  readonly cells: CountCell[];
  /** Rows over all cells; null when withheld so that a withheld cell cannot be recovered. */
  readonly total: number | null;
  readonly stations: string[];
  readonly minCellSize?: number;

  constructor(options: { dataset: string; where?: string; by: readonly GroupBy[]; sum: Float64Array; stations: string[]; minCellSize?: number; provenance?: Provenance }) {
    super(options.provenance);
    this.dataset = options.dataset;
    this.where = options.where;
    this.by = options.by.map((g) => g.column);
    this.stations = options.stations;
    this.minCellSize = options.minCellSize;
    const groups = cellLevels(options.by);
    const counts = groups.map((_, i) => Math.round(options.sum[i]));
    const total = counts.reduce((s, c) => s + c, 0);
    if (options.minCellSize === undefined) {
      this.cells = groups.map((group, i) => ({ group, count: counts[i] }));
      this.total = total;
      return;
    }
    const values = [...counts, total];
    const lines = groups.length > 1 ? [{ cells: counts.map((_, i) => i), total: counts.length, name: "total" }] : [];
    const s = suppress({ values, lines, minCellSize: options.minCellSize });
    this.cells = groups.map((group, i) => (s[i].suppressed ? { group, count: null, suppressed: true, reason: s[i].reason } : { group, count: counts[i] }));
    this.total = s[counts.length].suppressed ? null : total;
  }

  /** The count of one cell, by its levels: `result.get({ sex: "M" })`; null when withheld. */
  get(group: Record<string, string>): number | null | undefined {
    return this.cells.find((c) => this.by.every((b) => c.group[b] === group[b]))?.count;
  }

  protected resultJSON(): object {
    return { kind: this.kind, dataset: this.dataset, where: this.where, by: this.by, stations: this.stations, minCellSize: this.minCellSize, cells: this.cells, total: this.total };
  }

  override toString(): string {
    if (this.by.length === 0) return `${this.tabular().title}: ${this.total ?? "suppressed"}`;
    return super.toString();
  }

  tabular(): Tabular {
    const title = `count of ${this.dataset}${this.where ? ` where ${this.where}` : ""} (${this.stations.length} stations)`;
    const rows = this.cells.map((c) => [...this.by.map((b) => c.group[b]), c.count === null ? "suppressed" : String(c.count)]);
    const notes = [...new Set(this.cells.flatMap((c) => (c.reason ? [c.reason] : [])))].map((r) => `suppressed: ${r}`);
    return { title, header: [...this.by, "count"], rows, numeric: [...this.by.map(() => false), true], notes: [`total: ${this.total ?? "suppressed"}`, ...notes] };
  }
}

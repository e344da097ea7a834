import type { GroupBy } from "../../common/job.js";
import { cellLevels } from "./cells.js";
import { formatTextTable } from "./table-text.js";

export interface CountCell {
  /** Group-by column → level; empty without group-by. */
  group: Record<string, string>;
  count: number;
}

/** A federated count: one cell per combination of group-by levels, zeros included. */
export class CountResult {
  readonly kind = "count";
  readonly dataset: string;
  readonly where?: string;
  readonly by: string[];
  readonly cells: CountCell[];
  readonly stations: string[];

  constructor(options: { dataset: string; where?: string; by: readonly GroupBy[]; sum: Float64Array; stations: string[] }) {
    this.dataset = options.dataset;
    this.where = options.where;
    this.by = options.by.map((g) => g.column);
    this.cells = cellLevels(options.by).map((group, i) => ({ group, count: Math.round(options.sum[i]) }));
    this.stations = options.stations;
  }

  get total(): number {
    return this.cells.reduce((s, c) => s + c.count, 0);
  }

  /** The count of one cell, by its levels: `result.get({ sex: "M" })`. */
  get(group: Record<string, string>): number | undefined {
    return this.cells.find((c) => this.by.every((b) => c.group[b] === group[b]))?.count;
  }

  /**
   * The cells as a danfo.js DataFrame, one row per cell (withheld cells have a null count).
   * danfojs is imported only here, so the SDK does not load it: `npm install danfojs` to use this.
   */
  async toDataFrame(): Promise<import("danfojs").DataFrame> {
    const danfo = await import("danfojs").catch((err: unknown) => {
      throw new Error('toDataFrame needs the danfojs package: npm install danfojs', { cause: err });
    });
    const withheld = (c: CountCell) => Boolean((c as { suppressed?: unknown }).suppressed);
    const columns: Record<string, Array<string | number | null>> = {};
    for (const b of this.by) columns[b] = this.cells.map((c) => c.group[b]);
    columns.count = this.cells.map((c) => (withheld(c) ? null : c.count));
    if (this.cells.some(withheld)) columns.suppressed = this.cells.map((c) => (withheld(c) ? "yes" : "no"));
    return new (danfo.DataFrame ?? (danfo as unknown as { default: typeof danfo }).default.DataFrame)(columns);
  }

  toJSON(): object {
    return { kind: this.kind, dataset: this.dataset, where: this.where, by: this.by, stations: this.stations, cells: this.cells, total: this.total };
  }

  toString(): string {
    const title = `count of ${this.dataset}${this.where ? ` where ${this.where}` : ""} (${this.stations.length} stations)`;
    if (this.by.length === 0) return `${title}: ${this.total}`;
    const rows = this.cells.map((c) => [...this.by.map((b) => c.group[b]), String(c.count)]);
    return `${title}\n${formatTextTable([...this.by, "count"], rows, [...this.by.map(() => false), true])}`;
  }
}

import type { Provenance } from "../../common/provenance.js";
import type { GroupBy } from "../../common/job.js";
import { countMarginOffsets } from "../../common/release-layout.js";
import { type ReleaseInput, type WithheldKind, generalNotes, marks, readRelease } from "./release.js";
import { Result, type Tabular } from "./result.js";

export interface CrosstabCell {
  /** { [rowColumn]: row level, [columnColumn]: column level } */
  group: Record<string, string>;
  count: number | null;
  suppressed?: boolean;
  withheld?: WithheldKind;
  reason?: string;
}

export interface MarginCell {
  /** The one level the margin is over (empty for the grand total). */
  group: Record<string, string>;
  count: number | null;
  suppressed?: boolean;
  withheld?: WithheldKind;
  reason?: string;
}

/**
 * A two-way table with margins, from one count job over [row, column]. The stations release the
 * cells and the margins, and decide which are withheld (station-daemon/release/): primary cells
 * of 1 … k − 1, and secondary ones so that none can be recovered from the margins.
 */
export class CrosstabResult extends Result {
  readonly kind = "crosstab";
  readonly dataset: string;
  readonly where?: string;
  readonly rowColumn: string;
  readonly columnColumn: string;
  readonly rowLevels: string[];
  readonly columnLevels: string[];
  /** The interior cells, row-major (row level varies slowest). */
  readonly cells: CrosstabCell[];
  readonly rowTotals: MarginCell[];
  readonly columnTotals: MarginCell[];
  readonly total: MarginCell;
  readonly stations: string[];
  readonly notes: string[];

  constructor(options: { dataset: string; where?: string; rows: GroupBy; columns: GroupBy; stations: string[]; provenance?: Provenance } & ReleaseInput) {
    super(options.provenance);
    const { rows, columns } = options;
    this.dataset = options.dataset;
    this.where = options.where;
    this.rowColumn = rows.column;
    this.columnColumn = columns.column;
    this.rowLevels = [...rows.levels];
    this.columnLevels = [...columns.levels];
    this.stations = options.stations;
    const by = [rows, columns];
    const { values, withheld, notes } = readRelease({ kind: "count", by }, options);
    this.notes = notes;
    const C = columns.levels.length;
    // Released layout (common/release-layout.ts): cells, column totals, row totals, grand total.
    const at = new Map(countMarginOffsets(by).map((m) => [m.mask, m.offset]));
    const cell = (i: number, group: Record<string, string>) => (withheld[i] ? { group, count: null, ...marks(withheld[i], notes) } : { group, count: Math.round(values[i]) });
    this.cells = [];
    rows.levels.forEach((r, ri) => columns.levels.forEach((c, ci) => this.cells.push(cell(ri * C + ci, { [rows.column]: r, [columns.column]: c }))));
    this.rowTotals = rows.levels.map((r, ri) => cell(at.get(1)! + ri, { [rows.column]: r }));
    this.columnTotals = columns.levels.map((c, ci) => cell(at.get(2)! + ci, { [columns.column]: c }));
    this.total = cell(at.get(0)!, {});
  }

  /** The interior count of one row level and one column level; null when withheld. */
  get(row: string, column: string): number | null | undefined {
    return this.cells.find((c) => c.group[this.rowColumn] === row && c.group[this.columnColumn] === column)?.count;
  }

  rowTotal(row: string): number | null | undefined {
    return this.rowTotals.find((c) => c.group[this.rowColumn] === row)?.count;
  }

  columnTotal(column: string): number | null | undefined {
    return this.columnTotals.find((c) => c.group[this.columnColumn] === column)?.count;
  }

  get suppressedCount(): number {
    return [...this.cells, ...this.rowTotals, ...this.columnTotals, this.total].filter((c) => c.suppressed).length;
  }

  protected resultJSON(): object {
    return {
      kind: this.kind,
      dataset: this.dataset,
      where: this.where,
      rows: this.rowColumn,
      columns: this.columnColumn,
      rowLevels: this.rowLevels,
      columnLevels: this.columnLevels,
      stations: this.stations,
      cells: this.cells,
      rowTotals: this.rowTotals,
      columnTotals: this.columnTotals,
      total: this.total,
      notes: this.notes,
    };
  }

  tabular(): Tabular {
    const show = (c: { count: number | null }) => (c.count === null ? "x" : String(c.count));
    const title = `${this.rowColumn} × ${this.columnColumn} in ${this.dataset}${this.where ? ` where ${this.where}` : ""} (${this.stations.length} stations)`;
    const C = this.columnLevels.length;
    const rows = this.rowLevels.map((r, ri) => [r, ...this.cells.slice(ri * C, ri * C + C).map(show), show(this.rowTotals[ri])]);
    rows.push(["total", ...this.columnTotals.map(show), show(this.total)]);
    const header = [`${this.rowColumn} \\ ${this.columnColumn}`, ...this.columnLevels, "total"];
    const reasons = [...new Set([...this.cells, ...this.rowTotals, ...this.columnTotals, this.total].flatMap((c) => (c.reason ? [c.reason] : [])))];
    return { title, header, rows, numeric: header.map((_, i) => i > 0), notes: [...reasons.map((r) => `x: ${r}`), ...generalNotes(this.notes)] };
  }
}

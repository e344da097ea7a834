import type { Provenance } from "../../common/provenance.js";
import type { GroupBy } from "../../common/job.js";
import { type SuppressionLine, suppress } from "./disclosure.js";
import { Result, type Tabular } from "./result.js";

export interface CrosstabCell {
  /** { [rowColumn]: row level, [columnColumn]: column level } */
  group: Record<string, string>;
  count: number | null;
  suppressed?: boolean;
  reason?: string;
}

export interface MarginCell {
  /** The one level the margin is over (empty for the grand total). */
  group: Record<string, string>;
  count: number | null;
  suppressed?: boolean;
  reason?: string;
}

/**
 * A two-way table with margins, from one count job over [row, column]. Disclosure lines
 * (results/disclosure.ts): every row with its row total, every column with its column total, the
 * row totals with the grand total and the column totals with the grand total.
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
  readonly minCellSize?: number;

  constructor(options: { dataset: string; where?: string; rows: GroupBy; columns: GroupBy; sum: Float64Array; stations: string[]; minCellSize?: number; provenance?: Provenance }) {
    super(options.provenance);
    const { rows, columns } = options;
    this.dataset = options.dataset;
    this.where = options.where;
    this.rowColumn = rows.column;
    this.columnColumn = columns.column;
    this.rowLevels = [...rows.levels];
    this.columnLevels = [...columns.levels];
    this.stations = options.stations;
    this.minCellSize = options.minCellSize;
    const R = rows.levels.length;
    const C = columns.levels.length;
    // values: R·C interior cells, then R row totals, C column totals, the grand total.
    const values: number[] = [];
    for (let i = 0; i < R * C; i++) values.push(Math.round(options.sum[i]));
    const rowTotal = (r: number) => values.slice(r * C, r * C + C).reduce((a, b) => a + b, 0);
    const colTotal = (c: number) => rows.levels.reduce((a, _, r) => a + values[r * C + c], 0);
    const rowTotals = rows.levels.map((_, r) => rowTotal(r));
    const colTotals = columns.levels.map((_, c) => colTotal(c));
    values.push(...rowTotals, ...colTotals, rowTotals.reduce((a, b) => a + b, 0));
    const rowAt = R * C;
    const colAt = rowAt + R;
    const grandAt = colAt + C;
    const lines: SuppressionLine[] = [
      ...rows.levels.map((level, r) => ({ cells: columns.levels.map((_, c) => r * C + c), total: rowAt + r, name: `row total of ${rows.column} = ${level}` })),
      ...columns.levels.map((level, c) => ({ cells: rows.levels.map((_, r) => r * C + c), total: colAt + c, name: `column total of ${columns.column} = ${level}` })),
      { cells: rows.levels.map((_, r) => rowAt + r), total: grandAt, name: "row totals and grand total" },
      { cells: columns.levels.map((_, c) => colAt + c), total: grandAt, name: "column totals and grand total" },
    ];
    const s =
      options.minCellSize === undefined ? values.map(() => ({ suppressed: false as boolean, reason: undefined as string | undefined })) : suppress({ values, lines, minCellSize: options.minCellSize });
    const cell = (i: number, group: Record<string, string>) =>
      s[i].suppressed ? { group, count: null, suppressed: true, reason: s[i].reason } : { group, count: values[i] };
    this.cells = [];
    rows.levels.forEach((r, ri) => columns.levels.forEach((c, ci) => this.cells.push(cell(ri * C + ci, { [rows.column]: r, [columns.column]: c }))));
    this.rowTotals = rows.levels.map((r, ri) => cell(rowAt + ri, { [rows.column]: r }));
    this.columnTotals = columns.levels.map((c, ci) => cell(colAt + ci, { [columns.column]: c }));
    this.total = cell(grandAt, {});
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
      minCellSize: this.minCellSize,
      cells: this.cells,
      rowTotals: this.rowTotals,
      columnTotals: this.columnTotals,
      total: this.total,
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
    return { title, header, rows, numeric: header.map((_, i) => i > 0), notes: reasons.map((r) => `x: ${r}`) };
  }
}

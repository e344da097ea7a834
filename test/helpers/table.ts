import type { Column, Table } from "../../station-daemon/data/table.js";

export type Cell = number | string | boolean | null;

/** A station Table from plain rows: the kind of each column is given, null is missing. */
export function tableOf(kinds: Record<string, Column["kind"]>, rows: Record<string, Cell>[], name = "clients"): Table {
  const columns = new Map<string, Column>();
  for (const [column, kind] of Object.entries(kinds)) {
    const cells = rows.map((r) => r[column]);
    if (kind === "categorical") {
      const levels = [...new Set(cells.filter((c): c is string => c !== null))].sort();
      columns.set(column, { kind, name: column, levels, codes: Int32Array.from(cells, (c) => (c === null ? -1 : levels.indexOf(c as string))) });
    } else {
      columns.set(column, { kind, name: column, values: Float64Array.from(cells, (c) => (c === null ? NaN : Number(c))) });
    }
  }
  return { name, rowCount: rows.length, columns };
}

import { BadInput, UnknownDataset } from "../common/errors.js";
import type { ColumnInfo, StationInfo } from "../common/schema.js";

/** A dataset as the whole federation offers it: the stations that hold it, and merged columns. */
export interface FederatedDataset {
  name: string;
  stations: string[];
  columns: ColumnInfo[];
}

/**
 * Merges the stations' schemas. Levels are the sorted union, so that every station lays out
 * group-by cells and model dummies the same way even when it lacks some level itself.
 */
export function mergeSchemas(infos: readonly StationInfo[]): FederatedDataset[] {
  const byName = new Map<string, { stations: string[]; columns: Map<string, ColumnInfo> }>();
  for (const info of infos) {
    for (const ds of info.datasets) {
      const entry = byName.get(ds.name) ?? { stations: [], columns: new Map<string, ColumnInfo>() };
      entry.stations.push(info.name);
      for (const col of ds.columns) {
        const prev = entry.columns.get(col.name);
        if (!prev) {
          entry.columns.set(col.name, { ...col, ...(col.levels ? { levels: [...col.levels] } : {}) });
          continue;
        }
        if (prev.type !== col.type) {
          // A column typed differently at two stations cannot be combined; say so where it is used.
          prev.type = prev.type === "categorical" || col.type === "categorical" ? "categorical" : "numeric";
        }
        if (col.levels) prev.levels = [...new Set([...(prev.levels ?? []), ...col.levels])];
        // Complete only when every station holding the column says so.
        if (!col.complete) delete prev.complete;
      }
      byName.set(ds.name, entry);
    }
  }
  return [...byName.entries()].map(([name, e]) => ({
    name,
    stations: e.stations,
    columns: [...e.columns.values()].map((c) => (c.levels ? { ...c, levels: sortLevels(c) } : c)),
  }));
}

/**
 * Categories in code-point order; the whole-number values a numeric column releases in numeric
 * order ("2" before "10"), as R orders factor(x) — the first level is the reference either way.
 */
function sortLevels(column: ColumnInfo): string[] {
  const levels = [...(column.levels ?? [])];
  return column.type === "numeric" ? levels.sort((a, b) => Number(a) - Number(b)) : levels.sort(codePointCompare);
}

export function codePointCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function findDataset(datasets: readonly FederatedDataset[], name: string): FederatedDataset {
  const ds = datasets.find((d) => d.name === name);
  if (!ds) throw new UnknownDataset(name, datasets.map((d) => d.name));
  return ds;
}

/**
 * The federation-wide levels of a group-by column: a categorical's levels, false/true, or the few
 * whole-number values a numeric column releases (income quintiles, a 1–5 rating).
 */
export function levelsOf(ds: FederatedDataset, column: string, given?: readonly string[]): string[] {
  if (given) return [...given];
  const col = ds.columns.find((c) => c.name === column);
  if (!col) throw new BadInput(`dataset "${ds.name}" has no column "${column}" (columns: ${ds.columns.map((c) => c.name).join(", ")})`);
  if (col.type === "boolean") return ["false", "true"];
  if (col.levels && col.levels.length > 0) return col.levels;
  if (col.type === "categorical") throw new BadInput(`column "${column}" has no released levels; it cannot be grouped by`);
  throw new BadInput(`column "${column}" is numeric; to group by it, give its levels (levels: { ${column}: ["1", "2", …] })`);
}

import type { GroupBy } from "../../common/job.js";

/** The level of each group-by column for every cell, in the row-major order stations use. */
export function cellLevels(by: readonly GroupBy[]): Array<Record<string, string>> {
  let cells: Array<Record<string, string>> = [{}];
  for (const g of by) {
    const next: Array<Record<string, string>> = [];
    for (const c of cells) for (const level of g.levels) next.push({ ...c, [g.column]: level });
    cells = next;
  }
  return cells;
}

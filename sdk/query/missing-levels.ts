/**
 * Rows with a missing group-by value: every job asks the stations for a missing-value cell per
 * group-by column (common/job.ts GroupBy.missing), so that the cells add up to the rows
 * selected. A result shows that cell as the level "(missing)" when any row falls in it, and
 * leaves it out when none does (R's table(useNA = "ifany")): most columns have no missing
 * values, and a row of zeros under every table would only be noise.
 *
 * The result classes then see an ordinary group-by whose last level is "(missing)", so none of
 * them needs to know about missing values.
 */
import { type GroupBy, cellCount, levelCount, levelLabels } from "../../common/job.js";

export interface ShownCells {
  /** The group-by as results show it: levels with "(missing)" where it is kept, no `missing` flag. */
  by: GroupBy[];
  sum: Float64Array;
}

/**
 * Drops the missing-value cells of each group-by column in which they are all empty.
 * `perCell`: numbers per cell in `sum` (1 for a count, 3 for moments, a histogram's width, …);
 * a cell is empty when all of them are 0.
 */
export function showMissingIfAny(by: readonly GroupBy[], sum: Float64Array, perCell: number): ShownCells {
  let groups = by.map((g) => ({ ...g }));
  let values = sum;
  for (let j = 0; j < groups.length; j++) {
    const g = groups[j];
    if (!g.missing) continue;
    const width = levelCount(g);
    const stride = cellCount(groups.slice(j + 1));
    const cells = cellCount(groups);
    const isMissingCell = (c: number) => Math.floor(c / stride) % width === width - 1;
    let any = false;
    for (let c = 0; c < cells && !any; c++) {
      if (!isMissingCell(c)) continue;
      for (let k = 0; k < perCell; k++) if (values[c * perCell + k] !== 0) any = true;
    }
    if (any) continue;
    const kept = new Float64Array((cells - cells / width) * perCell);
    let at = 0;
    for (let c = 0; c < cells; c++) {
      if (isMissingCell(c)) continue;
      kept.set(values.subarray(c * perCell, (c + 1) * perCell), at);
      at += perCell;
    }
    values = kept;
    groups = groups.map((x, i) => (i === j ? { column: x.column, levels: x.levels } : x));
  }
  return { by: groups.map((g) => ({ column: g.column, levels: levelLabels(g) })), sum: values };
}

/** The same for an indicator set, whose vector is each indicator's cells in turn. */
export function showMissingIfAnyPerIndicator(bys: ReadonlyArray<readonly GroupBy[]>, sum: Float64Array, perCell: number): { bys: GroupBy[][]; sum: Float64Array } {
  const parts: Float64Array[] = [];
  const shown: GroupBy[][] = [];
  let at = 0;
  for (const by of bys) {
    const length = perCell * cellCount(by);
    const s = showMissingIfAny(by, sum.subarray(at, at + length), perCell);
    shown.push(s.by);
    parts.push(s.sum);
    at += length;
  }
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return { bys: shown, sum: out };
}

import { describe, expect, it } from "vitest";
import { countCells, momentCells, MOMENTS_PER_CELL } from "../station-daemon/compute/descriptive.js";
import { BadInput, UnknownColumn } from "../common/errors.js";
import { cellCount, type GroupBy } from "../common/job.js";
import { tableOf, type Cell } from "./helpers/table.js";

type Row = Record<string, Cell>;


const kinds = { sex: "categorical", alone: "boolean", quintile: "numeric", age: "numeric", falls: "numeric" } as const;

function randomRows(count: number, seed: number): Row[] {
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const maybe = <T>(value: T): T | null => (random() < 0.1 ? null : value);
  return Array.from({ length: count }, () => ({
    sex: maybe(random() < 0.5 ? "F" : "M"),
    alone: maybe(random() < 0.4),
    quintile: maybe(1 + Math.floor(random() * 5)),
    age: maybe(65 + Math.round(random() * 300) / 10),
    falls: maybe(Math.floor(random() * 4)),
  }));
}

const rows = randomRows(2000, 42);
const table = tableOf(kinds, rows);
const selection = Uint8Array.from(rows, (_, i) => (i % 3 === 2 ? 0 : 1));
const by: GroupBy[] = [
  { column: "sex", levels: ["F", "M", "Q"] },
  { column: "alone", levels: ["false", "true"] },
  { column: "quintile", levels: ["1", "2", "3", "4", "5"] },
];

/** The text a row's value has as a group-by level, null when missing. */
const levelOf = (value: Cell): string | null => (value === null ? null : String(value));

/** Every cell of `by` in row-major order (first GroupBy slowest), as level tuples. */
function cellsOf(groups: GroupBy[]): string[][] {
  return groups.reduce<string[][]>((cells, g) => cells.flatMap((cell) => g.levels.map((level) => [...cell, level])), [[]]);
}

/** The selected rows falling in each cell, computed over plain row objects. */
function rowsPerCell(groups: GroupBy[], picked: Row[]): Row[][] {
  return cellsOf(groups).map((cell) => picked.filter((row) => groups.every((g, k) => levelOf(row[g.column]) === cell[k])));
}

const picked = rows.filter((_, i) => selection[i] === 1);

describe("countCells", () => {
  it("counts the selected rows in one cell without a group-by", () => {
    const counts = countCells({ table, rows: selection, by: [] });
    expect([...counts]).toEqual([picked.length]);
  });

  it("counts rows per cell, row-major with the first group-by slowest, leaving out missing values", () => {
    const counts = countCells({ table, rows: selection, by });
    expect(counts).toBeInstanceOf(Float64Array);
    expect(counts).toHaveLength(cellCount(by));
    expect([...counts]).toEqual(rowsPerCell(by, picked).map((r) => r.length));
    const complete = picked.filter((r) => r.sex !== null && r.alone !== null && r.quintile !== null);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(complete.length);
  });

  it("puts (F, false, 1) in cell 0, (F, false, 2) in cell 1 and (M, false, 1) in cell 10", () => {
    const one: Row[] = [
      { sex: "F", alone: false, quintile: 1, age: 70, falls: 0 },
      { sex: "F", alone: false, quintile: 2, age: 70, falls: 0 },
      { sex: "M", alone: false, quintile: 1, age: 70, falls: 0 },
      { sex: "M", alone: false, quintile: 1, age: 70, falls: 0 },
    ];
    const counts = countCells({ table: tableOf(kinds, one), rows: new Uint8Array(4).fill(1), by });
    expect([...counts.keys()].filter((c) => counts[c] > 0).map((c) => [c, counts[c]])).toEqual([[0, 1], [1, 1], [10, 2]]);
  });

  it("lays out cells in the coordinator's level order, not the station's", () => {
    const reordered: GroupBy[] = [{ column: "alone", levels: ["true", "false"] }, { column: "sex", levels: ["M", "F"] }];
    expect([...countCells({ table, rows: selection, by: reordered })]).toEqual(rowsPerCell(reordered, picked).map((r) => r.length));
  });

  it("gives zero to a listed level the station does not have", () => {
    const counts = countCells({ table, rows: selection, by: [by[0]] });
    expect(counts[2]).toBe(0);
  });

  it("refuses when the station has a level the coordinator did not list", () => {
    expect(() => countCells({ table, rows: selection, by: [{ column: "sex", levels: ["F"] }] })).toThrow(
      'column "sex" at this station has the level "M", which the group-by does not list (listed: "F")');
  });

  it("refuses an unlisted level even when the filter leaves out every row that has it", () => {
    // Otherwise success or failure would tell whether the filtered group holds the level.
    const onlyWomen = Uint8Array.from(rows, (r) => (r.sex === "F" ? 1 : 0));
    expect(() => countCells({ table, rows: onlyWomen, by: [{ column: "sex", levels: ["F"] }] })).toThrow(BadInput);
  });

  it("groups boolean columns by false and true only", () => {
    expect(() => countCells({ table, rows: selection, by: [{ column: "alone", levels: ["true"] }] })).toThrow(
      /column "alone" is boolean; group it by the levels "false" and "true"/);
    expect(() => countCells({ table, rows: selection, by: [{ column: "alone", levels: ["0", "1"] }] })).toThrow(BadInput);
  });

  it("groups integer-valued numeric columns by their decimal text", () => {
    const counts = countCells({ table, rows: selection, by: [{ column: "falls", levels: ["0", "1", "2", "3"] }] });
    expect([...counts]).toEqual([0, 1, 2, 3].map((f) => picked.filter((r) => r.falls === f).length));
  });

  it("refuses a numeric value outside the levels without revealing it", () => {
    const error = (() => {
      try {
        countCells({ table, rows: selection, by: [{ column: "falls", levels: ["0", "1", "2"] }] });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(BadInput);
    expect(error?.message).toBe('column "falls" at this station has a value the group-by levels do not list');
  });

  it("refuses to group a numeric column that is not integer-valued, or by levels that are not integers", () => {
    expect(() => countCells({ table, rows: selection, by: [{ column: "age", levels: ["65"] }] })).toThrow(
      /column "age" is numeric but not integer-valued/);
    expect(() => countCells({ table, rows: selection, by: [{ column: "falls", levels: ["0", "01", "2", "3"] }] })).toThrow(
      /levels must be integers in decimal text, not "01"/);
    expect(() => countCells({ table, rows: selection, by: [{ column: "falls", levels: ["0", "1.0"] }] })).toThrow(BadInput);
  });

  it("refuses duplicate or empty level lists, unknown columns and a selection of the wrong length", () => {
    expect(() => countCells({ table, rows: selection, by: [{ column: "sex", levels: ["F", "M", "F"] }] })).toThrow(/lists the level "F" twice/);
    expect(() => countCells({ table, rows: selection, by: [{ column: "sex", levels: [] }] })).toThrow(/has no levels/);
    expect(() => countCells({ table, rows: selection, by: [{ column: "postcode", levels: ["1234"] }] })).toThrow(UnknownColumn);
    expect(() => countCells({ table, rows: new Uint8Array(3), by: [] })).toThrow(/the row selection has 3 entries; the table has 2000 rows/);
  });
});

describe("momentCells", () => {
  /** [n, Σ(x − c), Σ(x − c)²] of `column` per cell, over plain rows. */
  function expectedMoments(groups: GroupBy[], column: string, shift = 0): number[] {
    return rowsPerCell(groups, picked).flatMap((cellRows) => {
      const xs = cellRows.map((r) => r[column]).filter((v) => v !== null).map((v) => Number(v) - shift);
      return [xs.length, xs.reduce((a, b) => a + b, 0), xs.reduce((a, b) => a + b * b, 0)];
    });
  }

  it("returns n, sum and sum of squares per cell, cell-major, over non-missing values", () => {
    const groups = [by[0], by[1]];
    const moments = momentCells({ table, rows: selection, column: "age", by: groups });
    expect(moments).toHaveLength(MOMENTS_PER_CELL * cellCount(groups));
    const expected = expectedMoments(groups, "age");
    expected.forEach((value, i) => expect(moments[i]).toBeCloseTo(value, 6));
  });

  it("is exact for integer and boolean columns", () => {
    expect([...momentCells({ table, rows: selection, column: "falls", by: [by[2]] })]).toEqual(expectedMoments([by[2]], "falls"));
    expect([...momentCells({ table, rows: selection, column: "alone", by: [] })]).toEqual(expectedMoments([], "alone"));
  });

  it("shifts by the coordinator's agreed value", () => {
    const moments = momentCells({ table, rows: selection, column: "age", by: [by[0]], shift: 80 });
    expectedMoments([by[0]], "age", 80).forEach((value, i) => expect(moments[i]).toBeCloseTo(value, 6));
  });

  it("adds up across stations to the pooled variance, even for values with a large mean", () => {
    // Values around 1e9 with a spread of about 1: the unshifted sum of squares keeps no digits of the variance.
    const stationRows = [randomRows(3000, 1), randomRows(2000, 2), randomRows(1000, 3)].map((rs) =>
      rs.map((r) => ({ ...r, age: r.age === null ? null : 1e9 + (r.age as number) / 10 })));
    const all = stationRows.flat().map((r) => r.age).filter((v): v is number => v !== null);
    const mean = all.reduce((a, b) => a + b, 0) / all.length;
    const pooledVariance = all.reduce((a, b) => a + (b - mean) ** 2, 0) / (all.length - 1);

    const total = (shift: number) => {
      const sum = new Float64Array(3);
      for (const rs of stationRows) {
        const m = momentCells({ table: tableOf(kinds, rs), rows: new Uint8Array(rs.length).fill(1), column: "age", by: [], shift });
        for (let i = 0; i < 3; i++) sum[i] += m[i];
      }
      const [n, s1, s2] = sum;
      return (s2 - (s1 * s1) / n) / (n - 1);
    };
    expect(total(1e9 + 8)).toBeCloseTo(pooledVariance, 9);
    expect(Math.abs(total(0) - pooledVariance)).toBeGreaterThan(1e-3);
  });

  it("refuses a categorical column, and a non-finite shift", () => {
    expect(() => momentCells({ table, rows: selection, column: "sex", by: [] })).toThrow(
      'column "sex" is categorical; moments need a numeric or boolean column');
    expect(() => momentCells({ table, rows: selection, column: "age", by: [], shift: NaN })).toThrow(BadInput);
    expect(() => momentCells({ table, rows: selection, column: "weight", by: [] })).toThrow(UnknownColumn);
  });

  it("refuses a group-by level mismatch like countCells", () => {
    expect(() => momentCells({ table, rows: selection, column: "age", by: [{ column: "sex", levels: ["M"] }] })).toThrow(BadInput);
  });
});

describe("group-by columns with a missing-value cell", () => {
  const withMissing: GroupBy[] = by.map((g) => ({ ...g, missing: true }));
  /** Like cellsOf, with the missing-value cell (null) after each column's levels. */
  const cellsWithMissing = (groups: GroupBy[]): Array<Array<string | null>> =>
    groups.reduce<Array<Array<string | null>>>((cells, g) => cells.flatMap((cell) => [...g.levels, null].map((level) => [...cell, level])), [[]]);

  it("puts a row whose group-by value is missing in the cell after that column's levels, so the cells add up to the rows selected", () => {
    expect(cellCount(withMissing)).toBe(4 * 3 * 6);
    const counts = countCells({ table, rows: selection, by: withMissing });
    const expected = cellsWithMissing(withMissing).map((cell) => picked.filter((row) => withMissing.every((g, k) => levelOf(row[g.column]) === cell[k])).length);
    expect([...counts]).toEqual(expected);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(picked.length);
  });

  it("gives moments of the rows with a missing group-by value", () => {
    const sexOnly: GroupBy[] = [{ column: "sex", levels: ["F", "M"], missing: true }];
    const m = momentCells({ table, rows: selection, by: sexOnly, column: "age" });
    const ages = picked.filter((r) => r.sex === null && r.age !== null).map((r) => r.age as number);
    expect(m[2 * MOMENTS_PER_CELL]).toBe(ages.length);
    expect(m[2 * MOMENTS_PER_CELL + 1]).toBeCloseTo(ages.reduce((a, b) => a + b, 0), 9);
  });

  it("travels on the wire only when asked for, so that older jobs keep their digest", async () => {
    const { jobFromWire, jobToWire } = await import("../common/wire.js");
    const { jobDigest } = await import("../common/job-digest.js");
    const plain = { dataset: "d", computation: { kind: "count" as const, by: [{ column: "sex", levels: ["F", "M"] }] } };
    const asked = { dataset: "d", computation: { kind: "count" as const, by: [{ column: "sex", levels: ["F", "M"], missing: true }] } };
    // proto-loader names the set member of the computation oneof; a plain object needs it by hand.
    const wire = (job: typeof plain | typeof asked) => ({ ...jobToWire(job), computation: "count" });
    expect(jobFromWire(wire(asked))).toEqual(asked);
    expect(jobFromWire(wire(plain))).toEqual(plain);
    expect(jobFromWire({ ...wire(plain), count: { by: [{ column: "sex", levels: ["F", "M"], missing: false }] } })).toEqual(plain);
    expect(Buffer.from(jobDigest(asked)).equals(Buffer.from(jobDigest(plain)))).toBe(false);
    expect(() => jobFromWire({ ...wire(plain), count: { by: [{ column: "sex", levels: ["F", "M"], missing: "yes" }] } })).toThrow(/groupBy\.missing of "sex" must be true or false/);
  });
});

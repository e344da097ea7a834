/**
 * Unit specification of the descriptive statistics beyond counts and means: the histogram and
 * indicator kernels, their wire form, result-level disclosure control (primary and secondary
 * suppression) and the confidence intervals, each against numbers computed independently here.
 */
import { describe, expect, it } from "vitest";
import { BadInput } from "../common/errors.js";
import type { Expr } from "../common/expression.js";
import { type GroupBy, type JobSpec, descriptiveLength, quantileEdges } from "../common/job.js";
import { stationServiceDefinition } from "../common/protos.js";
import { jobFromWire, jobToWire } from "../common/wire.js";
import { parseWhere } from "../sdk/query/where.js";
import { CountResult } from "../sdk/results/count-result.js";
import { CrosstabResult } from "../sdk/results/crosstab-result.js";
import { suppressTable } from "../common/disclosure.js";
import type { Computation } from "../common/job.js";
import { decideRelease } from "../station-daemon/release/index.js";
import type { StudyPolicy } from "../station-daemon/governance/policy.js";
import { HistogramResult } from "../sdk/results/histogram-result.js";
import { fayFeuerInterval, gammaQuantile, wilsonInterval } from "../sdk/results/intervals.js";
import { ProportionResult } from "../sdk/results/proportion-result.js";
import { QuantileResult } from "../sdk/results/quantile-result.js";
import { StandardisedRateResult } from "../sdk/results/standardised-rate-result.js";
import { histogramCells, indicatorCells } from "../station-daemon/compute/descriptive.js";
import { DEFAULT_DISCLOSURE, checkDisclosure } from "../station-daemon/governance/index.js";
import { evaluateWhere } from "../station-daemon/compute/filter.js";
import { tableOf } from "./helpers/table.js";

type Row = Record<string, number | string | boolean | null>;


function rowsOf(count: number, seed: number): Row[] {
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const maybe = <T>(v: T): T | null => (random() < 0.1 ? null : v);
  return Array.from({ length: count }, () => ({
    sex: maybe(random() < 0.5 ? "F" : "M"),
    alone: maybe(random() < 0.4),
    age: maybe(60 + Math.round(random() * 400) / 10),
  }));
}

const kinds = { sex: "categorical", alone: "boolean", age: "numeric" } as const;
const rows = rowsOf(3000, 7);
const table = tableOf(kinds, rows);
const all = new Uint8Array(table.rowCount).fill(1);
const bySex: GroupBy[] = [{ column: "sex", levels: ["F", "M"] }];

describe("histogram kernel", () => {
  it("counts below, each half-open bin, the closed last bin, above and missing, per cell", () => {
    const edges = [65, 70, 80, 90, 100];
    const v = histogramCells({ table, rows: all, column: "age", edges, by: bySex });
    expect(v.length).toBe(descriptiveLength({ kind: "histogram", column: "age", edges, by: bySex }));
    ["F", "M"].forEach((sex, c) => {
      const ages = rows.filter((r) => r.sex === sex).map((r) => r.age as number | null);
      const x = ages.filter((a): a is number => a !== null);
      const expected = [
        x.filter((a) => a < 65).length,
        x.filter((a) => a >= 65 && a < 70).length,
        x.filter((a) => a >= 70 && a < 80).length,
        x.filter((a) => a >= 80 && a < 90).length,
        x.filter((a) => a >= 90 && a <= 100).length,
        x.filter((a) => a > 100).length,
        ages.length - x.length,
      ];
      expect(Array.from(v.subarray(7 * c, 7 * c + 7))).toEqual(expected);
    });
  });

  it("puts a value equal to an inner edge in the bin above it and the last edge in the last bin", () => {
    const t = tableOf({ x: "numeric" }, [{ x: 1 }, { x: 2 }, { x: 3 }, { x: 0.5 }, { x: 3.5 }, { x: null }]);
    const v = histogramCells({ table: t, rows: new Uint8Array(6).fill(1), column: "x", edges: [1, 2, 3], by: [] });
    expect(Array.from(v)).toEqual([1, 1, 2, 1, 1]);
  });

  it("refuses a categorical column and edges that do not increase", () => {
    expect(() => histogramCells({ table, rows: all, column: "sex", edges: [0, 1], by: [] })).toThrow(BadInput);
    expect(() => histogramCells({ table, rows: all, column: "age", edges: [70, 70], by: [] })).toThrow(/strictly increasing/);
  });
});

describe("indicator kernel", () => {
  const evaluate = (e: Expr) => evaluateWhere(table, e);
  it("gives [denominator, numerator] per cell of each indicator, leaving out rows where the numerator is unknown", () => {
    const v = indicatorCells({
      table,
      rows: all,
      evaluate,
      indicators: [
        { numerator: parseWhere("alone"), by: bySex },
        { numerator: parseWhere("age >= 80"), denominator: parseWhere("alone"), by: [] },
      ],
    });
    expect(v.length).toBe(2 * 2 + 2);
    ["F", "M"].forEach((sex, c) => {
      const known = rows.filter((r) => r.sex === sex && r.alone !== null);
      expect(v[2 * c]).toBe(known.length);
      expect(v[2 * c + 1]).toBe(known.filter((r) => r.alone === true).length);
    });
    const population = rows.filter((r) => r.alone === true && r.age !== null);
    expect(v[4]).toBe(population.length);
    expect(v[5]).toBe(population.filter((r) => (r.age as number) >= 80).length);
  });

  it("applies the job's selection", () => {
    const rowsSelected = evaluateWhere(table, parseWhere('sex == "F"'));
    const v = indicatorCells({ table, rows: rowsSelected, evaluate, indicators: [{ numerator: parseWhere("alone"), by: [] }] });
    expect(v[0]).toBe(rows.filter((r) => r.sex === "F" && r.alone !== null).length);
  });
});

describe("wire form of the descriptive computations", () => {
  const jobs: JobSpec[] = [
    { dataset: "d", computation: { kind: "histogram", column: "age", edges: [60, 70.5, 80], by: bySex } },
    { dataset: "d", where: parseWhere("age > 3"), computation: { kind: "quantile", column: "age", lower: 50, upper: 110, bins: 600, by: [] } },
    {
      dataset: "d",
      computation: {
        kind: "indicators",
        indicators: [
          { numerator: parseWhere("diabetes"), by: bySex },
          { numerator: parseWhere('lonely or sex == "M"'), denominator: parseWhere("age >= 65"), by: [] },
        ],
      },
    },
  ];
  it("round-trips every new computation kind through the protobuf encoding", () => {
    const startJob = stationServiceDefinition().StartJob;
    for (const job of jobs) {
      const decoded = startJob.requestDeserialize(startJob.requestSerialize({ job: jobToWire(job) })) as { job: unknown };
      expect(jobFromWire(decoded.job)).toEqual(job);
    }
  });

  it("refuses malformed messages with a BadInput that says what is wrong", () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ computation: "histogram", histogram: { column: "age", edges: [1] } }, /at least two edges/],
      [{ computation: "histogram", histogram: { column: "age", edges: [2, 1] } }, /strictly increasing/],
      [{ computation: "histogram", histogram: { column: "age", edges: [1, "x"] } }, /finite number/],
      [{ computation: "histogram", histogram: { column: "age", edges: Array.from({ length: 20_000 }, (_, i) => i) } }, /at most/],
      [{ computation: "histogram", histogram: { column: "age", edges: [0, 1], by: [{ column: "s", levels: ["a"] }, { column: "s", levels: ["a"] }] } }, /twice/],
      [{ computation: "quantile", quantile: { column: "age", lower: 5, upper: 5, bins: 10 } }, /lower < upper/],
      [{ computation: "quantile", quantile: { column: "age", lower: 0, upper: 5, bins: 2.5 } }, /whole number/],
      [{ computation: "quantile", quantile: { column: "age", lower: 0, upper: 5, bins: 10_000, by: [{ column: "a", levels: Array.from({ length: 1000 }, (_, i) => `${i}`) }] } }, /more than/],
      [{ computation: "indicators", indicators: { indicators: [] } }, /at least one indicator/],
      [{ computation: "indicators", indicators: { indicators: [{ by: [] }] } }, /has no numerator/],
      [{ computation: "indicators", indicators: { indicators: [{ numerator: { node: "bogus" } }] } }, /no known kind/],
      [{ computation: "indicators", indicators: "x" }, /not a message/],
      [
        {
          computation: "indicators",
          indicators: { indicators: Array.from({ length: 30 }, () => ({ numerator: { node: "any", any: { args: Array.from({ length: 1000 }, () => ({ node: "column", column: "x" })) } } })) },
        },
        /conditions in all/,
      ],
    ];
    for (const [computation, message] of bad) {
      expect(() => jobFromWire({ dataset: "d", ...computation }), String(message)).toThrow(BadInput);
      expect(() => jobFromWire({ dataset: "d", ...computation })).toThrow(message);
    }
  });

  it("gives both sides the same quantile edges, ending exactly at the upper bound", () => {
    const edges = quantileEdges({ lower: 0.1, upper: 0.7, bins: 3 });
    expect(edges).toHaveLength(4);
    expect(edges[0]).toBe(0.1);
    expect(edges[3]).toBe(0.7);
  });
});

describe("the station's own disclosure check of the new kinds", () => {
  // The steward's option: the per-station cell rule on the station's own part (off by default).
  const disclosure = { ...DEFAULT_DISCLOSURE, perStationCells: true };
  const check = (job: JobSpec, contribution: number[]) =>
    checkDisclosure({ disclosure, job, table, rowsSelected: table.rowCount, contribution, station: "gp" });

  it("refuses an indicator whose numerator in some cell is 1 … 9, naming the indicator and cell", () => {
    const job: JobSpec = { dataset: "clients", computation: { kind: "indicators", indicators: [{ numerator: parseWhere("alone"), by: bySex }] } };
    expect(() => check(job, [100, 30, 100, 0])).not.toThrow();
    expect(() => check(job, [100, 30, 100, 4])).toThrow(/indicator 1, cell \(sex = "M"\): numerator/);
  });

  it("refuses a small histogram bin but not a quantile job's small fine bins", () => {
    const histogram: JobSpec = { dataset: "clients", computation: { kind: "histogram", column: "age", edges: [60, 70, 80], by: [] } };
    expect(() => check(histogram, [0, 40, 3, 0, 0])).toThrow(/bin \[70, 80\]/);
    const quantile: JobSpec = { dataset: "clients", computation: { kind: "quantile", column: "age", lower: 60, upper: 80, bins: 2, by: [] } };
    expect(() => check(quantile, [0, 40, 3, 1, 0])).not.toThrow();
    expect(() => check(quantile, [0, 4, 3, 1, 0])).toThrow(/values/);
  });
});

/** What the stations release for `computation` on the combined `sum` (minimum cell size 10). */
function released(computation: Computation, sum: ArrayLike<number>): { sum: Float64Array; withheld: Uint8Array; notes: string[] } {
  const study = { id: "s", disclosure: { minCellSize: 10, minSubsetSize: 10, maxParametersPerRow: 0.33, maxLevels: 40 } } as StudyPolicy;
  const r = decideRelease({ job: { dataset: "d", computation }, study, sum: Float64Array.from(sum), extras: new Float64Array(0), stations: 3, stationsWithRows: 3 });
  return { sum: r.values, withheld: r.withheld, notes: r.notes };
}

describe("results show what the stations withheld", () => {
  it("withholds a count cell below the minimum and, because the total is released, a second cell", () => {
    const by = [{ column: "nb", levels: ["a", "b", "c", "d"] }];
    const r = new CountResult({ dataset: "d", by, ...released({ kind: "count", by }, [40, 4, 0, 25]), stations: ["x", "y", "z"] });
    expect(r.cells.map((c) => c.count)).toEqual([40, null, 0, null]);
    expect(r.cells[1]).toMatchObject({ suppressed: true, withheld: "primary", reason: expect.stringContaining("fewer than 10") });
    expect(r.cells[3]).toMatchObject({ suppressed: true, withheld: "secondary", reason: expect.stringContaining("cannot be recovered") });
    expect(r.total).toBe(69);
    expect(r.toString()).toContain("suppressed");
  });

  it("shows a cell equal to the minimum and withholds one just below it", () => {
    const by = [{ column: "s", levels: ["F", "M"] }];
    const at = new CountResult({ dataset: "d", by, ...released({ kind: "count", by }, [10, 50]), stations: [] });
    expect(at.cells.map((c) => c.count)).toEqual([10, 50]);
    const below = new CountResult({ dataset: "d", by, ...released({ kind: "count", by }, [9, 50]), stations: [] });
    expect(below.cells.map((c) => c.count)).toEqual([null, null]);
  });

  it("shows zeros, and withholds the total when the only other cells are zero", () => {
    const by = [{ column: "s", levels: ["F", "M", "X"] }];
    const r = new CountResult({ dataset: "d", by, ...released({ kind: "count", by }, [0, 3, 0]), stations: [] });
    expect(r.cells.map((c) => c.count)).toEqual([0, null, 0]);
    expect(r.total).toBeNull();
  });

  it("shows every number of the plain combined vector when the stations withheld nothing", () => {
    const by = [{ column: "s", levels: ["F", "M"] }];
    const r = new CountResult({ dataset: "d", by, sum: new Float64Array([3, 50]), stations: [] });
    expect(r.cells.map((c) => c.count)).toEqual([3, 50]);
    expect(r.total).toBe(53);
  });

  it("in a crosstab leaves no row, column or margin line with exactly one withheld entry", () => {
    const rows = { column: "r", levels: ["r1", "r2", "r3"] };
    const columns = { column: "c", levels: ["c1", "c2", "c3"] };
    const counts = [50, 3, 40, 30, 25, 60, 20, 45, 0];
    const t = new CrosstabResult({ dataset: "d", rows, columns, ...released({ kind: "count", by: [rows, columns] }, counts), stations: [] });
    expect(t.get("r1", "c2")).toBeNull();
    const grid = [0, 1, 2].map((r) => [0, 1, 2].map((c) => t.cells[3 * r + c].suppressed === true));
    const lines = [
      ...[0, 1, 2].map((r) => [...grid[r], t.rowTotals[r].suppressed === true]),
      ...[0, 1, 2].map((c) => [...grid.map((row) => row[c]), t.columnTotals[c].suppressed === true]),
      [...t.rowTotals.map((x) => x.suppressed === true), t.total.suppressed === true],
      [...t.columnTotals.map((x) => x.suppressed === true), t.total.suppressed === true],
    ];
    for (const line of lines) expect(line.filter(Boolean).length).not.toBe(1);
    // A rectangle: 40 closes row r1, 25 column c2, and 60 closes both row r2 and column c3.
    expect(t.get("r1", "c3")).toBeNull();
    expect(t.get("r2", "c2")).toBeNull();
    expect(t.get("r2", "c3")).toBeNull();
    expect(t.suppressedCount).toBe(4);
    // Margins are the stations' true totals, withheld cells included.
    expect(t.rowTotal("r1")).toBe(93);
    expect(t.total.count).toBe(counts.reduce((a, b) => a + b, 0));
  });

  it("the greedy rule runs until every line is safe", () => {
    // Row 1 (3 + 0 = 3) is withheld whole; the margins line (row totals 3 + 40 = 43) then has one
    // withheld entry, so row 2's total goes too, and with it row 2's only cell.
    const s = suppressTable({
      values: [3, 0, 3, 40, 40, 43],
      lines: [
        { cells: [0, 1], total: 2 },
        { cells: [3], total: 4 },
        { cells: [2, 4], total: 5 },
      ],
      primary: [0],
    });
    expect([...s].map((x) => x !== 0)).toEqual([true, false, true, true, true, false]);
  });

  it("withholds a numerator that is small, or that leaves few without the condition, and a small denominator", () => {
    const by = [{ column: "nb", levels: ["a", "b", "c", "d"] }];
    const sum = [100, 10, 100, 9, 9, 0, 100, 95];
    const p = new ProportionResult({ dataset: "d", condition: "x", by, ...released({ kind: "indicators", indicators: [{ numerator: { kind: "column", name: "x" }, by }] }, sum), stations: [] });
    expect(p.cells.map((c) => c.suppressed === true)).toEqual([false, true, true, true]);
    expect(p.cells[0].proportion).toBe(0.1);
    expect(p.cells[1]).toMatchObject({ numerator: null, denominator: 100, proportion: null, withheld: "primary" });
    expect(p.cells[2]).toMatchObject({ numerator: null, denominator: null, proportion: null });
    // 95 of 100: the 5 without are as identifiable as 5 with
    expect(p.cells[3]).toMatchObject({ numerator: null, denominator: 100 });
  });

  it("withholds a histogram bin below the minimum and a second bin of the same cell", () => {
    const c: Computation = { kind: "histogram", column: "age", edges: [0, 10, 20], by: [] };
    const h = new HistogramResult({ dataset: "d", column: "age", by: [], edges: [0, 10, 20], ...released(c, [0, 30, 5, 40, 2]), stations: [] });
    const cell = h.get()!;
    expect(cell.below.count).toBe(0);
    expect(cell.bins.map((b) => b.count)).toEqual([null, null]);
    expect(cell.above.count).toBe(40);
    expect(cell.n).toBe(75);
    expect(cell.missing.count).toBeNull();
  });
});

describe("quantiles from a fine histogram", () => {
  it("reads R's type-1 quantile to within half a bin and withholds quantiles too near the ends", () => {
    const values = Array.from({ length: 200 }, (_, i) => ((i * 37) % 200) / 4 + 0.01);
    const lower = 0;
    const upper = 50;
    const bins = 100;
    const edges = quantileEdges({ lower, upper, bins });
    const t = tableOf({ x: "numeric" }, values.map((x) => ({ x })));
    const sum = histogramCells({ table: t, rows: new Uint8Array(values.length).fill(1), column: "x", edges, by: [] });
    const probabilities = [0.02, 0.25, 0.5, 0.9, 0.99];
    const c: Computation = { kind: "quantile", column: "x", lower, upper, bins, by: [], probabilities };
    const q = new QuantileResult({ dataset: "d", column: "x", by: [], probabilities, lower, upper, bins, ...released(c, sum), stations: [] });
    expect(q.errorBound).toBe(0.25);
    const sorted = [...values].sort((a, b) => a - b);
    for (const p of [0.25, 0.5, 0.9]) {
      const exact = sorted[Math.ceil(p * sorted.length) - 1];
      expect(Math.abs((q.value(p) as number) - exact)).toBeLessThanOrEqual(q.errorBound);
    }
    expect(q.get()!.quantiles[0]).toMatchObject({ value: null, suppressed: true });
    expect(q.get()!.quantiles[4]).toMatchObject({ value: null, suppressed: true });
  });
});

describe("confidence intervals", () => {
  it("Wilson's interval matches the published value for 5 of 20", () => {
    const [lo, hi] = wilsonInterval(5, 20);
    expect(lo).toBeCloseTo(0.1118617, 6);
    expect(hi).toBeCloseTo(0.4687009, 6); // statsmodels proportion_confint(5, 20, method="wilson")
  });

  it("the gamma quantile inverts the incomplete gamma function", () => {
    expect(gammaQuantile(0.5, 1)).toBeCloseTo(Math.LN2, 10);
    expect(gammaQuantile(0.975, 11)).toBeCloseTo(18.39 / 1, 1);
  });

  it("Fay–Feuer reduces to the exact Poisson (Garwood) interval for one stratum", () => {
    // 10 events in 1000 people: Garwood's 95% interval for the count is 4.7954 – 18.3904.
    const [lo, hi] = fayFeuerInterval({ rate: 10 / 1000, variance: 10 / 1000 ** 2, wMax: 1 / 1000 });
    expect(lo * 1000).toBeCloseTo(4.795389, 5);
    expect(hi * 1000).toBeCloseTo(18.39036, 4);
  });

  it("a directly standardised rate weights age-specific rates by the reference population", () => {
    const age = { column: "age_group", levels: ["young", "old"] };
    // group A: young 10/1000, old 60/500; group B: young 20/2000, old 30/100
    const sum = new Float64Array([1000, 10, 500, 60, 2000, 20, 100, 30]);
    const r = new StandardisedRateResult({
      dataset: "d",
      condition: "x",
      age,
      reference: { young: 3, old: 1 },
      by: [{ column: "g", levels: ["A", "B"] }],
      sum,
      stations: [],
    });
    expect(r.get({ g: "A" })!.rate).toBeCloseTo((0.75 * 0.01 + 0.25 * 0.12) * 1000, 10);
    expect(r.get({ g: "B" })!.rate).toBeCloseTo((0.75 * 0.01 + 0.25 * 0.3) * 1000, 10);
    expect(r.get({ g: "A" })!.crudeRate).toBeCloseTo((70 / 1500) * 1000, 10);
    const a = r.get({ g: "A" })!;
    expect(a.lower!).toBeLessThan(a.rate!);
    expect(a.upper!).toBeGreaterThan(a.rate!);
  });
});

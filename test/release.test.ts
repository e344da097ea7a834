/**
 * The stations' release decision (station-daemon/release/) and its parts: suppression
 * (common/disclosure.ts), the released layouts (common/release-layout.ts), the perturbation table
 * (common/perturbation.ts), record keys, and the policy options that turn them on.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PRIMARY, RELEASED, SECONDARY, suppressTable } from "../common/disclosure.js";
import { PolicyRefused } from "../common/errors.js";
import type { Computation, JobSpec } from "../common/job.js";
import { NAMED_PERTURBATION_TABLES, PerturbationTable, cellKey } from "../common/perturbation.js";
import { countReleaseLength } from "../common/release-layout.js";
import { DEFAULT_DISCLOSURE, type StudyPolicy, validatePolicy } from "../station-daemon/governance/policy.js";
import { attachRecordKeys, decideRelease, releaseExtras } from "../station-daemon/release/index.js";
import { RECORD_KEYS_DIR } from "../station-daemon/release/record-keys.js";
import { tableOf } from "./helpers/table.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const study = (extra: Partial<StudyPolicy> = {}) => ({ id: "s", disclosure: { ...DEFAULT_DISCLOSURE }, ...extra }) as StudyPolicy;
const decide = (computation: Computation, sum: number[], s = study(), extras: number[] = []) =>
  decideRelease({ job: { dataset: "d", computation }, study: s, sum: Float64Array.from(sum), extras: Float64Array.from(extras), stations: 3, stationsWithRows: 3 });

describe("decideRelease", () => {
  const by = [{ column: "a", levels: ["x", "y", "z"] }, { column: "b", levels: ["1", "2", "3"] }];

  it("releases a crosstab with its margins, a small cell withheld (primary) in a rectangle of secondaries", () => {
    const r = decide({ kind: "count", by }, [3, 20, 30, 40, 50, 60, 70, 80, 90]);
    expect(r.values.length).toBe(countReleaseLength(by));
    expect([...r.withheld.slice(0, 9)]).toEqual([PRIMARY, SECONDARY, 0, SECONDARY, SECONDARY, 0, 0, 0, 0]);
    // margins: column totals, row totals, grand total — all true totals
    expect([...r.values.slice(9)]).toEqual([113, 150, 180, 53, 150, 240, 443]);
    expect(r.notes.join("\n")).toMatch(/1 withheld \(primary\): fewer than 10 people/);
  });

  it("is deterministic: the same sum gives byte-identical releases (every station must agree)", () => {
    const sum = Array.from({ length: 9 }, (_, i) => (i * 7) % 13);
    const a = decide({ kind: "count", by }, sum);
    const b = decide({ kind: "count", by }, sum);
    expect(Buffer.from(a.values.buffer).equals(Buffer.from(b.values.buffer))).toBe(true);
    expect([...a.withheld]).toEqual([...b.withheld]);
  });

  it("withholds a moments cell whole when its n is small, and its partner, since the overall n is released", () => {
    const r = decide({ kind: "moments", column: "x", by: [{ column: "s", levels: ["F", "M"] }] }, [3, 200, 13400, 40, 2600, 170000]);
    expect([...r.withheld]).toEqual([PRIMARY, PRIMARY, PRIMARY, SECONDARY, SECONDARY, SECONDARY, 0, 0, 0]);
    expect([...r.values]).toEqual([0, 0, 0, 0, 0, 0, 43, 2800, 183400]);
  });

  it("fails closed: a kind without a release rule releases nothing", () => {
    expect(() => decide({ kind: "crosstab" } as unknown as Computation, [1])).toThrow(PolicyRefused);
  });

  it("fails closed: perturbation promised but no cell keys", () => {
    expect(() => decide({ kind: "count", by }, [30, 20, 30, 40, 50, 60, 70, 80, 90], study({ perturbation: NAMED_PERTURBATION_TABLES.default }))).toThrow(/cell-key sums/);
  });

  it("perturbs released counts by the table, the same noise for the same cell, and says so", () => {
    const s = study({ perturbation: NAMED_PERTURBATION_TABLES.default });
    const sum = [30, 20, 30, 40, 50, 60, 70, 80, 90];
    const extras = sum.map((_, i) => (i * 40_503) % 65_536);
    const a = decide({ kind: "count", by }, sum, s, extras);
    expect([...decide({ kind: "count", by }, sum, s, extras).values]).toEqual([...a.values]);
    a.values.slice(0, 9).forEach((v, i) => expect(Math.abs(v - sum[i])).toBeLessThanOrEqual(3));
    expect(a.notes.join(" ")).toMatch(/perturbed.*±3/);
  });
});

describe("suppressTable", () => {
  it("never leaves a line with exactly one withheld entry: the smallest released cell of the line goes with it", () => {
    const s = suppressTable({ values: [5, 50, 50, 105], lines: [{ cells: [0, 1, 2], total: 3 }], primary: [0] });
    expect([...s]).toEqual([PRIMARY, SECONDARY, RELEASED, RELEASED]);
  });

  it("does not count a zero as protection", () => {
    // 4 + 0 = 4: withholding the 0 would leave 4 ≤ x ≤ 4; the total goes instead.
    const s = suppressTable({ values: [4, 0, 4], lines: [{ cells: [0, 1], total: 2 }], primary: [0] });
    expect([...s]).toEqual([PRIMARY, RELEASED, SECONDARY]);
  });

  it("withholds a bridge cell's partner that the singleton rule alone would miss", () => {
    // 4 × 4 with margins: rectangles {r0,r1}×{c0,c1} and {r2,r3}×{c2,c3} joined by r1c2.
    const R = 4;
    const values: number[] = Array.from({ length: 16 }, (_, i) => 20 + i);
    const rowAt = 16;
    const colAt = 20;
    for (let r = 0; r < R; r++) values[rowAt + r] = [0, 1, 2, 3].reduce((t, c) => t + values[r * 4 + c], 0);
    for (let c = 0; c < R; c++) values[colAt + c] = [0, 1, 2, 3].reduce((t, r) => t + values[r * 4 + c], 0);
    values[24] = values.slice(rowAt, rowAt + 4).reduce((a, b) => a + b, 0);
    const lines = [
      ...[0, 1, 2, 3].map((r) => ({ cells: [0, 1, 2, 3].map((c) => r * 4 + c), total: rowAt + r })),
      ...[0, 1, 2, 3].map((c) => ({ cells: [0, 1, 2, 3].map((r) => r * 4 + c), total: colAt + c })),
      { cells: [0, 1, 2, 3].map((r) => rowAt + r), total: 24 },
      { cells: [0, 1, 2, 3].map((c) => colAt + c), total: 24 },
    ];
    const primary = [0, 1, 4, 5, 6, 10, 11, 14, 15];
    const s = suppressTable({ values, lines, primary });
    // something beyond the primaries had to go, or the bridge would follow from the margins
    expect([...s].filter((x) => x === SECONDARY).length).toBeGreaterThan(0);
  });
});

describe("the perturbation table", () => {
  for (const [name, settings] of Object.entries(NAMED_PERTURBATION_TABLES)) {
    it(`${name}: zero stays zero, |noise| ≤ maxNoise, counts stay ≥ 0, mean 0 and the variance asked for`, () => {
      const t = new PerturbationTable(settings);
      expect(t.noise(0, 0.7)).toBe(0);
      for (const row of t.publish()) {
        const c = row.count === "0" ? 0 : Number.parseInt(row.count, 10);
        const mean = row.noise.reduce((m, d, i) => m + d * row.probabilities[i], 0);
        expect(Math.abs(mean)).toBeLessThan(1e-6);
        expect(Math.min(...row.noise)).toBeGreaterThanOrEqual(-Math.min(c, settings.maxNoise));
        expect(Math.max(...row.noise)).toBeLessThanOrEqual(settings.maxNoise);
        if (row.count.endsWith("or more")) {
          const variance = row.noise.reduce((v, d, i) => v + d * d * row.probabilities[i], 0);
          expect(variance).toBeCloseTo(settings.variance, 3);
        }
      }
      for (let k = 0; k < 1; k += 0.01) expect(Math.abs(t.noise(50, k))).toBeLessThanOrEqual(settings.maxNoise);
    });
  }

  it("cell keys are key sums modulo the key range", () => {
    expect(cellKey(65_536 + 32_768)).toBe(0.5);
  });
});

describe("record keys", () => {
  it("are random, not derived from values, kept in the station folder (0600) and the same after a reload", () => {
    const dir = mkdtempSync(join(tmpdir(), "werkplaats-keys-"));
    dirs.push(dir);
    const rows = Array.from({ length: 500 }, (_, i) => ({ sex: i % 2 ? "F" : "M" }));
    const job: JobSpec = { dataset: "clients", computation: { kind: "count", by: [{ column: "sex", levels: ["F", "M"] }] } };
    const s = study({ perturbation: NAMED_PERTURBATION_TABLES.default });
    const all = new Uint8Array(500).fill(1);
    const first = tableOf({ sex: "categorical" }, rows);
    attachRecordKeys({ dir, table: first });
    const a = releaseExtras({ job, study: s, table: first, rows: all });
    const again = tableOf({ sex: "categorical" }, rows);
    attachRecordKeys({ dir, table: again });
    expect([...releaseExtras({ job, study: s, table: again, rows: all })]).toEqual([...a]);
    const files = readdirSync(join(dir, RECORD_KEYS_DIR));
    expect(files).toHaveLength(1);
    expect(statSync(join(dir, RECORD_KEYS_DIR, files[0])).mode & 0o777).toBe(0o600);
    // another station with the very same values gets other keys
    const other = mkdtempSync(join(tmpdir(), "werkplaats-keys-"));
    dirs.push(other);
    const twin = tableOf({ sex: "categorical" }, rows);
    attachRecordKeys({ dir: other, table: twin });
    expect([...releaseExtras({ job, study: s, table: twin, rows: all })]).not.toEqual([...a]);
    // without perturbation no extras at all
    expect(releaseExtras({ job, study: study(), table: first, rows: all }).length).toBe(0);
  });

  it("a table without record keys (a database source) refuses a perturbed study", () => {
    const table = tableOf({ sex: "categorical" }, [{ sex: "F" }]);
    const job: JobSpec = { dataset: "clients", computation: { kind: "count", by: [] } };
    expect(() => releaseExtras({ job, study: study({ perturbation: NAMED_PERTURBATION_TABLES.default }), table, rows: new Uint8Array(1).fill(1) })).toThrow(/no record keys/);
  });
});

describe("policy options", () => {
  const base = (study: Record<string, unknown>) => ({
    version: 1,
    studies: [{ id: "s", purpose: "p", dpia: "d", expires: "2099-01-01", researchers: [], datasets: "*", computations: "*", ...study }],
  });

  it("reads perturbation by settings or by name, and refuses what is not a table", () => {
    expect(validatePolicy(base({ perturbation: { maxNoise: 2, variance: 1 } })).studies[0].perturbation).toEqual({ maxNoise: 2, variance: 1 });
    expect(validatePolicy(base({ perturbation: "default" })).studies[0].perturbation).toMatchObject({ maxNoise: 3, variance: 2 });
    expect(() => validatePolicy(base({ perturbation: "gaussian" }))).toThrow(/not a published perturbation table/);
    expect(() => validatePolicy(base({ perturbation: { maxNoise: 2, variance: 9 } }))).toThrow(/variance/);
    expect(() => validatePolicy(base({ perturbation: { maxNoise: 2, varience: 1 } }))).toThrow(/did you mean "variance"/);
  });

  it("keeps the per-station cell rule as an option, off by default; a study may turn it on, not off", () => {
    expect(validatePolicy(base({})).studies[0].disclosure.perStationCells).toBe(false);
    expect(validatePolicy(base({ disclosure: { perStationCells: true } })).studies[0].disclosure.perStationCells).toBe(true);
    expect(() => validatePolicy({ ...base({ disclosure: { perStationCells: false } }), disclosure: { perStationCells: true } })).toThrow(/may not be turned off/);
  });
});

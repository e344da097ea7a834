/**
 * Attacks on the combined table, as an analyst with a valid study key would make them, against
 * the stations' release decision (station-daemon/release/): the real kernels compute each
 * station's part from the default synthetic data (`werkplaats synth neighbourhood` / `fall-risk`,
 * seed 1), the parts are summed as secure aggregation sums them, and every station's
 * `decideRelease` decides what reaches the analyst. Checked against the pooled rows read
 * independently (test/helpers/pooled.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PRIMARY, SECONDARY } from "../../common/disclosure.js";
import type { Computation, GroupBy, JobSpec } from "../../common/job.js";
import { NAMED_PERTURBATION_TABLES, type PerturbationSettings } from "../../common/perturbation.js";
import { countMarginOffsets, evaluationReleaseLength, quantileReleaseLength } from "../../common/release-layout.js";
import { parseWhere } from "../../sdk/query/where.js";
import { kernel } from "../../station-daemon/compute/contribution.js";
import { evaluateWhere } from "../../station-daemon/compute/filter.js";
import { loadCsv } from "../../station-daemon/data/csv.js";
import type { Table } from "../../station-daemon/data/table.js";
import { DEFAULT_DISCLOSURE, type StudyPolicy } from "../../station-daemon/governance/policy.js";
import { type Release, attachRecordKeys, decideRelease, releaseExtras } from "../../station-daemon/release/index.js";
import { writeScenario } from "../../synth/index.js";
import { type PooledRow, readRows } from "../helpers/pooled.js";

const K = DEFAULT_DISCLOSURE.minCellSize;
let dir: string;
const data: Record<string, { tables: Table[]; rows: PooledRow[]; files: string[] }> = {};

function study(perturbation?: PerturbationSettings): StudyPolicy {
  return { id: "attack", disclosure: { ...DEFAULT_DISCLOSURE }, ...(perturbation ? { perturbation } : {}) } as StudyPolicy;
}

/** One job through every station's kernel, summed, and the stations' decision on the sum. */
function release(dataset: string, computation: Computation, options: { where?: string; study?: StudyPolicy } = {}): Release {
  const s = options.study ?? study();
  const job: JobSpec = { dataset: data[dataset].tables[0].name, ...(options.where ? { where: parseWhere(options.where) } : {}), computation };
  let sum: Float64Array | undefined;
  let extras: Float64Array | undefined;
  let withRows = 0;
  for (const table of data[dataset].tables) {
    const rows = evaluateWhere(table, job.where);
    const part = kernel(table, rows, job);
    const keys = releaseExtras({ job, study: s, table, rows });
    sum = sum ? sum.map((v, i) => v + part[i]) : part;
    extras = extras ? extras.map((v, i) => v + keys[i]) : keys;
    if (rows.some((r) => r === 1)) withRows++;
  }
  return decideRelease({ job, study: s, sum: sum!, extras: extras!, stations: data[dataset].tables.length, stationsWithRows: withRows });
}

function levels(dataset: string, column: string): GroupBy {
  const all = new Set<string>();
  for (const t of data[dataset].tables) {
    const c = t.columns.get(column)!;
    if (c.kind === "categorical") c.levels.forEach((l) => all.add(l));
  }
  return { column, levels: [...all].sort() };
}

/**
 * An independent check that no withheld entry follows from the released ones: each equation
 * (Σ parts − total = 0) restricted to the unknown entries, and the unit vector of a withheld entry
 * tested for membership in their row space by a rank comparison.
 */
function recoverableEntries(equations: Array<Map<number, number>>, withheld: ArrayLike<number>, hidden: ReadonlySet<number> = new Set()): number[] {
  const unknown = [...new Set(equations.flatMap((e) => [...e.keys()]))].filter((i) => (withheld[i] ?? 0) !== 0 || hidden.has(i)).sort((a, b) => a - b);
  const col = new Map(unknown.map((i, c) => [i, c]));
  const rows = equations.map((e) => unknown.map((i) => e.get(i) ?? 0)).filter((r) => r.some((x) => x !== 0));
  const rank = (m: number[][]) => {
    const a = m.map((r) => [...r]);
    let r = 0;
    for (let c = 0; c < unknown.length && r < a.length; c++) {
      let p = r;
      for (let i = r + 1; i < a.length; i++) if (Math.abs(a[i][c]) > Math.abs(a[p][c])) p = i;
      if (Math.abs(a[p][c]) < 1e-9) continue;
      [a[r], a[p]] = [a[p], a[r]];
      for (let i = 0; i < a.length; i++) {
        if (i === r) continue;
        const f = a[i][c] / a[r][c];
        if (f !== 0) for (let j = c; j < unknown.length; j++) a[i][j] -= f * a[r][j];
      }
      r++;
    }
    return r;
  };
  const base = rank(rows);
  return unknown.filter((i) => (withheld[i] ?? 0) !== 0 && rank([...rows, unknown.map((_, c) => (c === col.get(i) ? 1 : 0))]) === base);
}

/** The equations of a count over [a, b] with its margins (released layout). */
function crosstabEquations(by: GroupBy[]): Array<Map<number, number>> {
  const [R, C] = [by[0].levels.length, by[1].levels.length];
  const at = new Map(countMarginOffsets(by).map((m) => [m.mask, m.offset]));
  const eq: Array<Map<number, number>> = [];
  for (let r = 0; r < R; r++) eq.push(new Map([...Array.from({ length: C }, (_, c) => [r * C + c, 1] as [number, number]), [at.get(1)! + r, -1]]));
  for (let c = 0; c < C; c++) eq.push(new Map([...Array.from({ length: R }, (_, r) => [r * C + c, 1] as [number, number]), [at.get(2)! + c, -1]]));
  eq.push(new Map([...Array.from({ length: R }, (_, r) => [at.get(1)! + r, 1] as [number, number]), [at.get(0)!, -1]]));
  eq.push(new Map([...Array.from({ length: C }, (_, c) => [at.get(2)! + c, 1] as [number, number]), [at.get(0)!, -1]]));
  return eq;
}

function pooledCount(rows: PooledRow[], keys: string[], groups: GroupBy[]): number[] {
  const out = new Array(groups.reduce((n, g) => n * g.levels.length, 1)).fill(0);
  for (const row of rows) {
    let i = 0;
    groups.forEach((g, d) => (i = i * g.levels.length + g.levels.indexOf(row[keys[d]])));
    out[i]++;
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "werkplaats-combined-"));
  for (const [scenario, dataset] of [["neighbourhood", "neighbourhood"], ["fall-risk", "fall_risk"]] as const) {
    const { files } = await writeScenario({ scenario, seed: 1, out: join(dir, scenario) });
    const tables = await Promise.all(files.map((file) => loadCsv({ file, dataset })));
    tables.forEach((table, i) => attachRecordKeys({ dir: join(dir, scenario, `station-${i}`), table }));
    data[scenario] = { tables, rows: readRows(files), files };
  }
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a count by buurt × age group in one job (default neighbourhood data)", () => {
  it("releases the pooled cells exactly, withholds only 1 … k−1 and their protectors, and no withheld cell follows from the margins", () => {
    const by = [levels("neighbourhood", "neighbourhood"), levels("neighbourhood", "age_group")];
    const r = release("neighbourhood", { kind: "count", by });
    const truth = pooledCount(data.neighbourhood.rows, ["neighbourhood", "age_group"], by);
    let primary = 0;
    let secondary = 0;
    truth.forEach((t, i) => {
      if (r.withheld[i] === 0) expect(r.values[i]).toBe(t);
      else expect(r.values[i]).toBe(0);
      if (r.withheld[i] === PRIMARY) {
        primary++;
        expect(t >= 1 && t < K).toBe(true);
      }
      if (r.withheld[i] === SECONDARY) secondary++;
      // every small cell is withheld
      if (t >= 1 && t < K) expect(r.withheld[i]).toBe(PRIMARY);
    });
    expect(primary).toBeGreaterThan(0); // the default data has small buurt × age cells: the attack has a target
    expect(secondary).toBeGreaterThan(0);
    // every secondary entry shares a line with another withheld entry (it protects something)
    const eq = crosstabEquations(by);
    for (let i = 0; i < r.withheld.length; i++) {
      if (r.withheld[i] !== SECONDARY) continue;
      expect(eq.some((e) => e.has(i) && [...e.keys()].some((j) => j !== i && r.withheld[j] !== 0))).toBe(true);
    }
    expect(recoverableEntries(eq, r.withheld)).toEqual([]);
    // released margins are the true totals
    const at = new Map(countMarginOffsets(by).map((m) => [m.mask, m.offset]));
    if (!r.withheld[at.get(0)!]) expect(r.values[at.get(0)!]).toBe(data.neighbourhood.rows.length);
    console.log(`buurt × age group: ${truth.length} cells, ${primary} withheld (primary), ${secondary} withheld (secondary)`);
  });

  it("the rank test catches a pattern that the singleton rule alone would pass (the test can fail)", () => {
    // Two protected rectangles joined by one withheld bridge cell: every line holds 0 or ≥ 2
    // withheld entries, yet the bridge follows from the margins.
    const by = [{ column: "a", levels: ["1", "2", "3", "4"] }, { column: "b", levels: ["1", "2", "3", "4"] }];
    const withheld = new Uint8Array(16 + 4 + 4 + 1);
    for (const i of [0, 1, 4, 5, 10, 11, 14, 15, 6]) withheld[i] = 1; // rectangles {r0,r1}×{c0,c1}, {r2,r3}×{c2,c3}, bridge r1c2
    expect(recoverableEntries(crosstabEquations(by), withheld)).toEqual([6]);
  });
});

describe("fall-risk tables with small cells", () => {
  it("a buurt × sex count: withheld cells protected, released cells exact", () => {
    const by = [levels("fall-risk", "neighbourhood"), levels("fall-risk", "sex")];
    const r = release("fall-risk", { kind: "count", by }, { where: "age >= 90" });
    const truth = pooledCount(data["fall-risk"].rows.filter((x) => Number(x.age) >= 90), ["neighbourhood", "sex"], by);
    truth.forEach((t, i) => (r.withheld[i] === 0 ? expect(r.values[i]).toBe(t) : expect(r.withheld[i] === SECONDARY || (t >= 1 && t < K)).toBe(true)));
    expect([...r.withheld].some((w) => w === PRIMARY)).toBe(true);
    expect(recoverableEntries(crosstabEquations(by), r.withheld)).toEqual([]);
  });

  it("a summary by buurt: the overall n of the SDK's first job does not give a withheld cell away", () => {
    const nb = levels("fall-risk", "neighbourhood");
    const where = "age >= 90";
    const overall = release("fall-risk", { kind: "moments", column: "num_medications", by: [] }, { where });
    const r = release("fall-risk", { kind: "moments", column: "num_medications", by: [nb] }, { where });
    const cells = nb.levels.length;
    expect(overall.withheld[0]).toBe(0);
    expect([...r.withheld].some((w) => w === PRIMARY)).toBe(true);
    // what the analyst knows: the released cells' n and the first job's overall n
    const eq = [new Map<number, number>([...Array.from({ length: cells }, (_, c) => [3 * c, 1] as [number, number]), [10_000, -1]])];
    expect(recoverableEntries(eq, r.withheld)).toEqual([]);
    expect(r.values[3 * cells]).toBe(overall.values[0]);
  });

  it("a histogram of age in 1-year bins: bins of 1 … k−1 withheld, and none follows from n", () => {
    const edges = Array.from({ length: 44 }, (_, i) => 60 + i);
    const r = release("fall-risk", { kind: "histogram", column: "age", edges, by: [{ column: "dementia", levels: ["false", "true"] }] });
    const width = edges.length + 2;
    const eq: Array<Map<number, number>> = [0, 1].map((cell) => new Map([...Array.from({ length: width - 1 }, (_, k) => [cell * width + k, 1] as [number, number]), [2 * width + cell, -1]]));
    expect([...r.withheld].filter((w) => w === PRIMARY).length).toBeGreaterThan(0);
    expect(recoverableEntries(eq, r.withheld)).toEqual([]);
    // the one client aged 102 is not visible
    const oldest = r.values[width + 1 + 42] + r.values[1 + 42];
    expect(oldest).toBe(0);
  });

  it("indicators sharing a denominator over nested group-bys: no withheld numerator follows from the coarser one", () => {
    const nb = levels("fall-risk", "neighbourhood");
    const dementia = parseWhere("dementia");
    const r = release("fall-risk", { kind: "indicators", indicators: [{ numerator: dementia, by: [nb] }, { numerator: dementia, by: [] }] }, { where: "age >= 85" });
    const cells = nb.levels.length;
    // numerators of the fine cells add up to the overall numerator; denominators likewise;
    // and each cell's numerator + (denominator − numerator, never released) = its denominator.
    const hidden = new Set<number>();
    const eq: Array<Map<number, number>> = [
      new Map([...Array.from({ length: cells }, (_, c) => [2 * c + 1, 1] as [number, number]), [2 * cells + 1, -1]]),
      new Map([...Array.from({ length: cells }, (_, c) => [2 * c, 1] as [number, number]), [2 * cells, -1]]),
    ];
    for (let c = 0; c <= cells; c++) {
      const without = 10_000 + c;
      hidden.add(without);
      eq.push(new Map([[2 * c + 1, 1], [without, 1], [2 * c, -1]]));
    }
    expect([...r.withheld].some((w) => w !== 0)).toBe(true);
    expect(recoverableEntries(eq, r.withheld, hidden)).toEqual([]);
  });

  it("quantile bins with cells of 1 are no longer visible: only the quantiles are released", () => {
    const c: Computation = { kind: "quantile", column: "age", lower: 60, upper: 103, bins: 43, by: [{ column: "dementia", levels: ["false", "true"] }], probabilities: [0.01, 0.5, 0.999] };
    const r = release("fall-risk", c);
    expect(r.values.length).toBe(quantileReleaseLength(c));
    expect(r.values.length).toBeLessThan(2 * 46);
    // the 99.9th percentile has fewer than k values above it: withheld, so the oldest ages stay hidden
    const per = 1 + 2 * 3;
    for (const cell of [0, 1]) expect(r.withheld[1 + per * cell + 1 + 2 * 2]).toBe(PRIMARY);
    // the median is released, within the error bound of the pooled type-1 median
    const ages = data["fall-risk"].rows.filter((x) => x.dementia === "false").map((x) => Number(x.age)).sort((a, b) => a - b);
    const median = ages[Math.ceil(0.5 * ages.length) - 1];
    expect(Math.abs(r.values[1 + 1 + 2] - median)).toBeLessThanOrEqual(r.values[0]);
  });

  it("evaluation bins per age are no longer visible; a weighted evaluation releases no group sums", () => {
    // The analyst's own coefficients: one logit bin per year of age, weights = medicines.
    const c: Computation = {
      kind: "glm_evaluate",
      formula: "fell_12m ~ age",
      family: "binomial",
      link: "logit",
      levels: {},
      beta: [-81, 1],
      weights: "num_medications",
      bins: 4000,
      riskCutpoints: [],
    };
    const r = release("fall-risk", c);
    expect(r.values.length).toBe(evaluationReleaseLength(c));
    const groups = r.values[9];
    for (let g = 0; g < groups; g++) {
      const at = 10 + 5 * g;
      expect(r.withheld[at + 2]).not.toBe(0);
      expect(r.withheld[at + 3]).not.toBe(0);
    }
  });
});

describe("cell-key perturbation", () => {
  const table = NAMED_PERTURBATION_TABLES.default;

  it("released counts lie within the maximum noise of the pooled counts, and the same query gives the same numbers", async () => {
    const by = [levels("neighbourhood", "neighbourhood"), levels("neighbourhood", "age_group")];
    const s = study(table);
    const a = release("neighbourhood", { kind: "count", by }, { study: s });
    const b = release("neighbourhood", { kind: "count", by }, { study: s });
    expect([...a.values]).toEqual([...b.values]);
    expect(a.notes.join(" ")).toMatch(/perturbed/);
    const truth = pooledCount(data.neighbourhood.rows, ["neighbourhood", "age_group"], by);
    let changed = 0;
    truth.forEach((t, i) => {
      if (a.withheld[i]) return;
      expect(Math.abs(a.values[i] - t)).toBeLessThanOrEqual(table.maxNoise);
      if (a.values[i] !== t) changed++;
    });
    expect(changed).toBeGreaterThan(0);
    // a station restarted on the same snapshot reads its record keys from its folder: same noise
    const reloaded = await Promise.all(
      data.neighbourhood.files.map(async (file, i) => {
        const fresh = await loadCsv({ file, dataset: "neighbourhood" });
        attachRecordKeys({ dir: join(dir, "neighbourhood", `station-${i}`), table: fresh });
        return fresh;
      }),
    );
    const saved = data.neighbourhood.tables;
    data.neighbourhood.tables = reloaded;
    try {
      expect([...release("neighbourhood", { kind: "count", by }, { study: s }).values]).toEqual([...a.values]);
    } finally {
      data.neighbourhood.tables = saved;
    }
  });

  it("differencing: guessing a person's dementia from two tables that differ by that person", () => {
    // The attacker isolates one client by a unique combination of released columns and asks
    // count by dementia twice: over a population that holds the client, and over the same minus
    // that client. The cell that grew names the attribute; without perturbation it always does.
    const rows = data["fall-risk"].rows;
    const key = (x: PooledRow) => `${x.age}|${x.sex}|${x.neighbourhood}|${x.num_medications}|${x.district}`;
    const seen = new Map<string, number>();
    for (const x of rows) seen.set(key(x), (seen.get(key(x)) ?? 0) + 1);
    const unique = rows.filter((x) => Number(x.age) >= 80 && seen.get(key(x)) === 1);
    // as many clients with dementia as without, chosen by a fixed stride (deterministic)
    const yes = unique.filter((x) => x.dementia === "true");
    const no = unique.filter((x) => x.dementia === "false");
    const n = Math.min(150, yes.length, no.length);
    const targets = [...yes.filter((_, i) => i % Math.max(1, Math.floor(yes.length / n)) === 0).slice(0, n), ...no.filter((_, i) => i % Math.max(1, Math.floor(no.length / n)) === 0).slice(0, n)];
    const by = [{ column: "dementia", levels: ["false", "true"] }];
    const rate = (s: StudyPolicy) => {
      let right = 0;
      let smart = 0;
      for (const x of targets) {
        const person = `age == ${x.age} and sex == "${x.sex}" and neighbourhood == "${x.neighbourhood}" and num_medications == ${x.num_medications} and district == "${x.district}"`;
        // A population around the client (their district, ten years younger and up): differencing
        // pairs over one shared population would share one noise draw and say little about the rate.
        const around = `district == "${x.district}" and age >= ${Number(x.age) - 10}`;
        const all = release("fall-risk", { kind: "count", by }, { where: around, study: s }).values;
        const less = release("fall-risk", { kind: "count", by }, { where: `${around} and not (${person})`, study: s }).values;
        const grewYes = all[1] - less[1];
        const grewNo = all[0] - less[0];
        const guess = grewYes > grewNo ? "true" : grewYes < grewNo ? "false" : targets.indexOf(x) % 2 === 0 ? "true" : "false";
        if (guess === x.dementia) right++;
        // the stronger attacker: a cell that did not change at all is the same cell (same noise)
        const sharp = grewYes !== 0 && grewNo === 0 ? "true" : grewNo !== 0 && grewYes === 0 ? "false" : guess;
        if (sharp === x.dementia) smart++;
      }
      return { rate: right / targets.length, smart: smart / targets.length };
    };
    const plain = rate(study());
    const perturbed = rate(study(table));
    const narrow = rate(study(NAMED_PERTURBATION_TABLES["werkplaats-d2-v1"]));
    console.log(
      `differencing over ${targets.length} clients (half with dementia): right ${plain.rate.toFixed(3)} without perturbation; ` +
        `${perturbed.rate.toFixed(3)} with the default table (±${table.maxNoise}, variance ${table.variance}); ${narrow.rate.toFixed(3)} with ±2, variance 1; ` +
        `an attacker who also uses unchanged cells: ${perturbed.smart.toFixed(3)} (default), ${narrow.smart.toFixed(3)} (±2)`,
    );
    expect(targets.length).toBeGreaterThanOrEqual(200);
    expect(plain.rate).toBe(1);
    expect(perturbed.rate).toBeLessThan(0.75);
    expect(perturbed.smart).toBeLessThan(1);
  }, 300_000);
});

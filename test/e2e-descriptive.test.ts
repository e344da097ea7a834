/**
 * Descriptive statistics end to end: real station processes (LocalFederation), gRPC, TLS and
 * secure aggregation, on the synthetic neighbourhood and fall-risk scenarios. Every statistic is
 * checked against the same statistic computed here, independently, on the pooled CSV rows:
 * counts and sums of whole numbers exactly, means and variances to 1e-9 relative, quantiles to
 * within the stated error bound.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobSpec } from "../common/job.js";
import type { Federation } from "../sdk/federation.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { wilsonInterval } from "../sdk/results/intervals.js";
import { writeScenario } from "../synth/index.js";
import { type PooledRow, isTrue, num, readRows } from "./helpers/pooled.js";

const REL = 1e-9;

/** Counts the secure-aggregation jobs a federation runs, by wrapping (not replacing) Federation.run. */
function jobCounter(fed: Federation): { jobs: JobSpec[] } {
  const seen = { jobs: [] as JobSpec[] };
  const run = fed.run.bind(fed);
  fed.run = (job, vectorLength) => {
    seen.jobs.push(job);
    return run(job, vectorLength);
  };
  return seen;
}

function pooledSummary(values: number[]): { n: number; sum: number; mean: number; variance: number } {
  const n = values.length;
  const sum = values.reduce((a, b) => a + b, 0);
  const mean = sum / n;
  // Two-pass variance with a compensated sum: an independent, accurate reference.
  let ss = 0;
  let comp = 0;
  for (const v of values) comp += v - mean;
  for (const v of values) ss += (v - mean) ** 2;
  const variance = (ss - (comp * comp) / n) / (n - 1);
  return { n, sum, mean, variance };
}

/** R's quantile(type = 1): the smallest value whose empirical CDF reaches p. */
function type1Quantile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(p * sorted.length * (1 - 1e-12))) - 1];
}

function relative(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
}

async function startScenario(scenario: string, rows: number, seed: number, dataset: string) {
  const work = mkdtempSync(join(tmpdir(), `werkplaats-e2e-desc-${scenario}-`));
  const data = await writeScenario({ scenario, stations: 3, rows, seed, out: join(work, "data") });
  const local = await LocalFederation.start({
    dir: join(work, "stations"),
    stations: data.files.map((f) => ({ name: basename(f, ".csv"), datasets: { [dataset]: f } })),
  });
  const fed = await local.connect({ timeoutMs: 20_000 });
  return { work, local, fed, pooled: readRows(data.files) };
}

describe("neighbourhood profiles over three station processes", () => {
  let work: string;
  let local: LocalFederation;
  let fed: Federation;
  let pooled: PooledRow[];
  // The tiny new-build neighbourhood stays below every station's minimum; profiles leave it out.
  const WHERE = 'neighbourhood != "BU03630302"';
  let rows: PooledRow[];
  const districts = ["WK036301", "WK036302", "WK036303"];
  const ageGroups = ["18-39", "40-64", "65-74", "75-84", "85+"];

  beforeAll(async () => {
    // 8000 rows per station, so that every station's part of every cell below is 0 or at least
    // its minimum of 10 (the GP practice sees few residents of district WK036303).
    ({ work, local, fed, pooled } = await startScenario("neighbourhood", 8000, 11, "neighbourhood"));
    rows = pooled.filter((r) => r.neighbourhood !== "BU03630302");
  });

  afterAll(async () => {
    fed?.close();
    await local?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("counts every combination of two group-bys, zeros included, exactly", async () => {
    const result = await fed.dataset("neighbourhood").where(WHERE).count({ by: ["district", "sex"] });
    expect(result.cells).toHaveLength(6);
    for (const c of result.cells) {
      expect(c.count).toBe(rows.filter((r) => r.district === c.group.district && r.sex === c.group.sex).length);
    }
    expect(result.total).toBe(rows.length);
  });

  it("cross-tabulates with row, column and grand totals equal to the pooled ones, in one job", async () => {
    const jobs = jobCounter(fed);
    const t = await fed.dataset("neighbourhood").where(WHERE).crosstab("district", "age_group");
    expect(jobs.jobs).toHaveLength(1);
    for (const d of districts) {
      for (const a of ageGroups) expect(t.get(d, a)).toBe(rows.filter((r) => r.district === d && r.age_group === a).length);
      expect(t.rowTotal(d)).toBe(rows.filter((r) => r.district === d).length);
    }
    for (const a of ageGroups) expect(t.columnTotal(a)).toBe(rows.filter((r) => r.age_group === a).length);
    expect(t.total.count).toBe(rows.length);
    expect(t.suppressedCount).toBe(0);
    expect(t.toString()).toContain("total");
  });

  // What is withheld is the stations' decision on the combined table (station-daemon/release/),
  // tested against these data in test/privacy/combined-table.test.ts; the SDK withholds nothing.

  it("summarises a column by group: n and sum exactly, mean and variance to 1e-9, about a shift found by a first job", async () => {
    const jobs = jobCounter(fed);
    const s = await fed.dataset("neighbourhood").where(WHERE).summary("num_medications", { by: ["district"] });
    expect(jobs.jobs.map((j) => j.computation.kind)).toEqual(["moments", "moments"]);
    // The shift is the overall mean rounded to a power of two not above the SD: near the mean,
    // and a whole number here, so the sums stay exact.
    const shift = (jobs.jobs[1].computation as { shift?: number }).shift!;
    const all = pooledSummary(rows.map((r) => num(r.num_medications)));
    expect(Math.abs(shift - all.mean)).toBeLessThanOrEqual(Math.sqrt(all.variance) / 2);
    expect(Number.isInteger(shift)).toBe(true);
    for (const d of districts) {
      const ref = pooledSummary(rows.filter((r) => r.district === d).map((r) => num(r.num_medications)));
      const c = s.get({ district: d })!;
      expect(c.n).toBe(ref.n);
      expect(c.sum).toBe(ref.sum);
      expect(relative(c.mean!, ref.mean)).toBeLessThan(REL);
      expect(relative(c.variance!, ref.variance)).toBeLessThan(REL);
      expect(relative(c.sd!, Math.sqrt(ref.variance))).toBeLessThan(REL);
    }
    const overall = await fed.dataset("neighbourhood").where(WHERE).variance("num_medications", { shift: 2 });
    const ref = pooledSummary(rows.map((r) => num(r.num_medications)));
    expect(overall.cells[0].n).toBe(ref.n);
    expect(relative(overall.cells[0].variance!, ref.variance)).toBeLessThan(REL);
  });

  it("gives proportions with Wilson intervals, leaving out rows where the condition is missing", async () => {
    const p = await fed.dataset("neighbourhood").where(WHERE).proportion("lonely", { by: ["district"] });
    for (const d of districts) {
      const known = rows.filter((r) => r.district === d && r.lonely !== "");
      const x = known.filter((r) => isTrue(r.lonely)).length;
      const c = p.get({ district: d })!;
      expect(c.numerator).toBe(x);
      expect(c.denominator).toBe(known.length);
      expect(c.proportion).toBe(x / known.length);
      const [lo, hi] = wilsonInterval(x, known.length);
      expect(c.lower).toBe(lo);
      expect(c.upper).toBe(hi);
      expect(c.lower!).toBeLessThan(c.proportion!);
    }
    const rate = await fed.dataset("neighbourhood").where(WHERE).rate("diabetes");
    const x = rows.filter((r) => isTrue(r.diabetes)).length;
    expect(relative(rate.cells[0].estimate!, (1000 * x) / rows.length)).toBeLessThan(1e-12);
  });

  it("gives directly age-standardised rates equal to the pooled computation", async () => {
    const reference = { "18-39": 0.35, "40-64": 0.38, "65-74": 0.14, "75-84": 0.09, "85+": 0.04 };
    const r = await fed.dataset("neighbourhood").where(WHERE).standardisedRate("lives_alone", { ageColumn: "age_group", reference, by: ["sex"] });
    expect(r.interval).toBe("Fay–Feuer gamma");
    for (const sex of ["F", "M"]) {
      let dsr = 0;
      for (const [a, w] of Object.entries(reference)) {
        const stratum = rows.filter((row) => row.sex === sex && row.age_group === a);
        dsr += (w * stratum.filter((row) => isTrue(row.lives_alone)).length) / stratum.length;
      }
      const c = r.get({ sex })!;
      expect(relative(c.rate!, dsr * 1000)).toBeLessThan(REL);
      expect(c.events).toBe(rows.filter((row) => row.sex === sex && isTrue(row.lives_alone)).length);
      expect(c.lower!).toBeLessThan(c.rate!);
      expect(c.upper!).toBeGreaterThan(c.rate!);
    }
  });

  it("computes a profile of 30 indicators per district in ONE job, each equal to the pooled proportion", async () => {
    const numerators: Array<[string, (r: PooledRow) => boolean | undefined]> = [
      ["diabetes", (r) => isTrue(r.diabetes)],
      ["lonely", (r) => (r.lonely === "" ? undefined : isTrue(r.lonely))],
      ["low_income", (r) => (r.low_income === "" ? undefined : isTrue(r.low_income))],
      ["lives_alone", (r) => isTrue(r.lives_alone)],
      ["polypharmacy", (r) => isTrue(r.polypharmacy)],
      ...[1, 2, 3, 4, 6].map((k): [string, (r: PooledRow) => boolean] => [`num_medications >= ${k}`, (r) => num(r.num_medications) >= k]),
    ];
    const denominators: Array<[string | undefined, (r: PooledRow) => boolean]> = [
      [undefined, () => true],
      ['age_group in ("65-74", "75-84", "85+")', (r) => ["65-74", "75-84", "85+"].includes(r.age_group)],
      ['sex == "F"', (r) => r.sex === "F"],
    ];
    const definitions = numerators.flatMap(([n], i) => denominators.map(([d], j) => ({ name: `i${i}_${j}`, numerator: n, ...(d ? { denominator: d } : {}) })));
    expect(definitions).toHaveLength(30);
    const jobs = jobCounter(fed);
    const profile = await fed.dataset("neighbourhood").where(WHERE).indicators(definitions, { by: ["district"] });
    expect(jobs.jobs).toHaveLength(1);
    expect(jobs.jobs[0].computation.kind).toBe("indicators");
    expect(profile.cells).toHaveLength(30 * 3);
    numerators.forEach(([, isNumerator], i) =>
      denominators.forEach(([, inDenominator], j) => {
        for (const d of districts) {
          const population = rows.filter((r) => r.district === d && inDenominator(r) && isNumerator(r) !== undefined);
          const events = population.filter((r) => isNumerator(r) === true).length;
          const c = profile.get(`i${i}_${j}`, { district: d })!;
          expect(c.denominator, `i${i}_${j} ${d}`).toBe(population.length);
          expect(c.numerator, `i${i}_${j} ${d}`).toBe(events);
          expect(relative(c.estimate!, (100 * events) / population.length)).toBeLessThan(1e-12);
        }
      }),
    );
    const table = profile.table();
    expect(table.rows).toHaveLength(3);
    expect(Object.keys(table.rows[0].values)).toHaveLength(30);
  });

  it("counts per histogram bin and reads quantiles within the stated error bound", async () => {
    const values = rows.map((r) => num(r.num_medications));
    const h = await fed.dataset("neighbourhood").where(WHERE).histogram("num_medications", { edges: [0, 1, 2, 4, 30] });
    const cell = h.get()!;
    expect(cell.below.count).toBe(0);
    expect(cell.bins.map((b) => b.count)).toEqual([
      values.filter((v) => v >= 0 && v < 1).length,
      values.filter((v) => v >= 1 && v < 2).length,
      values.filter((v) => v >= 2 && v < 4).length,
      values.filter((v) => v >= 4 && v <= 30).length,
    ]);
    expect(cell.above.count).toBe(values.filter((v) => v > 30).length);
    expect(cell.n).toBe(values.length);

    const jobs = jobCounter(fed);
    const q = await fed.dataset("neighbourhood").where(WHERE).quantile("num_medications", [0.25, 0.5, 0.75, 0.9], { by: ["district"] });
    expect(jobs.jobs.map((j) => j.computation.kind)).toEqual(["moments", "quantile"]);
    for (const d of districts) {
      const x = rows.filter((r) => r.district === d).map((r) => num(r.num_medications));
      for (const p of [0.25, 0.5, 0.75, 0.9]) {
        expect(Math.abs(q.value(p, { district: d })! - type1Quantile(x, p))).toBeLessThanOrEqual(q.errorBound * (1 + 1e-12));
      }
    }
    expect(q.toString()).toContain("within ±");
  });
});

describe("fall risk over three station processes", () => {
  let work: string;
  let local: LocalFederation;
  let fed: Federation;
  let pooled: PooledRow[];

  beforeAll(async () => {
    ({ work, local, fed, pooled } = await startScenario("fall-risk", 1500, 7, "fall_risk"));
  });

  afterAll(async () => {
    fed?.close();
    await local?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("summarises age by sex and sums it exactly", async () => {
    const s = await fed.dataset("fall_risk").sum("age", { by: ["sex"] });
    for (const sex of ["F", "M"]) {
      const ref = pooledSummary(pooled.filter((r) => r.sex === sex).map((r) => num(r.age)));
      const c = s.get({ sex })!;
      expect(c.n).toBe(ref.n);
      expect(c.sum).toBe(ref.sum);
      expect(relative(c.mean!, ref.mean)).toBeLessThan(REL);
      expect(relative(c.variance!, ref.variance)).toBeLessThan(REL);
    }
  });

  it("cross-tabulates falls by prior falls, and their proportions match the table", async () => {
    const t = await fed.dataset("fall_risk").where("age >= 65").crosstab("prior_fall", "fell_12m");
    const older = pooled.filter((r) => num(r.age) >= 65);
    for (const a of ["false", "true"]) for (const b of ["false", "true"]) expect(t.get(a, b)).toBe(older.filter((r) => r.prior_fall === a && r.fell_12m === b).length);
    const p = await fed.dataset("fall_risk").where("age >= 65").proportion("fell_12m", { by: ["prior_fall"] });
    for (const a of ["false", "true"]) {
      const c = p.get({ prior_fall: a })!;
      expect(c.numerator).toBe(t.get(a, "true"));
      expect(c.denominator).toBe(t.rowTotal(a));
    }
  });

  it("gives a histogram of age in five-year bins and quartiles of age", async () => {
    const ages = pooled.map((r) => num(r.age));
    const edges = [60, 65, 70, 75, 80, 85, 105];
    const h = await fed.dataset("fall_risk").histogram("age", { edges, by: ["sex"] });
    for (const sex of ["F", "M"]) {
      const x = pooled.filter((r) => r.sex === sex).map((r) => num(r.age));
      const cell = h.get({ sex })!;
      cell.bins.forEach((b, k) => expect(b.count).toBe(x.filter((v) => v >= b.from && (k === edges.length - 2 ? v <= b.to : v < b.to)).length));
    }
    const q = await fed.dataset("fall_risk").quantile("age", [0.25, 0.5, 0.75], { range: [59.5, 105.5], bins: 46 });
    expect(q.errorBound).toBe(0.5);
    // With one bin per whole year the midpoints are the ages themselves: exact.
    for (const p of [0.25, 0.5, 0.75]) expect(q.value(p)).toBe(type1Quantile(ages, p));
  });

  it("answers a count by buurt × sex in one job (no station refuses its own small parts), with every margin and the total", async () => {
    const q = fed.dataset("fall_risk").where("age >= 65 and diabetes");
    const r = await q.count({ by: ["neighbourhood", "sex"] });
    const rows = pooled.filter((x) => num(x.age) >= 65 && isTrue(x.diabetes));
    for (const c of r.cells) if (c.count !== null) expect(c.count).toBe(rows.filter((x) => x.neighbourhood === c.group.neighbourhood && x.sex === c.group.sex).length);
    expect(r.total).toBe(rows.length);
    expect(r.margins.map((m) => m.by)).toEqual([["sex"], ["neighbourhood"]]);
  });
});

import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadInput } from "../common/errors.js";
import { SCENARIOS, generateScenario, stationNames, writeScenario, type Truth } from "../synth/index.js";
import { logGamma } from "../synth/random.js";

// ---------------------------------------------------------------------------------------------
// An independent reader and R-style model matrix, so the tests check the written files against
// truth.json rather than the generator against itself.

type Cell = string; // raw text; "" is missing

interface Frame {
  header: string[];
  rows: Cell[][];
}

function parseCsv(csv: string): Frame {
  expect(csv.endsWith("\n")).toBe(true);
  const lines = csv.slice(0, -1).split("\n");
  const header = lines[0].split(",");
  const rows = lines.slice(1).map((line) => line.split(","));
  for (const row of rows) expect(row.length).toBe(header.length);
  return { header, rows };
}

function pool(frames: Frame[]): Frame {
  return { header: frames[0].header, rows: frames.flatMap((f) => f.rows) };
}

function col(frame: Frame, name: string): Cell[] {
  const j = frame.header.indexOf(name);
  expect(j, `column ${name}`).toBeGreaterThanOrEqual(0);
  return frame.rows.map((r) => r[j]);
}

function num(frame: Frame, name: string): number[] {
  return col(frame, name).map((v) => (v === "" ? Number.NaN : Number(v)));
}

function mean(xs: number[]): number {
  const present = xs.filter((x) => !Number.isNaN(x));
  return present.reduce((a, b) => a + b, 0) / present.length;
}

function share(cells: Cell[], value: string): number {
  const present = cells.filter((c) => c !== "");
  return present.filter((c) => c === value).length / present.length;
}

interface Design {
  names: string[];
  x: number[][];
  y: number[];
}

/**
 * The model matrix R builds for `formula` (treatment contrasts, reference = first level in
 * code-point order, logical `x` → `xTRUE`), over complete cases.
 */
function modelMatrix(frame: Frame, formula: string, truth: Truth): Design {
  const [lhs, rhs] = formula.split("~").map((s) => s.trim());
  const terms = rhs.split("+").map((s) => s.trim());
  const typeOf = (name: string) => {
    const c = truth.columns.find((k) => k.name === name);
    expect(c, `column ${name} in truth.columns`).toBeDefined();
    return c!.type;
  };
  const used = [lhs, ...terms];
  const complete = frame.rows.filter((r) => used.every((t) => r[frame.header.indexOf(t)] !== ""));
  const names = ["(Intercept)"];
  const builders: Array<(r: Cell[]) => number[]> = [];
  for (const term of terms) {
    const j = frame.header.indexOf(term);
    const type = typeOf(term);
    if (type === "numeric") {
      names.push(term);
      builders.push((r) => [Number(r[j])]);
    } else if (type === "boolean") {
      names.push(`${term}TRUE`);
      builders.push((r) => [r[j] === "true" ? 1 : 0]);
    } else {
      const levels = [...new Set(complete.map((r) => r[j]))].sort();
      const nonReference = levels.slice(1);
      names.push(...nonReference.map((l) => term + l));
      builders.push((r) => nonReference.map((l) => (r[j] === l ? 1 : 0)));
    }
  }
  const jy = frame.header.indexOf(lhs);
  const yOf = typeOf(lhs) === "boolean" ? (v: Cell) => (v === "true" ? 1 : 0) : (v: Cell) => Number(v);
  return {
    names,
    x: complete.map((r) => [1, ...builders.flatMap((b) => b(r))]),
    y: complete.map((r) => yOf(r[jy])),
  };
}

function linearPredictor(design: Design, coefficients: Record<string, number>): number[] {
  const beta = design.names.map((n) => coefficients[n]);
  return design.x.map((row) => row.reduce((acc, v, k) => acc + v * beta[k], 0));
}

/** Solve A z = b and return also A⁻¹, by Gauss–Jordan with partial pivoting. */
function solveAndInvert(a: number[][], b: number[]): { z: number[]; inverse: number[][] } {
  const n = a.length;
  const m = a.map((row, i) => [...row, b[i], ...Array.from({ length: n }, (_, k) => (k === i ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    const pivot = m[c][c];
    for (let k = 0; k < m[c].length; k++) m[c][k] /= pivot;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c];
      if (f !== 0) for (let k = 0; k < m[r].length; k++) m[r][k] -= f * m[c][k];
    }
  }
  return { z: m.map((row) => row[n]), inverse: m.map((row) => row.slice(n + 1)) };
}

/** Maximum likelihood by Newton–Raphson (= IRLS for canonical links), with standard errors. */
function fitGlm(design: Design, family: "binomial" | "poisson"): { beta: number[]; se: number[] } {
  const p = design.names.length;
  let beta = new Array(p).fill(0);
  if (family === "poisson") beta[0] = Math.log(mean(design.y));
  for (let iter = 0; iter < 50; iter++) {
    const info = Array.from({ length: p }, () => new Array(p).fill(0));
    const score = new Array(p).fill(0);
    design.x.forEach((row, i) => {
      const eta = row.reduce((acc, v, k) => acc + v * beta[k], 0);
      const mu = family === "binomial" ? 1 / (1 + Math.exp(-eta)) : Math.exp(eta);
      const w = family === "binomial" ? mu * (1 - mu) : mu;
      const resid = design.y[i] - mu;
      for (let a = 0; a < p; a++) {
        if (row[a] === 0) continue;
        score[a] += row[a] * resid;
        for (let b = 0; b <= a; b++) info[a][b] += row[a] * w * row[b];
      }
    });
    for (let a = 0; a < p; a++) for (let b = a + 1; b < p; b++) info[a][b] = info[b][a];
    const { z: step, inverse } = solveAndInvert(info, score);
    beta = beta.map((v, k) => v + step[k]);
    if (Math.max(...step.map(Math.abs)) < 1e-9) {
      return { beta, se: inverse.map((row, k) => Math.sqrt(row[k])) };
    }
  }
  throw new Error("fit did not converge");
}

function poissonUpperTail(mu: number, k: number): number {
  let cdf = 0;
  for (let j = 0; j <= k; j++) cdf += Math.exp(-mu + j * Math.log(mu) - logGamma(j + 1));
  return 1 - cdf;
}

// ---------------------------------------------------------------------------------------------

const SEED = 20240611;
const scenarioNames = ["fall-risk", "ggz-waitlist", "neighbourhood"];

describe("synth scenarios", () => {
  it("lists the three scenarios with their default stations", () => {
    expect(SCENARIOS.map((s) => s.name)).toEqual(scenarioNames);
    for (const s of SCENARIOS) expect(s.description.length).toBeGreaterThan(20);
    expect(SCENARIOS.find((s) => s.name === "fall-risk")!.stations).toEqual(["gp", "homecare", "hospital"]);
    expect(SCENARIOS.find((s) => s.name === "ggz-waitlist")!.stations).toEqual(["ggz-noord", "ggz-zuid", "ggz-oost"]);
    expect(SCENARIOS.find((s) => s.name === "neighbourhood")!.stations).toEqual(["ggd", "municipality", "gp"]);
  });

  it("names stations beyond three by cycling the organisation types", () => {
    expect(stationNames("fall-risk", 5)).toEqual(["gp", "homecare", "hospital", "gp-2", "homecare-2"]);
    expect(stationNames("ggz-waitlist", 7)).toEqual(["ggz-noord", "ggz-zuid", "ggz-oost", "ggz-noord-2", "ggz-zuid-2", "ggz-oost-2", "ggz-noord-3"]);
    expect(stationNames("neighbourhood", 1)).toEqual(["ggd"]);
    const five = generateScenario({ scenario: "fall-risk", stations: 5, rows: 50, seed: 1 });
    expect(five.stations.map((s) => s.name)).toEqual(["gp", "homecare", "hospital", "gp-2", "homecare-2"]);
    expect(five.truth.stations.map((s) => s.kind)).toEqual(["gp", "homecare", "hospital", "gp", "homecare"]);
    // gp-2 has gp's case mix but its own rows.
    expect(five.stations[3].csv).not.toBe(five.stations[0].csv);
  });

  it.each(scenarioNames)("%s: the same seed gives identical output, another seed different output", (scenario) => {
    const a = generateScenario({ scenario, rows: 300, seed: SEED });
    const b = generateScenario({ scenario, rows: 300, seed: SEED });
    const c = generateScenario({ scenario, rows: 300, seed: SEED + 1 });
    expect(b.stations).toEqual(a.stations);
    expect(JSON.stringify(b.truth)).toBe(JSON.stringify(a.truth));
    for (let i = 0; i < 3; i++) expect(c.stations[i].csv).not.toBe(a.stations[i].csv);
    expect(c.truth.seed).toBe(SEED + 1);
  });

  it("gives each station a stream of its own: its rows do not depend on the station count or row count", () => {
    const three = generateScenario({ scenario: "ggz-waitlist", rows: 200, seed: 9 });
    const five = generateScenario({ scenario: "ggz-waitlist", stations: 5, rows: 400, seed: 9 });
    for (let i = 0; i < 3; i++) expect(five.stations[i].csv.startsWith(three.stations[i].csv)).toBe(true);
  });

  it.each(scenarioNames)("%s: writes the requested rows per station, with the header and types of truth.columns", (scenario) => {
    const { stations, truth } = generateScenario({ scenario, rows: 2000, seed: SEED });
    expect(stations).toHaveLength(3);
    expect(truth.stations.map((s) => [s.name, s.rows, s.file])).toEqual(stations.map((s) => [s.name, 2000, `${s.name}.csv`]));
    for (const station of stations) {
      expect(station.rows).toBe(2000);
      const frame = parseCsv(station.csv);
      expect(frame.rows).toHaveLength(2000);
      expect(frame.header).toEqual(truth.columns.map((c) => c.name));
      for (const column of truth.columns) {
        const cells = col(frame, column.name);
        const missing = cells.filter((v) => v === "").length;
        if (column.missing) {
          // designed missingness: a few per cent, never most
          expect(missing, `${station.name}.${column.name} missing`).toBeGreaterThan(0);
          expect(missing / cells.length).toBeLessThan(0.15);
        } else {
          expect(missing, `${station.name}.${column.name} missing`).toBe(0);
        }
        const present = cells.filter((v) => v !== "");
        if (column.type === "numeric") {
          for (const v of present) expect(v, column.name).toMatch(/^-?\d+$/); // plain decimal integers
          const values = present.map(Number);
          if (column.min !== undefined) expect(Math.min(...values)).toBeGreaterThanOrEqual(column.min);
          if (column.max !== undefined) expect(Math.max(...values)).toBeLessThanOrEqual(column.max);
          expect(new Set(values).size, `${column.name} varies`).toBeGreaterThan(1);
        } else if (column.type === "boolean") {
          expect(new Set(present)).toEqual(new Set(["true", "false"]));
        } else {
          expect(column.levels).toBeDefined();
          expect(column.levels).toEqual([...column.levels!].sort()); // code-point order, as R and the loader sort
          for (const v of new Set(present)) expect(column.levels, column.name).toContain(v);
          expect(present.some((v) => /^(NA|true|false|-?\d+(\.\d+)?)$/.test(v))).toBe(false);
        }
      }
    }
  });

  it.each(scenarioNames)("%s: truth names every coefficient exactly as R's glm would, in R's order", (scenario) => {
    const { stations, truth } = generateScenario({ scenario, rows: 2000, seed: SEED });
    const frame = pool(stations.map((s) => parseCsv(s.csv)));
    expect(truth.models.length).toBeGreaterThan(0);
    for (const model of truth.models) {
      expect(model.formula.startsWith(`${model.outcome} ~ `)).toBe(true);
      expect(model.link).toBe(model.family === "binomial" ? "logit" : "log");
      const design = modelMatrix(frame, model.formula, truth);
      expect(Object.keys(model.coefficients), model.formula).toEqual(design.names);
      for (const [name, ratio] of Object.entries(model.ratios)) {
        expect(ratio).toBeCloseTo(Math.exp(model.coefficients[name]), 4);
      }
      expect(Object.keys(model.ratios)).toEqual(design.names.slice(1));
    }
  });

  it.each(scenarioNames)("%s: the observed outcomes match what the true models imply", (scenario) => {
    const { stations, truth } = generateScenario({ scenario, rows: 5000, seed: SEED });
    const frames = stations.map((s) => parseCsv(s.csv));
    for (const model of truth.models) {
      // per station and pooled: the model is shared, so each station must agree with it
      for (const frame of [...frames, pool(frames)]) {
        const design = modelMatrix(frame, model.formula, truth);
        const eta = linearPredictor(design, model.coefficients);
        const mu = eta.map((e) => (model.family === "binomial" ? 1 / (1 + Math.exp(-e)) : Math.exp(e)));
        const expected = mu.reduce((a, b) => a + b, 0);
        const variance = mu.reduce((a, m) => a + (model.family === "binomial" ? m * (1 - m) : m), 0);
        const observed = design.y.reduce((a, b) => a + b, 0);
        expect(Math.abs(observed - expected), `${model.outcome}: observed ${observed}, expected ${expected.toFixed(1)}`)
          .toBeLessThan(4 * Math.sqrt(variance));
      }
    }
  });

  it.each(scenarioNames)("%s: a pooled glm recovers the true coefficients within their confidence intervals", (scenario) => {
    const { stations, truth } = generateScenario({ scenario, rows: 15_000, seed: SEED });
    const frame = pool(stations.map((s) => parseCsv(s.csv)));
    for (const model of truth.models) {
      const design = modelMatrix(frame, model.formula, truth);
      const fit = fitGlm(design, model.family);
      design.names.forEach((name, k) => {
        const z = (fit.beta[k] - model.coefficients[name]) / fit.se[k];
        // 4.5 SE: tight enough to catch a wrong sign, name or scale; loose enough for ~40 coefficients
        expect(Math.abs(z), `${model.outcome} ${name}: fitted ${fit.beta[k].toFixed(4)} ± ${fit.se[k].toFixed(4)}, true ${model.coefficients[name]}`)
          .toBeLessThan(4.5);
      });
    }
  }, 120_000);
});

describe("synth fall-risk", () => {
  let frames: Record<string, Frame>;
  let truth: Truth;
  beforeAll(() => {
    const generated = generateScenario({ scenario: "fall-risk", seed: SEED });
    truth = generated.truth;
    frames = Object.fromEntries(generated.stations.map((s) => [s.name, parseCsv(s.csv)]));
  });

  it("records the shared logistic model of fell_12m in the raw columns", () => {
    expect(truth.models).toHaveLength(1);
    const m = truth.models[0];
    expect(m.family).toBe("binomial");
    expect(m.formula).toBe("fell_12m ~ age + sex + num_medications + prior_fall + dementia + mobility_aid + lives_alone");
    expect(m.ratios.age).toBeCloseTo(1.04, 2);
    expect(m.ratios.prior_fallTRUE).toBeCloseTo(2.46, 2);
  });

  it("has the case mix of each organisation", () => {
    const { gp, homecare, hospital } = frames;
    expect(mean(num(hospital, "age"))).toBeGreaterThan(mean(num(gp, "age")) + 3);
    expect(mean(num(homecare, "age"))).toBeGreaterThan(mean(num(gp, "age")) + 5);
    expect(Math.min(...num(gp, "age"))).toBeLessThan(65); // the GP list includes 60–64
    expect(Math.min(...num(hospital, "age"))).toBeGreaterThanOrEqual(65);
    expect(share(col(gp, "age").map((a) => (Number(a) >= 65 ? "y" : "n")), "y")).toBeGreaterThan(0.8);
    expect(share(col(hospital, "prior_fall"), "true")).toBeGreaterThan(share(col(gp, "prior_fall"), "true") + 0.1);
    expect(share(col(homecare, "lives_alone"), "true")).toBeGreaterThan(share(col(gp, "lives_alone"), "true") + 0.1);
    expect(share(col(homecare, "dementia"), "true")).toBeGreaterThan(share(col(gp, "dementia"), "true") + 0.1);
    expect(share(col(gp, "district"), "WK036302")).toBeGreaterThan(share(col(homecare, "district"), "WK036302") + 0.1);
    // women outnumber men, more so at older ages
    expect(share(col(homecare, "sex"), "F")).toBeGreaterThan(0.55);
  });

  it("has consistent districts and neighbourhood codes", () => {
    for (const frame of Object.values(frames)) {
      const d = col(frame, "district");
      col(frame, "neighbourhood").forEach((b, i) => {
        expect(b).toMatch(/^BU0363\d{4}$/);
        expect(d[i]).toBe(`WK${b.slice(2, 8)}`);
      });
    }
  });

  it("has more than 10 single-living men 65+ with diabetes per neighbourhood but one, which is small", () => {
    const all = pool(Object.values(frames));
    const nb = col(all, "neighbourhood");
    const age = num(all, "age");
    const sex = col(all, "sex");
    const alone = col(all, "lives_alone");
    const diabetes = col(all, "diabetes");
    const counts = new Map<string, number>();
    nb.forEach((b, i) => {
      if (age[i] >= 65 && sex[i] === "M" && alone[i] === "true" && diabetes[i] === "true") counts.set(b, (counts.get(b) ?? 0) + 1);
    });
    const codes = truth.columns.find((c) => c.name === "neighbourhood")!.levels!;
    expect(codes).toHaveLength(8);
    const small = codes.filter((c) => (counts.get(c) ?? 0) <= 10);
    expect(small).toEqual(["BU03630302"]);
  });

  it("leaves income_quintile missing for a few per cent only", () => {
    for (const frame of Object.values(frames)) {
      const q = col(frame, "income_quintile");
      const rate = q.filter((v) => v === "").length / q.length;
      expect(rate).toBeGreaterThan(0.01);
      expect(rate).toBeLessThan(0.08);
      expect(new Set(q.filter((v) => v !== ""))).toEqual(new Set(["1", "2", "3", "4", "5"]));
    }
  });
});

describe("synth ggz-waitlist", () => {
  let frames: Record<string, Frame>;
  let truth: Truth;
  beforeAll(() => {
    const generated = generateScenario({ scenario: "ggz-waitlist", rows: 5000, seed: SEED });
    truth = generated.truth;
    frames = Object.fromEntries(generated.stations.map((s) => [s.name, parseCsv(s.csv)]));
  });

  it("derives wait_weeks from its two legs and long_wait as wait_weeks > 14, as documented", () => {
    const derived = truth.derived.find((d) => d.outcome === "long_wait")!;
    expect(derived).toMatchObject({ derived: true, definition: "wait_weeks > 14", from: ["wait_weeks"] });
    expect(derived.note).toMatch(/4 weeks.*10 weeks/);
    expect(truth.models.map((m) => m.outcome)).not.toContain("long_wait");
    for (const frame of Object.values(frames)) {
      const intake = num(frame, "wait_intake_weeks");
      const treatment = num(frame, "wait_treatment_weeks");
      const total = num(frame, "wait_weeks");
      const long = col(frame, "long_wait");
      total.forEach((t, i) => {
        expect(t).toBe(intake[i] + treatment[i]);
        expect(long[i]).toBe(t > 14 ? "true" : "false");
      });
      expect(share(long, "true")).toBeGreaterThan(0.1);
      expect(share(long, "true")).toBeLessThan(0.9);
    }
  });

  it("has as many long waits as P(Poisson(μ) > 14) implies", () => {
    const wait = truth.models.find((m) => m.outcome === "wait_weeks")!;
    const frame = pool(Object.values(frames));
    const design = modelMatrix(frame, wait.formula, truth);
    const p = linearPredictor(design, wait.coefficients).map((eta) => poissonUpperTail(Math.exp(eta), 14));
    const expected = p.reduce((a, b) => a + b, 0);
    const sd = Math.sqrt(p.reduce((a, q) => a + q * (1 - q), 0));
    const observed = design.y.filter((y) => y > 14).length;
    expect(Math.abs(observed - expected)).toBeLessThan(4 * sd);
  });

  it("keeps the legs' models in step with the total: same slopes, intercept shifted by the log share", () => {
    const [total, intake, treatment] = ["wait_weeks", "wait_intake_weeks", "wait_treatment_weeks"]
      .map((o) => truth.models.find((m) => m.outcome === o)!);
    expect(intake.coefficients["(Intercept)"]).toBeCloseTo(total.coefficients["(Intercept)"] + Math.log(0.3), 12);
    expect(treatment.coefficients["(Intercept)"]).toBeCloseTo(total.coefficients["(Intercept)"] + Math.log(0.7), 12);
    for (const name of Object.keys(total.coefficients).slice(1)) {
      expect(intake.coefficients[name]).toBe(total.coefficients[name]);
      expect(treatment.coefficients[name]).toBe(total.coefficients[name]);
    }
  });

  it("has a regional capacity effect and provider case mix", () => {
    const wait = truth.models.find((m) => m.outcome === "wait_weeks")!;
    expect(wait.coefficients.regionnoord).toBeGreaterThan(0);
    expect(wait.coefficients.regionoost).toBeLessThan(0);
    const noord = frames["ggz-noord"];
    const zuid = frames["ggz-zuid"];
    const oost = frames["ggz-oost"];
    expect(share(col(noord, "region"), "noord")).toBeGreaterThan(0.55);
    expect(share(col(zuid, "region"), "zuid")).toBeGreaterThan(0.55);
    // every region occurs at every provider, so region and provider are not confounded
    for (const frame of [noord, zuid, oost]) expect(new Set(col(frame, "region")).size).toBe(5);
    expect(mean(num(zuid, "age"))).toBeLessThan(mean(num(oost, "age")) - 3); // youth department
    expect(share(col(noord, "diagnosis_group"), "psychosis")).toBeGreaterThan(share(col(oost, "diagnosis_group"), "psychosis"));
    expect(share(col(zuid, "referral_source"), "youth_care")).toBeGreaterThan(0.1);
    expect(mean(num(noord, "wait_weeks"))).toBeGreaterThan(mean(num(oost, "wait_weeks")));
    // urgent referrals wait much shorter
    const all = pool([noord, zuid, oost]);
    const urgency = col(all, "urgency");
    const weeks = num(all, "wait_weeks");
    expect(mean(weeks.filter((_, i) => urgency[i] === "urgent"))).toBeLessThan(0.5 * mean(weeks.filter((_, i) => urgency[i] === "regular")));
  });
});

describe("synth neighbourhood", () => {
  let frames: Record<string, Frame>;
  let truth: Truth;
  beforeAll(() => {
    const generated = generateScenario({ scenario: "neighbourhood", rows: 5000, seed: SEED });
    truth = generated.truth;
    frames = Object.fromEntries(generated.stations.map((s) => [s.name, parseCsv(s.csv)]));
  });

  it("sets polypharmacy exactly when five or more medicines are in use", () => {
    expect(truth.derived).toEqual([expect.objectContaining({ outcome: "polypharmacy", derived: true, definition: "num_medications >= 5" })]);
    for (const frame of Object.values(frames)) {
      const meds = num(frame, "num_medications");
      const poly = col(frame, "polypharmacy");
      meds.forEach((m, i) => expect(poly[i]).toBe(m >= 5 ? "true" : "false"));
      expect(share(poly, "true")).toBeGreaterThan(0.02);
    }
  });

  it("uses the age groups of the profiles and CBS codes", () => {
    for (const frame of Object.values(frames)) {
      expect(new Set(col(frame, "age_group"))).toEqual(new Set(["18-39", "40-64", "65-74", "75-84", "85+"]));
      for (const d of new Set(col(frame, "district"))) expect(d).toMatch(/^WK0363\d{2}$/);
    }
    const coefficients = truth.models.find((m) => m.outcome === "lonely")!.coefficients;
    expect(Object.keys(coefficients)).toContain("age_group85+");
  });

  it("records the low-income share per neighbourhood, and the data follow it", () => {
    const shares = truth.parameters.lowIncomeByNeighbourhood as Record<string, number>;
    expect(Object.keys(shares)).toHaveLength(8);
    const all = pool(Object.values(frames));
    const nb = col(all, "neighbourhood");
    const low = col(all, "low_income");
    for (const [code, p] of Object.entries(shares)) {
      const cells = low.filter((v, i) => nb[i] === code && v !== "");
      const hits = cells.filter((v) => v === "true").length;
      expect(Math.abs(hits - p * cells.length)).toBeLessThan(4 * Math.sqrt(cells.length * p * (1 - p)) + 1);
    }
  });

  it("differs in case mix between stations although the models are shared", () => {
    const { ggd, municipality, gp } = frames;
    const older = (f: Frame) => share(col(f, "age_group").map((g) => (["75-84", "85+"].includes(g) ? "y" : "n")), "y");
    expect(older(ggd)).toBeGreaterThan(older(municipality) + 0.05);
    expect(share(col(gp, "district"), "WK036302")).toBeGreaterThan(share(col(ggd, "district"), "WK036302") + 0.2);
    expect(share(col(gp, "low_income"), "true")).toBeGreaterThan(share(col(ggd, "low_income"), "true"));
    expect(share(col(ggd, "polypharmacy"), "true")).toBeGreaterThan(share(col(municipality, "polypharmacy"), "true"));
  });
});

describe("synth writeScenario", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "werkplaats-synth-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes one CSV per station and truth.json, byte-identical to the in-memory result", async () => {
    const out = join(dir, "nested", "fall");
    const result = await writeScenario({ scenario: "fall-risk", rows: 10_000, seed: 5, out });
    expect(result.files).toEqual(["gp", "homecare", "hospital"].map((s) => join(out, `${s}.csv`)));
    expect(result.truthFile).toBe(join(out, "truth.json"));
    expect((await readdir(out)).sort()).toEqual(["gp.csv", "homecare.csv", "hospital.csv", "truth.json"]); // no temp files left
    const memory = generateScenario({ scenario: "fall-risk", rows: 10_000, seed: 5 });
    for (let i = 0; i < 3; i++) expect(await readFile(result.files[i], "utf8")).toBe(memory.stations[i].csv);
    const truth = JSON.parse(await readFile(result.truthFile, "utf8"));
    expect(truth).toEqual(JSON.parse(JSON.stringify(memory.truth)));
    expect(truth).toMatchObject({ scenario: "fall-risk", seed: 5, stations: [{ name: "gp", rows: 10_000 }, { name: "homecare" }, { name: "hospital" }] });
  });

  it("writes the same bytes again for the same seed, replacing the files", async () => {
    const out = join(dir, "again");
    const first = await writeScenario({ scenario: "neighbourhood", stations: 4, rows: 500, seed: 77, out });
    const before = await Promise.all([...first.files, first.truthFile].map((f) => readFile(f)));
    const second = await writeScenario({ scenario: "neighbourhood", stations: 4, rows: 500, seed: 77, out });
    const after = await Promise.all([...second.files, second.truthFile].map((f) => readFile(f)));
    expect(after).toEqual(before);
    expect(second.files.map((f) => f.slice(out.length + 1))).toEqual(["ggd.csv", "municipality.csv", "gp.csv", "ggd-2.csv"]);
  });

  it("refuses an output path that is a file", async () => {
    const out = join(dir, "again", "ggd.csv");
    await expect(writeScenario({ scenario: "neighbourhood", rows: 10, seed: 1, out })).rejects.toThrow(BadInput);
  });
});

describe("synth argument checks", () => {
  const cases: Array<[string, Parameters<typeof generateScenario>[0], RegExp]> = [
    ["an unknown scenario", { scenario: "falls", seed: 1 }, /unknown scenario "falls" \(scenarios: fall-risk, ggz-waitlist, neighbourhood\)/],
    ["zero rows", { scenario: "fall-risk", rows: 0, seed: 1 }, /rows per station must be a whole number from 1 to/],
    ["fractional rows", { scenario: "fall-risk", rows: 1.5, seed: 1 }, /rows per station must be a whole number/],
    ["rows that are not a number", { scenario: "fall-risk", rows: "many", seed: 1 }, /rows per station .* got "many"/],
    ["too many rows in memory", { scenario: "fall-risk", rows: 3_000_000, seed: 1 }, /rows per station must be a whole number from 1 to 2000000/],
    ["no stations", { scenario: "fall-risk", stations: 0, seed: 1 }, /stations must be a whole number from 1 to 100/],
    ["too many stations", { scenario: "fall-risk", stations: 101, seed: 1 }, /stations must be/],
    ["a negative seed", { scenario: "fall-risk", seed: -1 }, /seed must be a whole number from 0/],
    ["a fractional seed", { scenario: "fall-risk", seed: 0.5 }, /seed must be a whole number/],
    ["a seed that is not a number", { scenario: "fall-risk", seed: "abc" }, /seed must be a whole number .* got "abc"/],
    ["a missing seed", { scenario: "fall-risk" } as never, /seed must be a whole number/],
    ["an unsafe seed", { scenario: "fall-risk", seed: 2 ** 53 }, /seed must be/],
  ];

  it.each(cases)("refuses %s with a clear BadInput", (_, options, message) => {
    let caught: unknown;
    try {
      generateScenario(options);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(BadInput);
    expect((caught as BadInput).code).toBe("BAD_INPUT");
    expect((caught as Error).message).toMatch(message);
  });

  it("accepts numeric strings, as a command line passes them", () => {
    const a = generateScenario({ scenario: "ggz-waitlist", stations: "2", rows: "10", seed: "42" });
    const b = generateScenario({ scenario: "ggz-waitlist", stations: 2, rows: 10, seed: 42 });
    expect(a).toEqual(b);
  });

  it("refuses bad arguments before touching the disk", async () => {
    const out = join(tmpdir(), `werkplaats-synth-never-${process.pid}`);
    await expect(writeScenario({ scenario: "nope", seed: 1, out })).rejects.toThrow(BadInput);
    await expect(readdir(out)).rejects.toThrow();
  });
});

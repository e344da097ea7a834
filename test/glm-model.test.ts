import { describe, expect, it } from "vitest";
import {
  chiSquareSurvival,
  evaluateGlm,
  fitGlm,
  GlmModel,
  normalCdf,
  normalQuantile,
  normalSurvival,
  studentTwoSided,
  type GlmModel as GlmModelType,
} from "../sdk/glm/index.js";
import { evaluationFederation, federation, makeTable, seededRandom, stationTables, type ColumnData } from "./glm-fixtures.js";

/** Synthetic fall-risk clients with known true effects. */
function fallRiskData(n: number, seed: number): { data: Record<string, ColumnData>; truth: Record<string, number> } {
  const truth = { "(Intercept)": -2, age10: 0.5, sexM: 0.3, polypharmacyTRUE: 0.8 };
  const random = seededRandom(seed);
  const data: Record<string, ColumnData> = { fall: [], age10: [], sex: [], polypharmacy: [] };
  for (let i = 0; i < n; i++) {
    const age10 = (65 + 30 * random() - 80) / 10;
    const sex = random() < 0.45 ? "M" : "F";
    const poly = random() < 0.35;
    const eta = truth["(Intercept)"] + truth.age10 * age10 + truth.sexM * (sex === "M" ? 1 : 0) + truth.polypharmacyTRUE * (poly ? 1 : 0);
    (data.fall as boolean[]).push(random() < 1 / (1 + Math.exp(-eta)));
    (data.age10 as number[]).push(age10);
    (data.sex as string[]).push(sex);
    (data.polypharmacy as boolean[]).push(poly);
  }
  return { data, truth };
}

async function fallModel(n = 6000, seed = 11): Promise<{ model: GlmModelType; data: Record<string, ColumnData>; truth: Record<string, number> }> {
  const { data, truth } = fallRiskData(n, seed);
  const model = await fitGlm({
    formula: "fall ~ age10 + sex + polypharmacy",
    family: "binomial",
    levels: { sex: ["F", "M"] },
    columns: { fall: "boolean", age10: "numeric", sex: "categorical", polypharmacy: "boolean" },
    aggregate: federation(stationTables(data)),
  });
  return { model, data, truth };
}

describe("GlmModel", () => {
  it("recovers known true effects within their 95% intervals (boolean response and predictor)", async () => {
    const { model, truth } = await fallModel();
    expect(model.names).toEqual(["(Intercept)", "age10", "sexM", "polypharmacyTRUE"]);
    for (const c of model.coefficients) {
      expect(truth[c.term], c.term).toBeGreaterThan(c.ci_low);
      expect(truth[c.term], c.term).toBeLessThan(c.ci_high);
    }
    const or = model.ratios().find((r) => r.term === "polypharmacyTRUE")!;
    expect(or.kind).toBe("odds ratio");
    expect(or.estimate).toBeCloseTo(Math.exp(model.coefficient("polypharmacyTRUE").estimate), 12);
    expect(or.ci_low).toBeLessThan(Math.exp(0.8));
    expect(or.ci_high).toBeGreaterThan(Math.exp(0.8));
  });

  it("serialises to the agreed JSON shape and back", async () => {
    const { model } = await fallModel(2000, 3);
    const json = JSON.parse(JSON.stringify(model));
    for (const key of ["family", "link", "formula", "n", "iterations", "converged", "deviance", "null_deviance", "aic", "bic", "coefficients"]) {
      expect(json).toHaveProperty(key);
    }
    expect(Object.keys(json.coefficients[0])).toEqual(["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"]);
    expect(json.family).toBe("binomial");
    expect(json.link).toBe("logit");
    const back = GlmModel.fromJSON(json);
    expect(back.toJSON()).toEqual(model.toJSON());
    expect(back.predict({ age10: 1, sex: "M", polypharmacy: true })).toBe(model.predict({ age10: 1, sex: "M", polypharmacy: true }));
  });

  it("predicts the linear predictor and the response for a row object", async () => {
    const { model } = await fallModel(2000, 4);
    const b = model.params;
    const eta = b["(Intercept)"] + 0.5 * b.age10 + b.sexM;
    expect(model.predict({ age10: 0.5, sex: "M", polypharmacy: false }, { type: "link" })).toBeCloseTo(eta, 12);
    expect(model.predict({ age10: 0.5, sex: "M", polypharmacy: "FALSE" })).toBeCloseTo(1 / (1 + Math.exp(-eta)), 12);
    expect(model.predict({ age10: null, sex: "M", polypharmacy: false })).toBeNaN();
    expect(() => model.predict({ age10: 1, sex: "X", polypharmacy: false })).toThrow(/no level "X"/);
  });

  it("predicts with offsets, I() and factor() terms", async () => {
    const model = new GlmModel({
      formula: "y ~ I(age^2) + factor(q) + offset(log(t))",
      family: "poisson",
      link: "log",
      levels: { q: ["1", "2", "3"] },
      names: ["(Intercept)", "I(age^2)", "factor(q)2", "factor(q)3"],
      estimates: [0.1, 0.01, 0.2, 0.3],
      covariance: Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? 0.01 : 0)),
      dispersion: 1, n: 10, weightSum: 10, dfResidual: 6, dfNull: 9, deviance: 1, nullDeviance: 2, pearsonChi2: 1,
      loglik: -3, aic: 14, bic: 15, iterations: 4, converged: true, warnings: [],
    });
    expect(model.predict({ age: 3, q: 3, t: 2 }, { type: "link" })).toBeCloseTo(0.1 + 0.09 + 0.3 + Math.log(2), 12);
    expect(model.ratios()[0].kind).toBe("rate ratio");
  });

  it("prints a summary laid out like R's summary.glm", async () => {
    const { model } = await fallModel(2000, 5);
    const text = model.summary();
    expect(text).toContain("glm(formula = fall ~ age10 + sex + polypharmacy, family = binomial(link = \"logit\"))");
    expect(text).toMatch(/Estimate Std. Error z value Pr\(>\|z\|\)/);
    expect(text).toMatch(/^polypharmacyTRUE\s+[-0-9.]+\s+[0-9.]+\s+[-0-9.]+\s+\S+ \*\*\*$/m);
    expect(text).toContain("(Dispersion parameter for binomial family taken to be 1)");
    expect(text).toMatch(/Null deviance: [0-9.]+ {2}on 1999 {2}degrees of freedom/);
    expect(text).toMatch(/Residual deviance: [0-9.]+ {2}on 1996 {2}degrees of freedom/);
    expect(text).toMatch(/Number of Fisher Scoring iterations: \d/);
    expect(text).toContain("Odds ratios (95% Wald CI):");
  });
});

describe("distributions", () => {
  it("match reference values (R / scipy) to near machine precision, tails included", () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 14);
    expect(normalQuantile(0.5)).toBe(0);
    expect(Math.abs(normalQuantile(1e-10) / -6.361340902404056 - 1)).toBeLessThan(1e-14);
    expect(Math.abs(normalCdf(-1.959963984540054) / 0.025 - 1)).toBeLessThan(1e-14);
    // scipy: norm.sf(10), norm.sf(30), norm.cdf(0.3), 2·t.sf(2.5, 10), chi2.sf(15.5, 8), chi2.sf(3, 1)
    expect(Math.abs(normalSurvival(10) / 7.61985302416047e-24 - 1)).toBeLessThan(1e-13);
    expect(Math.abs(normalSurvival(30) / 4.906713927147908e-198 - 1)).toBeLessThan(1e-12);
    expect(Math.abs(normalCdf(0.3) - 0.6179114221889526)).toBeLessThan(2e-16);
    expect(Math.abs(studentTwoSided(2.5, 10) / 0.031446844236608776 - 1)).toBeLessThan(1e-12);
    expect(Math.abs(chiSquareSurvival(15.5, 8) / 0.0501220545326652 - 1)).toBeLessThan(1e-12);
    expect(Math.abs(chiSquareSurvival(3, 1) / 0.08326451666355042 - 1)).toBeLessThan(1e-12);
  });
});

describe("federated evaluation", () => {
  it("gives the pooled AUC (Mann–Whitney) within 1e-3, the Brier score, risk groups and Hosmer–Lemeshow", async () => {
    const { model, data } = await fallModel(6000, 21);
    const tables = stationTables(data);
    const evaluation = await evaluateGlm({ model, aggregate: evaluationFederation(tables), riskCutpoints: [0.15, 0.3] });

    // independent pooled computation over every row
    const n = (data.fall as boolean[]).length;
    const scored: { p: number; y: number }[] = [];
    for (let i = 0; i < n; i++) {
      const row = { age10: data.age10[i] as number, sex: data.sex[i] as string, polypharmacy: data.polypharmacy[i] as boolean };
      scored.push({ p: model.predict(row), y: data.fall[i] ? 1 : 0 });
    }
    scored.sort((a, b) => a.p - b.p);
    // Mann–Whitney U with mid-ranks for ties
    let rankSumEvents = 0;
    for (let i = 0; i < n; ) {
      let j = i;
      while (j + 1 < n && scored[j + 1].p === scored[i].p) j++;
      const midRank = (i + j + 2) / 2;
      for (let k = i; k <= j; k++) if (scored[k].y === 1) rankSumEvents += midRank;
      i = j + 1;
    }
    const events = scored.filter((s) => s.y === 1).length;
    const auc = (rankSumEvents - (events * (events + 1)) / 2) / (events * (n - events));
    expect(Math.abs(evaluation.auc - auc)).toBeLessThan(1e-3);
    console.log(`AUC federated ${evaluation.auc.toFixed(6)} vs pooled Mann–Whitney ${auc.toFixed(6)}`);

    const brier = scored.reduce((s, r) => s + (r.y - r.p) ** 2, 0) / n;
    expect(evaluation.brier).toBeCloseTo(brier, 12);
    expect(evaluation.n).toBe(n);
    expect(evaluation.events).toBe(events);

    expect(evaluation.riskGroups.map((g) => g.label)).toEqual(["low", "medium", "high"]);
    const groups = [0, 0.15, 0.3, 1.01];
    evaluation.riskGroups.forEach((g, k) => {
      const inGroup = scored.filter((s) => s.p >= groups[k] && s.p < groups[k + 1]);
      expect(g.n).toBe(inGroup.length);
      expect(g.observed).toBe(inGroup.filter((s) => s.y === 1).length);
      expect(g.expected).toBeCloseTo(inGroup.reduce((s, r) => s + r.p, 0), 8);
    });
    // a correctly specified model is well calibrated
    // only the statistic and its df are released (the groups are sums of fine bins)
    expect(evaluation.hosmerLemeshow.df).toBeGreaterThanOrEqual(6);
    expect(evaluation.hosmerLemeshow.p_value).toBeGreaterThan(0.01);
    expect(evaluation.observedOverExpected).toBeGreaterThan(0.95);
    expect(evaluation.observedOverExpected).toBeLessThan(1.05);
  });

  it("flags a miscalibrated model with Hosmer–Lemeshow", async () => {
    const { model, data } = await fallModel(6000, 22);
    const json = model.toJSON();
    json.coefficients[0].estimate += 0.6; // predicted risks too high
    const shifted = GlmModel.fromJSON(json);
    const evaluation = await evaluateGlm({ model: shifted, aggregate: evaluationFederation(stationTables(data)) });
    expect(evaluation.hosmerLemeshow.p_value).toBeLessThan(1e-6);
    expect(evaluation.observedOverExpected).toBeLessThan(0.9);
  });

  it("refuses a non-binomial model", async () => {
    const table = makeTable("t", { y: [1, 2, 3, 4], x: [1, 2, 3, 5] });
    const model = await fitGlm({ formula: "y ~ x", family: "poisson", levels: {}, aggregate: federation([table]) });
    await expect(evaluateGlm({ model, aggregate: evaluationFederation([table]) })).rejects.toThrow(/binomial/);
  });
});

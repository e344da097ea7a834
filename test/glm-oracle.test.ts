/**
 * Federated GLMs equal the pooled fit: three in-memory stations, their vectors summed, against
 * statsmodels fitting the pooled rows (test/oracle/glm_oracle.py).
 */
import { describe, expect, it } from "vitest";
import { fitGlm, type GlmModel } from "../sdk/glm/index.js";
import type { FamilyName } from "../common/job.js";
import {
  federation,
  normalSampler,
  oracleFit,
  poissonSample,
  seededRandom,
  stationTables,
  statsmodelsDataset,
  writeCsv,
  type ColumnData,
  type OracleFit,
} from "./glm-fixtures.js";

/** statsmodels' (patsy's) column name → R's, for C(x)[T.level] and np.log(). */
function rName(name: string, rename: Record<string, { as?: string; levels?: Record<string, string> }> = {}): string {
  return name
    .replace(/C\(([^)]+)\)\[T\.([^\]]+)\]/g, (_, v: string, level: string) => {
      const r = rename[v] ?? {};
      return `${r.as ?? v}${r.levels?.[level] ?? level}`;
    })
    .replace(/np\.log\(/g, "log(");
}

const agreement: string[] = [];

/** Asserts the federated model equals the pooled statsmodels fit; returns the worst relative errors. */
function expectAgreement(
  label: string,
  model: GlmModel,
  oracle: OracleFit,
  rename: Parameters<typeof rName>[1] = {},
  options: { tol?: number; skipNullDeviance?: boolean } = {},
): void {
  const tol = options.tol ?? 1e-6;
  const params = Object.fromEntries(Object.entries(oracle.params).map(([k, v]) => [rName(k, rename), v]));
  const bse = Object.fromEntries(Object.entries(oracle.bse).map(([k, v]) => [rName(k, rename), v]));
  const pvalues = Object.fromEntries(Object.entries(oracle.pvalues).map(([k, v]) => [rName(k, rename), v]));
  expect([...model.names].sort()).toEqual(Object.keys(params).sort());
  const defaultBse = Object.fromEntries(Object.entries(oracle.default_bse).map(([k, v]) => [rName(k, rename), v]));
  let worstEstimate = 0;
  let worstSe = 0;
  let worstDefaultSe = 0;
  for (const c of model.coefficients) {
    // relative error, absolute below 1e-3 in magnitude
    const e = Math.abs(c.estimate - params[c.term]) / Math.max(Math.abs(params[c.term]), 1e-3);
    const s = Math.abs(c.std_error - bse[c.term]) / bse[c.term];
    worstEstimate = Math.max(worstEstimate, e);
    worstSe = Math.max(worstSe, s);
    worstDefaultSe = Math.max(worstDefaultSe, Math.abs(c.std_error - defaultBse[c.term]) / defaultBse[c.term]);
    expect(e, `${label} estimate ${c.term}: ${c.estimate} vs ${params[c.term]}`).toBeLessThan(tol);
    expect(s, `${label} SE ${c.term}: ${c.std_error} vs ${bse[c.term]}`).toBeLessThan(tol);
    if (model.statisticKind === "z") {
      // a p-value far in the tail amplifies a 1e-7 difference in z by z², so compare at 1e-4
      expect(Math.abs(c.p_value - pvalues[c.term]) / Math.max(pvalues[c.term], 1e-300), `${label} p ${c.term}`).toBeLessThan(1e-4);
      const ci = oracle.conf_int[Object.keys(oracle.params).find((k) => rName(k, rename) === c.term)!];
      expect(Math.abs(c.ci_low - ci[0]) / Math.max(Math.abs(ci[0]), 1e-3)).toBeLessThan(tol);
      expect(Math.abs(c.ci_high - ci[1]) / Math.max(Math.abs(ci[1]), 1e-3)).toBeLessThan(tol);
    }
  }
  const dev = Math.abs(model.deviance - oracle.deviance) / oracle.deviance;
  const nullDev = Math.abs(model.nullDeviance - oracle.null_deviance) / oracle.null_deviance;
  if (!options.skipNullDeviance) {
    expect(nullDev, `${label} null deviance ${model.nullDeviance} vs ${oracle.null_deviance}`).toBeLessThan(tol);
  }
  expect(dev, `${label} deviance ${model.deviance} vs ${oracle.deviance}`).toBeLessThan(tol);
  expect(model.n).toBe(oracle.nobs);
  expect(model.dfResidual).toBe(oracle.df_resid);
  if (model.family.name !== "gaussian") {
    expect(Math.abs(model.loglik - oracle.llf) / Math.abs(oracle.llf)).toBeLessThan(tol);
    expect(Math.abs(model.aic - oracle.aic) / Math.abs(oracle.aic)).toBeLessThan(tol);
    expect(Math.abs(model.bic - oracle.bic_llf) / Math.abs(oracle.bic_llf)).toBeLessThan(tol);
  } else {
    // R counts σ² in AIC/BIC; statsmodels' GLM does not
    expect(Math.abs(model.aic - (oracle.aic + 2)) / Math.abs(oracle.aic)).toBeLessThan(tol);
    expect(Math.abs(model.bic - (oracle.bic_llf + Math.log(oracle.nobs))) / Math.abs(oracle.bic_llf)).toBeLessThan(tol);
    expect(Math.abs(model.dispersion - oracle.scale) / oracle.scale).toBeLessThan(tol);
  }
  expect(model.converged).toBe(true);
  if (model.family.name === "gaussian" && model.link.name === "identity") {
    // R's glm takes 2 (the exact solve, then a deviance that no longer changes); statsmodels'
    // absolute criterion |Δdev| ≤ 1e-8 misses rounding-level changes of a large deviance and takes 3
    expect(model.iterations).toBe(2);
    expect(oracle.iterations).toBeGreaterThanOrEqual(2);
  } else {
    expect([oracle.iterations, oracle.iterations + 1], `${label} iterations ${model.iterations} vs statsmodels ${oracle.iterations}`).toContain(
      model.iterations,
    );
  }
  agreement.push(
    `${label.padEnd(34)} est ${worstEstimate.toExponential(1)}  se ${worstSe.toExponential(1)} (vs default fit ${worstDefaultSe.toExponential(1)})  dev ${dev.toExponential(1)}  null ${nullDev.toExponential(1)}  iter ${model.iterations}/${oracle.iterations}`,
  );
}

async function federatedFit(options: {
  data: Record<string, ColumnData>;
  formula: string;
  family: FamilyName;
  levels?: Record<string, string[]>;
  columns?: Record<string, "numeric" | "boolean" | "categorical">;
  weights?: string;
}): Promise<GlmModel> {
  const tables = stationTables(options.data);
  return fitGlm({
    formula: options.formula,
    family: options.family,
    levels: options.levels ?? {},
    columns: options.columns,
    weights: options.weights,
    aggregate: federation(tables),
  });
}

describe("federated GLM against statsmodels on pooled rows", () => {
  it("binomial logit, synthetic: factors, a logical, an interaction, I(), factor(), missing values", async () => {
    const random = seededRandom(20240611);
    const normal = normalSampler(random);
    const n = 3000;
    const data: Record<string, ColumnData> = { fall: [], age: [], sex: [], diabetes: [], region: [], income_quintile: [] };
    for (let i = 0; i < n; i++) {
      const age = 65 + 30 * random();
      const sex = random() < 0.45 ? "M" : "F";
      const diabetes = random() < 0.25;
      const region = ["Noord", "Oost", "Zuid"][Math.floor(random() * 3)];
      const q = 1 + Math.floor(random() * 5);
      const eta = -1.2 + 0.06 * (age - 80) + 0.4 * (sex === "M" ? 1 : 0) + 0.7 * (diabetes ? 1 : 0) - 0.3 * (sex === "M" && diabetes ? 1 : 0) +
        (region === "Zuid" ? 0.25 : 0) - 0.1 * (q - 1) + 0.2 * normal();
      (data.fall as number[]).push(random() < 1 / (1 + Math.exp(-eta)) ? 1 : 0);
      (data.age as (number | null)[]).push(i % 97 === 0 ? null : Math.round(age * 10) / 10);
      (data.sex as (string | null)[]).push(i % 131 === 0 ? null : sex);
      (data.diabetes as boolean[]).push(diabetes);
      (data.region as string[]).push(region);
      (data.income_quintile as number[]).push(q);
    }
    const csv = writeCsv("falls.csv", data);
    const model = await federatedFit({
      data,
      formula: "fall ~ I(age - 80) + sex * diabetes + region + factor(income_quintile)",
      family: "binomial",
      levels: { sex: ["F", "M"], region: ["Noord", "Oost", "Zuid"], income_quintile: ["1", "2", "3", "4", "5"] },
      columns: { fall: "numeric", age: "numeric", sex: "categorical", diabetes: "boolean", region: "categorical", income_quintile: "numeric" },
    });
    expect(model.names).toEqual([
      "(Intercept)", "I(age - 80)", "sexM", "diabetesTRUE", "regionOost", "regionZuid",
      "factor(income_quintile)2", "factor(income_quintile)3", "factor(income_quintile)4", "factor(income_quintile)5",
      "sexM:diabetesTRUE",
    ]);
    const oracle = oracleFit({
      csv,
      formula: "fall ~ I(age - 80) + C(sex) * C(diabetes) + C(region) + C(income_quintile)",
      family: "binomial",
    });
    expectAgreement("binomial synthetic (n=3000)", model, oracle, {
      diabetes: { levels: { "1": "TRUE" } },
      income_quintile: { as: "factor(income_quintile)" },
    });
  });

  it("poisson log with offset(log(years)), synthetic", async () => {
    const random = seededRandom(7);
    const n = 2500;
    const data: Record<string, ColumnData> = { falls: [], age: [], sex: [], risk: [], years: [] };
    for (let i = 0; i < n; i++) {
      const age = 65 + 30 * random();
      const sex = random() < 0.5 ? "M" : "F";
      const risk = 1 + Math.floor(random() * 3);
      const years = 0.2 + 2.8 * random();
      const rate = Math.exp(-1.5 + 0.03 * (age - 80) + 0.2 * (sex === "M" ? 1 : 0) + 0.35 * (risk - 1));
      (data.falls as number[]).push(poissonSample(random, rate * years));
      (data.age as number[]).push(Math.round(age));
      (data.sex as string[]).push(sex);
      (data.risk as number[]).push(risk);
      (data.years as number[]).push(Math.round(years * 1000) / 1000);
    }
    const csv = writeCsv("falls-poisson.csv", data);
    const model = await federatedFit({
      data,
      formula: "falls ~ age + sex + factor(risk) + offset(log(years))",
      family: "poisson",
      levels: { sex: ["F", "M"], risk: ["1", "2", "3"] },
    });
    expect(model.names).toEqual(["(Intercept)", "age", "sexM", "factor(risk)2", "factor(risk)3"]);
    const oracle = oracleFit({ csv, formula: "falls ~ age + C(sex) + C(risk)", family: "poisson", offset: { column: "years", log: true } });
    expectAgreement("poisson synthetic + offset (n=2500)", model, oracle, { risk: { as: "factor(risk)" } });
    expect(model.coefficient("factor(risk)3").estimate).toBeGreaterThan(0.5);
  });

  it("gaussian identity with prior weights, log() and a numeric-by-factor interaction, synthetic", async () => {
    const random = seededRandom(99);
    const normal = normalSampler(random);
    const n = 1200;
    const data: Record<string, ColumnData> = { sbp: [], age: [], sex: [], bmi: [], w: [] };
    for (let i = 0; i < n; i++) {
      const age = 40 + 45 * random();
      const sex = random() < 0.5 ? "M" : "F";
      const bmi = 18 + 17 * random();
      const w = 0.5 + 2 * random();
      (data.sbp as number[]).push(100 + 0.5 * age + 4 * (sex === "M" ? 1 : 0) + 20 * Math.log(bmi) + 0.1 * age * (sex === "M" ? 1 : 0) + (12 * normal()) / Math.sqrt(w));
      (data.age as number[]).push(age);
      (data.sex as string[]).push(sex);
      (data.bmi as number[]).push(bmi);
      (data.w as number[]).push(w);
    }
    const csv = writeCsv("sbp.csv", data);
    const model = await federatedFit({ data, formula: "sbp ~ age + sex + log(bmi) + age:sex", family: "gaussian", levels: { sex: ["F", "M"] }, weights: "w" });
    expect(model.names).toEqual(["(Intercept)", "age", "sexM", "log(bmi)", "age:sexM"]);
    const oracle = oracleFit({ csv, formula: "sbp ~ age + C(sex) + np.log(bmi) + age:C(sex)", family: "gaussian", weights: "w" });
    expectAgreement("gaussian synthetic weighted (n=1200)", model, oracle);
    expect(model.statisticKind).toBe("t");
  });

  it("spector (statsmodels' logit example): GRADE ~ GPA + TUCE + PSI", async () => {
    const data = statsmodelsDataset("spector");
    const model = await federatedFit({ data, formula: "GRADE ~ GPA + TUCE + PSI", family: "binomial" });
    const oracle = oracleFit({ csv: writeCsv("spector-pooled.csv", data), formula: "GRADE ~ GPA + TUCE + PSI", family: "binomial" });
    expectAgreement("spector logit (n=32)", model, oracle);
    expect(model.coefficient("PSI").estimate).toBeCloseTo(2.378688, 5);
  });

  it("randhie (20 190 rows): poisson with nine covariates", async () => {
    const data = statsmodelsDataset("randhie");
    const formula = "mdvis ~ lncoins + idp + lpi + fmde + physlm + disea + hlthg + hlthf + hlthp";
    const model = await federatedFit({ data, formula, family: "poisson" });
    const oracle = oracleFit({ csv: writeCsv("randhie-pooled.csv", data), formula, family: "poisson" });
    expectAgreement("randhie poisson (n=20190)", model, oracle);
  });

  it("cpunish: poisson with log() of a covariate", async () => {
    const data = statsmodelsDataset("cpunish");
    const model = await federatedFit({
      data,
      formula: "EXECUTIONS ~ INCOME + PERPOVERTY + PERBLACK + log(VC100k96) + SOUTH + DEGREE",
      family: "poisson",
    });
    const oracle = oracleFit({
      csv: writeCsv("cpunish-pooled.csv", data),
      formula: "EXECUTIONS ~ INCOME + PERPOVERTY + PERBLACK + np.log(VC100k96) + SOUTH + DEGREE",
      family: "poisson",
    });
    expectAgreement("cpunish poisson (n=17)", model, oracle);
  });

  it("scotland: gaussian", async () => {
    const data = statsmodelsDataset("scotland");
    const formula = "YES ~ COUTAX + UNEMPF + MOR + ACT + GDP + AGE";
    const model = await federatedFit({ data, formula, family: "gaussian" });
    const oracle = oracleFit({ csv: writeCsv("scotland-pooled.csv", data), formula, family: "gaussian" });
    expectAgreement("scotland gaussian (n=32)", model, oracle);
  });

  it("no intercept (-1) with a factor coded fully, like R", async () => {
    const data = statsmodelsDataset("spector");
    const withGroup: Record<string, ColumnData> = { ...data, group: data.PSI.map((v) => (v === 1 ? "psi" : "control")) };
    const model = await federatedFit({ data: withGroup, formula: "GRADE ~ group + GPA - 1", family: "binomial", levels: { group: ["control", "psi"] } });
    expect(model.names).toEqual(["groupcontrol", "grouppsi", "GPA"]);
    const oracle = oracleFit({ csv: writeCsv("spector-group.csv", withGroup), formula: "GRADE ~ C(group) + GPA - 1", family: "binomial" });
    const renamed = { ...oracle, default_bse: {} as Record<string, number>, params: {} as Record<string, number>, bse: {} as Record<string, number>, pvalues: {} as Record<string, number>, conf_int: {} as Record<string, [number, number]> };
    for (const k of Object.keys(oracle.params)) {
      const r = k.replace(/C\(group\)\[(\w+)\]/, "group$1");
      renamed.params[r] = oracle.params[k];
      renamed.default_bse[r] = oracle.default_bse[k];
      renamed.bse[r] = oracle.bse[k];
      renamed.pvalues[r] = oracle.pvalues[k];
      renamed.conf_int[r] = oracle.conf_int[k];
    }
    // without an intercept R's null model is the mean linkinv(0) = ½ for every row; statsmodels
    // fits an intercept instead, so the null deviance is R's: 2·n·log 2
    expectAgreement("spector, no intercept, full dummies", model, renamed as OracleFit, {}, { skipNullDeviance: true });
    expect(model.nullDeviance).toBeCloseTo(2 * 32 * Math.log(2), 10);
    expect(model.dfNull).toBe(32);
  });

  it("with standardErrors: \"last-iteration\" reproduces statsmodels' default (and R's) standard errors", async () => {
    const data = statsmodelsDataset("spector");
    const tables = stationTables(data);
    const model = await fitGlm({
      formula: "GRADE ~ GPA + TUCE + PSI",
      family: "binomial",
      levels: {},
      aggregate: federation(tables),
      standardErrors: "last-iteration",
    });
    const oracle = oracleFit({ csv: writeCsv("spector-pooled2.csv", data), formula: "GRADE ~ GPA + TUCE + PSI", family: "binomial" });
    expect(model.iterations).toBe(oracle.iterations);
    for (const c of model.coefficients) {
      expect(Math.abs(c.std_error - oracle.default_bse[c.term]) / oracle.default_bse[c.term]).toBeLessThan(1e-9);
      // R's summary(glm(GRADE ~ GPA + TUCE + PSI, binomial, spector)) prints SE 4.93127 for the intercept
    }
    expect(model.coefficient("(Intercept)").std_error).toBeCloseTo(4.93127, 5);
  });

  it("prints the agreement figures", () => {
    console.log("max relative error vs statsmodels (estimates, SEs, deviance, null deviance; iterations ours/statsmodels):\n" + agreement.join("\n"));
    expect(agreement.length).toBeGreaterThan(0);
  });
});

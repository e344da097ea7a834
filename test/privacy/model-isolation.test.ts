/**
 * Attack 2 of issue 14: one person's values from one model. Over the over-90s, a model whose only
 * covariate is carried by one person (exp(50·(age−102)) is 1 for the client aged 102 and below
 * 1e−21 for everyone else) has intercept + slope = that person's response. The station checks its
 * own design before answering (station-daemon/compute/model-disclosure.ts): every column must be
 * carried by at least the minimum cell size of rows, and no row's leverage may exceed the policy's
 * maxLeverage. These tests are the attacker: a valid study key, real station processes, SDK calls.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Federation, GlmModel } from "../../sdk/index.js";
import type { LocalFederation } from "../../sdk/local-federation.js";
import { TARGET, refusal, refusalReasons, startTargetFederation } from "./target.js";

let local: LocalFederation;
let fed: Federation;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ local, fed, stop } = await startTargetFederation("werkplaats-privacy-models-"));
});

afterAll(async () => {
  await stop?.();
});

/**
 * The two refusals, with every quoted column name blanked: what is left may hold the limits
 * (10, 0.5) and nothing else — no value, count or row of the target.
 */
const ISOLATION_REFUSAL =
  /^(station \w+ refused: )?(the design columns? ""(, "")*(, …)? (is|are) non-zero in fewer rows than the minimum cell size of 10: such a column singles out a few people|one row dominates the model \(its leverage at this station is above the limit of 0\.5\): the fit would reveal that row's values)$/;

const blankNames = (text: string) => text.replace(/"[^"]*"/g, '""');

/**
 * The attack is refused, and the hospital — which holds the target — refused it by its own
 * isolation check (the SDK reports the first station that refuses; its audit log shows the rest).
 */
async function expectIsolationRefused(formula: string, family: "gaussian" | "binomial" | "poisson", where = "age >= 90"): Promise<string> {
  const before = refusalReasons(join(local.dir, "hospital")).length;
  const err = await refusal(fed.dataset("fall_risk").where(where).glm(formula, { family }));
  expect(err.code, err.message).toBe("POLICY_REFUSED");
  expect(blankNames(err.message)).toMatch(ISOLATION_REFUSAL);
  const hospital = refusalReasons(join(local.dir, "hospital")).slice(before);
  expect(hospital.length, `the hospital did not refuse ${formula}`).toBe(1);
  expect(blankNames(hospital[0].replace(/^POLICY_REFUSED: /, ""))).toMatch(ISOLATION_REFUSAL);
  return hospital[0];
}

describe("models cannot isolate a person", () => {
  it("refuses the issue's attack: num_medications ~ I(exp(50*(age-102))) over the over-90s", async () => {
    const message = await expectIsolationRefused("num_medications ~ I(exp(50 * (age - 102)))", "gaussian");
    expect(message).toMatch(/design column "I\(exp\(50 \* \(age - 102\)\)\)"/);
  });

  it("refuses the same for dementia (binomial) and for the income quintile", async () => {
    await expectIsolationRefused("dementia ~ I(exp(50 * (age - 102)))", "binomial");
    await expectIsolationRefused("income_quintile ~ I(exp(50 * (age - 102)))", "gaussian");
    await expectIsolationRefused("num_medications ~ I(exp(50 * (age - 102)))", "poisson");
  });

  it("refuses a covariate that is small but not zero for everyone else (exp(2·(age−102)))", async () => {
    // Non-zero (above 1e−8 of its largest) for ages 93–102, so the column has support; the
    // target's row still carries the fit.
    await expectIsolationRefused("num_medications ~ I(exp(2 * (age - 102)))", "gaussian");
  });

  it("refuses step functions, in either direction, with or without an intercept", async () => {
    // sign(age − 101.5): +1 for the target, −1 for everyone else — non-zero in every row.
    await expectIsolationRefused("num_medications ~ I((age - 101.5) / abs(age - 101.5))", "gaussian");
    // The complement: 0 for the target, 1 for everyone else — non-zero in every row but one, yet
    // beside the intercept it isolates the target as well (support alone would not see it).
    await expectIsolationRefused("num_medications ~ I((abs(age - 101.5) - (age - 101.5)) / (2 * (101.5 - age)))", "gaussian");
    await expectIsolationRefused("num_medications ~ 0 + I(abs(age - 101.5) + (age - 101.5))", "gaussian");
  });

  it("refuses 1/(x − c) and high-order polynomials that interpolate the oldest row", async () => {
    await expectIsolationRefused("num_medications ~ I(1 / (age - 101.9))", "gaussian");
    await expectIsolationRefused("num_medications ~ I(((age - 90) / 12)^20)", "gaussian");
  });

  it("refuses an interaction of a rare level with a step (a dummy that only the target carries)", async () => {
    await expectIsolationRefused("num_medications ~ factor(income_quintile) + factor(income_quintile):I((age - 101.5) / abs(age - 101.5))", "gaussian");
    await expectIsolationRefused("num_medications ~ sex + dementia:I(exp(50 * (age - 102)))", "gaussian");
  });

  it("refuses a model whose only column is the target's, without an intercept", async () => {
    await expectIsolationRefused("num_medications ~ 0 + I(exp(50 * (age - 102)))", "gaussian");
  });

  it("refuses an evaluation (glm_evaluate) of an isolating model at coefficients the analyst chose", async () => {
    // Not a fitted model: the attacker hands the SDK the formula and coefficients directly.
    const forged = { formula: "dementia ~ I(exp(50 * (age - 102)))", family: { name: "binomial" }, link: { name: "logit" }, levels: {}, estimates: [-30, 60] } as unknown as GlmModel;
    const before = refusalReasons(join(local.dir, "hospital")).length;
    const err = await refusal(fed.dataset("fall_risk").where("age >= 90").evaluateModel(forged, { bins: 20, riskCutpoints: [0.5] }));
    expect(err.code, err.message).toBe("POLICY_REFUSED");
    const hospital = refusalReasons(join(local.dir, "hospital")).slice(before);
    expect(hospital.length).toBe(1);
    // Isolation, or an earlier rule on evaluations (coefficients of a model fitted in the study).
    const reason = blankNames(hospital[0].replace(/^POLICY_REFUSED: /, ""));
    expect(ISOLATION_REFUSAL.test(reason) || /coefficient|fitted/.test(reason), reason).toBe(true);
  });

  it("still fits honest models: the README's fall-risk model and models over the over-90s", async () => {
    const readme = await fed.dataset("fall_risk").where("age >= 65").glm("fell_12m ~ age + sex + num_medications + prior_fall", { family: "binomial" });
    expect(readme.converged).toBe(true);
    const older = await fed.dataset("fall_risk").where("age >= 90").glm("num_medications ~ age + dementia", { family: "gaussian" });
    expect(older.converged).toBe(true);
    // A smooth term in age is honest too: the oldest row does not dominate it (over the over-90s
    // the gp's 34 rows are too few for a quadratic — its oldest row has leverage 0.66 there).
    const smooth = await fed.dataset("fall_risk").where("age >= 75").glm("num_medications ~ age + I((age - 90)^2) + dementia", { family: "gaussian" });
    expect(smooth.converged).toBe(true);
    // The target is in all three; none of them gives its value.
    for (const m of [older, smooth]) expect(m.coefficients.every((c) => Number.isFinite(c.estimate))).toBe(true);
    expect(TARGET.num_medications).toBe(10);
  });
});

/**
 * Attack 3 of issue 14: one person's values from error messages. With `where age == 102` (one
 * row) a binomial model answered "a binomial response must be 0/1 …, found 10", and
 * I(1/(dementia−1)) answered "non-finite value" when the person had dementia and the subset
 * refusal when not: the station computed first and checked the subset size after. Now the subset
 * rule runs before anything is computed, and compute errors name the column and the kind of
 * problem — never a value — in the same words whether one row or many are at fault.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Federation } from "../../sdk/index.js";
import type { LocalFederation } from "../../sdk/local-federation.js";
import { refusal, refusalReasons, startTargetFederation } from "./target.js";

let local: LocalFederation;
let fed: Federation;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ local, fed, stop } = await startTargetFederation("werkplaats-privacy-errors-"));
});

afterAll(async () => {
  await stop?.();
});

/** Runs a model job that must fail; returns the hospital's own reason (it holds the target). */
async function hospitalReason(where: string, formula: string, family: "binomial" | "gaussian" | "poisson"): Promise<string> {
  const before = refusalReasons(join(local.dir, "hospital")).length;
  const err = await refusal(fed.dataset("fall_risk").where(where).glm(formula, { family }));
  expect(err.message).not.toMatch(/\bfound\b/);
  const reasons = refusalReasons(join(local.dir, "hospital")).slice(before);
  expect(reasons.length, `the hospital did not refuse ${formula} where ${where}`).toBe(1);
  return reasons[0];
}

const SUBSET_REFUSAL = "POLICY_REFUSED: station hospital refused: the where-expression selects fewer rows than the minimum subset size of 10";

describe("errors never carry values", () => {
  it("refuses a one-row subset before computing: a binomial model of a count says nothing of the count", async () => {
    // The target's num_medications is 10: not a 0/1 response. Before, the error said so, with the value.
    const bad = await hospitalReason("age == 102", "num_medications ~ 1", "binomial");
    expect(bad).toBe(SUBSET_REFUSAL);
    // A valid 0/1 response over the same row is refused in exactly the same words.
    expect(await hospitalReason("age == 102", "fell_12m ~ 1", "binomial")).toBe(bad);
  });

  it("gives the same refusal for I(1/(dementia − 1)) whatever the person's dementia", async () => {
    // Infinite for a person with dementia (the target), finite for one without.
    const infinite = await hospitalReason("age == 102", "fell_12m ~ I(1 / (dementia - 1))", "binomial");
    const finite = await hospitalReason("age == 102", "fell_12m ~ I(1 / (dementia - 2))", "binomial");
    expect(infinite).toBe(SUBSET_REFUSAL);
    expect(finite).toBe(infinite);
  });

  it("names the response and the rule, never the value, the same for one bad row as for many", async () => {
    // Over the over-90s: num_medications is outside 0/1 in most rows; the second response is
    // 10 for the target alone (0 for everyone else).
    const many = await hospitalReason("age >= 90", "num_medications ~ age", "binomial");
    const one = await hospitalReason("age >= 90", "I(10 * (abs(age - 101.5) + (age - 101.5))) ~ age", "binomial");
    const template = (reason: string) => reason.replace(/the response .* has/, "the response RESPONSE has");
    expect(many).toMatch(/the response num_medications has/);
    expect(template(many)).toBe("BAD_INPUT: a binomial response must be 0/1, a boolean, or a proportion in [0, 1] (with the trials as weights); the response RESPONSE has a value outside that at this station");
    expect(template(one)).toBe(template(many));
  });

  it("names a non-finite design column without its value, the same for one row as for many", async () => {
    // 1/(age − 102) is infinite for the target alone; 1/(age − 95) for every 95-year-old.
    const one = await hospitalReason("age >= 90", "num_medications ~ I(1 / (age - 102))", "gaussian");
    const many = await hospitalReason("age >= 90", "num_medications ~ I(1 / (age - 95))", "gaussian");
    const template = (reason: string) => reason.replace(/the design column .* is not/, "the design column COLUMN is not");
    expect(one).toMatch(/the design column I\(1\/\(age - 102\)\) is not/);
    expect(template(one)).toBe("BAD_INPUT: the design column COLUMN is not finite (infinite or undefined) in rows at this station");
    expect(template(many)).toBe(template(one));
  });
});

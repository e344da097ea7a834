/**
 * Helpers that keep a scenario's generator and its truth.json in step: the generator reads
 * its effects from the same coefficient table, keyed by R's coefficient names, that is
 * written to truth.json, so the two cannot drift apart.
 */
import type { OutcomeModel } from "./types.js";

export function outcomeModel(options: {
  outcome: string;
  family: "binomial" | "poisson";
  formula: string;
  coefficients: Record<string, number>;
  note?: string;
}): OutcomeModel {
  const ratios: Record<string, number> = {};
  for (const [name, value] of Object.entries(options.coefficients)) {
    if (name !== "(Intercept)") ratios[name] = Number(Math.exp(value).toPrecision(6));
  }
  return {
    outcome: options.outcome,
    family: options.family,
    link: options.family === "binomial" ? "logit" : "log",
    formula: options.formula,
    coefficients: { ...options.coefficients },
    ratios,
    ...(options.note !== undefined ? { note: options.note } : {}),
  };
}

/** The coefficient of a numeric or logical term; throws if the table lacks it (a typo). */
export function coefficient(coefficients: Record<string, number>, name: string): number {
  const value = coefficients[name];
  if (value === undefined) throw new Error(`synth: no coefficient "${name}" in the model table`);
  return value;
}

/**
 * The effect of each level of a categorical term, aligned with `levels`: 0 for the reference
 * (first) level, and `coefficients[term + level]` for the others, as R names them.
 */
export function levelEffects(coefficients: Record<string, number>, term: string, levels: readonly string[]): number[] {
  return levels.map((level, i) => (i === 0 ? 0 : coefficient(coefficients, term + level)));
}

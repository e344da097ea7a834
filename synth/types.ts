/**
 * The shapes shared by the synthetic scenarios: what a scenario declares, and the truth.json
 * that records the models the data were drawn from.
 */
import type { ColumnInfo } from "../common/schema.js";
import type { Rng } from "./random.js";

/** A column as written to the CSV, with what the generator guarantees about it. */
export interface SynthColumn {
  name: string;
  type: ColumnInfo["type"];
  /** Categorical columns: every level that can occur, in code-point order (R's and the loader's). */
  levels?: string[];
  /** Numeric columns: the range values are drawn from (counts have no upper bound: `max` omitted). */
  min?: number;
  max?: number;
  /** True when the generator leaves some cells empty on purpose. */
  missing: boolean;
  description: string;
}

/**
 * A generalised linear model an outcome was drawn from. `formula` is in R notation over the
 * raw CSV columns, and `coefficients` are keyed by the names R's `glm` gives them (treatment
 * contrasts, reference = first level in code-point order; logical columns as `xTRUE`), in the
 * order R reports them, so that `coef(glm(formula, family, data))` estimates them directly.
 */
export interface OutcomeModel {
  outcome: string;
  family: "binomial" | "poisson";
  link: "logit" | "log";
  formula: string;
  coefficients: Record<string, number>;
  /** exp(coefficient) for every term but the intercept: odds ratios (logit) or rate ratios (log). */
  ratios: Record<string, number>;
  /** Which rows the model holds for (all rows unless stated), and anything else an analyst should know. */
  note?: string;
}

/** An outcome computed exactly from other columns, not drawn from a model of its own. */
export interface DerivedOutcome {
  outcome: string;
  derived: true;
  /** The rule in R notation over raw columns, e.g. `num_medications >= 5`. */
  definition: string;
  from: string[];
  note: string;
}

export interface TruthStation {
  name: string;
  /** The organisation type whose case mix the station has (`gp`, `homecare`, …). */
  kind: string;
  rows: number;
  file: string;
}

export interface Truth {
  generator: string;
  scenario: string;
  description: string;
  seed: number;
  stations: TruthStation[];
  columns: SynthColumn[];
  /** The models outcomes were drawn from; shared by every station. */
  models: OutcomeModel[];
  derived: DerivedOutcome[];
  /** Everything else the generator used: case mix per station kind, prevalences, missingness. */
  parameters: Record<string, unknown>;
}

/** What each scenario module provides to `synth/index.ts`. */
export interface ScenarioDefinition {
  name: string;
  description: string;
  /** Station names for the default three stations, which are also the station kinds. */
  stationKinds: readonly string[];
  columns: readonly SynthColumn[];
  /**
   * The CSV body (no header) of one station, in chunks of whole lines each ending in "\n",
   * so that a million rows can be streamed to disk.
   */
  rows(options: { rng: Rng; kind: string; rows: number }): Iterable<string>;
  models: readonly OutcomeModel[];
  derived: readonly DerivedOutcome[];
  parameters: Record<string, unknown>;
}

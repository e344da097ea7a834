/**
 * Federated evaluation of a binomial GLM: one round in which every station bins its own
 * predictions on a fine logit grid (layout in station-daemon/compute/glm-evaluate.ts); the
 * stations then compute, from the combined bins, and release only (common/release-layout.ts,
 * common/evaluation.ts):
 *
 * - AUC from the binned ROC (pairs in one bin counted as ties; bins of 0.005 on the logit scale by
 *   default, so the error against the exact AUC is in practice far below 1e-3);
 * - Brier score, log loss and calibration-in-the-large (observed/expected);
 * - calibration by risk group: n, observed and expected events per group. Without cut-points the
 *   groups are tertiles of predicted risk, found by the stations from the combined bins (whole
 *   bins, so the cut-points fall on bin edges); risk groups follow the cell rule like any table;
 * - the Hosmer–Lemeshow statistic over ~10 groups of whole bins, and its df.
 *
 * The fine bins never reach the analyst: for a model chosen to put one person in a bin they would
 * be a crosstab of single people. The ROC curve is therefore the coarse one through the risk
 * groups' cut-points.
 */
import { BadInput } from "../../common/errors.js";
import type { Computation } from "../../common/job.js";
import { EVALUATION_GROUP_WIDTH, EVALUATION_RELEASE_HEADER } from "../../common/release-layout.js";
import { marks, readRelease, type ReleaseInput, type WithheldKind } from "../results/release.js";
import { chiSquareSurvival } from "./distributions.js";
import type { GlmModel } from "./model.js";

export type GlmEvaluateComputation = Extract<Computation, { kind: "glm_evaluate" }>;

export interface RiskGroup {
  label: string;
  /** Probability range [low, high). */
  low: number;
  high: number;
  /** null when the stations withheld the group. */
  n: number | null;
  observed: number | null;
  expected: number | null;
  observedRate: number | null;
  expectedRate: number | null;
  suppressed?: boolean;
  withheld?: WithheldKind;
  reason?: string;
}

export interface HosmerLemeshow {
  statistic: number;
  df: number;
  p_value: number;
  /** The groups are not released (they are sums of fine bins); kept for the shape of older results. */
  groups: { n: number; observed: number; expected: number; minProbabilityBin: number }[];
}

export interface GlmEvaluation {
  n: number;
  events: number;
  auc: number;
  brier: number;
  logLoss: number;
  /** Σ observed / Σ expected over all rows. */
  observedOverExpected: number;
  riskGroups: RiskGroup[];
  hosmerLemeshow: HosmerLemeshow;
  /** The ROC curve through the risk groups' cut-points: (false-positive rate, true-positive rate), ascending. */
  roc: { fpr: number; tpr: number }[];
  /** The stations' notes: what they withheld and why. */
  notes: string[];
}

export interface EvaluateGlmOptions {
  /** The fitted model (formula, family, link, levels, weights and coefficients come from it). */
  model: GlmModel;
  aggregate: (computation: GlmEvaluateComputation) => Promise<Float64Array | ReleaseInput>;
  bins?: number;
  /** Ascending probabilities; default none: tertiles of predicted risk, found by the stations. */
  riskCutpoints?: number[];
  /** Labels of the risk groups; defaults to low/medium/high for three groups. */
  riskLabels?: string[];
  /** @deprecated The stations use 10 groups; accepted for older scripts. */
  hosmerLemeshowGroups?: number;
}

export function evaluateComputation(options: Omit<EvaluateGlmOptions, "aggregate">): GlmEvaluateComputation {
  const { model } = options;
  return {
    kind: "glm_evaluate",
    formula: model.formula,
    family: model.family.name,
    link: model.link.name,
    levels: model.levels,
    beta: [...model.estimates],
    ...(model.weights !== undefined ? { weights: model.weights } : {}),
    bins: options.bins ?? 4000,
    riskCutpoints: options.riskCutpoints ?? [],
  };
}

export async function evaluateGlm(options: EvaluateGlmOptions): Promise<GlmEvaluation> {
  if (options.model.family.name !== "binomial") throw new BadInput("model evaluation needs a binomial model");
  const computation = evaluateComputation(options);
  const answer = await options.aggregate(computation);
  return summarizeEvaluation(answer instanceof Float64Array ? { sum: answer } : answer, computation, options);
}

/** Reads the stations' release (or lays out a plain combined kernel vector the same way). */
export function summarizeEvaluation(
  input: ReleaseInput | Float64Array,
  computation: Pick<GlmEvaluateComputation, "bins" | "riskCutpoints"> & Partial<GlmEvaluateComputation>,
  options: { riskLabels?: string[] } = {},
): GlmEvaluation {
  const release = input instanceof Float64Array ? { sum: input } : input;
  const c = { kind: "glm_evaluate", formula: "", family: "binomial", link: "logit", levels: {}, beta: [], ...computation } as GlmEvaluateComputation;
  const { values: v, withheld, notes } = readRelease(c, release);
  if (v.length < EVALUATION_RELEASE_HEADER) throw new BadInput(`the evaluation release has ${v.length} numbers, fewer than its header`);
  const number = (i: number) => (withheld[i] ? NaN : v[i]);
  const n = number(0);
  const weightSum = number(1);
  if (n === 0 || weightSum === 0) throw new BadInput("no rows to evaluate the model on");
  const groups = v[9];
  const labels = options.riskLabels ?? (groups === 3 ? ["low", "medium", "high"] : groups === 2 ? ["low", "high"] : undefined);
  if (labels && labels.length !== groups) {
    throw new BadInput(`${groups - 1} cut-points make ${groups} risk groups, but ${labels.length} labels were given`);
  }
  const riskGroups: RiskGroup[] = [];
  for (let g = 0; g < groups; g++) {
    const at = EVALUATION_RELEASE_HEADER + EVALUATION_GROUP_WIDTH * g;
    const label = labels ? labels[g] : `group ${g + 1}`;
    const code = withheld[at + 2] || withheld[at + 3];
    if (code) {
      riskGroups.push({ label, low: v[at], high: v[at + 1], n: withheld[at + 2] ? null : v[at + 2], observed: null, expected: null, observedRate: null, expectedRate: null, ...marks(code, notes) });
      continue;
    }
    const gn = v[at + 2];
    riskGroups.push({
      label,
      low: v[at],
      high: v[at + 1],
      n: gn,
      observed: v[at + 3],
      expected: v[at + 4],
      observedRate: gn > 0 ? v[at + 3] / gn : NaN,
      expectedRate: gn > 0 ? v[at + 4] / gn : NaN,
    });
  }
  // The coarse ROC through the groups' cut-points, from high to low predicted risk.
  const roc: { fpr: number; tpr: number }[] = [{ fpr: 0, tpr: 0 }];
  const events = number(2);
  const nonEvents = weightSum - events;
  if (riskGroups.every((g) => g.observed !== null) && events > 0 && nonEvents > 0) {
    let tp = 0;
    let fp = 0;
    for (let g = groups - 1; g >= 0; g--) {
      const r = riskGroups[g];
      if (!r.n) continue;
      tp += r.observed!;
      fp += r.n - r.observed!;
      roc.push({ fpr: fp / nonEvents, tpr: tp / events });
    }
  }
  const statistic = number(7);
  const df = number(8);
  return {
    n,
    events,
    auc: number(6),
    brier: number(4),
    logLoss: number(5),
    observedOverExpected: events / number(3),
    riskGroups,
    hosmerLemeshow: { statistic, df, p_value: df > 0 ? chiSquareSurvival(statistic, df) : NaN, groups: [] },
    roc,
    notes,
  };
}

/**
 * Federated evaluation of a binomial GLM: one round in which every station bins its own
 * predictions (layout in station-daemon/compute/glm-evaluate.ts), and the summed bins give:
 *
 * - AUC from the binned ROC: P(p̂_event > p̂_non-event) + ½ P(same bin), i.e. the trapezoid rule
 *   with pairs in one bin counted as ties. Bins are 1/`bins` of the logit range [−10, 10] wide
 *   (default 4000: 0.005 on the logit scale), so the error against the exact AUC is bounded by
 *   half the share of event/non-event pairs falling in one bin, in practice far below 1e-3.
 * - Brier score Σ w (y − p̂)² / Σ w, log loss, and calibration-in-the-large (observed/expected).
 * - Calibration by risk group (`riskCutpoints`, default 0.1 and 0.2 → low/medium/high):
 *   n, observed and expected events per group.
 * - Hosmer–Lemeshow: groups of about equal size (default 10, "deciles of risk") formed from the
 *   pooled bins in order of predicted risk, whole bins only (rows in one bin stay together, as
 *   ties do in the classic test); statistic Σ (O − E)² / (E (1 − E/n)) over the groups,
 *   chi-square on (groups − 2) degrees of freedom. E is exact per group (summed p̂, not bin midpoints).
 */
import { BadInput } from "../../common/errors.js";
import type { Computation } from "../../common/job.js";
import { chiSquareSurvival } from "./distributions.js";
import type { GlmModel } from "./model.js";
import { EVALUATE_HEADER_LENGTH } from "./vector.js";

export type GlmEvaluateComputation = Extract<Computation, { kind: "glm_evaluate" }>;

export interface RiskGroup {
  label: string;
  /** Probability range [low, high). */
  low: number;
  high: number;
  n: number;
  observed: number;
  expected: number;
  observedRate: number;
  expectedRate: number;
}

export interface HosmerLemeshow {
  statistic: number;
  df: number;
  p_value: number;
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
  /** The pooled ROC curve from the bins: points (false-positive rate, true-positive rate), ascending. */
  roc: { fpr: number; tpr: number }[];
}

export interface EvaluateGlmOptions {
  /** The fitted model (formula, family, link, levels, weights and coefficients come from it). */
  model: GlmModel;
  aggregate: (computation: GlmEvaluateComputation) => Promise<Float64Array>;
  bins?: number;
  riskCutpoints?: number[];
  /** Labels of the risk groups; defaults to low/medium/high for two cut-points. */
  riskLabels?: string[];
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
    riskCutpoints: options.riskCutpoints ?? [0.1, 0.2],
  };
}

export async function evaluateGlm(options: EvaluateGlmOptions): Promise<GlmEvaluation> {
  if (options.model.family.name !== "binomial") throw new BadInput("model evaluation needs a binomial model");
  const computation = evaluateComputation(options);
  const vector = await options.aggregate(computation);
  return summarizeEvaluation(vector, computation, options);
}

export function summarizeEvaluation(
  vector: Float64Array,
  computation: Pick<GlmEvaluateComputation, "bins" | "riskCutpoints">,
  options: { riskLabels?: string[]; hosmerLemeshowGroups?: number } = {},
): GlmEvaluation {
  const { bins, riskCutpoints } = computation;
  const expectedLength = EVALUATE_HEADER_LENGTH + 3 * bins + 3 * (riskCutpoints.length + 1);
  if (vector.length !== expectedLength) {
    throw new BadInput(`the evaluation vector has ${vector.length} numbers, expected ${expectedLength}`);
  }
  const n = vector[0];
  const weightSum = vector[1];
  const events = vector[2];
  const expected = vector[3];
  if (n === 0 || weightSum === 0) throw new BadInput("no rows to evaluate the model on");
  const binAt = (b: number) => {
    const i = EVALUATE_HEADER_LENGTH + 3 * b;
    return { events: vector[i], nonEvents: vector[i + 1], expected: vector[i + 2] };
  };

  // AUC and ROC, walking bins from high to low predicted risk
  let totalEvents = 0;
  let totalNon = 0;
  for (let b = 0; b < bins; b++) {
    totalEvents += binAt(b).events;
    totalNon += binAt(b).nonEvents;
  }
  let auc = NaN;
  const roc: { fpr: number; tpr: number }[] = [{ fpr: 0, tpr: 0 }];
  if (totalEvents > 0 && totalNon > 0) {
    let nonBelow = 0;
    let concordant = 0;
    for (let b = 0; b < bins; b++) {
      const { events: e, nonEvents: ne } = binAt(b);
      concordant += e * (nonBelow + 0.5 * ne);
      nonBelow += ne;
    }
    auc = concordant / (totalEvents * totalNon);
    let tp = 0;
    let fp = 0;
    for (let b = bins - 1; b >= 0; b--) {
      const { events: e, nonEvents: ne } = binAt(b);
      if (e === 0 && ne === 0) continue;
      tp += e;
      fp += ne;
      roc.push({ fpr: fp / totalNon, tpr: tp / totalEvents });
    }
  }

  const groupBase = EVALUATE_HEADER_LENGTH + 3 * bins;
  const labels =
    options.riskLabels ??
    (riskCutpoints.length === 2 ? ["low", "medium", "high"] : riskCutpoints.length === 1 ? ["low", "high"] : undefined);
  if (labels && labels.length !== riskCutpoints.length + 1) {
    throw new BadInput(`${riskCutpoints.length} cut-points make ${riskCutpoints.length + 1} risk groups, but ${labels.length} labels were given`);
  }
  const riskGroups: RiskGroup[] = [];
  for (let g = 0; g <= riskCutpoints.length; g++) {
    const i = groupBase + 3 * g;
    const gn = vector[i];
    riskGroups.push({
      label: labels ? labels[g] : `group ${g + 1}`,
      low: g === 0 ? 0 : riskCutpoints[g - 1],
      high: g === riskCutpoints.length ? 1 : riskCutpoints[g],
      n: gn,
      observed: vector[i + 1],
      expected: vector[i + 2],
      observedRate: gn > 0 ? vector[i + 1] / gn : NaN,
      expectedRate: gn > 0 ? vector[i + 2] / gn : NaN,
    });
  }

  // Hosmer–Lemeshow over ~equal-sized groups of whole bins
  const target = options.hosmerLemeshowGroups ?? 10;
  const groups: HosmerLemeshow["groups"] = [];
  let current = { n: 0, observed: 0, expected: 0, minProbabilityBin: -1 };
  let cumulative = 0;
  for (let b = 0; b < bins; b++) {
    const { events: e, nonEvents: ne, expected: ex } = binAt(b);
    const size = e + ne;
    if (size === 0) continue;
    if (current.minProbabilityBin < 0) current.minProbabilityBin = b;
    current.n += size;
    current.observed += e;
    current.expected += ex;
    cumulative += size;
    // the slack is relative: prior weights may be of any scale
    if (cumulative >= ((groups.length + 1) * weightSum) / target - 1e-9 * weightSum) {
      groups.push(current);
      current = { n: 0, observed: 0, expected: 0, minProbabilityBin: -1 };
    }
  }
  if (current.n > 0) groups.push(current);
  let hl = 0;
  for (const g of groups) {
    const denominator = g.expected * (1 - g.expected / g.n);
    if (denominator > 0) hl += ((g.observed - g.expected) * (g.observed - g.expected)) / denominator;
  }
  const df = groups.length - 2;
  return {
    n,
    events,
    auc,
    brier: vector[4] / weightSum,
    logLoss: vector[5] / weightSum,
    observedOverExpected: events / expected,
    riskGroups,
    hosmerLemeshow: { statistic: hl, df, p_value: df > 0 ? chiSquareSurvival(hl, df) : NaN, groups },
    roc,
  };
}

/**
 * Model evaluation from the combined fine probability bins of a `glm_evaluate` job (kernel layout:
 * station-daemon/compute/glm-evaluate.ts). The stations compute these and release only them
 * (common/release-layout.ts); the bins themselves, which for a chosen model can be a crosstab of
 * single people, never reach the analyst.
 *
 * - AUC from the binned ROC: P(p̂_event > p̂_non-event) + ½ P(same bin), i.e. the trapezoid rule
 *   with pairs in one bin counted as ties; bins 1/`bins` of the logit range [−10, 10] wide, so the
 *   error against the exact AUC is at most half the share of event/non-event pairs in one bin.
 * - Hosmer–Lemeshow over groups of about equal size (default 10) of whole bins in order of
 *   predicted risk; E exact per group (summed p̂). Only the statistic and its df are released.
 * - Default risk groups: tertiles of predicted risk, whole bins, from the same bins.
 */

/** Numbers before the bins in the kernel's vector: n, Σw, events, expected, brier, log loss. */
export const EVALUATE_HEADER_LENGTH = 6;
/** Logit range of the evaluation grid. */
export const EVALUATE_LOGIT_RANGE = 10;

export interface EvaluationBin {
  events: number;
  nonEvents: number;
  expected: number;
}

export function evaluationBin(vector: ArrayLike<number>, b: number): EvaluationBin {
  const i = EVALUATE_HEADER_LENGTH + 3 * b;
  return { events: vector[i], nonEvents: vector[i + 1], expected: vector[i + 2] };
}

/** Binned AUC (NaN without both events and non-events). */
export function binnedAuc(vector: ArrayLike<number>, bins: number): number {
  let totalEvents = 0;
  let totalNon = 0;
  let nonBelow = 0;
  let concordant = 0;
  for (let b = 0; b < bins; b++) {
    const { events: e, nonEvents: ne } = evaluationBin(vector, b);
    concordant += e * (nonBelow + 0.5 * ne);
    nonBelow += ne;
    totalEvents += e;
    totalNon += ne;
  }
  return totalEvents > 0 && totalNon > 0 ? concordant / (totalEvents * totalNon) : NaN;
}

export interface HosmerLemeshowGroup {
  n: number;
  observed: number;
  expected: number;
  minProbabilityBin: number;
}

/** Hosmer–Lemeshow statistic and df over ~equal groups of whole bins. */
export function binnedHosmerLemeshow(vector: ArrayLike<number>, bins: number, target = 10): { statistic: number; df: number; groups: HosmerLemeshowGroup[] } {
  const weightSum = vector[1];
  const groups: HosmerLemeshowGroup[] = [];
  let current = { n: 0, observed: 0, expected: 0, minProbabilityBin: -1 };
  let cumulative = 0;
  for (let b = 0; b < bins; b++) {
    const { events: e, nonEvents: ne, expected: ex } = evaluationBin(vector, b);
    const size = e + ne;
    if (size === 0) continue;
    if (current.minProbabilityBin < 0) current.minProbabilityBin = b;
    current.n += size;
    current.observed += e;
    current.expected += ex;
    cumulative += size;
    if (cumulative >= ((groups.length + 1) * weightSum) / target - 1e-9 * weightSum) {
      groups.push(current);
      current = { n: 0, observed: 0, expected: 0, minProbabilityBin: -1 };
    }
  }
  if (current.n > 0) groups.push(current);
  let statistic = 0;
  for (const g of groups) {
    const denominator = g.expected * (1 - g.expected / g.n);
    if (denominator > 0) statistic += ((g.observed - g.expected) * (g.observed - g.expected)) / denominator;
  }
  return { statistic, df: groups.length - 2, groups };
}

/** The probability at the upper edge of logit bin b. */
export function binUpperProbability(b: number, bins: number): number {
  const logit = -EVALUATE_LOGIT_RANGE + ((b + 1) * 2 * EVALUATE_LOGIT_RANGE) / bins;
  return 1 / (1 + Math.exp(-logit));
}

export interface BinnedRiskGroup {
  low: number;
  high: number;
  n: number;
  observed: number;
  expected: number;
}

/**
 * Risk groups of whole bins at about equal shares of the weight (tertiles for 3): the default
 * when the analyst gives no cut-points. Cut-points fall on bin edges, so a group is exactly a
 * union of bins and its sizes are sums of combined bins (no row is assigned twice).
 */
export function binnedRiskGroups(vector: ArrayLike<number>, bins: number, groups = 3): BinnedRiskGroup[] {
  let total = 0;
  for (let b = 0; b < bins; b++) {
    const x = evaluationBin(vector, b);
    total += x.events + x.nonEvents;
  }
  const out: BinnedRiskGroup[] = [];
  let current: BinnedRiskGroup = { low: 0, high: 1, n: 0, observed: 0, expected: 0 };
  let cumulative = 0;
  for (let b = 0; b < bins; b++) {
    const x = evaluationBin(vector, b);
    current.n += x.events + x.nonEvents;
    current.observed += x.events;
    current.expected += x.expected;
    cumulative += x.events + x.nonEvents;
    if (out.length < groups - 1 && current.n > 0 && cumulative >= ((out.length + 1) * total) / groups - 1e-9) {
      current.high = binUpperProbability(b, bins);
      out.push(current);
      current = { low: current.high, high: 1, n: 0, observed: 0, expected: 0 };
    }
  }
  out.push(current);
  while (out.length < groups) out.push({ low: 1, high: 1, n: 0, observed: 0, expected: 0 });
  return out;
}

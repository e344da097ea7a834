/**
 * A station's contribution to evaluating a binomial GLM at given coefficients, on its own
 * complete-case rows: enough sums for the SDK to compute AUC, Brier score, calibration by risk
 * group and the Hosmer–Lemeshow statistic of the pooled rows, without any row leaving.
 *
 * Vector layout (all counts weighted by the prior weights when the job names a weights column):
 *
 *   [0] n             rows (non-zero weight)
 *   [1] weightSum     Σ w
 *   [2] events        Σ w y
 *   [3] expected      Σ w p̂
 *   [4] brier         Σ w (y − p̂)²
 *   [5] logLoss       −Σ w (y log p̂ + (1−y) log(1−p̂))
 *   [6 .. 6+3·bins)   per probability bin b: [events_b, nonEvents_b, expected_b = Σ w p̂]
 *   [.. + 3·(k+1))    per risk group g (k = riskCutpoints.length): [n_g = Σ w, observed_g, expected_g]
 *
 * Bins: `bins` cells of equal width on the logit scale between −LOGIT_RANGE and +LOGIT_RANGE, the
 * first and last open-ended. A logit grid stays fine where predictions crowd near 0 or 1 (rare
 * outcomes), which a grid equal in probability would not.
 * Risk group g holds p̂ in [c_{g−1}, c_g) with c_{−1} = 0 and c_k = ∞.
 */
import { BadInput } from "../../common/errors.js";
import type { Computation } from "../../common/job.js";
import type { Table } from "../data/table.js";
import { buildGlmDesign } from "./glm-design.js";
import { FAMILIES, rowLink } from "./glm-family.js";
import { checkResponses } from "./glm.js";
import { type ModelLimits, checkModelIsolation } from "./model-disclosure.js";

export type GlmEvaluateComputation = Extract<Computation, { kind: "glm_evaluate" }>;

export const GLM_EVALUATE_LAYOUT = {
  n: 0,
  weightSum: 1,
  events: 2,
  expected: 3,
  brier: 4,
  logLoss: 5,
} as const;
export const GLM_EVALUATE_HEADER_LENGTH = 6;
export const LOGIT_RANGE = 10;
export const MAX_BINS = 100_000;

export function glmEvaluateVectorLength(computation: Pick<GlmEvaluateComputation, "bins" | "riskCutpoints">): number {
  return GLM_EVALUATE_HEADER_LENGTH + 3 * computation.bins + 3 * (computation.riskCutpoints.length + 1);
}

export function checkEvaluateGrid(computation: Pick<GlmEvaluateComputation, "bins" | "riskCutpoints">): void {
  const { bins, riskCutpoints } = computation;
  if (!Number.isInteger(bins) || bins < 2 || bins > MAX_BINS) {
    throw new BadInput(`bins must be a whole number from 2 to ${MAX_BINS}, found ${bins}`);
  }
  riskCutpoints.forEach((c, i) => {
    if (!(c > 0 && c < 1)) throw new BadInput(`risk cut-points must lie strictly between 0 and 1, found ${c}`);
    if (i > 0 && !(c > riskCutpoints[i - 1])) throw new BadInput("risk cut-points must be strictly increasing");
  });
}

/** The bin a linear predictor on the logit scale falls in. */
export function logitBin(logit: number, bins: number): number {
  const b = Math.floor(((logit + LOGIT_RANGE) / (2 * LOGIT_RANGE)) * bins);
  return b < 0 ? 0 : b >= bins ? bins - 1 : b;
}

export interface GlmEvaluateOptions {
  table: Table;
  rows: Uint8Array;
  computation: GlmEvaluateComputation;
  /** As for glmContribution: the model's rows may not be dominated by one. */
  isolation?: { limits: ModelLimits; station?: string };
}

export function glmEvaluateContribution(options: GlmEvaluateOptions): Float64Array {
  const { computation } = options;
  if (computation.family !== "binomial") {
    throw new BadInput(`model evaluation needs a binomial model, not ${computation.family}`);
  }
  checkEvaluateGrid(computation);
  const link = rowLink(computation.link);
  const d = buildGlmDesign({
    table: options.table,
    rows: options.rows,
    formula: computation.formula,
    family: computation.family,
    levels: computation.levels,
    weights: computation.weights,
  });
  const { n, p, x, y, weights, offset } = d;
  if (computation.beta.length !== p) {
    throw new BadInput(`the model has ${p} design columns here but the job sends ${computation.beta.length} coefficients`);
  }
  for (const b of computation.beta) if (!Number.isFinite(b)) throw new BadInput("the job's coefficients must be finite numbers");
  checkResponses(d, FAMILIES.binomial.checkResponse);
  const beta = Float64Array.from(computation.beta);
  const workingWeights = new Float64Array(n);
  const { bins, riskCutpoints } = computation;
  const out = new Float64Array(glmEvaluateVectorLength(computation));
  const binBase = GLM_EVALUATE_HEADER_LENGTH;
  const groupBase = binBase + 3 * bins;
  let count = 0;
  let weightSum = 0;
  let events = 0;
  let expected = 0;
  let brier = 0;
  let logLoss = 0;
  for (let r = 0; r < n; r++) {
    const yr = y[r];
    const w = weights ? weights[r] : 1;
    if (w === 0) continue;
    let eta = offset ? offset[r] : 0;
    const base = r * p;
    for (let j = 0; j < p; j++) eta += x[base + j] * beta[j];
    const prob = link.linkinv(eta);
    const muEta = link.muEta(eta);
    workingWeights[r] = (w * muEta * muEta) / (prob * (1 - prob));
    count++;
    weightSum += w;
    events += w * yr;
    expected += w * prob;
    brier += w * (yr - prob) * (yr - prob);
    logLoss -= w * (yr === 1 ? Math.log(prob) : Math.log(1 - prob));
    const bin = logitBin(Math.log(prob) - Math.log1p(-prob), bins);
    const bi = binBase + 3 * bin;
    out[bi + (yr === 1 ? 0 : 1)] += w;
    out[bi + 2] += w * prob;
    let g = 0;
    while (g < riskCutpoints.length && prob >= riskCutpoints[g]) g++;
    const gi = groupBase + 3 * g;
    out[gi] += w;
    out[gi + 1] += w * yr;
    out[gi + 2] += w * prob;
  }
  if (options.isolation) {
    checkModelIsolation({ n, p, x, names: d.design.columns.map((c) => c.name), working: workingWeights }, options.isolation.limits, options.isolation.station);
  }
  out[GLM_EVALUATE_LAYOUT.n] = count;
  out[GLM_EVALUATE_LAYOUT.weightSum] = weightSum;
  out[GLM_EVALUATE_LAYOUT.events] = events;
  out[GLM_EVALUATE_LAYOUT.expected] = expected;
  out[GLM_EVALUATE_LAYOUT.brier] = brier;
  out[GLM_EVALUATE_LAYOUT.logLoss] = logLoss;
  return out;
}

/**
 * A station's contribution to one Fisher-scoring iteration of a GLM: sums over its own
 * complete-case rows that add up, across stations, to the pooled quantities R's glm.fit uses.
 *
 * Vector layout (length GLM_HEADER_LENGTH + p + p(p+1)/2, p = number of design columns):
 *
 *   [0] n            rows with a non-zero prior weight (R's nobs)
 *   [1] weightSum    Σ w
 *   [2] responseSum  Σ w·y
 *   [3] saturated    Σ w·s(y), so that the deviance at a constant mean m is
 *                    2·(saturated − responseSum·θ(m) + weightSum·b(θ(m))) with θ, b the family's
 *                    canonical parameter and cumulant: s(y) = y log y + (1−y) log(1−y) (binomial),
 *                    y log y − y (poisson), y²/2 (gaussian). The SDK's null deviance without offset.
 *   [4] deviance     Σ R's dev.resids at beta
 *   [5] loglik       binomial Σ w(y log μ + (1−y) log(1−μ)) + (w/m) log C(m, m·y), m the trials
 *                    (w, or the cbind total); poisson Σ w(y log μ − μ − log y!);
 *                    gaussian Σ log w (the SDK completes it with the dispersion, as R's aic())
 *   [6] pearson      Σ w (y − μ)² / V(μ)
 *   [7] boundary     rows whose fitted mean is numerically 0 (or 1 for binomial), R's warning test
 *   [8 .. 8+p)       score  Σ w (y − μ) μ'(η) / V(μ) · x
 *   [8+p .. )        Fisher information Σ w μ'(η)² / V(μ) · x xᵀ, upper triangle row by row
 *                    ((0,0), (0,1), …, (0,p−1), (1,1), …)
 *
 * Start round: with `beta` empty (and p > 0) the station evaluates at R's starting means
 * (`family$initialize`'s mustart) instead, and slots [8 .. 8+p) hold the IRLS right-hand side
 * Σ W z x with z = η₀ − offset + (y − μ₀)/μ'(η₀), so that β₁ = I⁻¹·s exactly as R's first
 * iteration. This is how the federated fit takes the same number of iterations as glm().
 */
import { BadInput } from "../../common/errors.js";
import { designColumns, parseFormula } from "../../common/formula.js";
import type { Computation } from "../../common/job.js";
import type { Table } from "../data/table.js";
import { buildGlmDesign, type GlmDesign } from "./glm-design.js";
import { binomialCoefficientTerm, rowFamily, rowLink } from "./glm-family.js";
import { type ModelLimits, checkModelIsolation } from "./model-disclosure.js";

export type GlmComputation = Extract<Computation, { kind: "glm" }>;

export const GLM_LAYOUT = {
  n: 0,
  weightSum: 1,
  responseSum: 2,
  saturated: 3,
  deviance: 4,
  loglik: 5,
  pearson: 6,
  boundary: 7,
} as const;
export const GLM_HEADER_LENGTH = 8;

/** Design columns of a computation as the SDK sees them (categorical = has levels). */
export function glmDesignWidth(computation: Pick<GlmComputation, "formula" | "levels">): number {
  return designColumns(parseFormula(computation.formula), { levels: computation.levels }).columns.length;
}

/** Length of the vector a `glm` computation returns. */
export function glmVectorLength(computation: Pick<GlmComputation, "formula" | "levels" | "beta">): number {
  const p = computation.beta.length > 0 ? computation.beta.length : glmDesignWidth(computation);
  return GLM_HEADER_LENGTH + p + (p * (p + 1)) / 2;
}

export interface GlmContributionOptions {
  table: Table;
  /** 1 where the row passes the job's where-filter. */
  rows: Uint8Array;
  computation: GlmComputation;
  /** The station's limits against isolating a person (model-disclosure.ts); unchecked without. */
  isolation?: { limits: ModelLimits; station?: string };
}

/** Checks every response of the design before anything is summed (glm-family.ts checkResponse). */
export function checkResponses(d: GlmDesign, check: (y: number, label: string) => void): void {
  const label = d.formula.response.label;
  for (let r = 0; r < d.n; r++) check(d.y[r], label);
}

export function glmContribution(options: GlmContributionOptions): Float64Array {
  const { computation } = options;
  const family = rowFamily(computation.family);
  const link = rowLink(computation.link);
  const d = buildGlmDesign({
    table: options.table,
    rows: options.rows,
    formula: computation.formula,
    family: computation.family,
    levels: computation.levels,
    weights: computation.weights,
  });
  const { n, p, x, y, weights, trials, offset } = d;
  const binomial = computation.family === "binomial";
  const beta = computation.beta;
  const start = beta.length === 0 && p > 0;
  if (!start && beta.length !== p) {
    throw new BadInput(
      `the model has ${p} design columns here (${d.design.columns.map((c) => c.name).join(", ")}) but the job sends ${beta.length} coefficients`,
    );
  }
  for (const b of beta) if (!Number.isFinite(b)) throw new BadInput("the job's coefficients must be finite numbers");
  checkResponses(d, family.checkResponse);
  const workingWeights = new Float64Array(n);

  const out = new Float64Array(GLM_HEADER_LENGTH + p + (p * (p + 1)) / 2);
  const score = out.subarray(GLM_HEADER_LENGTH, GLM_HEADER_LENGTH + p);
  const info = out.subarray(GLM_HEADER_LENGTH + p);
  const b = Float64Array.from(beta);
  let count = 0;
  let weightSum = 0;
  let responseSum = 0;
  let saturated = 0;
  let deviance = 0;
  let loglik = 0;
  let pearson = 0;
  let boundary = 0;

  for (let r = 0; r < n; r++) {
    const yr = y[r];
    const w = weights ? weights[r] : 1;
    if (w === 0) continue;
    const base = r * p;
    const off = offset ? offset[r] : 0;
    let eta: number;
    let mu: number;
    if (start) {
      mu = family.startMu(yr, w);
      eta = link.linkfun(mu);
    } else {
      eta = off;
      for (let j = 0; j < p; j++) eta += x[base + j] * b[j];
      mu = link.linkinv(eta);
    }
    const muEta = link.muEta(eta);
    const variance = family.variance(mu);
    count++;
    weightSum += w;
    responseSum += w * yr;
    saturated += family.saturated(yr, w);
    deviance += family.devianceResidual(yr, mu, w);
    loglik += family.loglik(yr, mu, w);
    if (binomial && weights) loglik += binomialCoefficientTerm(yr, w, trials ? trials[r] : w);
    pearson += (w * (yr - mu) * (yr - mu)) / variance;
    if (family.atBoundary(mu)) boundary++;
    const working = (w * muEta * muEta) / variance;
    workingWeights[r] = working;
    // score, or at the start round the IRLS right-hand side W z
    const u = start ? working * (eta - off + (yr - mu) / muEta) : (w * (yr - mu) * muEta) / variance;
    let k = 0;
    for (let i = 0; i < p; i++) {
      const xi = x[base + i];
      if (xi === 0) {
        k += p - i;
        continue;
      }
      score[i] += u * xi;
      const wxi = working * xi;
      for (let j = i; j < p; j++) info[k++] += wxi * x[base + j];
    }
  }
  if (options.isolation) {
    checkModelIsolation({ n, p, x, names: d.design.columns.map((c) => c.name), working: workingWeights }, options.isolation.limits, options.isolation.station);
  }
  out[GLM_LAYOUT.n] = count;
  out[GLM_LAYOUT.weightSum] = weightSum;
  out[GLM_LAYOUT.responseSum] = responseSum;
  out[GLM_LAYOUT.saturated] = saturated;
  out[GLM_LAYOUT.deviance] = deviance;
  out[GLM_LAYOUT.loglik] = loglik;
  out[GLM_LAYOUT.pearson] = pearson;
  out[GLM_LAYOUT.boundary] = boundary;
  return out;
}

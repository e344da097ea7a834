/**
 * Federated Fisher scoring for GLMs, step for step R's glm.fit:
 *
 *   round 0   stations evaluate at R's starting means (mustart) and return the IRLS system,
 *             so β₁ = I₀⁻¹ (X'W₀z₀) is exactly R's first iterate;
 *   round k   stations evaluate score s and information I at βₖ; the deviance decides
 *             convergence (|dev − dev_old| / (|dev| + 0.1) < tolerance, R's glm.control) and
 *             otherwise βₖ₊₁ = βₖ + I⁻¹ s (for canonical links Newton–Raphson and Fisher scoring
 *             coincide; for the others this is Fisher scoring = IRLS, as R).
 *
 * The iteration count is R's (number of weighted least-squares solves). Standard errors come
 * from the Fisher information at the final estimates. (R's summary.glm and statsmodels reuse the
 * working weights of the last IRLS step, i.e. of the previous iterate; with R's stopping rule that
 * lags the exact value by up to ~1e-5 relative, and R and statsmodels lag differently because
 * their start values differ. The information at the estimates is the better-defined quantity and
 * agrees with statsmodels to a few 1e-7.) A non-finite deviance halves the step towards the
 * previous coefficients, as glm.fit does.
 */
import { BadInput, NotConverged, RankDeficient } from "../../common/errors.js";
import { designColumns, nullFormula, parseFormula, type DesignColumnType } from "../../common/formula.js";
import type { Computation, FamilyName, LinkName } from "../../common/job.js";
import { constantMeanDeviance, resolveFamily } from "./family.js";
import { aliasPartners, choleskyWithAliasing, inverse, solve, unpackUpper, type Factorization } from "./linalg.js";
import { GlmModel } from "./model.js";
import { readGlmVector, type GlmRoundSums } from "./vector.js";
import { EXACT_MIN_MAGNITUDE, FRACTION_BITS } from "../../secagg/params.js";

/**
 * Below this a station's sum has bits under secure aggregation's resolution (2^-FRACTION_BITS)
 * and reaches the SDK rounded: fewer than 53 bits survive, so results built on it are not
 * exact. Data scaled anywhere from 1e-12 to 1e12 stay far above it.
 */
const PRECISION_FLOOR = EXACT_MIN_MAGNITUDE;

export type GlmComputation = Extract<Computation, { kind: "glm" }>;

/**
 * Runs one federated round: the summed station vectors for `computation` (whose `beta` is
 * `beta`). The computation is passed whole because the fit also runs the null model (same
 * response and offset, intercept only) when the formula has an offset; an aggregate that only
 * looks at `beta` is fine for models without offset.
 */
export type GlmAggregate = (beta: number[], computation: GlmComputation) => Promise<Float64Array>;

export interface GlmIterationInfo {
  iteration: number;
  deviance: number;
  /** |dev − dev_old| / (|dev| + 0.1), R's convergence measure. */
  change: number;
  beta: number[];
  /** Step halvings this iteration needed (non-finite deviance). */
  halvings: number;
}

export interface FitGlmOptions {
  formula: string;
  family: FamilyName;
  /** Defaults to the family's canonical link. */
  link?: LinkName;
  /** Levels of every categorical variable (first = reference), keyed by column name. */
  levels: Record<string, string[]>;
  /** Column types, when known (makes boolean columns name as R's logicals: `diabetesTRUE`). */
  columns?: Record<string, DesignColumnType>;
  /** A numeric column of prior weights. */
  weights?: string;
  aggregate: GlmAggregate;
  maxIterations?: number;
  tolerance?: number;
  onIteration?: (info: GlmIterationInfo) => void;
  /** Throw `NotConverged` instead of returning a model with a warning (for scripts). */
  failOnNotConverged?: boolean;
  /**
   * Where the covariance comes from: the Fisher information at the final estimates (default), or
   * R's and statsmodels' convention, the last IRLS iteration's working weights (the previous
   * iterate), which reproduces R's printed standard errors digit for digit.
   */
  standardErrors?: "at-estimates" | "last-iteration";
}

function factorize(information: Float64Array, p: number, names: string[], iteration: number): { f: Factorization; a: Float64Array } {
  const a = unpackUpper(information, p);
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new NotConverged(`the information matrix is not finite at iteration ${iteration}`);
  }
  const f = choleskyWithAliasing(a, p);
  if (f.aliased.length > 0) {
    const partners = aliasPartners(a, f);
    const explain = f.aliased.map((k) => {
      const with_ = partners.get(k) ?? [];
      return with_.length === 0
        ? `${names[k]} is zero in every row used (a level without rows, or a constant 0), or its values are so small ` +
          `(|x| below ~1e-19) that their squares fall under secure aggregation's resolution of 2^-${FRACTION_BITS}: rescale it if so`
        : `${names[k]} is a linear combination of ${with_.map((i) => names[i]).join(", ")}`;
    });
    throw new RankDeficient(
      f.aliased.map((k) => names[k]),
      `the design matrix is rank deficient${iteration > 0 ? ` at iteration ${iteration}` : ""}: ${explain.join("; ")}`,
    );
  }
  return { f, a };
}

export async function fitGlm(options: FitGlmOptions): Promise<GlmModel> {
  return fitGlmInternal(options, true);
}

async function fitGlmInternal(options: FitGlmOptions, withNullModel: boolean): Promise<GlmModel> {
  const { family, link } = resolveFamily(options.family, options.link);
  const maxIterations = options.maxIterations ?? 25;
  const tolerance = options.tolerance ?? 1e-8;
  if (!(Number.isInteger(maxIterations) && maxIterations >= 1)) throw new BadInput("maxIterations must be a whole number ≥ 1");
  if (!(tolerance > 0)) throw new BadInput("tolerance must be positive");
  if (options.standardErrors !== undefined && options.standardErrors !== "at-estimates" && options.standardErrors !== "last-iteration") {
    throw new BadInput(`standardErrors must be "at-estimates" or "last-iteration", not ${JSON.stringify(options.standardErrors)}`);
  }
  const parsed = parseFormula(options.formula);
  const design = designColumns(parsed, { levels: options.levels, columns: options.columns });
  const names = design.columns.map((c) => c.name);
  const p = names.length;
  const computation = (beta: number[], formula = options.formula): GlmComputation => ({
    kind: "glm",
    formula,
    family: family.name,
    link: link.name,
    levels: options.levels,
    beta,
    ...(options.weights !== undefined ? { weights: options.weights } : {}),
  });
  const round = async (beta: number[], width = p, formula = options.formula): Promise<GlmRoundSums> =>
    readGlmVector(await options.aggregate(beta, computation(beta, formula)), width);

  const warnings: string[] = [];
  let beta: Float64Array;
  let sums: GlmRoundSums;
  let covarianceBase: Float64Array;
  let iterations = 0;
  let converged = false;

  const start = await round([]);
  if (start.n === 0) throw new BadInput("no rows: every row is filtered out or has a missing value in the model's variables");
  if (p === 0) {
    sums = start;
    beta = new Float64Array(0);
    covarianceBase = new Float64Array(0);
    converged = true;
  } else {
    let { f } = factorize(start.information, p, names, 0);
    let factorization = f;
    beta = solve(factorization, start.score);
    let devOld = start.deviance;
    let betaOld: Float64Array | undefined;
    sums = start;
    for (iterations = 1; iterations <= maxIterations; iterations++) {
      sums = await round(Array.from(beta));
      let halvings = 0;
      while (!Number.isFinite(sums.deviance)) {
        if (!betaOld) {
          throw new NotConverged("no valid set of coefficients has been found (the first step gives a non-finite deviance)");
        }
        if (++halvings > maxIterations) throw new NotConverged("cannot correct the step size (non-finite deviance)");
        for (let j = 0; j < p; j++) beta[j] = (beta[j] + betaOld[j]) / 2;
        sums = await round(Array.from(beta));
      }
      const change = Math.abs(sums.deviance - devOld) / (Math.abs(sums.deviance) + 0.1);
      options.onIteration?.({ iteration: iterations, deviance: sums.deviance, change, beta: Array.from(beta), halvings });
      if (change < tolerance) {
        converged = true;
        break;
      }
      if (iterations === maxIterations) break;
      devOld = sums.deviance;
      betaOld = beta;
      ({ f } = factorize(sums.information, p, names, iterations));
      factorization = f;
      const step = solve(factorization, sums.score);
      beta = new Float64Array(p);
      for (let j = 0; j < p; j++) beta[j] = betaOld[j] + step[j];
    }
    if (iterations > maxIterations) iterations = maxIterations;
    // The information at the final estimates (this round's), not the previous iterate's working
    // weights R and statsmodels reuse: at glm.control's tolerance those lag by up to ~1e-5
    // relative in the standard errors, and R and statsmodels lag differently (other start values).
    covarianceBase =
      options.standardErrors === "last-iteration" ? inverse(factorization) : inverse(factorize(sums.information, p, names, iterations).f);
  }

  if (!converged) {
    const message = `the fit did not converge in ${maxIterations} iterations (last relative deviance change above ${tolerance})`;
    if (options.failOnNotConverged) throw new NotConverged(message);
    warnings.push(`glm.fit: algorithm did not converge: ${message}`);
  }
  if (sums.boundary > 0 && family.boundaryWarning) warnings.push(`glm.fit: ${family.boundaryWarning}`);
  warnings.push(...precisionWarnings(sums, names, family.name));

  const n = sums.n;
  const dfResidual = n - p;
  const dispersion = family.estimatedDispersion ? sums.pearson / dfResidual : 1;

  let nullDeviance = NaN;
  if (!withNullModel) {
    // the null model itself: its null deviance is not asked for
  } else if (parsed.offsets.length === 0) {
    const mean = parsed.intercept ? sums.responseSum / sums.weightSum : link.inverse(0);
    nullDeviance = constantMeanDeviance(family, sums, mean);
  } else {
    // R refits the intercept-only model with the offset (or evaluates the offset alone without intercept)
    const nullModel = await fitGlmInternal(
      { ...options, formula: nullFormula(parsed), onIteration: undefined, failOnNotConverged: false },
      false,
    );
    nullDeviance = nullModel.deviance;
  }

  const loglik = family.logLikelihood({ loglikSum: sums.loglik, deviance: sums.deviance, n });
  const df = p + family.extraParameters;
  return new GlmModel({
    formula: options.formula,
    family: family.name,
    link: link.name,
    levels: options.levels,
    columns: options.columns,
    weights: options.weights,
    names,
    terms: design.columns.map((c) => c.term),
    estimates: Array.from(beta),
    covariance: Array.from(covarianceBase, (v) => v * dispersion),
    dispersion,
    n,
    weightSum: sums.weightSum,
    dfResidual,
    dfNull: n - (parsed.intercept ? 1 : 0),
    deviance: sums.deviance,
    nullDeviance,
    pearsonChi2: sums.pearson,
    loglik,
    aic: -2 * loglik + 2 * df,
    bic: -2 * loglik + Math.log(n) * df,
    iterations,
    converged,
    warnings,
  });
}

/**
 * Sums that came through secure aggregation with fewer than 53 significant bits: a column whose
 * information Σ W·x² (or the residual deviance) is non-zero but under PRECISION_FLOOR. The
 * estimates and standard errors that rest on it lose digits; say which column, and how to fix it,
 * rather than return them as if exact.
 */
function precisionWarnings(sums: GlmRoundSums, names: string[], family: string): string[] {
  const out: string[] = [];
  const p = names.length;
  let k = 0;
  for (let i = 0; i < p; i++) {
    const d = Math.abs(sums.information[k]);
    if (d > 0 && d < PRECISION_FLOOR) {
      out.push(
        `${names[i]}: its summed information Σ w·x² = ${d.toExponential(2)} is below 2^-76, so secure aggregation's ` +
          `fixed point (2^-${FRACTION_BITS}) keeps fewer than 53 bits of it and its estimate and standard error lose digits; ` +
          "multiply the column by a power of ten",
      );
    }
    k += p - i;
  }
  if (family === "gaussian" && Math.abs(sums.deviance) < PRECISION_FLOOR && sums.n > p) {
    out.push(
      `the residual deviance ${sums.deviance.toExponential(2)} is below 2^-76: either the fit is exact, or the response is so ` +
        `small that its squared residuals fall under secure aggregation's resolution (2^-${FRACTION_BITS}) and the dispersion ` +
        "and standard errors are not exact; multiply the response by a power of ten",
    );
  }
  return out;
}

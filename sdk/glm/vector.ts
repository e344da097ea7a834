/**
 * Reading the summed station vectors. The layouts are the contract with the station's kernels
 * (station-daemon/compute/glm.ts and glm-evaluate.ts document them); a test pins that both
 * sides agree. They are restated here because the SDK does not import the station's code.
 */
import { BadInput } from "../../common/errors.js";

export const GLM_HEADER_LENGTH = 8;
/** The evaluation kernel's header and grid, read once in common/evaluation.ts. */
export { EVALUATE_HEADER_LENGTH, EVALUATE_LOGIT_RANGE } from "../../common/evaluation.js";
import { EVALUATE_HEADER_LENGTH } from "../../common/evaluation.js";

export interface GlmRoundSums {
  n: number;
  weightSum: number;
  responseSum: number;
  saturated: number;
  deviance: number;
  loglik: number;
  pearson: number;
  boundary: number;
  /** Score at beta (or the IRLS right-hand side at the start round). */
  score: Float64Array;
  /** Fisher information, upper triangle row by row. */
  information: Float64Array;
}

export function evaluateVectorLengthFor(computation: { bins: number; riskCutpoints: readonly number[] }): number {
  return EVALUATE_HEADER_LENGTH + 3 * computation.bins + 3 * (computation.riskCutpoints.length + 1);
}

export function glmVectorLengthFor(p: number): number {
  return GLM_HEADER_LENGTH + p + (p * (p + 1)) / 2;
}

export function readGlmVector(vector: Float64Array, p: number): GlmRoundSums {
  const expected = glmVectorLengthFor(p);
  if (vector.length !== expected) {
    throw new BadInput(`the aggregated GLM vector has ${vector.length} numbers; ${p} coefficients need ${expected}`);
  }
  return {
    n: vector[0],
    weightSum: vector[1],
    responseSum: vector[2],
    saturated: vector[3],
    deviance: vector[4],
    loglik: vector[5],
    pearson: vector[6],
    boundary: vector[7],
    score: vector.slice(GLM_HEADER_LENGTH, GLM_HEADER_LENGTH + p),
    information: vector.slice(GLM_HEADER_LENGTH + p),
  };
}

/** Federated generalised linear models: fitting, results and evaluation. */
export { fitGlm, type FitGlmOptions, type GlmAggregate, type GlmComputation, type GlmIterationInfo } from "./fit.js";
export {
  GlmModel,
  type GlmCoefficient,
  type GlmModelJSON,
  type GlmRatio,
  type PredictionRow,
} from "./model.js";
export {
  evaluateGlm,
  evaluateComputation,
  summarizeEvaluation,
  type EvaluateGlmOptions,
  type GlmEvaluation,
  type GlmEvaluateComputation,
  type HosmerLemeshow,
  type RiskGroup,
} from "./evaluate.js";
export { families, links, resolveFamily, type Family, type Link } from "./family.js";
export {
  chiSquareSurvival,
  erfc,
  normalCdf,
  normalQuantile,
  normalSurvival,
  studentTwoSided,
} from "./distributions.js";
export { evaluateVectorLengthFor, glmVectorLengthFor } from "./vector.js";

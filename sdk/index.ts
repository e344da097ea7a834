/** The werkplaats SDK: what `import { Federation } from "werkplaats"` gives. */
export { Federation, type ConnectOptions } from "./federation.js";
export type { FederationFile } from "./federation-file.js";
export {
  DatasetQuery,
  type GroupOptions,
  type GlmOptions,
  type CountOptions,
  type CrosstabOptions,
  type DisclosureOptions,
  type HistogramOptions,
  type IndicatorDefinition,
  type IndicatorSetOptions,
  type ProportionOptions,
  type QuantileOptions,
  type StandardisedRateOptions,
  type SummaryOptions,
} from "./query/dataset-query.js";
export { GlmModel, type GlmCoefficient, type GlmEvaluation, type GlmIterationInfo, type RiskGroup } from "./glm/index.js";
export { LocalFederation, type LocalFederationOptions, type LocalStationSpec } from "./local-federation.js";
export { parseWhere, formatWhere } from "./query/where.js";
export { CountResult, type CountCell } from "./results/count-result.js";
export { MeanResult, type MeanCell } from "./results/mean-result.js";
export { SummaryResult, type SummaryCell } from "./results/summary-result.js";
export { CrosstabResult, type CrosstabCell, type MarginCell } from "./results/crosstab-result.js";
export { HistogramResult, type HistogramBin, type HistogramCell, type HistogramTail } from "./results/histogram-result.js";
export { QuantileResult, type QuantileCell, type QuantileValue } from "./results/quantile-result.js";
export { ProportionResult, type ProportionCell } from "./results/proportion-result.js";
export { IndicatorResult, type IndicatorCell, type IndicatorInfo } from "./results/indicator-result.js";
export { StandardisedRateResult, type StandardisedRateCell } from "./results/standardised-rate-result.js";
export { DEFAULT_MIN_CELL_SIZE } from "../common/disclosure.js";
export { DANFOJS_INSTALL, type RecordValue, type ResultRecord } from "./results/dataframe.js";
export { MISSING_LEVEL } from "../common/job.js";
export type { FederatedDataset } from "./schemas.js";
export * from "../common/errors.js";
export {
  replay,
  formatReplayReport,
  loadReplayable,
  DEFAULT_REPLAY_TOLERANCE,
  type Replayable,
  type ReplayOptions,
  type ReplayReport,
  type ReplayDifference,
  type NumericDifference,
} from "./replay.js";
export type { Provenance, ProvenanceCall, StationProvenance } from "../common/provenance.js";

/** The werkplaats SDK: what `import { Federation } from "werkplaats"` gives. */
export { Federation, type ConnectOptions } from "./federation.js";
export type { FederationFile } from "./federation-file.js";
export { DatasetQuery, type GroupOptions, type GlmOptions } from "./query/dataset-query.js";
export { GlmModel, type GlmCoefficient, type GlmEvaluation, type GlmIterationInfo, type RiskGroup } from "./glm/index.js";
export { LocalFederation, type LocalFederationOptions, type LocalStationSpec } from "./local-federation.js";
export { parseWhere, formatWhere } from "./query/where.js";
export { CountResult, type CountCell } from "./results/count-result.js";
export { MeanResult, type MeanCell } from "./results/mean-result.js";
export type { FederatedDataset } from "./schemas.js";
export * from "../common/errors.js";

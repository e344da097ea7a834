/**
 * The station's statistics: one numeric vector per job, computed over its own rows. These
 * kernels know nothing of masking or networks; the secure-aggregation participant wraps them.
 */
import { UnknownDataset } from "../../common/errors.js";
import { type JobSpec, quantileEdges } from "../../common/job.js";
import type { Table } from "../data/table.js";
import { countCells, histogramCells, indicatorCells, momentCells } from "./descriptive.js";
import { evaluateWhere } from "./filter.js";
import { glmContribution } from "./glm.js";
import { glmEvaluateContribution } from "./glm-evaluate.js";

/**
 * The job's vector over `table`, and how many rows its where-expression selected (the disclosure
 * check needs the count; the filter is evaluated once for both).
 */
export function computeContribution(table: Table, job: JobSpec): { contribution: Float64Array; rowsSelected: number } {
  if (job.dataset !== table.name) throw new UnknownDataset(job.dataset, [table.name]);
  const rows = evaluateWhere(table, job.where);
  let rowsSelected = 0;
  for (let i = 0; i < rows.length; i++) rowsSelected += rows[i];
  return { contribution: kernel(table, rows, job), rowsSelected };
}

/** The job's vector over the given rows (1 = counted): the kernels, without the where-filter. */
export function kernel(table: Table, rows: Uint8Array, job: JobSpec): Float64Array {
  const c = job.computation;
  switch (c.kind) {
    case "count":
      return countCells({ table, rows, by: c.by });
    case "moments":
      return momentCells({ table, rows, column: c.column, by: c.by, shift: c.shift });
    case "histogram":
      return histogramCells({ table, rows, column: c.column, edges: c.edges, by: c.by });
    case "quantile":
      return histogramCells({ table, rows, column: c.column, edges: quantileEdges(c), by: c.by });
    case "indicators":
      return indicatorCells({ table, rows, indicators: c.indicators, evaluate: (e) => evaluateWhere(table, e) });
    case "glm":
      return glmContribution({ table, rows, computation: c });
    case "glm_evaluate":
      return glmEvaluateContribution({ table, rows, computation: c });
  }
}

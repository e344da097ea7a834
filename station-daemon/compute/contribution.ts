/**
 * The station's statistics: one numeric vector per job, computed over its own rows. These
 * kernels know nothing of masking or networks; the secure-aggregation participant wraps them.
 */
import { PolicyRefused, UnknownDataset } from "../../common/errors.js";
import { type JobSpec, quantileEdges } from "../../common/job.js";
import type { Table } from "../data/table.js";
import { countCells, histogramCells, indicatorCells, momentCells } from "./descriptive.js";
import { evaluateWhere } from "./filter.js";
import type { RowSetLedger } from "../governance/released-rows.js";
import type { DisclosureSettings } from "../governance/policy.js";
import { glmContribution } from "./glm.js";
import { buildGlmDesign } from "./glm-design.js";
import { glmEvaluateContribution } from "./glm-evaluate.js";
import { releasedRowSets } from "./row-sets.js";

/** What a station checks while it computes a job, before any of its result may leave. */
export interface ComputeGuard {
  /** The limits of the job's study. */
  disclosure: DisclosureSettings;
  /** Named in refusals. */
  station?: string;
  /** The differencing record of the job's study over this snapshot; none: not kept. */
  ledger?: RowSetLedger;
}

/**
 * The subset rule, first of all: a where-expression that selects 1 … minSubsetSize − 1 rows is
 * refused before anything else is computed on them, so that no later error (a response out of
 * range, a non-finite design value) can say something about those few rows.
 */
export function checkSubsetSize(rowsSelected: number, guard: Pick<ComputeGuard, "disclosure" | "station">): void {
  const k = guard.disclosure.minSubsetSize;
  if (rowsSelected > 0 && rowsSelected < k) {
    throw new PolicyRefused(`the where-expression selects fewer rows than the minimum subset size of ${k}`, guard.station);
  }
}

/**
 * The job's vector over `table`, and how many rows its where-expression selected (the disclosure
 * check needs the count; the filter is evaluated once for both). With a guard, in this order:
 * the filter is evaluated and counted and the subset rule applied; then the kernel runs, a
 * model's design checked for isolating a person (model-disclosure.ts); then the job's row sets
 * are checked against, and added to, the differencing record — all before the vector is returned.
 */
export function computeContribution(table: Table, job: JobSpec, guard?: ComputeGuard): { contribution: Float64Array; rowsSelected: number; recordReleased?: () => void } {
  if (job.dataset !== table.name) throw new UnknownDataset(job.dataset, [table.name]);
  const rows = evaluateWhere(table, job.where);
  let rowsSelected = 0;
  for (let i = 0; i < rows.length; i++) rowsSelected += rows[i];
  if (guard) checkSubsetSize(rowsSelected, guard);
  const contribution = kernel(table, rows, job, guard);
  if (guard?.ledger && rowsSelected > 0) {
    const c = job.computation;
    const design =
      c.kind === "glm" || c.kind === "glm_evaluate"
        ? buildGlmDesign({ table, rows, formula: c.formula, family: c.family, levels: c.levels, weights: c.weights })
        : undefined;
    const sets = releasedRowSets({ table, rows, computation: c, evaluate: (e) => evaluateWhere(table, e), design });
    const d = guard.disclosure;
    const recordReleased = guard.ledger.admit(sets, { minDifference: d.minSubsetSize, minRecordedSize: Math.min(d.minCellSize, d.minSubsetSize), capacity: d.maxReleasedRowSets }, guard.station);
    return { contribution, rowsSelected, recordReleased };
  }
  return { contribution, rowsSelected };
}

/**
 * The job's vector over the given rows (1 = counted): the kernels, without the where-filter. With a
 * guard, a model's design is checked for isolating a person (model-disclosure.ts).
 */
export function kernel(table: Table, rows: Uint8Array, job: JobSpec, guard?: ComputeGuard): Float64Array {
  const isolation = guard ? { limits: guard.disclosure, station: guard.station } : undefined;
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
      return glmContribution({ table, rows, computation: c, isolation });
    case "glm_evaluate":
      return glmEvaluateContribution({ table, rows, computation: c, isolation });
  }
}

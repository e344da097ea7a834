/**
 * What the stations release to the analyst for one job — PLACEHOLDER written by the protocol
 * helper with the signatures of the lead's interface (RELEASE-INTERFACE.md); the release helper's
 * combined-table disclosure control replaces this file at merge.
 *
 * It runs at every station in the last round of secure aggregation (secagg/release.ts), on the
 * decoded combined vector, before anything reaches the analyst.
 */
import { PolicyRefused } from "../../common/errors.js";
import type { JobSpec } from "../../common/job.js";
import type { StudyPolicy } from "../governance/policy.js";
import type { Table } from "../data/table.js";

/** What the stations release to the analyst for one job. Layout of `values` = public part (L). */
export interface Release {
  /** Released numbers, public layout; a withheld entry holds 0. */
  values: Float64Array;
  /** Per entry of `values`: 0 released, 1 withheld (primary), 2 withheld (secondary). */
  withheld: Uint8Array;
  /** Said to the analyst: perturbation applied and its table, why cells are withheld, … */
  notes: string[];
}

/** Elements the release helper appends after the control element (per-cell key sums, …). */
export function releaseExtras(options: { job: JobSpec; study: StudyPolicy; table: Table; rows: Uint8Array /* 1 = selected */ }): Float64Array {
  void options;
  return new Float64Array(0);
}

/**
 * Runs at every station on the decoded combined vector, before anything reaches the analyst.
 * Deterministic: every station computes the same Release from the same sum (the coordinator
 * checks that all releases are byte-identical). Throws PolicyRefused to release nothing.
 */
export function decideRelease(options: {
  job: JobSpec;
  study: StudyPolicy;
  /** Combined public part (length L). */
  sum: Float64Array;
  /** Combined extras (length E). */
  extras: Float64Array;
  /** Stations of the job, and how many of them have rows in the filter (control, summed). */
  stations: number;
  stationsWithRows: number;
}): Release {
  if (options.stationsWithRows === 1) {
    throw new PolicyRefused("the filter selects rows at fewer than two stations: no station's part may be the whole result");
  }
  return { values: new Float64Array(options.sum), withheld: new Uint8Array(options.sum.length), notes: [] };
}

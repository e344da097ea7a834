/**
 * Disclosure control on the combined table, decided by the stations (interface:
 * RELEASE-INTERFACE.md). After secure aggregation every station holds the same decoded sum of
 * all stations' parts; each runs `decideRelease` on it, and only what that returns reaches the
 * analyst — the coordinator demands byte-identical releases from all, so `decideRelease` is a
 * pure function of its inputs.
 *
 * What a station learns here that it did not before: the combined table of the job, i.e. per
 * cell the sum of the other stations' parts. That is what the analyst would have seen under the
 * old design, and it is no more than the stations are trusted with (governance/README.md).
 *
 * Table-driven, like governance/policy-check.ts: RELEASE_RULES says, per computation kind, how
 * its combined vector is released. A kind without a rule releases nothing (fail closed).
 */
import { PolicyRefused } from "../../common/errors.js";
import { type Computation, type JobSpec, descriptiveLength } from "../../common/job.js";
import { PRIMARY, RELEASED, SECONDARY, isSmall, primaryReason, suppressTable } from "../../common/disclosure.js";
import { PerturbationTable, RECORD_KEY_RANGE, cellKey, describePerturbation } from "../../common/perturbation.js";
import { type ReleaseModel, releaseLayout } from "../../common/release-layout.js";
import { kernel } from "../compute/contribution.js";
import type { Table } from "../data/table.js";
import type { StudyPolicy } from "../governance/policy.js";
import { recordKeysOf } from "./record-keys.js";

export { attachRecordKeys } from "./record-keys.js";

/** What the stations release to the analyst for one job. */
export interface Release {
  /** Released numbers (the layout of common/release-layout.ts); a withheld entry holds 0. */
  values: Float64Array;
  /** Per entry of `values`: 0 released, 1 withheld (primary), 2 withheld (secondary). */
  withheld: Uint8Array;
  /** Said to the analyst: perturbation applied and its table, why cells are withheld, … */
  notes: string[];
}

export interface DecideReleaseOptions {
  job: JobSpec;
  study: StudyPolicy;
  /** Combined public part (kernel layout). */
  sum: Float64Array;
  /** Combined extras. */
  extras: Float64Array;
  stations: number;
  stationsWithRows: number;
}

interface ReleaseRule {
  /** Whether this kind's counts are perturbed (its extras are per-entry record-key sums). */
  perturbable: boolean;
  decide(options: DecideReleaseOptions): Release;
}

type Kind = Computation["kind"];

/** Tables: cell suppression on the combined cells, then (per study) cell-key perturbation. */
const table: ReleaseRule = { perturbable: true, decide: decideTable };

export const RELEASE_RULES: { [K in Kind]: ReleaseRule } = {
  count: table,
  moments: { perturbable: false, decide: decideTable },
  histogram: table,
  indicators: table,
  quantile: { perturbable: false, decide: decideTable },
  glm_evaluate: { perturbable: false, decide: decideTable },
  // A model round's sums (score, information, deviance) are not a table: the per-station rules of
  // governance/policy-check.ts (parameters per row, and the model checks) are its defence.
  glm: {
    perturbable: false,
    decide: ({ sum }) => ({ values: Float64Array.from(sum), withheld: new Uint8Array(sum.length), notes: [] }),
  },
};

function ruleFor(job: JobSpec): ReleaseRule {
  const kind = job.computation?.kind;
  const rule = (RELEASE_RULES as Record<string, ReleaseRule | undefined>)[kind];
  if (!rule) throw new PolicyRefused(`the stations have no release rule for the computation "${String(kind)}": nothing is released`);
  return rule;
}

/**
 * Runs at every station on the decoded combined vector, before anything reaches the analyst.
 * Throws PolicyRefused to release nothing.
 */
export function decideRelease(options: DecideReleaseOptions): Release {
  return ruleFor(options.job).decide(options);
}

/**
 * How many extras `releaseExtras` appends for this job under this study: the kernel vector's
 * length when the study perturbs a perturbable kind, else 0. Every station of a job must come to
 * the same number (their policies for the study must agree on perturbation), and the vector the
 * coordinator masks for is L + 1 + this.
 */
export function releaseExtrasLength(options: { job: JobSpec; study: StudyPolicy }): number {
  const { job, study } = options;
  if (!study.perturbation || !ruleFor(job).perturbable) return 0;
  return descriptiveLength(job.computation);
}

/** Elements appended after the control element: per-entry record-key sums, when perturbed. */
export function releaseExtras(options: { job: JobSpec; study: StudyPolicy; table: Table; rows: Uint8Array }): Float64Array {
  const { job, study, table, rows } = options;
  if (!study.perturbation || !ruleFor(job).perturbable) return new Float64Array(0);
  const keys = recordKeysOf(table);
  if (!keys) {
    throw new PolicyRefused(`study "${study.id}" perturbs counts, and dataset "${table.name}" has no record keys at this station (a database table): its counts cannot be released`);
  }
  // Σ key over the rows of each entry = Σ_b 2^b · (rows of the entry whose key has bit b), so the
  // kernels themselves place the rows — no second copy of their cell logic that could drift.
  const bit = new Uint8Array(rows.length);
  let out: Float64Array | undefined;
  for (let b = 0; b < 16; b++) {
    for (let r = 0; r < rows.length; r++) bit[r] = rows[r] === 1 && (keys[r] >> b) & 1 ? 1 : 0;
    const part = kernel(table, bit, job);
    if (!out) out = new Float64Array(part.length);
    for (let i = 0; i < part.length; i++) out[i] += part[i] * 2 ** b;
  }
  // Modulo the key range at each station: the sum stays small for the fixed-point encoding, and
  // (Σ mod M) mod M is the same cell key.
  for (let i = 0; i < out!.length; i++) out![i] %= RECORD_KEY_RANGE;
  return out!;
}

function decideTable(options: DecideReleaseOptions): Release {
  const { job, study, sum, extras } = options;
  const c = job.computation;
  const k = study.disclosure.minCellSize;
  const model = releaseLayout(c, sum, k);
  const primary = new Set<number>();
  const reasons = new Map<number, string>();
  for (const i of model.counts) {
    if (isSmall(Math.round(model.values[i]), k)) {
      primary.add(i);
      reasons.set(i, primaryReason(k, model.what));
    }
  }
  for (const f of model.forced) {
    primary.add(f.entry);
    if (!reasons.has(f.entry)) reasons.set(f.entry, f.reason);
  }
  if (c.kind === "glm_evaluate" && c.weights) {
    // Weighted sums are not counts of people: the stations cannot apply the cell rule to them.
    const why = "a weighted evaluation's group sums are not counts of people, so they are not released";
    for (const i of model.counts) {
      if (i === 0 || model.hidden.has(i)) continue;
      primary.add(i);
      reasons.set(i, why);
    }
  }
  const status = suppressTable({ values: model.values, lines: model.lines, primary, hidden: model.hidden, notCandidates: model.notCandidates });
  // Hidden entries that are small protect as unknowns but must also pull what they follow.
  for (const f of model.follows) {
    const code = model.hidden.has(f.of) ? (primary.has(f.of) ? PRIMARY : RELEASED) : status[f.of];
    if (code === RELEASED) continue;
    for (const e of f.entries) if (status[e] === RELEASED) status[e] = code;
  }
  const values = model.values.slice(0, model.length);
  const withheld = status.slice(0, model.length);
  const notes: string[] = [];
  if (study.perturbation && ruleFor(job).perturbable) perturb({ model, values, withheld, extras, study, notes });
  let primaries = 0;
  let secondaries = 0;
  for (let i = 0; i < values.length; i++) {
    if (withheld[i] === RELEASED) continue;
    values[i] = 0;
    if (withheld[i] === PRIMARY) primaries++;
    else if (withheld[i] === SECONDARY) secondaries++;
  }
  if (primaries > 0) {
    const why = [...new Set([...reasons].filter(([i]) => i < values.length && withheld[i] === PRIMARY).map(([, r]) => r))];
    notes.push(`${primaries} withheld (primary): ${why.join("; ") || primaryReason(k, model.what)}`);
  }
  if (secondaries > 0) notes.push(`${secondaries} withheld (secondary): so that a withheld cell cannot be recovered from the totals released with it`);
  return { values, withheld, notes };
}

const tables = new Map<string, PerturbationTable>();

function perturb(options: { model: ReleaseModel; values: Float64Array; withheld: Uint8Array; extras: Float64Array; study: StudyPolicy; notes: string[] }): void {
  const { model, values, withheld, extras, study, notes } = options;
  const settings = study.perturbation!;
  const id = `${settings.maxNoise}/${settings.variance}`;
  let ptable = tables.get(id);
  if (!ptable) tables.set(id, (ptable = new PerturbationTable(settings)));
  const needed = model.cellKeys.reduce((m, e) => Math.max(m, ...e.keys), -1) + 1;
  if (extras.length < needed) {
    // Fail closed: perturbation promised by the policy but no keys to do it with.
    throw new PolicyRefused(`the study perturbs counts, but the job carries ${extras.length} cell-key sums for ${needed} cells: nothing is released`);
  }
  for (const { entry, keys } of model.cellKeys) {
    if (entry >= values.length || withheld[entry] !== RELEASED) continue;
    let keySum = 0;
    for (const j of keys) keySum += Math.round(extras[j]);
    values[entry] = Math.max(0, values[entry] + ptable.noise(Math.round(values[entry]), cellKey(keySum % RECORD_KEY_RANGE)));
  }
  notes.push(
    `counts perturbed by cell-key perturbation (${describePerturbation(settings)}): each released count is within ±${settings.maxNoise} of the true count, ` +
      "the same cell always gets the same noise, and totals are perturbed on their own, so cells need not add up to them",
  );
}

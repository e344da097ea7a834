/**
 * The station's two checks on every job, against its policy:
 *
 * 1. `checkRequest`, before computing: is this researcher in this study, is the study current, are
 *    the dataset, every column the job reads and the computation released to it, and are its
 *    group-bys within the levels limit.
 * 2. `checkDisclosure`, after computing the station's own contribution but before masking it:
 *    is the filtered subset, every cell and every model large enough.
 *
 * Both are table-driven: COMPUTATION_RULES says, per computation kind, which columns a job reads,
 * which it groups by, which it sums as values, how many parameters it fits, and where the cell
 * sizes sit in its contribution vector. A new computation kind needs a row there, and until it has
 * one the station refuses it (fail closed).
 *
 * Why per-station checks are enough for cells — and where they are not. Each station checks only
 * its own contribution, because under secure aggregation no one sees another station's part. A
 * cell of the federation's sum can then still be small only if every station's part is 0 or at
 * least the minimum: e.g. 0 + 0 + 12 = 12 is released, and a combined 1 … min−1 is impossible
 * unless all but one station hold 0 and that one holds 1 … min−1 — which that one refuses. What a
 * per-station check cannot stop: differencing two large released sums (all rows, all rows but a
 * few) — the subset-size limit and the audit log are the defences there — and a station whose
 * part is 0 revealing nothing while the analyst learns the sum of the others. The trust model is
 * written out in README.md beside this file.
 */
import { columnsOf } from "../../common/expression.js";
import { PolicyRefused } from "../../common/errors.js";
import { designColumns, formulaColumns, parseFormula } from "../../common/formula.js";
import type { Computation, GroupBy, JobSpec } from "../../common/job.js";
import { cellLabels, histogramSizedCells, indicatorGroupBys, indicatorSizedCells, quantileSizedCells } from "../compute/disclosure-cells.js";
import type { Table } from "../data/table.js";
import type { ComputationKind, DisclosureSettings, StationPolicy, StudyPolicy } from "./policy.js";

/** How the policy reads one computation kind. */
export interface ComputationRule<C = Computation> {
  /** Columns read as the measured values (means, sums, responses): never categorical. */
  valueColumns(c: C): string[];
  /** Columns grouped by: the levels limit applies, with their levels. */
  groupBy(c: C): GroupBy[];
  /** Every other column read (model terms, weights). */
  otherColumns(c: C): string[];
  /** Factors a model builds, with their levels: the levels limit applies. */
  factors(c: C): Array<{ column: string; levels: readonly string[] }>;
  /** Parameters of a fitted model (0 when none). */
  parameters(c: C, table: Table): number;
  /**
   * The cells of the contribution whose sizes must be 0 or at least the minimum cell size, with a
   * label naming each (never its value). `rows` is the number of rows the contribution is over.
   */
  cells(c: C, contribution: ArrayLike<number>): Array<{ label: string; size: number }>;
  /** Rows a model is fitted on, read from the contribution, when the computation fits one. */
  modelRows?(c: C, contribution: ArrayLike<number>): number;
}

type Of<K extends Computation["kind"]> = Extract<Computation, { kind: K }>;


function formulaUses(formula: string): string[] {
  return formulaColumns(parseFormula(formula));
}

function glmParameters(c: Of<"glm"> | Of<"glm_evaluate">, table: Table): number {
  const columns: Record<string, "numeric" | "boolean" | "categorical"> = {};
  for (const [name, column] of table.columns) columns[name] = column.kind;
  const p = designColumns(parseFormula(c.formula), { levels: c.levels, columns, dataset: table.name }).columns.length;
  return Math.max(p, c.beta.length);
}

const MOMENTS_PER_CELL = 3; // [n, Σx, Σx²] per cell: station-daemon/compute/descriptive.ts
const GLM_EVALUATE_HEADER = 6; // station-daemon/compute/glm-evaluate.ts

export const COMPUTATION_RULES: { [K in Computation["kind"]]: ComputationRule<Of<K>> } = {
  count: {
    valueColumns: () => [],
    groupBy: (c) => c.by,
    otherColumns: () => [],
    factors: () => [],
    parameters: () => 0,
    cells: (c, v) => cellLabels(c.by).map((label, i) => ({ label, size: v[i] })),
  },
  moments: {
    valueColumns: (c) => [c.column],
    groupBy: (c) => c.by,
    otherColumns: () => [],
    factors: () => [],
    parameters: () => 0,
    cells: (c, v) => cellLabels(c.by).map((label, i) => ({ label, size: v[i * MOMENTS_PER_CELL] })),
  },
  glm: {
    valueColumns: (c) => [],
    groupBy: () => [],
    otherColumns: (c) => [...formulaUses(c.formula), ...(c.weights ? [c.weights] : [])],
    factors: (c) => Object.entries(c.levels).map(([column, levels]) => ({ column, levels })),
    parameters: glmParameters,
    cells: () => [],
    modelRows: (_c, v) => v[0],
  },
  glm_evaluate: {
    valueColumns: () => [],
    groupBy: () => [],
    otherColumns: (c) => [...formulaUses(c.formula), ...(c.weights ? [c.weights] : [])],
    factors: (c) => Object.entries(c.levels).map(([column, levels]) => ({ column, levels })),
    parameters: glmParameters,
    // Risk groups are reported with their sizes; the fine probability bins are not checked here
    // (see the report: refusing every bin below the minimum would make AUC impossible).
    cells: (c, v) => {
      const start = GLM_EVALUATE_HEADER + 3 * c.bins;
      const groups = c.riskCutpoints.length + 1;
      return Array.from({ length: groups }, (_, g) => ({ label: `risk group ${g + 1} of ${groups}`, size: v[start + 3 * g] }));
    },
    modelRows: (_c, v) => v[0],
  },
  // Layouts and the cells checked: station-daemon/compute/disclosure-cells.ts (owned with the kernels).
  histogram: {
    valueColumns: (c) => [c.column],
    groupBy: (c) => c.by,
    otherColumns: () => [],
    factors: () => [],
    parameters: () => 0,
    cells: histogramSizedCells,
  },
  quantile: {
    valueColumns: (c) => [c.column],
    groupBy: (c) => c.by,
    otherColumns: () => [],
    factors: () => [],
    parameters: () => 0,
    cells: quantileSizedCells,
  },
  indicators: {
    valueColumns: () => [],
    groupBy: indicatorGroupBys,
    otherColumns: (c) => c.indicators.flatMap((i) => [...columnsOf(i.numerator), ...(i.denominator ? columnsOf(i.denominator) : [])]),
    factors: () => [],
    parameters: () => 0,
    cells: indicatorSizedCells,
  },
};

function ruleFor(job: JobSpec): ComputationRule {
  const kind = job.computation?.kind;
  const rule = (COMPUTATION_RULES as Record<string, ComputationRule | undefined>)[kind];
  if (!rule) throw new PolicyRefused(`this station has no policy rule for the computation "${String(kind)}"`);
  return rule;
}

function short(key: string): string {
  return `${key.slice(0, 16)}…`;
}

export interface CheckedRequest {
  study: StudyPolicy;
  /** The limits that apply to this job. */
  disclosure: DisclosureSettings;
  /** Every column the job reads (filter, group-by, values, model), for the audit log. */
  columns: string[];
}

export interface CheckRequestOptions {
  policy: StationPolicy;
  study: string;
  researcherKey: string;
  job: JobSpec;
  /** The station's own table for job.dataset. */
  table: Table;
  /** Milliseconds since the epoch. */
  now: number;
  /** Named in refusals. */
  station?: string;
}

/** Throws PolicyRefused, with a reason the analyst can act on, unless the policy allows the job. */
export function checkRequest(options: CheckRequestOptions): CheckedRequest {
  const { policy, job, table, station } = options;
  const refuse = (why: string): never => {
    throw new PolicyRefused(why, station);
  };
  const study = policy.studies.find((s) => s.id === options.study);
  if (!study) refuse(`unknown study "${options.study}"`);
  const s = study as StudyPolicy;
  const key = options.researcherKey.toLowerCase();
  if (!s.researchers.some((r) => r.key === key)) refuse(`researcher key ${short(key)} is not a researcher of study "${s.id}"`);
  if (options.now >= s.expiresAt) refuse(`study "${s.id}" expired on ${s.expires}`);

  const kind = job.computation?.kind as ComputationKind;
  if (s.computations !== "*" && !s.computations.includes(kind)) {
    refuse(`the computation "${kind}" is not allowed in study "${s.id}" (allowed: ${s.computations.join(", ") || "none"})`);
  }
  let released: "*" | readonly string[];
  if (s.datasets === "*") released = "*";
  else {
    const d = s.datasets.find((x) => x.name === job.dataset);
    if (!d) return refuse(`dataset "${job.dataset}" is not released to study "${s.id}"`);
    released = d.columns;
  }
  const rule = ruleFor(job);
  const c = job.computation;
  const uses: Array<{ column: string; as: string }> = [];
  if (job.where) for (const column of columnsOf(job.where)) uses.push({ column, as: "the where-expression" });
  for (const g of rule.groupBy(c)) uses.push({ column: g.column, as: "a group-by" });
  for (const column of rule.valueColumns(c)) uses.push({ column, as: "the measured value" });
  for (const column of rule.otherColumns(c)) uses.push({ column, as: `the ${kind} formula or weights` });
  if (released !== "*") {
    for (const u of uses) {
      if (!released.includes(u.column)) refuse(`column "${u.column}" (used in ${u.as}) is not released to study "${s.id}"`);
    }
  }
  for (const column of rule.valueColumns(c)) {
    if (table.columns.get(column)?.kind === "categorical") refuse(`column "${column}" holds text: string values are never released, only counts by level`);
  }
  const limit = s.disclosure.maxLevels;
  for (const g of rule.groupBy(c)) {
    const col = table.columns.get(g.column);
    const levels = Math.max(g.levels?.length ?? 0, col?.kind === "categorical" ? col.levels.length : 0);
    if (levels > limit) refuse(`group-by "${g.column}" has ${levels} levels, more than the ${limit} allowed`);
  }
  for (const f of rule.factors(c)) {
    if (f.levels.length > limit) refuse(`factor "${f.column}" has ${f.levels.length} levels, more than the ${limit} allowed`);
  }
  return { study: s, disclosure: s.disclosure, columns: [...new Set(uses.map((u) => u.column))] };
}

export interface CheckDisclosureOptions {
  /** The limits of the job's study (CheckedRequest.disclosure). */
  disclosure: DisclosureSettings;
  job: JobSpec;
  table: Table;
  /** Rows the where-expression selected on this station. */
  rowsSelected: number;
  /** This station's contribution, in the clear, before masking. */
  contribution: ArrayLike<number>;
  station?: string;
}

/**
 * Throws PolicyRefused when the station's own contribution would disclose a small group. Refusals
 * name the cell or group that is too small, never its value. Runs before masking: a refused
 * contribution never leaves the station in any form.
 */
export function checkDisclosure(options: CheckDisclosureOptions): void {
  const { disclosure: d, job, table, contribution, station } = options;
  const refuse = (why: string): never => {
    throw new PolicyRefused(why, station);
  };
  const rule = ruleFor(job);
  const c = job.computation;
  if (options.rowsSelected > 0 && options.rowsSelected < d.minSubsetSize) {
    refuse(`the where-expression selects fewer rows than the minimum subset size of ${d.minSubsetSize}`);
  }
  // The per-station cell rule is a steward's option (policy `perStationCells`); by default the
  // stations decide on the combined table instead (station-daemon/release/), and a station's own
  // small part, hidden by the aggregation, refuses nothing.
  const small = d.perStationCells ? rule.cells(c, contribution).filter((cell) => cell.size > 0 && cell.size < d.minCellSize) : [];
  if (small.length > 0) {
    const shown = small.slice(0, 5).map((x) => x.label).join("; ");
    refuse(`${small.length === 1 ? "a cell is" : `${small.length} cells are`} below the minimum cell size of ${d.minCellSize}: ${shown}${small.length > 5 ? "; …" : ""}`);
  }
  const p = rule.parameters(c, table);
  if (p > 0) {
    const rows = rule.modelRows ? rule.modelRows(c, contribution) : options.rowsSelected;
    if (rows > 0 && p > d.maxParametersPerRow * rows) {
      refuse(`the model has ${p} parameters, more than ${d.maxParametersPerRow} per row of this station's data allows`);
    }
  }
}

/** Every researcher key the policy knows, for request authentication. */
export function researcherKeys(policy: StationPolicy): Set<string> {
  return new Set(policy.studies.flatMap((s) => s.researchers.map((r) => r.key)));
}

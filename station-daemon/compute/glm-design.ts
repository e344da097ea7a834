/**
 * The GLM design over a station's own rows: the formula's variables evaluated column-wise,
 * complete cases selected (a row with a missing value in any variable the model uses is dropped,
 * as R's na.omit does), and the design matrix laid out row-major for the kernels' row loops.
 * Levels come from the job, never from the station's own data, so that every station builds
 * the same columns even when it lacks a level.
 */
import { BadInput, UnknownColumn } from "../../common/errors.js";
import {
  applyBinary,
  applyMath,
  binomialTrials,
  designColumns,
  formulaColumns,
  parseFormula,
  type ArithExpr,
  type Design,
  type DesignColumnType,
  type FormulaVariable,
  type ParsedFormula,
} from "../../common/formula.js";
import type { FamilyName } from "../../common/job.js";
import type { Column, Table } from "../data/table.js";

export interface GlmDesignOptions {
  table: Table;
  /** 1 where the row passes the job's where-filter. */
  rows: Uint8Array;
  formula: string;
  family: FamilyName;
  levels: Readonly<Record<string, readonly string[]>>;
  /** Name of a numeric column of prior weights. */
  weights?: string;
}

export interface GlmDesign {
  formula: ParsedFormula;
  design: Design;
  /** Complete-case rows in the design. */
  n: number;
  /** Design columns. */
  p: number;
  /** n × p, row-major. */
  x: Float64Array;
  y: Float64Array;
  /** Prior weights (times the trials of a `cbind` response), or undefined for all ones. */
  weights: Float64Array | undefined;
  /** Trials of a `cbind(successes, failures)` response per row, or undefined for other responses. */
  trials: Float64Array | undefined;
  /** Summed offsets, or undefined when the formula has none. */
  offset: Float64Array | undefined;
  /** The table row of each design row: which people the model is fitted on (for differencing). */
  tableRows: Int32Array;
}

/** A variable over all table rows: numbers (NaN missing) or codes into the job's levels (-1 missing). */
type Evaluated = { numeric: Float64Array } | { codes: Int32Array };

export function columnTypes(table: Table): Record<string, DesignColumnType> {
  const types: Record<string, DesignColumnType> = {};
  for (const [name, column] of table.columns) types[name] = column.kind;
  return types;
}

function requireColumn(table: Table, name: string): Column {
  const column = table.columns.get(name);
  if (!column) throw new UnknownColumn(name, table.name, [...table.columns.keys()]);
  return column;
}

function evaluateArithColumns(table: Table, expr: ArithExpr): Float64Array {
  const n = table.rowCount;
  switch (expr.kind) {
    case "number":
      return new Float64Array(n).fill(expr.value);
    case "column": {
      const column = requireColumn(table, expr.name);
      if (column.kind === "categorical") {
        throw new BadInput(`column "${expr.name}" is categorical and cannot be used in arithmetic`);
      }
      return column.values;
    }
    case "paren":
      return evaluateArithColumns(table, expr.arg);
    case "negate": {
      const a = evaluateArithColumns(table, expr.arg);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = -a[i];
      return out;
    }
    case "call": {
      const a = evaluateArithColumns(table, expr.arg);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = applyMath(expr.fn, a[i]);
      return out;
    }
    case "binary": {
      const a = evaluateArithColumns(table, expr.left);
      const b = evaluateArithColumns(table, expr.right);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = applyBinary(expr.op, a[i], b[i]);
      return out;
    }
  }
}

/** Maps the station's own values of a factor onto the job's level indices. */
function evaluateFactor(table: Table, column: Column, label: string, levels: readonly string[]): Int32Array {
  const n = table.rowCount;
  const codes = new Int32Array(n);
  if (column.kind === "categorical") {
    const map = column.levels.map((level) => levels.indexOf(level));
    for (let i = 0; i < n; i++) {
      const c = column.codes[i];
      if (c < 0) {
        codes[i] = -1;
        continue;
      }
      const mapped = map[c];
      if (mapped < 0) throw new BadInput(`${label} has a value "${column.levels[c]}" that is not among the job's levels`);
      codes[i] = mapped;
    }
    return codes;
  }
  const index = new Map<number, number>();
  levels.forEach((level, i) => {
    const value = column.kind === "boolean" ? (level === "TRUE" ? 1 : level === "FALSE" ? 0 : NaN) : Number(level);
    if (!Number.isNaN(value)) index.set(value, i);
  });
  for (let i = 0; i < n; i++) {
    const v = column.values[i];
    if (Number.isNaN(v)) {
      codes[i] = -1;
      continue;
    }
    const mapped = index.get(v);
    // The value itself is never named: it would be one person's, if only one row holds it.
    if (mapped === undefined) throw new BadInput(`${label} has a value at this station that is not among the job's levels`);
    codes[i] = mapped;
  }
  return codes;
}

function evaluateVariable(table: Table, variable: FormulaVariable, levels: readonly string[] | undefined): Evaluated {
  if (variable.kind === "expression") return { numeric: evaluateArithColumns(table, variable.expr) };
  const column = requireColumn(table, variable.column);
  if (levels === undefined) {
    if (column.kind === "categorical") throw new BadInput(`column "${variable.column}" is categorical`);
    return { numeric: column.values };
  }
  return { codes: evaluateFactor(table, column, variable.label, levels) };
}

/** The response as numbers: binomial takes 0/1, booleans, or a factor (first level = failure, as R). */
function evaluateResponse(options: GlmDesignOptions, formula: ParsedFormula): Float64Array {
  const { table } = options;
  const response = formula.response;
  if (response.kind === "expression") return evaluateArithColumns(table, response.expr);
  const column = requireColumn(table, response.column);
  if (column.kind !== "categorical" && response.kind === "column") return column.values;
  if (options.family !== "binomial") {
    throw new BadInput(`the response ${response.label} is categorical; only a binomial model takes a factor response`);
  }
  const levels = options.levels[response.column] ?? (column.kind === "boolean" ? ["FALSE", "TRUE"] : undefined);
  if (!levels) throw new BadInput(`the job gives no levels for the categorical response "${response.column}"`);
  const codes = evaluateFactor(table, column, response.label, levels);
  const y = new Float64Array(table.rowCount);
  for (let i = 0; i < y.length; i++) y[i] = codes[i] < 0 ? NaN : codes[i] === 0 ? 0 : 1;
  return y;
}

/**
 * The last design built per table: a fit sends the same formula, levels and filter every
 * iteration, and only `beta` changes, so the design is built once per fit rather than per round.
 * One entry per table bounds the memory to one n × p matrix.
 */
const designCache = new WeakMap<Table, { key: string; rows: Uint8Array; design: GlmDesign }>();

function sameRows(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function buildGlmDesign(options: GlmDesignOptions): GlmDesign {
  const key = JSON.stringify([options.formula, options.family, options.weights ?? null, options.levels]);
  const cached = designCache.get(options.table);
  if (cached && cached.key === key && sameRows(cached.rows, options.rows)) return cached.design;
  const design = buildGlmDesignUncached(options);
  designCache.set(options.table, { key, rows: Uint8Array.from(options.rows), design });
  return design;
}

function buildGlmDesignUncached(options: GlmDesignOptions): GlmDesign {
  const { table, rows } = options;
  if (rows.length !== table.rowCount) throw new BadInput(`row mask has ${rows.length} entries for ${table.rowCount} rows`);
  const formula = parseFormula(options.formula);
  const types = columnTypes(table);
  for (const name of formulaColumns(formula)) requireColumn(table, name);
  const design = designColumns(formula, { levels: options.levels, columns: types, dataset: table.name });
  const p = design.columns.length;

  const evaluated = formula.variables.map((v, i) => evaluateVariable(table, v, design.variables[i].levels));
  const yAll = evaluateResponse(options, formula);
  let weightsAll: Float64Array | undefined;
  if (options.weights !== undefined) {
    const column = requireColumn(table, options.weights);
    if (column.kind !== "numeric") throw new BadInput(`the weights column "${options.weights}" must be numeric`);
    weightsAll = column.values;
  }
  const offsetsAll = formula.offsets.map((o) => evaluateArithColumns(table, o.expr));
  const trialsExpr = binomialTrials(formula);
  if (trialsExpr && options.family !== "binomial") {
    throw new BadInput(`${formula.response.label} is a binomial response (successes, failures); fit it with family binomial`);
  }
  const trialsAll = trialsExpr ? evaluateArithColumns(table, trialsExpr) : undefined;

  // complete cases within the filter
  const keep = new Uint8Array(table.rowCount);
  let n = 0;
  for (let i = 0; i < table.rowCount; i++) {
    if (rows[i] !== 1) continue;
    if (Number.isNaN(yAll[i])) continue;
    if (weightsAll && Number.isNaN(weightsAll[i])) continue;
    let complete = true;
    for (const e of evaluated) {
      if ("numeric" in e ? Number.isNaN(e.numeric[i]) : e.codes[i] < 0) {
        complete = false;
        break;
      }
    }
    if (!complete) continue;
    for (const o of offsetsAll) if (Number.isNaN(o[i])) complete = false;
    if (!complete) continue;
    keep[i] = 1;
    n++;
  }

  const x = new Float64Array(n * p);
  const y = new Float64Array(n);
  const weights = weightsAll || trialsAll ? new Float64Array(n) : undefined;
  const trials = trialsAll ? new Float64Array(n) : undefined;
  const offset = offsetsAll.length > 0 ? new Float64Array(n) : undefined;
  const tableRows = new Int32Array(n);
  // per design column: the numeric arrays and (code array, level) pairs it multiplies
  const plan = design.columns.map((c) => ({
    numeric: c.factors.filter((f) => f.level === undefined).map((f) => (evaluated[f.variable] as { numeric: Float64Array }).numeric),
    indicators: c.factors
      .filter((f) => f.level !== undefined)
      .map((f) => ({ codes: (evaluated[f.variable] as { codes: Int32Array }).codes, level: f.level! })),
  }));
  let r = 0;
  for (let i = 0; i < table.rowCount; i++) {
    if (keep[i] !== 1) continue;
    y[r] = yAll[i];
    tableRows[r] = i;
    // Errors below name the column and the kind of problem, never the value, and read the same
    // whether one row or many are at fault: the subset rule has already run, but one row of many
    // can still be the only one at fault.
    if (weightsAll) {
      const w = weightsAll[i];
      if (w < 0 || !Number.isFinite(w)) throw new BadInput(`prior weights must be finite and non-negative; the weights column "${options.weights}" has a value outside that at this station`);
      weights![r] = w;
    }
    if (trials) {
      // R: the prior weight times the trials; a row of 0 + 0 trials has no proportion (y is 0/0)
      // and is not a complete case
      const m = trialsAll![i];
      if (!(m >= 0) || !Number.isFinite(m)) throw new BadInput(`the counts of ${formula.response.label} must be finite and non-negative`);
      trials[r] = m;
      weights![r] = (weightsAll ? weights![r] : 1) * m;
    }
    if (offset) {
      let o = 0;
      for (const a of offsetsAll) o += a[i];
      if (!Number.isFinite(o)) throw new BadInput(`the offset ${formula.offsets.map((f) => f.label).join(" + ")} is not finite (infinite or undefined) in rows at this station`);
      offset[r] = o;
    }
    const base = r * p;
    for (let j = 0; j < p; j++) {
      const column = plan[j];
      let v = 1;
      for (let k = 0; k < column.indicators.length; k++) {
        const ind = column.indicators[k];
        if (ind.codes[i] !== ind.level) {
          v = 0;
          break;
        }
      }
      if (v !== 0) for (let k = 0; k < column.numeric.length; k++) v *= column.numeric[k][i];
      if (!Number.isFinite(v)) throw new BadInput(`the design column ${design.columns[j].name} is not finite (infinite or undefined) in rows at this station`);
      x[base + j] = v;
    }
    r++;
  }
  return { formula, design, n, p, x, y, weights, trials, offset, tableRows };
}

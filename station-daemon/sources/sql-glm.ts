/**
 * One Fisher-scoring iteration of a GLM as one SQL query: the contribution of
 * compute/glm.ts glmContribution — header, score, upper-triangle information — summed inside
 * PostgreSQL, so that the rows never leave the database.
 *
 * The query mirrors the kernel step by step:
 *
 *   rows    the job's where-expression (pushed down as a WHERE, so an index can serve it), the
 *           formula's variables (numeric expressions, factor codes into the job's levels), the
 *           response, weights and offsets, and `complete` (R's na.omit: none of them missing);
 *   design  each design column as an SQL expression: a product of numeric variables, times 1 or
 *           0 from the indicator of each factor level it carries (a CASE, dummies never stored);
 *   η, μ    η = offset + Σ x·β (or, in the start round, R's mustart and η = g(μ)), μ = g⁻¹(η),
 *           dμ/dη with R's clamps at the boundaries, exactly as compute/glm-family.ts;
 *   sums    Σ w, Σ w·y, deviance, log-likelihood, Pearson, boundary count, score Σ u·x and
 *           information Σ W·xᵢ·xⱼ as aggregate expressions, grouped by `complete` so that one scan
 *           also counts the rows the filter selected (for the disclosure check).
 *
 * Each stage is a subquery fenced with OFFSET 0: PostgreSQL would otherwise inline η into every
 * one of the p(p+1)/2 information sums and evaluate it again for each.
 *
 * Arithmetic in formulas follows JS semantics where SQL would raise an error: a logarithm or
 * square root outside its domain, 0/0 and the like are missing (NaN in the kernels, so the row
 * is not a complete case), log(0) and x/0 are infinite (which the kernels refuse as a non-finite
 * design value). An overflow that PostgreSQL raises ("value out of range") is reported as
 * BadInput, as the kernels report the infinite value it would have made.
 */
import { BadInput } from "../../common/errors.js";
import type { Expr } from "../../common/expression.js";
import { type ArithExpr, binomialTrials, designColumns, formulaColumns, parseFormula, type ParsedFormula } from "../../common/formula.js";
import type { FamilyName, LinkName } from "../../common/job.js";
import { GLM_HEADER_LENGTH, type GlmComputation } from "../compute/glm.js";
import { columnTypes } from "../compute/glm-design.js";
import { rowFamily, rowLink } from "../compute/glm-family.js";
import type { SqlContext } from "./sql-descriptive.js";
import { type SqlParams, type SqlSchema, whereSql } from "./sql.js";
import { LANCZOS, LOG_FACTORIAL } from "../../common/log-gamma.js";
import { choleskyWithAliasing, unpackUpper } from "../../sdk/glm/linalg.js";
import { type ModelLimits, NONZERO_RELATIVE, judgeModelIsolation } from "../compute/model-disclosure.js";

const EPSILON = 2.220446049250313e-16;
const LOGIT_THRESHOLD = 30;
const LOGIT_MAX = -Math.log(EPSILON);
const LOG_FACTORIAL_TABLE = Array.from(LOG_FACTORIAL);
/** Longest SQL text a formula may expand to (nested functions repeat their argument in CASEs). */
const MAX_SQL_LENGTH = 4_000_000;

/** A constant of this file as an SQL float8 literal (never a job value: those are parameters). */
function k(value: number): string {
  if (!Number.isFinite(value)) throw new Error("internal: non-finite SQL constant");
  return `${String(value)}::float8`;
}

const INF = `'Infinity'::float8`;
const NEG_INF = `'-Infinity'::float8`;
const NAN = `'NaN'::float8`;

/** `formula`'s arithmetic over the table's columns; NULL where the kernels would have NaN. */
export function arithSql(schema: SqlSchema, expr: ArithExpr, params: SqlParams): string {
  switch (expr.kind) {
    case "number":
      return params.number(expr.value);
    case "column":
      if (schema.column(expr.name).kind === "categorical") throw new BadInput(`column "${expr.name}" is categorical and cannot be used in arithmetic`);
      return schema.numberValue(expr.name);
    case "paren":
      return arithSql(schema, expr.arg, params);
    case "negate":
      return `(- ${arithSql(schema, expr.arg, params)})`;
    case "binary": {
      const a = arithSql(schema, expr.left, params);
      const b = arithSql(schema, expr.right, params);
      switch (expr.op) {
        case "+":
        case "-":
        case "*":
          return `NULLIF(${a} ${expr.op} ${b}, ${NAN})`;
        case "/":
          return `(CASE WHEN ${b} = 0 THEN (CASE WHEN ${a} > 0 THEN ${INF} WHEN ${a} < 0 THEN ${NEG_INF} END) ELSE NULLIF(${a} / ${b}, ${NAN}) END)`;
        case "^":
          return `(CASE WHEN ${a} < 0 AND ${b} <> trunc(${b}) THEN NULL WHEN ${a} = 0 AND ${b} < 0 THEN ${INF} ELSE NULLIF(power(${a}, ${b}), ${NAN}) END)`;
      }
      break;
    }
    case "call": {
      const a = arithSql(schema, expr.arg, params);
      switch (expr.fn) {
        case "log":
          return `(CASE WHEN ${a} > 0 THEN ln(${a}) WHEN ${a} = 0 THEN ${NEG_INF} END)`;
        case "log2":
          return `(CASE WHEN ${a} > 0 THEN ln(${a}) / ${k(Math.LN2)} WHEN ${a} = 0 THEN ${NEG_INF} END)`;
        case "log10":
          return `(CASE WHEN ${a} > 0 THEN log(${a}) WHEN ${a} = 0 THEN ${NEG_INF} END)`;
        case "log1p":
          // PostgreSQL has no log1p; below 1e-4 the series to x⁴ is accurate to a few ulp.
          return `(CASE WHEN ${a} > -1 THEN (CASE WHEN abs(${a}) < 1e-4 THEN ${a} * (1 - ${a} * (${k(1 / 2)} - ${a} * (${k(1 / 3)} - ${a} / 4))) ELSE ln(1 + ${a}) END) WHEN ${a} = -1 THEN ${NEG_INF} END)`;
        case "exp":
          // PostgreSQL raises on overflow and on underflow to 0; JS gives Infinity and 0.
          return `(CASE WHEN ${a} > ${k(709.782712893384)} THEN ${INF} WHEN ${a} < ${k(-745.1332191019412)} THEN 0::float8 ELSE exp(${a}) END)`;
        case "sqrt":
          return `(CASE WHEN ${a} >= 0 THEN sqrt(${a}) END)`;
        case "abs":
          return `abs(${a})`;
      }
    }
  }
  throw new BadInput("a formula holds an unknown arithmetic node");
}

/**
 * NULL where the logarithm is undefined (a response outside the family's range, which the query
 * reports as bad_response): PostgreSQL would raise instead, and its error would stand in for ours.
 */
function xlogy(x: string, y: string): string {
  return `(CASE WHEN ${x} = 0 THEN 0::float8 WHEN ${y} > 0 THEN ${x} * ln(${y}) END)`;
}

/**
 * Design values below this magnitude are taken as 0: PostgreSQL raises an error on a float8
 * product that underflows to 0 (JS gives 0), and W·xᵢ·xⱼ of a value like exp(50·(age − 102)) at
 * age 90 (1e−261) would. They are far below the support threshold of model-disclosure.ts and
 * change no sum in its sixteenth digit.
 */
const DESIGN_FLUSH = 1e-100;

/** log Γ(y + 1), as compute/glm-family.ts logGamma(y + 1): exact table for small counts, Lanczos else. */
function logGammaPlusOne(y: string, params: SqlParams): string {
  const table = params.add(LOG_FACTORIAL_TABLE, "float8[]");
  const z = `((${y} + 1) - 1)`;
  let a = k(LANCZOS[0]);
  for (let i = 1; i < 9; i++) a = `(${a} + ${k(LANCZOS[i])} / (${z} + ${i}))`;
  const t = `(${z} + ${k(7.5)})`;
  const lanczos = `(${k(0.5 * Math.log(2 * Math.PI))} + (${z} + ${k(0.5)}) * ln(${t}) - ${t} + ln(${a}))`;
  return `(CASE WHEN ${y} < 0 THEN NULL WHEN ${y} <= 255 AND ${y} = trunc(${y}) THEN (${table})[${y}::int + 1] ELSE ${lanczos} END)`;
}

interface LinkSql {
  linkinv(eta: string): string;
  linkfun(mu: string): string;
  muEta(eta: string): string;
}

const LINK_SQL: Record<LinkName, LinkSql> = {
  logit: {
    linkinv: (eta) =>
      `(CASE WHEN ${eta} < ${k(-LOGIT_MAX)} THEN ${k(EPSILON / (1 + EPSILON))} WHEN ${eta} > ${k(LOGIT_MAX)} THEN ${k(1 / EPSILON / (1 + 1 / EPSILON))} ` +
      `ELSE exp(${eta}) / (1 + exp(${eta})) END)`,
    // NULL outside (0, 1), where only a bad response can put the start mean (reported as such).
    linkfun: (mu) => `(CASE WHEN ${mu} > 0 AND ${mu} < 1 THEN ln(${mu} / (1 - ${mu})) END)`,
    muEta: (eta) =>
      `(CASE WHEN ${eta} > ${k(LOGIT_THRESHOLD)} OR ${eta} < ${k(-LOGIT_THRESHOLD)} THEN ${k(EPSILON)} ELSE exp(${eta}) / ((1 + exp(${eta})) * (1 + exp(${eta}))) END)`,
  },
  log: {
    linkinv: (eta) => `(CASE WHEN ${eta} < -700 THEN ${k(EPSILON)} WHEN ${eta} > ${k(709.782712893384)} THEN ${INF} ELSE GREATEST(exp(${eta}), ${k(EPSILON)}) END)`,
    linkfun: (mu) => `(CASE WHEN ${mu} > 0 THEN ln(${mu}) END)`,
    muEta: (eta) => `(CASE WHEN ${eta} < -700 THEN ${k(EPSILON)} WHEN ${eta} > ${k(709.782712893384)} THEN ${INF} ELSE GREATEST(exp(${eta}), ${k(EPSILON)}) END)`,
  },
  identity: {
    linkinv: (eta) => eta,
    linkfun: (mu) => mu,
    muEta: () => `1::float8`,
  },
};

interface FamilySql {
  variance(mu: string): string;
  devianceResidual(y: string, mu: string, w: string): string;
  loglik(y: string, mu: string, w: string, params: SqlParams): string;
  saturated(y: string, w: string): string;
  startMu(y: string, w: string): string;
  atBoundary(mu: string): string;
  badResponse(y: string): string;
}

const FAMILY_SQL: Record<FamilyName, FamilySql> = {
  binomial: {
    variance: (mu) => `(${mu} * (1 - ${mu}))`,
    devianceResidual: (y, mu, w) => `(2 * ${w} * (${xlogy(y, `${y} / ${mu}`)} + ${xlogy(`(1 - ${y})`, `(1 - ${y}) / (1 - ${mu})`)}))`,
    loglik: (y, mu, w) => `(${w} * (${xlogy(y, mu)} + ${xlogy(`(1 - ${y})`, `(1 - ${mu})`)}))`,
    saturated: (y, w) => `(${w} * (${xlogy(y, y)} + ${xlogy(`(1 - ${y})`, `(1 - ${y})`)}))`,
    startMu: (y, w) => `((${w} * ${y} + ${k(0.5)}) / (${w} + 1))`,
    atBoundary: (mu) => `(${mu} > ${k(1 - 10 * EPSILON)} OR ${mu} < ${k(10 * EPSILON)})`,
    badResponse: (y) => `(${y} < 0 OR ${y} > 1)`,
  },
  poisson: {
    variance: (mu) => mu,
    devianceResidual: (y, mu, w) => `(CASE WHEN ${y} > 0 THEN 2 * (${w} * ${y} * ln(${y} / ${mu}) - (${w} * ${y} - ${mu} * ${w})) ELSE 2 * (${mu} * ${w}) END)`,
    loglik: (y, mu, w, params) => `(${w} * (${xlogy(y, mu)} - ${mu} - ${logGammaPlusOne(y, params)}))`,
    saturated: (y, w) => `(${w} * (${xlogy(y, y)} - ${y}))`,
    startMu: (y) => `(${y} + ${k(0.1)})`,
    atBoundary: (mu) => `(${mu} < ${k(10 * EPSILON)})`,
    badResponse: (y) => `(${y} < 0)`,
  },
  gaussian: {
    variance: () => `1::float8`,
    devianceResidual: (y, mu, w) => `(${w} * (${y} - ${mu}) * (${y} - ${mu}))`,
    loglik: (_y, _mu, w) => `(CASE WHEN ${w} > 0 THEN ln(${w}) ELSE 0::float8 END)`,
    saturated: (y, w) => `(${w} * ${y} * ${y} / 2)`,
    startMu: (y) => y,
    atBoundary: () => `false`,
    badResponse: () => `false`,
  },
};

const notFinite = (e: string) => `NOT (${e} > ${NEG_INF} AND ${e} < ${INF})`;

interface Factor {
  /** SQL int: index into the job's levels, -1 missing, -2 a value not among them. */
  code: string;
  /** Whether a -2 can only be found by looking at every row (not checked against cached levels). */
  scan: boolean;
}

/** A column's values as codes into the job's levels, as glm-design.ts evaluateFactor. */
function factorSql(schema: SqlSchema, column: string, label: string, levels: readonly string[], params: SqlParams): Factor {
  const c = schema.column(column);
  const v = c.value;
  if (c.kind === "categorical") {
    const own = schema.table.columns.get(column);
    for (const level of own?.kind === "categorical" ? own.levels : []) {
      if (!levels.includes(level)) throw new BadInput(`${label} has a value "${level}" that is not among the job's levels`);
    }
    return { code: `(CASE WHEN ${v} IS NULL THEN -1 ELSE COALESCE(array_position(${params.add([...levels], "text[]")}, ${v}) - 1, -2) END)`, scan: false };
  }
  const index = new Map<number, number>();
  levels.forEach((level, i) => {
    const value = c.kind === "boolean" ? (level === "TRUE" ? 1 : level === "FALSE" ? 0 : NaN) : Number(level);
    if (!Number.isNaN(value)) index.set(value, i);
  });
  if (c.kind === "boolean") {
    const t = index.get(1) ?? -2;
    const f = index.get(0) ?? -2;
    return { code: `(CASE WHEN ${v} IS NULL THEN -1 WHEN ${v} THEN ${t | 0} ELSE ${f | 0} END)`, scan: t < 0 || f < 0 };
  }
  const values = [...index.keys()];
  const positions = values.map((x) => index.get(x)!);
  return {
    code: `(CASE WHEN ${v} IS NULL THEN -1 ELSE COALESCE((${params.add(positions, "int4[]")})[array_position(${params.add(values, "float8[]")}, ${v})], -2) END)`,
    scan: true,
  };
}

interface ModelSql {
  /** Named SQL expressions over the table row `t`, in order. */
  rowColumns: Array<[string, string]>;
  /** Factors whose unlisted values must be searched for in every row. */
  scanFactors: Array<{ column: string; label: string; levels: readonly string[] }>;
  /** SQL boolean over the row columns: a complete case. */
  complete: string;
  /** SQL boolean over the row columns: some factor value is not among the job's levels. */
  badLevel: string;
  /** Design columns as SQL over the row columns. */
  design: string[];
  /** Summed offsets over the row columns, or undefined. */
  offset?: string;
  hasWeights: boolean;
  /** A `cbind(successes, failures)` response: its trials are the row column `trials`. */
  hasTrials: boolean;
  /** Design columns that multiply numeric variables (the ones that can be non-finite). */
  numericDesign: number[];
}

function modelSql(schema: SqlSchema, c: GlmComputation, formula: ParsedFormula, params: SqlParams): ModelSql & { p: number; names: string[] } {
  const table = schema.table;
  for (const name of formulaColumns(formula)) schema.column(name);
  const design = designColumns(formula, { levels: c.levels, columns: columnTypes(table), dataset: table.name });
  const rowColumns: Array<[string, string]> = [];
  const scanFactors: ModelSql["scanFactors"] = [];
  const complete: string[] = [];
  const codes: string[] = [];
  const variableRef: string[] = [];
  formula.variables.forEach((variable, i) => {
    const levels = design.variables[i].levels;
    const name = `v${i}`;
    variableRef.push(name);
    if (variable.kind === "expression") {
      rowColumns.push([name, arithSql(schema, variable.expr, params)]);
      complete.push(`${name} IS NOT NULL`);
    } else if (levels === undefined) {
      if (schema.column(variable.column).kind === "categorical") throw new BadInput(`column "${variable.column}" is categorical`);
      rowColumns.push([name, schema.numberValue(variable.column)]);
      complete.push(`${name} IS NOT NULL`);
    } else {
      const f = factorSql(schema, variable.column, variable.label, levels, params);
      rowColumns.push([name, f.code]);
      if (f.scan) scanFactors.push({ column: variable.column, label: variable.label, levels });
      complete.push(`${name} <> -1`);
      codes.push(name);
    }
  });
  // the response, as glm-design.ts evaluateResponse
  const response = formula.response;
  if (response.kind === "expression") {
    rowColumns.push(["y", arithSql(schema, response.expr, params)]);
  } else {
    const column = schema.column(response.column);
    if (column.kind !== "categorical" && response.kind === "column") {
      rowColumns.push(["y", schema.numberValue(response.column)]);
    } else {
      if (c.family !== "binomial") throw new BadInput(`the response ${response.label} is categorical; only a binomial model takes a factor response`);
      const levels = c.levels[response.column] ?? (column.kind === "boolean" ? ["FALSE", "TRUE"] : undefined);
      if (!levels) throw new BadInput(`the job gives no levels for the categorical response "${response.column}"`);
      const f = factorSql(schema, response.column, response.label, levels, params);
      if (f.scan) scanFactors.push({ column: response.column, label: response.label, levels });
      rowColumns.push(["yc", f.code]);
      rowColumns.push(["y", `(CASE WHEN ${f.code} = -1 THEN NULL WHEN ${f.code} = 0 THEN 0::float8 ELSE 1::float8 END)`]);
      codes.push("yc");
    }
  }
  complete.push("y IS NOT NULL");
  if (c.weights !== undefined) {
    if (schema.column(c.weights).kind !== "numeric") throw new BadInput(`the weights column "${c.weights}" must be numeric`);
    rowColumns.push(["w", schema.numberValue(c.weights)]);
    complete.push("w IS NOT NULL");
  }
  const trials = binomialTrials(formula);
  if (trials) {
    if (c.family !== "binomial") throw new BadInput(`${response.label} is a binomial response (successes, failures); fit it with family binomial`);
    rowColumns.push(["trials", arithSql(schema, trials, params)]);
    complete.push("trials IS NOT NULL");
  }
  const offsets = formula.offsets.map((o, i) => {
    rowColumns.push([`o${i}`, arithSql(schema, o.expr, params)]);
    complete.push(`o${i} IS NOT NULL`);
    return `o${i}`;
  });
  // a design column: the product of its numeric variables, or 0 unless every level indicator holds
  const numericDesign: number[] = [];
  const designSql = design.columns.map((col, j) => {
    const numeric = col.factors.filter((f) => f.level === undefined).map((f) => variableRef[f.variable]);
    const indicators = col.factors.filter((f) => f.level !== undefined).map((f) => `${variableRef[f.variable]} = ${f.level! | 0}`);
    if (numeric.length > 0) numericDesign.push(j);
    const product = numeric.length > 0 ? numeric.join(" * ") : "1::float8";
    const flushed = numeric.length > 0 ? `(CASE WHEN abs(${product}) < ${k(DESIGN_FLUSH)} THEN 0::float8 ELSE ${product} END)` : product;
    return indicators.length > 0 ? `(CASE WHEN ${indicators.join(" AND ")} THEN ${flushed} ELSE 0::float8 END)` : `(${flushed})`;
  });
  return {
    rowColumns,
    scanFactors,
    complete: complete.join(" AND "),
    badLevel: codes.length > 0 ? codes.map((n) => `${n} = -2`).join(" OR ") : "false",
    design: designSql,
    offset: offsets.length > 0 ? offsets.join(" + ") : undefined,
    hasWeights: c.weights !== undefined,
    hasTrials: trials !== undefined,
    numericDesign,
    p: design.columns.length,
    names: design.columns.map((col) => col.name),
  };
}

/**
 * The model-isolation check of compute/model-disclosure.ts, in the database: column support and
 * the largest leverage need the information matrix first, so they are a second query over the
 * same stages, with I⁺ (as D L⁻ᵀ L⁻¹ D over the kept columns) and the support thresholds as
 * parameters. Refusals read exactly as the kernels' (checkModelIsolation words them).
 */
async function checkIsolationSql(
  ctx: SqlContext,
  o: { scored: string; params: SqlParams; p: number; names: string[]; information: Float64Array; largest: number[]; w: string; isolation: { limits: ModelLimits; station?: string } },
): Promise<void> {
  const { p, params } = o;
  const f = choleskyWithAliasing(unpackUpper(o.information, p), p);
  const kept = Array.from({ length: p }, (_, i) => !f.aliased.includes(i));
  // L⁻¹ over the kept columns (zero elsewhere), then M = D L⁻ᵀ L⁻¹ D, so that h = W xᵀ M x.
  const inv = new Float64Array(p * p);
  for (let c = 0; c < p; c++) {
    if (!kept[c]) continue;
    for (let i = c; i < p; i++) {
      if (!kept[i]) continue;
      let s = i === c ? 1 : 0;
      for (let j = c; j < i; j++) if (kept[j]) s -= f.l[i * p + j] * inv[j * p + c];
      inv[i * p + c] = s / f.l[i * p + i];
    }
  }
  const m: number[] = [];
  for (let i = 0; i < p; i++) {
    for (let j = i; j < p; j++) {
      let s = 0;
      for (let k = 0; k < p; k++) s += inv[k * p + i] * inv[k * p + j];
      m.push((i === j ? 1 : 2) * s * f.scale[i] * f.scale[j]);
    }
  }
  const terms: string[] = [];
  const mParam = params.add(m.map((v) => (Number.isFinite(v) ? v : 0)), "float8[]");
  let k = 0;
  for (let i = 0; i < p; i++) for (let j = i; j < p; j++) terms.push(`(${mParam})[${++k}] * x${i} * x${j}`);
  const support = o.largest.map((largest, j) =>
    largest > 0 ? `count(*) FILTER (WHERE abs(x${j}) > ${params.number(NONZERO_RELATIVE * largest)})` : `0::int8`,
  );
  const text =
    `SELECT COALESCE(max(working * (${terms.join(" + ") || "0"})), 0) AS h${support.map((sql, j) => `, ${sql} AS s${j}`).join("")} ` +
    `FROM (${o.scored}) s WHERE complete AND ${o.w} <> 0 AND working > 0`;
  const [row] = await ctx.run(text, params.values);
  const supports = Array.from({ length: p }, (_, j) => Number(row?.[`s${j}`] ?? 0));
  const h = Number(row?.h ?? 0);
  judgeModelIsolation({ names: o.names, support: supports, maxLeverage: () => h }, o.isolation.limits, o.isolation.station);
}

export async function glmSql(
  ctx: SqlContext,
  job: { where?: Expr; computation: GlmComputation; isolation?: { limits: ModelLimits; station?: string } },
): Promise<{ contribution: Float64Array; rowsSelected: number }> {
  const c = job.computation;
  rowFamily(c.family);
  rowLink(c.link);
  const family = FAMILY_SQL[c.family];
  const link = LINK_SQL[c.link];
  const formula = parseFormula(c.formula);
  const params = ctx.params();
  const m = modelSql(ctx.schema, c, formula, params);
  const { p } = m;
  const beta = c.beta;
  const start = beta.length === 0 && p > 0;
  if (!start && beta.length !== p) {
    throw new BadInput(`the model has ${p} design columns here (${m.names.join(", ")}) but the job sends ${beta.length} coefficients`);
  }
  for (const b of beta) if (typeof b !== "number" || !Number.isFinite(b)) throw new BadInput("the job's coefficients must be finite numbers");

  // Unlisted values of numeric and boolean factors are searched for in every row, as the kernel does.
  if (m.scanFactors.length > 0) {
    const scanParams = ctx.params();
    const codes = m.scanFactors.map((f) => factorSql(ctx.schema, f.column, f.label, f.levels, scanParams).code);
    const found = await ctx.run(`SELECT EXISTS (SELECT 1 FROM ${ctx.schema.relation} t WHERE ${codes.map((code) => `${code} = -2`).join(" OR ")}) AS bad`, scanParams.values);
    if (found[0]?.bad === true) throw new BadInput("a factor in the model has a value at this station that is not among the job's levels");
  }

  const where = job.where ? ` WHERE (${whereSql(ctx.schema, job.where, params)}) IS TRUE` : "";
  // a cbind response weighs each row by its trials, as the kernel's glm-design.ts
  const prior = m.hasWeights ? "w" : "1::float8";
  const w = m.hasTrials ? `(${prior} * trials)` : prior;
  // binomial()$aic's log C(m, k), which the per-row loglik leaves out (glm-family.ts binomialCoefficientTerm)
  const trialsOf = m.hasTrials ? "trials" : "w";
  const choose =
    c.family === "binomial" && (m.hasWeights || m.hasTrials)
      ? ` + (CASE WHEN ${trialsOf} > 0 AND round(${trialsOf} * y) > 0 AND round(${trialsOf} * y) < round(${trialsOf}) THEN ${w} / ${trialsOf} * ` +
        `(${logGammaPlusOne(`round(${trialsOf})`, params)} - ${logGammaPlusOne(`round(${trialsOf} * y)`, params)} - ${logGammaPlusOne(`(round(${trialsOf}) - round(${trialsOf} * y))`, params)}) ELSE 0::float8 END)`
      : "";
  const x = (j: number) => `x${j}`;
  const rows = `SELECT ${m.rowColumns.map(([n, e]) => `${e} AS ${n}`).join(", ")} FROM ${ctx.schema.relation} t${where} OFFSET 0`;
  const designed =
    `SELECT s.*, (${m.complete}) AS complete, (${m.badLevel}) AS bad_level, ${m.offset ?? "0::float8"} AS off` +
    `${m.design.map((d, j) => `, ${d} AS ${x(j)}`).join("")} FROM (${rows}) s OFFSET 0`;
  let stages: string;
  if (start) {
    const withMu = `SELECT s.*, (CASE WHEN complete THEN ${family.startMu("y", w)} END) AS mu FROM (${designed}) s OFFSET 0`;
    const withEta = `SELECT s.*, ${link.linkfun("mu")} AS eta FROM (${withMu}) s OFFSET 0`;
    stages = `SELECT s.*, ${link.muEta("eta")} AS mueta FROM (${withEta}) s OFFSET 0`;
  } else {
    const terms = ["off", ...beta.map((_, j) => `${x(j)} * ${params.number(beta[j])}`)];
    const withEta = `SELECT s.*, (CASE WHEN complete THEN ${terms.join(" + ")} END) AS eta FROM (${designed}) s OFFSET 0`;
    stages = `SELECT s.*, ${link.linkinv("eta")} AS mu, ${link.muEta("eta")} AS mueta FROM (${withEta}) s OFFSET 0`;
  }
  const variance = family.variance("mu");
  const u = start ? `working * (eta - off + (y - mu) / mueta)` : `${w} * (y - mu) * mueta / ${variance}`;
  const perRow =
    `SELECT s.*, ${w} * mueta * mueta / ${variance} AS working, ${family.devianceResidual("y", "mu", w)} AS dev, ` +
    `${family.loglik("y", "mu", w, params)}${choose} AS ll, ${family.saturated("y", w)} AS sat, ${w} * (y - mu) * (y - mu) / ${variance} AS pearson, ` +
    `${family.atBoundary("mu")} AS boundary FROM (${stages}) s OFFSET 0`;
  // W·xᵢ once per row and column, as the kernel's inner loop does: p multiplications per row
  // instead of p(p+1)/2, and the same rounding as glmContribution's (W·xᵢ)·xⱼ.
  const scored = `SELECT s.*, ${u} AS u${Array.from({ length: p }, (_, i) => `, working * ${x(i)} AS wx${i}`).join("")} FROM (${perRow}) s OFFSET 0`;
  const header = [
    `count(*) FILTER (WHERE ${w} <> 0)::float8`,
    `COALESCE(sum(${w}), 0)`,
    `COALESCE(sum(${w} * y), 0)`,
    `COALESCE(sum(sat), 0)`,
    `COALESCE(sum(dev), 0)`,
    `COALESCE(sum(ll), 0)`,
    `COALESCE(sum(pearson), 0)`,
    `count(*) FILTER (WHERE ${w} <> 0 AND boundary)::float8`,
  ];
  const score = Array.from({ length: p }, (_, i) => `COALESCE(sum(u * ${x(i)}), 0)`);
  const information: string[] = [];
  for (let i = 0; i < p; i++) for (let j = i; j < p; j++) information.push(`COALESCE(sum(wx${i} * ${x(j)}), 0)`);
  const badDesign = m.numericDesign.length > 0 ? m.numericDesign.map((j) => notFinite(x(j))).join(" OR ") : "false";
  const text =
    `SELECT complete, count(*) AS rows, ` +
    `count(*) FILTER (WHERE bad_level) AS bad_level, ` +
    `count(*) FILTER (WHERE ${family.badResponse("y")}) AS bad_response, ` +
    `count(*) FILTER (WHERE ${m.hasWeights ? `w < 0 OR ${notFinite("w")}` : "false"}) AS bad_weight, ` +
    `count(*) FILTER (WHERE ${m.hasTrials ? `trials < 0 OR ${notFinite("trials")}` : "false"}) AS bad_trials, ` +
    `count(*) FILTER (WHERE ${notFinite("off")}) AS bad_offset, ` +
    `count(*) FILTER (WHERE ${badDesign}) AS bad_design, ` +
    `ARRAY[${Array.from({ length: p }, (_, j) => `COALESCE(max(abs(${x(j)})) FILTER (WHERE ${w} <> 0 AND working > 0), 0)`).join(", ") || "0"}]::float8[] AS largest, ` +
    `ARRAY[${[...header, ...score, ...information].join(", ")}]::float8[] AS v ` +
    `FROM (${scored}) s GROUP BY complete`;
  if (text.length > MAX_SQL_LENGTH) throw new BadInput("the model's formula is too complex to compute in the database");
  const result = await ctx.run(text, params.values);
  let rowsSelected = 0;
  let out = new Float64Array(GLM_HEADER_LENGTH + p + (p * (p + 1)) / 2);
  let largest: number[] = [];
  for (const r of result) {
    rowsSelected += Number(r.rows);
    if (r.complete !== true) continue;
    if (Number(r.bad_level) > 0) throw new BadInput("a factor in the model holds a level the station did not have when it started (the table changed); restart the station");
    // As the kernels' errors: the column and the kind of problem, never a value or a count.
    if (Number(r.bad_weight) > 0) throw new BadInput(`prior weights must be finite and non-negative; the weights column "${c.weights}" has a value outside that at this station`);
    if (Number(r.bad_trials) > 0) throw new BadInput(`the counts of ${formula.response.label} must be finite and non-negative`);
    if (Number(r.bad_offset) > 0) throw new BadInput(`the offset ${formula.offsets.map((f) => f.label).join(" + ")} is not finite (infinite or undefined) in rows at this station`);
    if (Number(r.bad_design) > 0) throw new BadInput("a design column is not finite (infinite or undefined) in rows at this station");
    if (Number(r.bad_response) > 0) {
      throw new BadInput(
        c.family === "binomial"
          ? `a binomial response must be 0/1, a boolean, or a proportion in [0, 1] (with the trials as weights); the response ${formula.response.label} has a value outside that at this station`
          : `a poisson response cannot be negative; the response ${formula.response.label} has a negative value at this station`,
      );
    }
    out = Float64Array.from(r.v as number[]);
    largest = (r.largest as number[]).map(Number);
  }
  if (job.isolation && p > 0 && out[0] > 0) {
    await checkIsolationSql(ctx, { scored, params, p, names: m.names, information: out.subarray(GLM_HEADER_LENGTH + p), largest, w, isolation: job.isolation });
  }
  return { contribution: out, rowsSelected };
}

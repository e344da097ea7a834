/**
 * Conversion between the TypeScript types both sides use and the proto messages of
 * werkplaats.v1 as @grpc/proto-loader represents them (camelCase fields, `oneofs: true`).
 * Incoming messages are untrusted: every conversion from the wire validates shape and
 * throws `BadInput` naming what is wrong, so a malformed message never reaches a kernel.
 */
import { BadInput, FormulaError } from "./errors.js";
import type { CompareOp, Expr, Literal } from "./expression.js";
import { parseFormula } from "./formula.js";
import { type Computation, type FamilyName, type GroupBy, type IndicatorSpec, type JobSpec, type LinkName, cellCount } from "./job.js";

/** Most edges of one histogram, bins of one quantile job, indicators of one set. */
export const MAX_HISTOGRAM_EDGES = 10_001;
export const MAX_QUANTILE_BINS = 10_000;
/** Most probabilities one quantile job may ask for. */
export const MAX_QUANTILE_PROBABILITIES = 99;
export const MAX_INDICATORS = 1_000;
/**
 * Most expression nodes over all the filters of one indicator set: each node costs the station a
 * pass over its rows, so a set's cost is bounded as one where-expression's is (filter.ts).
 */
export const MAX_INDICATOR_NODES = 20_000;
/**
 * Most numbers a histogram, quantile or indicator job may ask a station for: bounds the vector a
 * hostile or mistaken job makes a station allocate, mask and send (16 bytes each when masked).
 */
export const MAX_DESCRIPTIVE_VALUES = 1_000_000;

/** Deep enough for any expression a person writes; bounds recursion on hostile input. */
export const MAX_EXPR_DEPTH = 64;

/**
 * Bounds on the parts of a job a station decodes, far above what analyses use, so that a hostile or
 * mistaken message cannot make a station parse, allocate or compute without limit. (Policy limits,
 * such as at most 40 levels per group-by, are stricter and come later, with reasons.)
 */
/** Values of one `in` list (a few thousand neighbourhood codes is the largest honest use). */
export const MAX_IN_VALUES = 10_000;
/** Levels of one group-by or one model factor, and the length of each level's text. */
export const MAX_LEVELS = 10_000;
export const MAX_LEVEL_LENGTH = 1_024;
/** Group-by columns of one computation. */
export const MAX_GROUP_BY = 16;
/** Characters of a model formula. */
export const MAX_FORMULA_LENGTH = 10_000;
/**
 * Parameters of a model: the information matrix a station computes, masks and sends has
 * p(p + 1)/2 entries (2·10^6 at this bound), and its design matrix p columns per row.
 */
export const MAX_GLM_PARAMETERS = 2_000;
/** Columns a model's `levels` map may describe. */
export const MAX_GLM_LEVEL_COLUMNS = 1_000;

type WireLiteral = { value?: string; number?: number; text?: string; flag?: boolean };
type WireExpr = Record<string, unknown> & { node?: string };

export function literalToWire(l: Literal): WireLiteral {
  switch (l.kind) {
    case "number":
      return { number: l.value };
    case "string":
      return { text: l.value };
    case "bool":
      return { flag: l.value };
  }
}

export function literalFromWire(w: unknown): Literal {
  const m = asObject(w, "literal");
  switch (m.value) {
    case "number":
      return { kind: "number", value: asNumber(m.number, "literal.number") };
    case "text":
      return { kind: "string", value: asString(m.text, "literal.text") };
    case "flag":
      return { kind: "bool", value: Boolean(m.flag) };
    default:
      throw new BadInput("literal has no value");
  }
}

export function exprToWire(e: Expr): WireExpr {
  switch (e.kind) {
    case "column":
      return { column: e.name };
    case "compare":
      return { compare: { column: e.column, op: e.op, value: literalToWire(e.value) } };
    case "and":
      return { all: { args: e.args.map(exprToWire) } };
    case "or":
      return { any: { args: e.args.map(exprToWire) } };
    case "not":
      return { negate: exprToWire(e.arg) };
    case "in":
      return { member: { column: e.column, values: e.values.map(literalToWire) } };
    case "missing":
      return { missing: e.column };
  }
}

const COMPARE_OPS: readonly string[] = ["==", "!=", "<", "<=", ">", ">="];

export function exprFromWire(w: unknown, depth = 0): Expr {
  if (depth > MAX_EXPR_DEPTH) throw new BadInput(`where-expression is nested deeper than ${MAX_EXPR_DEPTH} levels`);
  const m = asObject(w, "expression");
  switch (m.node) {
    case "column":
      return { kind: "column", name: asName(m.column, "expression.column") };
    case "compare": {
      const c = asObject(m.compare, "comparison");
      const op = asString(c.op, "comparison.op");
      if (!COMPARE_OPS.includes(op)) throw new BadInput(`unknown comparison operator "${op}"`);
      return { kind: "compare", column: asName(c.column, "comparison.column"), op: op as CompareOp, value: literalFromWire(c.value) };
    }
    case "all":
    case "any": {
      const list = asObject(m[m.node], m.node);
      const args = asArray(list.args, `${m.node}.args`).map((a) => exprFromWire(a, depth + 1));
      if (args.length === 0) throw new BadInput(`"${m.node === "all" ? "and" : "or"}" needs at least one operand`);
      return { kind: m.node === "all" ? "and" : "or", args };
    }
    case "negate":
      return { kind: "not", arg: exprFromWire(m.negate, depth + 1) };
    case "member": {
      const mem = asObject(m.member, "membership");
      const list = asArray(mem.values, "membership.values");
      if (list.length > MAX_IN_VALUES) throw new BadInput(`an "in" list may have at most ${MAX_IN_VALUES} values, got ${list.length}`);
      const values = list.map(literalFromWire);
      if (values.length === 0) throw new BadInput("an \"in\" list needs at least one value");
      return { kind: "in", column: asName(mem.column, "membership.column"), values };
    }
    case "missing":
      return { kind: "missing", column: asName(m.missing, "expression.missing") };
    default:
      throw new BadInput("expression node has no known kind");
  }
}

function groupByToWire(g: GroupBy): { column: string; levels: string[]; missing?: boolean } {
  return { column: g.column, levels: g.levels, ...(g.missing ? { missing: true } : {}) };
}

function groupByFromWire(w: unknown): GroupBy {
  const m = asObject(w, "group-by");
  const column = asName(m.column, "groupBy.column");
  const levels = levelsFromWire(m.levels, `the levels of group-by "${column}"`);
  if (m.missing !== undefined && m.missing !== null && typeof m.missing !== "boolean") throw new BadInput(`groupBy.missing of "${column}" must be true or false`);
  // Absent and false are one layout, so they must give one job digest.
  return m.missing === true ? { column, levels, missing: true } : { column, levels };
}

function levelsFromWire(w: unknown, what: string): string[] {
  const list = asArray(w, what);
  if (list.length > MAX_LEVELS) throw new BadInput(`${what} number ${list.length}, more than ${MAX_LEVELS}`);
  return list.map((l) => {
    const level = asString(l, "level");
    if (level.length > MAX_LEVEL_LENGTH) throw new BadInput(`${what} include one longer than ${MAX_LEVEL_LENGTH} characters`);
    return level;
  });
}

function groupBysFromWire(w: unknown, what: string): GroupBy[] {
  const list = asArray(w, what);
  if (list.length > MAX_GROUP_BY) throw new BadInput(`${what} names ${list.length} columns, more than ${MAX_GROUP_BY}`);
  const by = list.map(groupByFromWire);
  const seen = new Set<string>();
  for (const g of by) {
    if (seen.has(g.column)) throw new BadInput(`${what} names the column "${g.column}" twice`);
    seen.add(g.column);
    if (g.levels.length === 0) throw new BadInput(`group-by column "${g.column}" has no levels`);
  }
  return by;
}

function exprNodes(e: Expr): number {
  switch (e.kind) {
    case "and":
    case "or":
      return 1 + e.args.reduce((n, a) => n + exprNodes(a), 0);
    case "not":
      return 1 + exprNodes(e.arg);
    default:
      return 1;
  }
}

function checkCells(values: number, what: string): void {
  if (!(values <= MAX_DESCRIPTIVE_VALUES)) throw new BadInput(`${what} would need ${values} numbers, more than the ${MAX_DESCRIPTIVE_VALUES} a job may ask for`);
}

export function jobToWire(job: JobSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { dataset: job.dataset };
  if (job.where) out.where = exprToWire(job.where);
  const c = job.computation;
  switch (c.kind) {
    case "count":
      out.count = { by: c.by.map(groupByToWire) };
      break;
    case "moments":
      out.moments = { column: c.column, by: c.by.map(groupByToWire), shift: c.shift ?? 0 };
      break;
    case "histogram":
      out.histogram = { column: c.column, by: c.by.map(groupByToWire), edges: c.edges };
      break;
    case "quantile":
      out.quantile = { column: c.column, by: c.by.map(groupByToWire), lower: c.lower, upper: c.upper, bins: c.bins, probabilities: c.probabilities ?? [] };
      break;
    case "indicators":
      out.indicators = {
        indicators: c.indicators.map((i) => ({
          numerator: exprToWire(i.numerator),
          ...(i.denominator ? { denominator: exprToWire(i.denominator) } : {}),
          by: i.by.map(groupByToWire),
        })),
      };
      break;
    case "glm":
      out.glm = glmToWire(c);
      break;
    case "glm_evaluate":
      out.glmEvaluate = { model: glmToWire(c), bins: c.bins, riskCutpoints: c.riskCutpoints };
      break;
    default:
      throw new BadInput(`computation "${(c as { kind: string }).kind}" has no wire form`);
  }
  return out;
}

const FAMILIES: readonly string[] = ["binomial", "poisson", "gaussian"];
const LINKS: readonly string[] = ["logit", "log", "identity"];

export function jobFromWire(w: unknown): JobSpec {
  const m = asObject(w, "job");
  const dataset = asName(m.dataset, "job.dataset");
  const where = m.where === undefined || m.where === null ? undefined : exprFromWire(m.where);
  let computation: Computation;
  switch (m.computation) {
    case "count": {
      const c = asObject(m.count, "count");
      const by = groupBysFromWire(c.by, "count.by");
      checkCells(cellCount(by), "the count");
      computation = { kind: "count", by };
      break;
    }
    case "moments": {
      const c = asObject(m.moments, "moments");
      const shift = c.shift === undefined ? 0 : asNumber(c.shift, "moments.shift");
      const by = groupBysFromWire(c.by, "moments.by");
      checkCells(3 * cellCount(by), "the moments");
      computation = { kind: "moments", column: asName(c.column, "moments.column"), by, ...(shift !== 0 ? { shift } : {}) };
      break;
    }
    case "histogram": {
      const c = asObject(m.histogram, "histogram");
      const edges = asArray(c.edges, "histogram.edges").map((x) => asNumber(x, "histogram edge"));
      if (edges.length < 2) throw new BadInput("a histogram needs at least two edges");
      if (edges.length > MAX_HISTOGRAM_EDGES) throw new BadInput(`a histogram may have at most ${MAX_HISTOGRAM_EDGES} edges`);
      for (let k = 1; k < edges.length; k++) {
        if (!(edges[k] > edges[k - 1])) throw new BadInput(`histogram edges must be strictly increasing (edge ${k} is ${edges[k]}, after ${edges[k - 1]})`);
      }
      const by = groupBysFromWire(c.by, "histogram.by");
      checkCells(cellCount(by) * (edges.length + 2), "the histogram");
      computation = { kind: "histogram", column: asName(c.column, "histogram.column"), edges, by };
      break;
    }
    case "quantile": {
      const c = asObject(m.quantile, "quantile");
      const lower = asNumber(c.lower, "quantile.lower");
      const upper = asNumber(c.upper, "quantile.upper");
      if (!(upper > lower)) throw new BadInput(`the quantile range needs lower < upper (got ${lower} and ${upper})`);
      const bins = asNumber(c.bins, "quantile.bins");
      if (!Number.isInteger(bins) || bins < 1 || bins > MAX_QUANTILE_BINS) throw new BadInput(`quantile.bins must be a whole number in 1..${MAX_QUANTILE_BINS}`);
      if (!((upper - lower) / bins > 0)) throw new BadInput("the quantile bins are too narrow to tell apart");
      const by = groupBysFromWire(c.by, "quantile.by");
      checkCells(cellCount(by) * (bins + 3), "the quantile histogram");
      const probabilities = boundedArray(c.probabilities ?? [], "quantile.probabilities", MAX_QUANTILE_PROBABILITIES).map((x) => asNumber(x, "quantile probability"));
      if (probabilities.some((p) => !(p > 0 && p < 1))) throw new BadInput("quantile probabilities must lie strictly between 0 and 1");
      computation = { kind: "quantile", column: asName(c.column, "quantile.column"), lower, upper, bins, by, ...(probabilities.length > 0 ? { probabilities } : {}) };
      break;
    }
    case "indicators": {
      const c = asObject(m.indicators, "indicators");
      const list = asArray(c.indicators, "indicators.indicators");
      if (list.length === 0) throw new BadInput("an indicator set needs at least one indicator");
      if (list.length > MAX_INDICATORS) throw new BadInput(`an indicator set may have at most ${MAX_INDICATORS} indicators`);
      const indicators = list.map((w, i): IndicatorSpec => {
        const ind = asObject(w, `indicator ${i + 1}`);
        if (ind.numerator === undefined || ind.numerator === null) throw new BadInput(`indicator ${i + 1} has no numerator`);
        const numerator = exprFromWire(ind.numerator);
        const denominator = ind.denominator === undefined || ind.denominator === null ? undefined : exprFromWire(ind.denominator);
        const by = groupBysFromWire(ind.by, `indicator ${i + 1} by`);
        return denominator ? { numerator, denominator, by } : { numerator, by };
      });
      checkCells(indicators.reduce((n, i) => n + 2 * cellCount(i.by), 0), "the indicator set");
      const nodes = indicators.reduce((n, i) => n + exprNodes(i.numerator) + (i.denominator ? exprNodes(i.denominator) : 0), 0);
      if (nodes > MAX_INDICATOR_NODES) throw new BadInput(`the indicator set's filters have ${nodes} conditions in all, more than the ${MAX_INDICATOR_NODES} a job may hold`);
      computation = { kind: "indicators", indicators };
      break;
    }
    case "glm":
      computation = { kind: "glm", ...glmFromWire(m.glm) };
      break;
    case "glmEvaluate": {
      const e = asObject(m.glmEvaluate, "glmEvaluate");
      const bins = asNumber(e.bins, "glmEvaluate.bins");
      computation = {
        kind: "glm_evaluate",
        ...glmFromWire(e.model),
        bins,
        riskCutpoints: boundedArray(e.riskCutpoints, "glmEvaluate.riskCutpoints", MAX_QUANTILE_BINS).map((x) => asNumber(x, "risk cut-point")),
      };
      break;
    }
    default:
      throw new BadInput("job names no known computation");
  }
  return where ? { dataset, where, computation } : { dataset, computation };
}

type GlmFields = Omit<Extract<Computation, { kind: "glm" }>, "kind">;

function glmToWire(c: GlmFields): Record<string, unknown> {
  return {
    formula: c.formula,
    family: c.family,
    link: c.link,
    levels: Object.fromEntries(Object.entries(c.levels).map(([k, v]) => [k, { values: v }])),
    beta: c.beta,
    weights: c.weights ?? "",
  };
}

function glmFromWire(w: unknown): GlmFields {
  const c = asObject(w, "glm");
  const family = asString(c.family, "glm.family");
  const link = asString(c.link, "glm.link");
  if (!FAMILIES.includes(family)) throw new BadInput(`unknown GLM family "${family}"`);
  if (!LINKS.includes(link)) throw new BadInput(`unknown GLM link "${link}"`);
  const levels: Record<string, string[]> = {};
  const entries = Object.entries(asObject(c.levels ?? {}, "glm.levels"));
  if (entries.length > MAX_GLM_LEVEL_COLUMNS) throw new BadInput(`glm.levels describes ${entries.length} columns, more than ${MAX_GLM_LEVEL_COLUMNS}`);
  for (const [k, v] of entries) {
    levels[asName(k, "glm.levels column")] = levelsFromWire(asObject(v, "glm.levels entry").values, `the levels of "${k}"`);
  }
  const weights = c.weights === undefined || c.weights === "" ? undefined : asName(c.weights, "glm.weights");
  const formula = asString(c.formula, "glm.formula");
  if (formula.length > MAX_FORMULA_LENGTH) throw new BadInput(`glm.formula is longer than ${MAX_FORMULA_LENGTH} characters`);
  const beta = boundedArray(c.beta, "glm.beta", MAX_GLM_PARAMETERS).map((b) => asNumber(b, "glm.beta"));
  checkModelSize(formula, levels);
  return {
    formula,
    family: family as FamilyName,
    link: link as LinkName,
    levels,
    beta,
    ...(weights ? { weights } : {}),
  };
}

/**
 * Refuses a model whose design could have more than MAX_GLM_PARAMETERS columns, before any station
 * builds it: an upper bound (every factor at its full number of levels) from the formula and the
 * job's levels alone. Factor interactions multiply: factor(a):factor(b):factor(c) with 40 levels
 * each is 64 000 columns.
 */
function checkModelSize(formula: string, levels: Readonly<Record<string, readonly string[]>>): void {
  const parsed = parseFormula(formula);
  let bound = parsed.intercept ? 1 : 0;
  for (const term of parsed.terms) {
    let width = 1;
    for (const k of term.variables) {
      const v = parsed.variables[k];
      if (v.kind !== "expression") width *= Math.max(1, levels[v.column]?.length ?? 1);
    }
    bound += width;
    if (bound > MAX_GLM_PARAMETERS) {
      throw new FormulaError(`the model could have more than ${MAX_GLM_PARAMETERS} parameters (its terms and factor levels multiply out beyond that)`);
    }
  }
}

/**
 * A canonical byte string of a job (sorted keys, no whitespace). Its digest binds a
 * secure-aggregation job to exactly one specification, so a coordinator cannot show
 * different stations different jobs.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object" && !(value instanceof Uint8Array)) {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

function asObject(v: unknown, what: string): Record<string, unknown> & { node?: string; value?: string; computation?: string } {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new BadInput(`${what} is missing or not a message`);
  return v as Record<string, unknown>;
}

function boundedArray(v: unknown, what: string, max: number): unknown[] {
  const list = asArray(v, what);
  if (list.length > max) throw new BadInput(`${what} has ${list.length} entries, more than ${max}`);
  return list;
}

function asArray(v: unknown, what: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new BadInput(`${what} is not a list`);
  return v;
}

function asString(v: unknown, what: string): string {
  if (typeof v !== "string") throw new BadInput(`${what} is not a string`);
  return v;
}

function asNumber(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new BadInput(`${what} is not a finite number`);
  return v;
}

/** Column and dataset names: bounded in length so a hostile message cannot blow up logs. */
function asName(v: unknown, what: string): string {
  const s = asString(v, what);
  if (s.length === 0) throw new BadInput(`${what} is empty`);
  if (s.length > 256) throw new BadInput(`${what} is longer than 256 characters`);
  return s;
}

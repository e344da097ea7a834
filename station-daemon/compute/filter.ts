/**
 * Interprets a where-expression over a station's table: which rows a job may use.
 *
 * Missing values follow SQL's three-valued logic. A comparison, `in` or boolean-column test on a
 * missing value is *unknown*; `not` leaves unknown unknown; `and` is false if any operand is
 * false, else unknown if any is unknown; `or` is true if any operand is true, else unknown if any
 * is unknown. A row is kept only when the whole expression is true. So `age > 65` and
 * `not (age > 65)` both leave out rows with a missing age, as R's subset() and SQL's WHERE do;
 * `age is missing` is the one test that selects them.
 *
 * Types are checked before any row is looked at: numeric columns compare with numbers (all six
 * operators), boolean columns with true/false (== and != only; `x == 1` is refused rather than
 * guessed), categorical columns with strings (==, != and `in`). A string that is not among a
 * categorical column's levels is allowed and matches no row: a level one station lacks is not
 * an error for the federation. A bare column as a condition must be boolean.
 *
 * The AST arrives over the network, so it is checked as untrusted: shape, node count and depth
 * are bounded before evaluation, and evaluation recursion is bounded by that depth.
 */
import type { CompareOp, Expr, Literal } from "../../common/expression.js";
import { BadInput, UnknownColumn } from "../../common/errors.js";
import type { Column, Table } from "../data/table.js";

/** Deepest nesting of and/or/not the station evaluates (the SDK's parser allows 64 parentheses). */
export const MAX_FILTER_DEPTH = 256;
/** Most nodes (conditions and connectives) in one expression; each costs a pass over the rows. */
export const MAX_FILTER_NODES = 4096;

const FALSE = 0;
const TRUE = 1;
const UNKNOWN = 2;

const OPS: ReadonlySet<string> = new Set<CompareOp>(["==", "!=", "<", "<=", ">", ">="]);

function columnOf(table: Table, name: unknown): Column {
  if (typeof name !== "string") throw new BadInput("a where-expression names a column without a string name");
  const column = table.columns.get(name);
  if (column === undefined) throw new UnknownColumn(name, table.name, [...table.columns.keys()]);
  return column;
}

function describeLiteral(value: Literal): string {
  return value.kind === "string" ? `the string ${JSON.stringify(value.value)}` :
    value.kind === "number" ? `the number ${value.value}` : `the value ${value.value}`;
}

function checkLiteral(value: unknown): asserts value is Literal {
  const v = value as Literal | undefined;
  const ok = v !== null && typeof v === "object" &&
    ((v.kind === "number" && typeof v.value === "number" && Number.isFinite(v.value)) ||
      (v.kind === "string" && typeof v.value === "string") ||
      (v.kind === "bool" && typeof v.value === "boolean"));
  if (!ok) throw new BadInput("a where-expression holds a malformed literal (numbers must be finite)");
}

/** Checks that `value` may be compared with `column` by `op`; throws BadInput naming both. */
function checkComparable(column: Column, op: CompareOp, value: Literal, context: string): void {
  const ordering = op !== "==" && op !== "!=";
  switch (column.kind) {
    case "numeric":
      if (value.kind !== "number") {
        throw new BadInput(`column "${column.name}" is numeric; ${context} it with a number, not ${describeLiteral(value)}`);
      }
      return;
    case "boolean":
      if (ordering) throw new BadInput(`column "${column.name}" is boolean; "${op}" needs a numeric column (use == or !=)`);
      if (value.kind !== "bool") {
        throw new BadInput(`column "${column.name}" is boolean; ${context} it with true or false, not ${describeLiteral(value)}`);
      }
      return;
    case "categorical":
      if (ordering) {
        throw new BadInput(`column "${column.name}" is categorical; "${op}" needs a numeric column (use ==, != or in)`);
      }
      if (value.kind !== "string") {
        throw new BadInput(
          `column "${column.name}" is categorical; ${context} it with a string such as "${column.levels[0] ?? "a"}", ` +
            `not ${describeLiteral(value)}`);
      }
      return;
  }
}

/**
 * Checks an expression against a table without evaluating it: shape, size, column names and
 * types. evaluateWhere calls it first; the policy layer may call it to refuse a job early.
 */
export function checkWhere(table: Table, expr: Expr): void {
  const stack: { node: unknown; depth: number }[] = [{ node: expr, depth: 1 }];
  let nodes = 0;
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (++nodes > MAX_FILTER_NODES) throw new BadInput(`where-expression has more than ${MAX_FILTER_NODES} parts`);
    if (depth > MAX_FILTER_DEPTH) throw new BadInput(`where-expression nests deeper than ${MAX_FILTER_DEPTH} levels`);
    const e = node as Expr;
    if (e === null || typeof e !== "object") throw new BadInput("a where-expression holds a malformed node");
    switch (e.kind) {
      case "column": {
        const column = columnOf(table, e.name);
        if (column.kind !== "boolean") {
          throw new BadInput(
            `column "${column.name}" is ${column.kind} and cannot stand alone as a condition; ` +
              `only a boolean column can (compare it instead, e.g. ${column.name} ${column.kind === "numeric" ? "> 0" : '== "…"'})`);
        }
        break;
      }
      case "compare": {
        const column = columnOf(table, e.column);
        if (!OPS.has(e.op)) throw new BadInput(`a where-expression uses the unknown operator ${JSON.stringify(e.op)}`);
        checkLiteral(e.value);
        checkComparable(column, e.op, e.value, "compare");
        break;
      }
      case "in": {
        const column = columnOf(table, e.column);
        if (!Array.isArray(e.values) || e.values.length === 0) {
          throw new BadInput(`"${column.name} in (…)" needs at least one value`);
        }
        for (const value of e.values) {
          checkLiteral(value);
          checkComparable(column, "==", value, "match");
        }
        break;
      }
      case "missing":
        columnOf(table, e.column);
        break;
      case "not":
        stack.push({ node: e.arg, depth: depth + 1 });
        break;
      case "and":
      case "or":
        if (!Array.isArray(e.args) || e.args.length === 0) throw new BadInput(`an "${e.kind}" needs at least one operand`);
        for (const arg of e.args) stack.push({ node: arg, depth: depth + 1 });
        break;
      default:
        throw new BadInput(`a where-expression holds an unknown node kind ${JSON.stringify((e as { kind: unknown }).kind)}`);
    }
  }
}

/** Truth per row of one comparison on a numeric column (NaN is unknown). */
function compareNumbers(values: Float64Array, op: CompareOp, x: number, out: Uint8Array): void {
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    let t: boolean;
    switch (op) {
      case "==": t = v === x; break;
      case "!=": t = v !== x; break;
      case "<": t = v < x; break;
      case "<=": t = v <= x; break;
      case ">": t = v > x; break;
      case ">=": t = v >= x; break;
    }
    out[i] = v !== v ? UNKNOWN : t ? TRUE : FALSE;
  }
}

/** Truth per row of membership: `member[code]` for categorical codes (-1 is unknown). */
function matchCodes(codes: Int32Array, member: Uint8Array, out: Uint8Array): void {
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    out[i] = c < 0 ? UNKNOWN : member[c];
  }
}

function matchNumbers(values: Float64Array, set: ReadonlySet<number>, out: Uint8Array): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = v !== v ? UNKNOWN : set.has(v) ? TRUE : FALSE;
  }
}

function evaluate(table: Table, e: Expr): Uint8Array {
  const n = table.rowCount;
  switch (e.kind) {
    case "column": {
      const values = (table.columns.get(e.name) as Extract<Column, { kind: "boolean" }>).values;
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        out[i] = v !== v ? UNKNOWN : v === 1 ? TRUE : FALSE;
      }
      return out;
    }
    case "missing": {
      const column = table.columns.get(e.column)!;
      const out = new Uint8Array(n);
      if (column.kind === "categorical") {
        for (let i = 0; i < n; i++) out[i] = column.codes[i] < 0 ? TRUE : FALSE;
      } else {
        for (let i = 0; i < n; i++) out[i] = column.values[i] !== column.values[i] ? TRUE : FALSE;
      }
      return out;
    }
    case "compare":
    case "in": {
      const column = table.columns.get(e.column)!;
      const literals = e.kind === "compare" ? [e.value] : e.values;
      const negate = e.kind === "compare" && e.op === "!=";
      const out = new Uint8Array(n);
      if (column.kind === "categorical") {
        const member = new Uint8Array(column.levels.length).fill(negate ? TRUE : FALSE);
        for (const literal of literals) {
          const code = column.levels.indexOf(literal.value as string);
          if (code >= 0) member[code] = negate ? FALSE : TRUE;
        }
        matchCodes(column.codes, member, out);
      } else if (e.kind === "compare" && column.kind === "numeric") {
        compareNumbers(column.values, e.op, e.value.value as number, out);
      } else {
        const set = new Set(literals.map((l) => (l.kind === "bool" ? (l.value ? 1 : 0) : (l.value as number))));
        matchNumbers(column.values, set, out);
        if (negate) for (let i = 0; i < n; i++) if (out[i] !== UNKNOWN) out[i] ^= 1;
      }
      return out;
    }
    case "not": {
      const out = evaluate(table, e.arg);
      for (let i = 0; i < n; i++) if (out[i] !== UNKNOWN) out[i] ^= 1;
      return out;
    }
    case "and":
    case "or": {
      // Kleene: for "and", FALSE dominates UNKNOWN dominates TRUE; for "or", TRUE dominates.
      const dominant = e.kind === "and" ? FALSE : TRUE;
      const out = evaluate(table, e.args[0]);
      for (let k = 1; k < e.args.length; k++) {
        const next = evaluate(table, e.args[k]);
        for (let i = 0; i < n; i++) {
          const a = out[i];
          if (a === dominant) continue;
          const b = next[i];
          out[i] = b === dominant ? dominant : a === UNKNOWN || b === UNKNOWN ? UNKNOWN : a;
        }
      }
      return out;
    }
  }
}

/**
 * 1 for each row where `expr` is true, 0 where it is false or unknown; all 1 without an
 * expression. Throws UnknownColumn or BadInput (type mismatch, malformed or oversized AST)
 * before looking at any row.
 */
export function evaluateWhere(table: Table, expr: Expr | undefined): Uint8Array {
  if (expr === undefined) return new Uint8Array(table.rowCount).fill(1);
  checkWhere(table, expr);
  const truth = evaluate(table, expr);
  for (let i = 0; i < truth.length; i++) truth[i] = truth[i] === TRUE ? 1 : 0;
  return truth;
}

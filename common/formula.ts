/**
 * R model formulas, shared by the SDK and the station: both parse the same text with this
 * parser and lay out the same design columns, so that a station's score vector lines up with
 * the coefficients the SDK holds. Nothing here ever evaluates text as code: the arithmetic
 * inside `I()`, `log()` and `offset()` is a tiny expression tree interpreted over columns.
 *
 * Supported: `y ~ a + b`, `- 1` / `+ 0` / `0 +` (no intercept), `+ 1`, `a:b`, `a*b`,
 * `(a + b)^2`, `- term`, `factor(x)` / `as.factor(x)`, `I(arith)`, `log|log2|log10|log1p|exp|sqrt|abs(arith)`,
 * `offset(arith)`, back-quoted names. Term order, term labels, contrast-versus-dummy coding and
 * column names follow R's `terms.formula` and `model.matrix` (see `designColumns`).
 */
import { FormulaError, UnknownColumn, BadInput } from "./errors.js";

export type MathFunction = "log" | "log2" | "log10" | "log1p" | "exp" | "sqrt" | "abs";
const MATH_FUNCTIONS: readonly MathFunction[] = ["log", "log2", "log10", "log1p", "exp", "sqrt", "abs"];

/** The arithmetic sub-language of `I()`, `log()` and `offset()`. `paren` is kept so labels deparse as R's do. */
export type ArithExpr =
  | { kind: "number"; value: number }
  | { kind: "column"; name: string }
  | { kind: "negate"; arg: ArithExpr }
  | { kind: "paren"; arg: ArithExpr }
  | { kind: "binary"; op: "+" | "-" | "*" | "/" | "^"; left: ArithExpr; right: ArithExpr }
  | { kind: "call"; fn: MathFunction; arg: ArithExpr };

/** One variable of the model frame; `label` is R's deparsed text, used in term and column names. */
export type FormulaVariable =
  /** A bare column: numeric stays numeric; categorical and boolean columns become factors. */
  | { kind: "column"; label: string; column: string }
  /** `factor(x)`: the column's values treated as categories (levels from the job). */
  | { kind: "factor"; label: string; column: string }
  /**
   * `I(...)`, `log(...)` and friends: a numeric value computed per row. A binomial response
   * `cbind(successes, failures)` is the proportion successes / (successes + failures), with
   * `counts` telling the station to multiply the prior weight by the number of trials (R's
   * binomial()$initialize).
   */
  | { kind: "expression"; label: string; expr: ArithExpr; counts?: BinomialCounts };

/** The two columns (or expressions) of a `cbind(successes, failures)` response. */
export interface BinomialCounts {
  successes: ArithExpr;
  failures: ArithExpr;
}

export interface FormulaTerm {
  /** R's term label: variable labels joined by ":" in variable order. */
  label: string;
  /** Indices into `ParsedFormula.variables`, ascending. */
  variables: number[];
}

/** The structured, JSON-serialisable result of `parseFormula`. */
export interface ParsedFormula {
  source: string;
  response: FormulaVariable;
  intercept: boolean;
  /** Right-hand-side variables in order of first appearance (R's variable order). */
  variables: FormulaVariable[];
  /** Terms sorted by order (main effects, then two-way interactions, …), stable within an order. */
  terms: FormulaTerm[];
  /** Offsets are added to the linear predictor with coefficient 1; `label` is the `offset(...)` text. */
  offsets: { label: string; expr: ArithExpr }[];
}

/**
 * The number of trials of a `cbind(successes, failures)` response: successes + failures, by
 * which the station multiplies the row's prior weight. Undefined for any other response.
 */
export function binomialTrials(formula: ParsedFormula): ArithExpr | undefined {
  const counts = formula.response.kind === "expression" ? formula.response.counts : undefined;
  return counts ? { kind: "binary", op: "+", left: counts.successes, right: counts.failures } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Tokens

type TokenKind = "name" | "number" | "op" | "end";
interface Token {
  kind: TokenKind;
  text: string;
  /** For names: the name without back-quotes. For numbers: the numeric value. */
  value: string | number;
  position: number;
}

const OPERATORS = ["~", "+", "-", "*", "/", "^", ":", "(", ")", ","];

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "`") {
      const end = source.indexOf("`", i + 1);
      if (end < 0) throw new FormulaError("unterminated back-quoted name", i);
      if (end === i + 1) throw new FormulaError("empty back-quoted name", i);
      tokens.push({ kind: "name", text: source.slice(i, end + 1), value: source.slice(i + 1, end), position: i });
      i = end + 1;
      continue;
    }
    const numberMatch = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(source.slice(i));
    if (numberMatch && (/\d/.test(c) || (c === "." && /\d/.test(source[i + 1] ?? "")))) {
      tokens.push({ kind: "number", text: numberMatch[0], value: Number(numberMatch[0]), position: i });
      i += numberMatch[0].length;
      continue;
    }
    const nameMatch = /^(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*/.exec(source.slice(i));
    if (nameMatch) {
      tokens.push({ kind: "name", text: nameMatch[0], value: nameMatch[0], position: i });
      i += nameMatch[0].length;
      continue;
    }
    if (c === "%") {
      const end = source.indexOf("%", i + 1);
      const op = end > 0 ? source.slice(i, end + 1) : "%";
      throw new FormulaError(`operator ${op} is not supported`, i);
    }
    if (OPERATORS.includes(c)) {
      tokens.push({ kind: "op", text: c, value: c, position: i });
      i++;
      continue;
    }
    throw new FormulaError(`unexpected character "${c}"`, i);
  }
  tokens.push({ kind: "end", text: "", value: "", position: source.length });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Syntax tree of the formula itself (before expansion into terms)

type FormulaNode =
  | { kind: "variable"; variable: FormulaVariable; position: number }
  | { kind: "number"; value: number; position: number }
  | { kind: "offset"; label: string; expr: ArithExpr; position: number }
  | { kind: "sum"; items: { sign: 1 | -1; node: FormulaNode; position: number }[]; position: number }
  | { kind: "cross"; left: FormulaNode; right: FormulaNode; position: number }
  | { kind: "interact"; left: FormulaNode; right: FormulaNode; position: number }
  | { kind: "power"; base: FormulaNode; exponent: number; position: number };

/**
 * Bounds on what a formula may make its parser and expander do: formulas arrive from the wire
 * (stations parse the job's formula), so nesting must not overflow the stack and `^` or `*` must not
 * expand into millions of terms. Far above any model a person writes.
 */
export const MAX_FORMULA_NESTING = 200;
export const MAX_FORMULA_TERMS = 1000;

class Parser {
  private index = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  /** Every recursive path of the grammar passes through here (sum, arith, arithUnary). */
  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_FORMULA_NESTING) {
      throw new FormulaError(`the formula is nested more than ${MAX_FORMULA_NESTING} levels deep`, this.peek().position);
    }
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  peek(): Token {
    return this.tokens[this.index];
  }
  next(): Token {
    return this.tokens[this.index++];
  }
  isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === "op" && t.text === text;
  }
  expectOp(text: string, what: string): Token {
    const t = this.peek();
    if (t.kind !== "op" || t.text !== text) {
      throw new FormulaError(`expected "${text}" ${what}, found ${describe(t)}`, t.position);
    }
    return this.next();
  }

  // formula-level grammar: sum := ['-'|'+'] cross (('+'|'-') cross)*
  sum(): FormulaNode {
    return this.nested(() => this.sumBody());
  }

  private sumBody(): FormulaNode {
    const start = this.peek().position;
    const items: { sign: 1 | -1; node: FormulaNode; position: number }[] = [];
    let sign: 1 | -1 = 1;
    if (this.isOp("-") || this.isOp("+")) sign = this.next().text === "-" ? -1 : 1;
    for (;;) {
      const position = this.peek().position;
      items.push({ sign, node: this.cross(), position });
      if (this.isOp("+") || this.isOp("-")) {
        sign = this.next().text === "-" ? -1 : 1;
        continue;
      }
      break;
    }
    return items.length === 1 && items[0].sign === 1 ? items[0].node : { kind: "sum", items, position: start };
  }

  // '*' and '/' share a precedence level in R; '/' (nesting) is refused
  cross(): FormulaNode {
    let left = this.interact();
    for (;;) {
      if (this.isOp("*")) {
        const op = this.next();
        left = { kind: "cross", left, right: this.interact(), position: op.position };
        continue;
      }
      if (this.isOp("/")) {
        throw new FormulaError("nesting with \"/\" is not supported; write a + a:b", this.peek().position);
      }
      return left;
    }
  }

  interact(): FormulaNode {
    let left = this.power();
    while (this.isOp(":")) {
      const op = this.next();
      left = { kind: "interact", left, right: this.power(), position: op.position };
    }
    return left;
  }

  power(): FormulaNode {
    const base = this.atom();
    if (!this.isOp("^")) return base;
    const op = this.next();
    const t = this.next();
    if (t.kind !== "number" || !Number.isInteger(t.value) || (t.value as number) < 1) {
      throw new FormulaError("the power of a formula term must be a positive whole number", t.position);
    }
    return { kind: "power", base, exponent: t.value as number, position: op.position };
  }

  atom(): FormulaNode {
    const t = this.peek();
    if (t.kind === "op" && t.text === "(") {
      this.next();
      const inner = this.sum();
      this.expectOp(")", "to close the parenthesis");
      return inner;
    }
    if (t.kind === "number") {
      this.next();
      if (t.value !== 0 && t.value !== 1) {
        throw new FormulaError(`a number in a formula can only be 0 or 1 (the intercept), found ${t.text}`, t.position);
      }
      return { kind: "number", value: t.value as number, position: t.position };
    }
    if (t.kind === "name") {
      this.next();
      const name = t.value as string;
      if (t.text === "." ) throw new FormulaError("\".\" (all other columns) is not supported; list the columns", t.position);
      if (!this.isOp("(") || t.text.startsWith("`")) {
        return { kind: "variable", variable: { kind: "column", label: deparseName(name), column: name }, position: t.position };
      }
      return this.call(t);
    }
    throw new FormulaError(`expected a term, found ${describe(t)}`, t.position);
  }

  call(fnToken: Token): FormulaNode {
    const fn = fnToken.value as string;
    this.expectOp("(", `after ${fn}`);
    if (fn === "factor" || fn === "as.factor") {
      const arg = this.next();
      if (arg.kind !== "name") {
        throw new FormulaError(`${fn}() takes a column name, found ${describe(arg)}`, arg.position);
      }
      this.closeCall(fn);
      const column = arg.value as string;
      return {
        kind: "variable",
        variable: { kind: "factor", label: `${fn}(${deparseName(column)})`, column },
        position: fnToken.position,
      };
    }
    if (fn === "cbind") {
      // R's two-column binomial response: the proportion of successes, weighted by the trials
      const successes = this.arith();
      const comma = this.peek();
      if (comma.kind !== "op" || comma.text !== ",") throw new FormulaError("cbind() takes two arguments: cbind(successes, failures)", comma.position);
      this.next();
      const failures = this.arith();
      this.closeCall(fn);
      const label = `cbind(${deparseArith(successes)}, ${deparseArith(failures)})`;
      const expr: ArithExpr = {
        kind: "binary",
        op: "/",
        left: successes,
        right: { kind: "paren", arg: { kind: "binary", op: "+", left: successes, right: failures } },
      };
      return { kind: "variable", variable: { kind: "expression", label, expr, counts: { successes, failures } }, position: fnToken.position };
    }
    if (fn === "I" || fn === "offset" || (MATH_FUNCTIONS as readonly string[]).includes(fn)) {
      const inner = this.arith();
      this.closeCall(fn);
      const innerText = deparseArith(inner);
      if (fn === "offset") return { kind: "offset", label: `offset(${innerText})`, expr: inner, position: fnToken.position };
      const expr: ArithExpr = fn === "I" ? inner : { kind: "call", fn: fn as MathFunction, arg: inner };
      return {
        kind: "variable",
        variable: { kind: "expression", label: `${fn}(${innerText})`, expr },
        position: fnToken.position,
      };
    }
    throw new FormulaError(
      `unknown function ${fn}() in formula (supported: factor, I, offset, cbind (a binomial response), ${MATH_FUNCTIONS.join(", ")})`,
      fnToken.position,
    );
  }

  closeCall(fn: string): void {
    const t = this.peek();
    if (t.kind === "op" && t.text === ",") throw new FormulaError(`${fn}() takes one argument`, t.position);
    this.expectOp(")", `to close ${fn}(`);
  }

  // arithmetic grammar: R precedence, '^' right-associative and tighter than unary minus
  arith(): ArithExpr {
    return this.nested(() => this.arithBody());
  }

  private arithBody(): ArithExpr {
    let left = this.arithProduct();
    while (this.isOp("+") || this.isOp("-")) {
      const op = this.next().text as "+" | "-";
      left = { kind: "binary", op, left, right: this.arithProduct() };
    }
    return left;
  }
  arithProduct(): ArithExpr {
    let left = this.arithUnary();
    while (this.isOp("*") || this.isOp("/")) {
      const op = this.next().text as "*" | "/";
      left = { kind: "binary", op, left, right: this.arithUnary() };
    }
    return left;
  }
  arithUnary(): ArithExpr {
    return this.nested(() => this.arithUnaryBody());
  }

  private arithUnaryBody(): ArithExpr {
    if (this.isOp("-")) {
      this.next();
      return { kind: "negate", arg: this.arithUnary() };
    }
    if (this.isOp("+")) {
      this.next();
      return this.arithUnary();
    }
    return this.arithPower();
  }
  arithPower(): ArithExpr {
    const base = this.arithAtom();
    if (this.isOp("^")) {
      this.next();
      return { kind: "binary", op: "^", left: base, right: this.arithUnary() };
    }
    return base;
  }
  arithAtom(): ArithExpr {
    const t = this.next();
    if (t.kind === "number") return { kind: "number", value: t.value as number };
    if (t.kind === "op" && t.text === "(") {
      const inner = this.arith();
      this.expectOp(")", "to close the parenthesis");
      return { kind: "paren", arg: inner };
    }
    if (t.kind === "name") {
      if (this.isOp("(") && !t.text.startsWith("`")) {
        const fn = t.value as string;
        if (!(MATH_FUNCTIONS as readonly string[]).includes(fn)) {
          throw new FormulaError(`unknown function ${fn}() in arithmetic (supported: ${MATH_FUNCTIONS.join(", ")})`, t.position);
        }
        this.next();
        const arg = this.arith();
        this.closeCall(fn);
        return { kind: "call", fn: fn as MathFunction, arg };
      }
      return { kind: "column", name: t.value as string };
    }
    throw new FormulaError(`expected a number, column or "(", found ${describe(t)}`, t.position);
  }
}

function describe(t: Token): string {
  return t.kind === "end" ? "the end of the formula" : `"${t.text}"`;
}

// ---------------------------------------------------------------------------------------------
// Deparsing, as R's deparse() writes calls: spaces around binary + - *, none around / ^.

const R_RESERVED = new Set([
  "if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE", "NULL", "Inf",
  "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "in",
]);

/** A column name as R prints it in a term label: back-quoted unless it is a syntactic name. */
export function deparseName(name: string): string {
  const syntactic = /^((([A-Za-z]|[.][A-Za-z._])[A-Za-z0-9._]*)|[.])$/.test(name) && !R_RESERVED.has(name);
  return syntactic ? name : "`" + name + "`";
}

/** A number as R's deparse() writes it: up to 15 significant digits, fixed unless scientific is shorter. */
export function formatRNumber(value: number): string {
  if (!Number.isFinite(value)) return value > 0 ? "Inf" : value < 0 ? "-Inf" : "NaN";
  if (value === 0) return "0";
  const precise = Number(value.toPrecision(15));
  const [mantissa, exponentText] = precise.toExponential().split("e");
  const exponent = Number(exponentText);
  const sci = `${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  let fixed: string;
  if (Math.abs(exponent) < 21) {
    fixed = precise.toFixed(Math.max(0, (mantissa.split(".")[1]?.length ?? 0) - exponent));
  } else {
    fixed = sci + "x"; // never chosen
  }
  return fixed.length <= sci.length ? fixed : sci;
}

export function deparseArith(expr: ArithExpr): string {
  switch (expr.kind) {
    case "number":
      return formatRNumber(expr.value);
    case "column":
      return deparseName(expr.name);
    case "negate":
      return `-${deparseArith(expr.arg)}`;
    case "paren":
      return `(${deparseArith(expr.arg)})`;
    case "binary": {
      const spaced = expr.op === "+" || expr.op === "-" || expr.op === "*";
      const op = spaced ? ` ${expr.op} ` : expr.op;
      return `${deparseArith(expr.left)}${op}${deparseArith(expr.right)}`;
    }
    case "call":
      return `${expr.fn}(${deparseArith(expr.arg)})`;
  }
}

/** Every column an arithmetic expression reads. */
export function arithColumns(expr: ArithExpr, into: string[] = []): string[] {
  switch (expr.kind) {
    case "column":
      if (!into.includes(expr.name)) into.push(expr.name);
      break;
    case "negate":
    case "paren":
    case "call":
      arithColumns(expr.arg, into);
      break;
    case "binary":
      arithColumns(expr.left, into);
      arithColumns(expr.right, into);
      break;
    case "number":
      break;
  }
  return into;
}

/** Evaluates an arithmetic expression for one row; `valueOf` gives a column's value (NaN if missing). */
export function evaluateArith(expr: ArithExpr, valueOf: (column: string) => number): number {
  switch (expr.kind) {
    case "number":
      return expr.value;
    case "column":
      return valueOf(expr.name);
    case "negate":
      return -evaluateArith(expr.arg, valueOf);
    case "paren":
      return evaluateArith(expr.arg, valueOf);
    case "binary":
      return applyBinary(expr.op, evaluateArith(expr.left, valueOf), evaluateArith(expr.right, valueOf));
    case "call":
      return applyMath(expr.fn, evaluateArith(expr.arg, valueOf));
  }
}

export function applyBinary(op: "+" | "-" | "*" | "/" | "^", a: number, b: number): number {
  switch (op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
      return a / b;
    case "^":
      return Math.pow(a, b);
  }
}

export function applyMath(fn: MathFunction, x: number): number {
  switch (fn) {
    case "log":
      return Math.log(x);
    case "log2":
      return Math.log2(x);
    case "log10":
      return Math.log10(x);
    case "log1p":
      return Math.log1p(x);
    case "exp":
      return Math.exp(x);
    case "sqrt":
      return Math.sqrt(x);
    case "abs":
      return Math.abs(x);
  }
}

/** Columns a variable reads. */
export function variableColumns(variable: FormulaVariable): string[] {
  return variable.kind === "expression" ? arithColumns(variable.expr) : [variable.column];
}

/** Every column the formula reads: response, right-hand side and offsets, in first-seen order. */
export function formulaColumns(formula: ParsedFormula): string[] {
  const seen: string[] = [];
  const add = (names: string[]): void => names.forEach((n) => { if (!seen.includes(n)) seen.push(n); });
  add(variableColumns(formula.response));
  formula.variables.forEach((v) => add(variableColumns(v)));
  formula.offsets.forEach((o) => add(arithColumns(o.expr)));
  return seen;
}

// ---------------------------------------------------------------------------------------------
// Expansion into terms (R's terms.formula)

interface Expansion {
  /** Each term a sorted list of variable indices; [] is the intercept. */
  terms: number[][];
  /** Set by `0`, `+ 0`, `- 1` (false) or `- 0` (true). */
  intercept?: boolean;
  offsets: { label: string; expr: ArithExpr }[];
}

function sameTerm(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
function unionTerm(a: number[], b: number[]): number[] {
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}
function addTerms(into: number[][], terms: number[][], position = -1): void {
  for (const t of terms) if (!into.some((u) => sameTerm(u, t))) into.push(t);
  if (into.length > MAX_FORMULA_TERMS) throw new FormulaError(`the formula expands to more than ${MAX_FORMULA_TERMS} terms`, position);
}

/** Crossing is quadratic before duplicates fold; refuse what cannot fit the term limit anyway. */
function checkCrossing(left: number, right: number, position: number): void {
  if (left * right > 64 * MAX_FORMULA_TERMS) throw new FormulaError(`the formula expands to more than ${MAX_FORMULA_TERMS} terms`, position);
}

export function parseFormula(source: string): ParsedFormula {
  if (typeof source !== "string") throw new FormulaError("the formula must be text", 0);
  const tokens = tokenize(source);
  const parser = new Parser(tokens);
  const tilde = tokens.findIndex((t) => t.kind === "op" && t.text === "~");
  if (tilde < 0) throw new FormulaError("a formula needs \"~\" between the response and the terms", source.length);
  if (tilde === 0) throw new FormulaError("a formula needs a response before \"~\"", tokens[0].position);

  const responseNode = parser.sum();
  if (responseNode.kind !== "variable") {
    throw new FormulaError("the response must be one column or expression", tokens[0].position);
  }
  parser.expectOp("~", "after the response");
  if (parser.peek().kind === "end") throw new FormulaError("the formula has no terms after \"~\"", parser.peek().position);
  const rhs = parser.sum();
  const trailing = parser.peek();
  if (trailing.kind !== "end") {
    throw new FormulaError(
      trailing.text === "~" ? "a formula has only one \"~\"" : `unexpected ${describe(trailing)}`,
      trailing.position,
    );
  }

  const variables: FormulaVariable[] = [];
  const variableIndex = (v: FormulaVariable): number => {
    const found = variables.findIndex((u) => u.label === v.label);
    if (found >= 0) return found;
    variables.push(v);
    return variables.length - 1;
  };

  const expand = (node: FormulaNode, topLevel: boolean): Expansion => {
    switch (node.kind) {
      case "variable":
        return { terms: [[variableIndex(node.variable)]], offsets: [] };
      case "number":
        return node.value === 1 ? { terms: [[]], offsets: [] } : { terms: [], intercept: false, offsets: [] };
      case "offset":
        if (!topLevel) throw new FormulaError("offset() can only be added to the formula, not crossed", node.position);
        return { terms: [], offsets: [{ label: node.label, expr: node.expr }] };
      case "sum": {
        const out: Expansion = { terms: [], offsets: [] };
        for (const item of node.items) {
          const part = expand(item.node, topLevel);
          if (item.sign === 1) {
            if (part.intercept !== undefined) out.intercept = part.intercept;
            if (part.terms.some((t) => t.length === 0)) out.intercept = true;
            addTerms(out.terms, part.terms.filter((t) => t.length > 0));
            out.offsets.push(...part.offsets);
          } else {
            if (part.offsets.length > 0) throw new FormulaError("an offset cannot be subtracted", item.position);
            if (item.node.kind === "number") {
              out.intercept = item.node.value === 0;
              continue;
            }
            if (part.terms.some((t) => t.length === 0)) out.intercept = false;
            out.terms = out.terms.filter((t) => !part.terms.some((u) => sameTerm(u, t)));
          }
        }
        return out;
      }
      case "cross":
      case "interact": {
        const left = expandFactorList(node.left);
        const right = expandFactorList(node.right);
        checkCrossing(left.length, right.length, node.position);
        const crossed: number[][] = [];
        for (const a of left) for (const b of right) addTerms(crossed, [unionTerm(a, b)], node.position);
        const terms: number[][] = [];
        if (node.kind === "cross") {
          addTerms(terms, left);
          addTerms(terms, right);
        }
        addTerms(terms, crossed, node.position);
        return { terms, offsets: [] };
      }
      case "power": {
        const base = expandFactorList(node.base);
        let acc = base.map((t) => [...t]);
        // Beyond as many factors as the base has terms, a power adds nothing new (R: same terms).
        for (let k = 1; k < Math.min(node.exponent, base.length); k++) {
          checkCrossing(acc.length, base.length, node.position);
          const next: number[][] = [];
          addTerms(next, acc, node.position);
          addTerms(next, base, node.position);
          for (const a of acc) for (const b of base) addTerms(next, [unionTerm(a, b)], node.position);
          acc = next;
        }
        return { terms: acc, offsets: [] };
      }
    }
  };

  const expandFactorList = (node: FormulaNode): number[][] => {
    if (node.kind === "number") {
      throw new FormulaError("0 and 1 can only be added to or subtracted from a formula", node.position);
    }
    const e = expand(node, false);
    if (e.intercept !== undefined || e.terms.some((t) => t.length === 0)) {
      throw new FormulaError("the intercept (0 or 1) cannot be crossed with other terms", node.position);
    }
    return e.terms;
  };

  // R numbers variables in order of appearance with the response first; responses on the
  // right-hand side are not supported, so the response simply stays outside `variables`.
  const response = responseNode.variable;
  const expansion = expand(rhs, true);
  // A right-hand side that is only `1` (the null model `y ~ 1`) expands to the empty term
  // itself, not through a sum: that term is the intercept, never a design column of its own.
  const intercept = expansion.intercept ?? true;
  const ordered = expansion.terms
    .filter((t) => t.length > 0)
    .map((t, i) => ({ t, i }))
    .sort((a, b) => a.t.length - b.t.length || a.i - b.i)
    .map(({ t }) => t);

  // Drop variables that no term uses (e.g. after `a*b - a`), keeping order, and renumber.
  const used = [...new Set(ordered.flat())].sort((a, b) => a - b);
  const renumber = new Map(used.map((old, i) => [old, i]));
  const finalVariables = used.map((i) => variables[i]);
  const terms: FormulaTerm[] = ordered.map((t) => {
    const vars = t.map((v) => renumber.get(v)!);
    return { label: vars.map((v) => finalVariables[v].label).join(":"), variables: vars };
  });
  const onRight = finalVariables.find((v) => v.kind === "expression" && v.counts);
  if (onRight) throw new FormulaError(`${onRight.label} can only be the response of a binomial model, left of "~"`, tokens[tilde].position);
  if (finalVariables.some((v) => v.label === response.label)) {
    throw new FormulaError(`the response ${response.label} also appears on the right-hand side`, tokens[tilde].position);
  }
  return { source, response, intercept, variables: finalVariables, terms, offsets: expansion.offsets };
}

/** The formula written back in canonical R form (re-parses to the same structure). */
export function formatFormula(formula: ParsedFormula): string {
  const parts: string[] = [];
  if (!formula.intercept) parts.push("0");
  for (const t of formula.terms) parts.push(t.label);
  for (const o of formula.offsets) parts.push(o.label);
  if (parts.length === 0) parts.push("1");
  return `${formula.response.label} ~ ${parts.join(" + ")}`;
}

/** The intercept-only model with the same response and offsets (R's null model). */
export function nullFormula(formula: ParsedFormula): string {
  const parts = [formula.intercept ? "1" : "0", ...formula.offsets.map((o) => o.label)];
  return `${formula.response.label} ~ ${parts.join(" + ")}`;
}

// ---------------------------------------------------------------------------------------------
// Design columns (R's model.matrix)

export type DesignColumnType = "numeric" | "boolean" | "categorical";

export interface DesignSchema {
  /**
   * Levels for every categorical variable, keyed by column name (also for `factor(x)` of a numeric
   * column: then the levels are the numbers as text, e.g. ["1", "2", "3"]). Order matters: the
   * first level is the reference. Boolean columns default to ["FALSE", "TRUE"], as R's logicals.
   */
  levels: Readonly<Record<string, readonly string[]>>;
  /**
   * The type of every column the formula may read. A column absent here is unknown
   * (`UnknownColumn`). When omitted (an SDK without the station's schema), a plain column is
   * categorical when `levels` has it and numeric otherwise.
   */
  columns?: Readonly<Record<string, DesignColumnType>>;
  /** Named in `UnknownColumn` errors. */
  dataset?: string;
}

/** How one design variable enters the matrix. */
export interface DesignVariable {
  label: string;
  /** Levels when the variable is a factor; undefined for numeric variables. */
  levels?: readonly string[];
}

/** A factor of a design column: a numeric variable's value, or an indicator of one level. */
export interface DesignFactor {
  variable: number;
  /** Index into the variable's levels; absent for numeric variables. */
  level?: number;
}

export interface DesignColumn {
  /** R's coefficient name: `(Intercept)`, `age`, `sexM`, `factor(q)2`, `sexM:diabetesTRUE`. */
  name: string;
  /** The term label, `(Intercept)` for the intercept. */
  term: string;
  /** The column is the product of these (empty for the intercept). */
  factors: DesignFactor[];
}

export interface Design {
  variables: DesignVariable[];
  columns: DesignColumn[];
}

const BOOLEAN_LEVELS = ["FALSE", "TRUE"] as const;

/** The levels a variable takes in the design, or undefined when it is numeric. */
function variableLevels(variable: FormulaVariable, schema: DesignSchema): readonly string[] | undefined {
  if (variable.kind === "expression") {
    for (const column of arithColumns(variable.expr)) {
      const type = schema.columns?.[column];
      if (type === "categorical") {
        throw new BadInput(`column "${column}" is categorical and cannot be used in arithmetic (${variable.label})`);
      }
    }
    return undefined;
  }
  const type = schema.columns ? schema.columns[variable.column] : undefined;
  const given = schema.levels[variable.column];
  if (variable.kind === "column") {
    const categorical = type === undefined ? given !== undefined : type !== "numeric";
    if (!categorical) return undefined;
    if (type === "boolean") return given ?? BOOLEAN_LEVELS;
  } else if (type === "boolean" && given === undefined) {
    return BOOLEAN_LEVELS;
  }
  if (given === undefined) {
    throw new BadInput(`the job gives no levels for ${variable.kind === "factor" ? variable.label : `categorical column "${variable.column}"`}`);
  }
  if (given.length < 2) {
    throw new BadInput(`${variable.label} has ${given.length} level(s); a factor in a model needs at least 2`);
  }
  if (new Set(given).size !== given.length) throw new BadInput(`the levels of ${variable.label} repeat a value`);
  return given;
}

function checkColumnsKnown(formula: ParsedFormula, schema: DesignSchema): void {
  if (!schema.columns) return;
  const known = Object.keys(schema.columns);
  for (const column of formulaColumns(formula)) {
    if (!(column in schema.columns)) throw new UnknownColumn(column, schema.dataset ?? "?", known);
  }
}

/**
 * The design columns of a parsed formula, in R's order with R's names. Factors are treatment
 * coded (reference = first level) where R uses contrasts, and fully dummy coded where R's
 * marginality rule says so: in term T a factor f gets contrasts when T without f is empty or is
 * contained in an earlier term, otherwise all its levels; without an intercept the first factor of
 * the first term that has one is fully coded (R's `model.matrix`). The first variable in a term
 * varies fastest across the term's columns.
 */
export function designColumns(formula: ParsedFormula | string, schema: DesignSchema): Design {
  const parsed = typeof formula === "string" ? parseFormula(formula) : formula;
  checkColumnsKnown(parsed, schema);
  const variables: DesignVariable[] = parsed.variables.map((v) => ({ label: v.label, levels: variableLevels(v, schema) }));
  // response must exist, even if numeric
  if (parsed.response.kind !== "expression") variableLevelsForResponse(parsed.response, schema);

  // coding[t][k]: true when variable k of term t is fully dummy coded
  const coding = parsed.terms.map((term, t) =>
    term.variables.map((v) => {
      if (variables[v].levels === undefined) return false;
      const rest = term.variables.filter((u) => u !== v);
      if (rest.length === 0) return false;
      const contained = parsed.terms.slice(0, t).some((earlier) => rest.every((u) => earlier.variables.includes(u)));
      return !contained;
    }),
  );
  if (!parsed.intercept) {
    outer: for (let t = 0; t < parsed.terms.length; t++) {
      const vars = parsed.terms[t].variables;
      for (let k = 0; k < vars.length; k++) {
        if (variables[vars[k]].levels !== undefined) {
          coding[t][k] = true;
          break outer;
        }
      }
    }
  }

  const columns: DesignColumn[] = [];
  if (parsed.intercept) columns.push({ name: "(Intercept)", term: "(Intercept)", factors: [] });
  parsed.terms.forEach((term, t) => {
    // each variable's alternatives: one numeric factor, or one indicator per coded level
    const alternatives: { factor: DesignFactor; name: string }[][] = term.variables.map((v, k) => {
      const levels = variables[v].levels;
      if (levels === undefined) return [{ factor: { variable: v }, name: variables[v].label }];
      const from = coding[t][k] ? 0 : 1;
      return levels.slice(from).map((level, i) => ({ factor: { variable: v, level: i + from }, name: variables[v].label + level }));
    });
    let combos: { factors: DesignFactor[]; names: string[] }[] = [{ factors: [], names: [] }];
    for (const alts of alternatives) {
      // the first variable varies fastest, so later variables form the outer loop
      const next: typeof combos = [];
      for (const alt of alts) for (const c of combos) next.push({ factors: [...c.factors, alt.factor], names: [...c.names, alt.name] });
      combos = next;
    }
    for (const c of combos) columns.push({ name: c.names.join(":"), term: term.label, factors: c.factors });
  });
  return { variables, columns };
}

function variableLevelsForResponse(response: FormulaVariable, schema: DesignSchema): void {
  if (response.kind === "expression") return;
  if (schema.columns && !(response.column in schema.columns)) {
    throw new UnknownColumn(response.column, schema.dataset ?? "?", Object.keys(schema.columns));
  }
}

/** R's column names of the design, in order. */
export function designColumnNames(formula: ParsedFormula | string, schema: DesignSchema): string[] {
  return designColumns(formula, schema).columns.map((c) => c.name);
}

/**
 * The where-expression language: text an analyst types (`age >= 65 and sex == "M"`) into the
 * `Expr` AST of common/expression.ts, and back into one canonical text for audit logs and
 * provenance. The station never sees the text; it receives the AST.
 *
 * Grammar, loosest binding first:
 *
 *     where      := or
 *     or         := and (("or" | "||") and)*
 *     and        := unary (("and" | "&&") unary)*
 *     unary      := ("not" | "!") unary | "(" where ")" | predicate
 *     predicate  := column op literal | literal op column
 *                 | column ["not"] "in" "(" literal ("," literal)* [","] ")"
 *                 | column "is" ["not"] "missing"
 *                 | column                      (a boolean column as a predicate)
 *     op         := "==" | "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
 *     literal    := number | string | "true" | "false"
 *
 * Choices (pinned by test/where.test.ts):
 * - `=` is accepted as `==` and `<>` as `!=`: there is no assignment in a filter, and analysts
 *   arrive from SQL as often as from R. `formatWhere` always writes `==` and `!=`.
 * - Keywords (`and or not in is missing true false`) are case-insensitive; a column with such a
 *   name, or any other odd name, is written in backticks: `` `is` ``, `` `weight (kg)` ``;
 *   a backtick inside one is doubled.
 * - `65 <= age` is normalised to `age >= 65`. Comparing two columns, or two literals, is refused:
 *   the station evaluates column-against-constant only.
 * - Numbers: decimal, with optional sign, fraction and exponent (`-1.5e3`, `.5`); they must be
 *   finite. Strings: single or double quotes with the escapes `\\ \" \' \n \r \t \0 \uXXXX \u{X…}`.
 * - `and`/`or` chains are flattened (`a and (b and c)` is one `and` of three); `not not x` is
 *   kept as written. Ordering comparisons with `true`/`false` are refused.
 * - Hostile input: at most MAX_WHERE_LENGTH characters and MAX_WHERE_DEPTH nested parentheses
 *   or `not`s; recursion in the parser is bounded by that depth.
 */
import type { CompareOp, Expr, Literal } from "../../common/expression.js";
import { BadInput, ExpressionError } from "../../common/errors.js";

export const MAX_WHERE_LENGTH = 10_000;
export const MAX_WHERE_DEPTH = 64;

type Keyword = "and" | "or" | "not" | "in" | "is" | "missing" | "true" | "false";
const KEYWORDS: ReadonlySet<string> = new Set<Keyword>(["and", "or", "not", "in", "is", "missing", "true", "false"]);

type Token =
  | { kind: "identifier"; name: string; pos: number; text: string }
  | { kind: "number"; value: number; pos: number; text: string }
  | { kind: "string"; value: string; pos: number; text: string }
  | { kind: "keyword"; word: Keyword; pos: number; text: string }
  | { kind: "op"; op: CompareOp; pos: number; text: string }
  | { kind: "punct"; char: "(" | ")" | ","; pos: number; text: string }
  | { kind: "end"; pos: number; text: string };

const IDENT_START = /[\p{L}_]/u;
const IDENT_PART = /[\p{L}\p{M}\p{Nd}_]/u;
const PLAIN_IDENTIFIER = /^[\p{L}_][\p{L}\p{M}\p{Nd}_]*$/u;
const NUMBER_AT = /[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;

function describeToken(token: Token): string {
  if (token.kind === "end") return "end of input";
  const text = token.text.length > 20 ? `${token.text.slice(0, 20)}…` : token.text;
  return JSON.stringify(text);
}

function unexpected(token: Token, expected?: string): ExpressionError {
  const tail = expected ? ` (expected ${expected})` : "";
  return new ExpressionError(`unexpected ${describeToken(token)} at position ${token.pos}${tail}`, token.pos);
}

const TWO_CHARACTER_OPS: Record<string, CompareOp> = { "==": "==", "!=": "!=", "<>": "!=", "<=": "<=", ">=": ">=" };

/**
 * Reads tokens on demand, so that a syntax error early in the text is reported before a lexical
 * one further on (`age > (65 + 1)` fails at the "(", not at the "+").
 */
class Lexer {
  private i = 0;
  constructor(private readonly text: string) {}

  next(): Token {
    const text = this.text;
    const n = text.length;
    while (this.i < n && (text[this.i] === " " || text[this.i] === "\t" || text[this.i] === "\n" || text[this.i] === "\r")) {
      this.i++;
    }
    const start = this.i;
    if (start >= n) return { kind: "end", pos: n, text: "" };
    const c = text[start];
    const two = text.slice(start, start + 2);
    const take = (length: number): string => {
      this.i = start + length;
      return text.slice(start, start + length);
    };
    if (c === "(" || c === ")" || c === ",") return { kind: "punct", char: c, pos: start, text: take(1) };
    if (two in TWO_CHARACTER_OPS) return { kind: "op", op: TWO_CHARACTER_OPS[two], pos: start, text: take(2) };
    if (two === "&&" || two === "||") return { kind: "keyword", word: two === "&&" ? "and" : "or", pos: start, text: take(2) };
    if (c === "<" || c === ">") return { kind: "op", op: c, pos: start, text: take(1) };
    if (c === "=") return { kind: "op", op: "==", pos: start, text: take(1) };
    if (c === "!") return { kind: "keyword", word: "not", pos: start, text: take(1) };
    if (c === '"' || c === "'") {
      const [value, end] = readString(text, start);
      return { kind: "string", value, pos: start, text: take(end - start) };
    }
    if (c === "`") {
      const [name, end] = readQuotedName(text, start);
      return { kind: "identifier", name, pos: start, text: take(end - start) };
    }
    NUMBER_AT.lastIndex = start;
    const numberMatch = (c >= "0" && c <= "9") || c === "." || c === "-" || c === "+" ? NUMBER_AT.exec(text) : null;
    if (numberMatch) {
      const raw = numberMatch[0];
      const end = start + raw.length;
      if (end < n && IDENT_PART.test(String.fromCodePoint(text.codePointAt(end)!))) {
        throw new ExpressionError(`malformed number ${JSON.stringify(text.slice(start, end + 1))} at position ${start}`, start);
      }
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new ExpressionError(`number ${raw} at position ${start} is out of range`, start);
      return { kind: "number", value, pos: start, text: take(raw.length) };
    }
    const first = String.fromCodePoint(text.codePointAt(start)!);
    if (IDENT_START.test(first)) {
      let end = start + first.length;
      while (end < n) {
        const next = String.fromCodePoint(text.codePointAt(end)!);
        if (!IDENT_PART.test(next)) break;
        end += next.length;
      }
      const word = take(end - start);
      const lower = word.toLowerCase();
      return KEYWORDS.has(lower)
        ? { kind: "keyword", word: lower as Keyword, pos: start, text: word }
        : { kind: "identifier", name: word, pos: start, text: word };
    }
    const hint = c === "&" ? ' (did you mean "&&" or "and"?)' : c === "|" ? ' (did you mean "||" or "or"?)' : "";
    throw new ExpressionError(`unexpected ${JSON.stringify(first)} at position ${start}${hint}`, start);
  }
}

/** Reads the backtick-quoted name opening at `start`; returns it and the offset after it. */
function readQuotedName(text: string, start: number): [string, number] {
  let name = "";
  let i = start + 1;
  for (;;) {
    if (i >= text.length) throw new ExpressionError(`unterminated quoted column name starting at position ${start}`, start);
    if (text[i] === "`") {
      if (text[i + 1] !== "`") break;
      name += "`";
      i += 2;
      continue;
    }
    name += text[i++];
  }
  if (name.length === 0) throw new ExpressionError(`empty quoted column name at position ${start}`, start);
  return [name, i + 1];
}

const SIMPLE_ESCAPES: Record<string, string> = { "\\": "\\", '"': '"', "'": "'", n: "\n", r: "\r", t: "\t", "0": "\0" };

/** Reads the string literal opening at `start`; returns its value and the offset after it. */
function readString(text: string, start: number): [string, number] {
  const quote = text[start];
  let i = start + 1;
  let value = "";
  for (;;) {
    if (i >= text.length) throw new ExpressionError(`unterminated string starting at position ${start}`, start);
    const c = text[i];
    if (c === quote) return [value, i + 1];
    if (c !== "\\") {
      value += c;
      i++;
      continue;
    }
    const e = text[i + 1];
    if (e === undefined) throw new ExpressionError(`unterminated string starting at position ${start}`, start);
    if (e in SIMPLE_ESCAPES) {
      value += SIMPLE_ESCAPES[e];
      i += 2;
      continue;
    }
    if (e === "u") {
      const braced = /^\{([0-9a-fA-F]{1,6})\}/.exec(text.slice(i + 2, i + 10));
      const plain = /^[0-9a-fA-F]{4}/.exec(text.slice(i + 2, i + 6));
      const hex = braced ? braced[1] : plain ? plain[0] : undefined;
      const code = hex === undefined ? NaN : parseInt(hex, 16);
      if (!(code <= 0x10ffff)) throw new ExpressionError(`invalid \\u escape at position ${i}`, i);
      value += String.fromCodePoint(code);
      i += 2 + (braced ? braced[0].length : 4);
      continue;
    }
    throw new ExpressionError(`unknown escape "\\${e}" at position ${i}`, i);
  }
}

const FLIPPED: Record<CompareOp, CompareOp> = { "==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<=" };

class Parser {
  private lookahead: Token | undefined;
  private depth = 0;
  constructor(private readonly lexer: Lexer) {}

  private peek(): Token {
    this.lookahead ??= this.lexer.next();
    return this.lookahead;
  }
  private next(): Token {
    const token = this.peek();
    if (token.kind !== "end") this.lookahead = undefined;
    return token;
  }
  private isKeyword(word: Keyword, token = this.peek()): boolean {
    return token.kind === "keyword" && token.word === word;
  }
  private isPunct(char: "(" | ")" | ",", token = this.peek()): boolean {
    return token.kind === "punct" && token.char === char;
  }

  parse(): Expr {
    if (this.peek().kind === "end") {
      throw new ExpressionError("empty expression at position 0 (expected a condition such as age >= 65)", 0);
    }
    const expr = this.parseOr();
    const rest = this.peek();
    if (rest.kind !== "end") throw unexpected(rest, '"and", "or" or end of input');
    return expr;
  }

  private parseOr(): Expr {
    const args = [this.parseAnd()];
    while (this.isKeyword("or")) {
      this.next();
      args.push(this.parseAnd());
    }
    return args.length === 1 ? args[0] : { kind: "or", args: args.flatMap((a) => (a.kind === "or" ? a.args : [a])) };
  }

  private parseAnd(): Expr {
    const args = [this.parseUnary()];
    while (this.isKeyword("and")) {
      this.next();
      args.push(this.parseUnary());
    }
    return args.length === 1 ? args[0] : { kind: "and", args: args.flatMap((a) => (a.kind === "and" ? a.args : [a])) };
  }

  private enter(token: Token): void {
    if (++this.depth > MAX_WHERE_DEPTH) {
      throw new ExpressionError(
        `expression nests deeper than ${MAX_WHERE_DEPTH} levels at position ${token.pos}`, token.pos);
    }
  }

  private parseUnary(): Expr {
    const token = this.peek();
    if (this.isKeyword("not")) {
      this.next();
      this.enter(token);
      const arg = this.parseUnary();
      this.depth--;
      return { kind: "not", arg };
    }
    if (this.isPunct("(")) {
      this.next();
      this.enter(token);
      const inner = this.parseOr();
      const close = this.next();
      if (!this.isPunct(")", close)) throw unexpected(close, '")" or a connective');
      this.depth--;
      return inner;
    }
    return this.parsePredicate();
  }

  private parsePredicate(): Expr {
    const first = this.next();
    if (first.kind === "identifier") return this.parseAfterColumn(first);
    const literal = this.literalOf(first);
    if (literal === undefined) throw unexpected(first, "a condition");
    const opToken = this.next();
    if (opToken.kind !== "op") {
      throw opToken.kind === "end" || this.isKeyword("and", opToken) || this.isKeyword("or", opToken) || this.isPunct(")", opToken)
        ? new ExpressionError(`a literal alone is not a condition at position ${first.pos}`, first.pos)
        : unexpected(opToken, "a comparison operator");
    }
    const columnToken = this.next();
    if (columnToken.kind !== "identifier") {
      if (this.literalOf(columnToken) !== undefined) {
        throw new ExpressionError(
          `comparing two literals is not supported at position ${first.pos}; one side must be a column`, first.pos);
      }
      throw unexpected(columnToken, "a column name");
    }
    const op = FLIPPED[opToken.op];
    checkOrdering(op, literal, opToken);
    return { kind: "compare", column: columnToken.name, op, value: literal };
  }

  private parseAfterColumn(column: Extract<Token, { kind: "identifier" }>): Expr {
    const token = this.peek();
    if (token.kind === "op") {
      this.next();
      const valueToken = this.next();
      if (valueToken.kind === "identifier") {
        throw new ExpressionError(
          `comparing column "${column.name}" with column "${valueToken.name}" is not supported ` +
            `at position ${valueToken.pos}; compare a column with a number, string, true or false`,
          valueToken.pos);
      }
      if (this.isKeyword("missing", valueToken)) {
        throw new ExpressionError(
          `unexpected "missing" at position ${valueToken.pos} (write "${column.text} is missing" to test for missing values)`,
          valueToken.pos);
      }
      const value = this.literalOf(valueToken);
      if (value === undefined) throw unexpected(valueToken, `a value after "${token.text}"`);
      checkOrdering(token.op, value, token);
      return { kind: "compare", column: column.name, op: token.op, value };
    }
    if (this.isKeyword("in")) {
      this.next();
      return { kind: "in", column: column.name, values: this.parseList() };
    }
    if (this.isKeyword("not")) {
      const notToken = this.next();
      const inToken = this.next();
      if (!this.isKeyword("in", inToken)) throw unexpected(inToken, `"in" after "${notToken.text}"`);
      return { kind: "not", arg: { kind: "in", column: column.name, values: this.parseList() } };
    }
    if (this.isKeyword("is")) {
      this.next();
      let negated = false;
      if (this.isKeyword("not")) {
        this.next();
        negated = true;
      }
      const missing = this.next();
      if (!this.isKeyword("missing", missing)) throw unexpected(missing, '"missing"');
      const test: Expr = { kind: "missing", column: column.name };
      return negated ? { kind: "not", arg: test } : test;
    }
    return { kind: "column", name: column.name };
  }

  private parseList(): Literal[] {
    const open = this.next();
    if (!this.isPunct("(", open)) throw unexpected(open, '"(" to start the list');
    const values: Literal[] = [];
    for (;;) {
      const token = this.next();
      const value = this.literalOf(token);
      if (value === undefined) {
        if (this.isPunct(")", token) && values.length === 0) {
          throw new ExpressionError(`empty list at position ${open.pos}; "in" needs at least one value`, token.pos);
        }
        throw unexpected(token, "a value");
      }
      values.push(value);
      const sep = this.next();
      if (this.isPunct(")", sep)) return values;
      if (!this.isPunct(",", sep)) throw unexpected(sep, '"," or ")"');
      if (this.isPunct(")")) {
        this.next();
        return values;
      }
    }
  }

  private literalOf(token: Token): Literal | undefined {
    if (token.kind === "number") return { kind: "number", value: token.value };
    if (token.kind === "string") return { kind: "string", value: token.value };
    if (token.kind === "keyword" && (token.word === "true" || token.word === "false")) {
      return { kind: "bool", value: token.word === "true" };
    }
    return undefined;
  }
}

function checkOrdering(op: CompareOp, value: Literal, at: Token): void {
  if (value.kind === "bool" && op !== "==" && op !== "!=") {
    throw new ExpressionError(`"${at.text}" cannot order true and false at position ${at.pos}; use == or !=`, at.pos);
  }
}

/** Parses a where-expression; throws ExpressionError with the 0-based position of the fault. */
export function parseWhere(text: string): Expr {
  if (typeof text !== "string") throw new ExpressionError("a where-expression must be a string", 0);
  if (text.length > MAX_WHERE_LENGTH) {
    throw new ExpressionError(
      `expression is ${text.length} characters long; the limit is ${MAX_WHERE_LENGTH} (at position ${MAX_WHERE_LENGTH})`,
      MAX_WHERE_LENGTH);
  }
  return new Parser(new Lexer(text)).parse();
}

function formatColumn(name: string): string {
  if (name.length === 0) throw new BadInput("a where-expression names a column with an empty name");
  return PLAIN_IDENTIFIER.test(name) && !KEYWORDS.has(name.toLowerCase()) ? name : `\`${name.replaceAll("`", "``")}\``;
}

function formatString(value: string): string {
  let out = '"';
  for (const ch of value) {
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch < " " || ch === "\u007f") out += `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

function formatLiteral(value: Literal): string {
  switch (value.kind) {
    case "number":
      if (!Number.isFinite(value.value)) throw new BadInput(`a where-expression holds the non-finite number ${value.value}`);
      return Object.is(value.value, -0) ? "-0" : String(value.value);
    case "string":
      return formatString(value.value);
    case "bool":
      return value.value ? "true" : "false";
  }
}

/**
 * The canonical text of an expression: `parseWhere(formatWhere(e))` deep-equals `e` for every
 * `e` that parseWhere produces. Used in audit logs and provenance, so it is deterministic:
 * lower-case keywords, `==`/`!=`, double-quoted strings, parentheses only where precedence needs
 * them (and around the operand of `not`, for the reader).
 */
export function formatWhere(expr: Expr): string {
  const format = (e: Expr, depth: number): string => {
    if (depth > 4 * MAX_WHERE_DEPTH) throw new BadInput(`where-expression nests deeper than ${4 * MAX_WHERE_DEPTH} levels`);
    switch (e.kind) {
      case "column":
        return formatColumn(e.name);
      case "compare":
        return `${formatColumn(e.column)} ${e.op} ${formatLiteral(e.value)}`;
      case "in":
        return `${formatColumn(e.column)} in (${e.values.map(formatLiteral).join(", ")})`;
      case "missing":
        return `${formatColumn(e.column)} is missing`;
      case "not": {
        const a = e.arg;
        if (a.kind === "in") return `${formatColumn(a.column)} not in (${a.values.map(formatLiteral).join(", ")})`;
        if (a.kind === "missing") return `${formatColumn(a.column)} is not missing`;
        if (a.kind === "column" || a.kind === "not") return `not ${format(a, depth + 1)}`;
        return `not (${format(a, depth + 1)})`;
      }
      case "and":
        return e.args.map((a) => (a.kind === "or" ? `(${format(a, depth + 1)})` : format(a, depth + 1))).join(" and ");
      case "or":
        return e.args.map((a) => format(a, depth + 1)).join(" or ");
    }
  };
  return format(expr, 0);
}

import { describe, expect, it } from "vitest";
import { formatWhere, MAX_WHERE_DEPTH, MAX_WHERE_LENGTH, parseWhere } from "../sdk/query/where.js";
import { ExpressionError } from "../common/errors.js";
import type { Expr, Literal } from "../common/expression.js";

const num = (value: number): Literal => ({ kind: "number", value });
const str = (value: string): Literal => ({ kind: "string", value });
const bool = (value: boolean): Literal => ({ kind: "bool", value });
const cmp = (column: string, op: "==" | "!=" | "<" | "<=" | ">" | ">=", value: Literal): Expr =>
  ({ kind: "compare", column, op, value });
const col = (name: string): Expr => ({ kind: "column", name });

/** The ExpressionError parseWhere throws for `text`. */
function failure(text: string): ExpressionError {
  try {
    parseWhere(text);
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionError);
    return error as ExpressionError;
  }
  throw new Error(`expected ${JSON.stringify(text)} not to parse`);
}

describe("parseWhere: comparisons", () => {
  it("parses a column compared with a number", () => {
    expect(parseWhere("age >= 65")).toEqual(cmp("age", ">=", num(65)));
  });

  it("parses every comparison operator, with or without spaces", () => {
    expect(parseWhere("a==1")).toEqual(cmp("a", "==", num(1)));
    expect(parseWhere("a!=1")).toEqual(cmp("a", "!=", num(1)));
    expect(parseWhere("a<1")).toEqual(cmp("a", "<", num(1)));
    expect(parseWhere("a<=1")).toEqual(cmp("a", "<=", num(1)));
    expect(parseWhere("a>1")).toEqual(cmp("a", ">", num(1)));
    expect(parseWhere("a>=1")).toEqual(cmp("a", ">=", num(1)));
  });

  it("accepts SQL's = and <> as == and !=", () => {
    expect(parseWhere("sex = 'M'")).toEqual(cmp("sex", "==", str("M")));
    expect(parseWhere("sex <> 'M'")).toEqual(cmp("sex", "!=", str("M")));
  });

  it("normalises literal-first comparisons to column-first, flipping the operator", () => {
    expect(parseWhere("65 <= age")).toEqual(cmp("age", ">=", num(65)));
    expect(parseWhere("65 < age")).toEqual(cmp("age", ">", num(65)));
    expect(parseWhere("65 > age")).toEqual(cmp("age", "<", num(65)));
    expect(parseWhere("65 >= age")).toEqual(cmp("age", "<=", num(65)));
    expect(parseWhere('"M" == sex')).toEqual(cmp("sex", "==", str("M")));
    expect(parseWhere("true != lives_alone")).toEqual(cmp("lives_alone", "!=", bool(true)));
  });

  it("reads integers, decimals, negatives and exponents", () => {
    const value = (text: string) => (parseWhere(`x == ${text}`) as { value: Literal }).value;
    expect(value("0")).toEqual(num(0));
    expect(value("42")).toEqual(num(42));
    expect(value("3.25")).toEqual(num(3.25));
    expect(value(".5")).toEqual(num(0.5));
    expect(value("-7")).toEqual(num(-7));
    expect(value("-0.125")).toEqual(num(-0.125));
    expect(value("1e3")).toEqual(num(1000));
    expect(value("2.5E-3")).toEqual(num(0.0025));
    expect(value("-1e+2")).toEqual(num(-100));
    expect(parseWhere("x>-5")).toEqual(cmp("x", ">", num(-5)));
  });

  it("reads strings in double or single quotes, with escapes", () => {
    const value = (text: string) => (parseWhere(`x == ${text}`) as { value: Literal }).value;
    expect(value('"Noord"')).toEqual(str("Noord"));
    expect(value("'Zuid'")).toEqual(str("Zuid"));
    expect(value('""')).toEqual(str(""));
    expect(value('"say \\"hi\\""')).toEqual(str('say "hi"'));
    expect(value("'it\\'s'")).toEqual(str("it's"));
    expect(value('"it\'s"')).toEqual(str("it's"));
    expect(value('"a\\\\b"')).toEqual(str("a\\b"));
    expect(value('"line\\nbreak\\ttab\\r"')).toEqual(str("line\nbreak\ttab\r"));
    expect(value('"caf\\u00e9"')).toEqual(str("café"));
    expect(value('"\\u{1F600}"')).toEqual(str("😀"));
    expect(value('"Zoë, 😀"')).toEqual(str("Zoë, 😀"));
  });

  it("reads true and false in any letter case", () => {
    expect(parseWhere("smoker == TRUE")).toEqual(cmp("smoker", "==", bool(true)));
    expect(parseWhere("smoker == False")).toEqual(cmp("smoker", "==", bool(false)));
  });

  it("takes a bare column as a boolean predicate", () => {
    expect(parseWhere("lives_alone")).toEqual(col("lives_alone"));
    expect(parseWhere("(lives_alone)")).toEqual(col("lives_alone"));
  });

  it("reads backtick-quoted column names, with a doubled backtick inside", () => {
    expect(parseWhere("`weight (kg)` > 80")).toEqual(cmp("weight (kg)", ">", num(80)));
    expect(parseWhere("`is` == 1")).toEqual(cmp("is", "==", num(1)));
    expect(parseWhere("`a``b` is missing")).toEqual({ kind: "missing", column: "a`b" });
    expect(parseWhere("`2021_visits` > 0")).toEqual(cmp("2021_visits", ">", num(0)));
  });

  it("reads letters beyond ASCII in column names", () => {
    expect(parseWhere("leeftijd_één >= 65")).toEqual(cmp("leeftijd_één", ">=", num(65)));
  });
});

describe("parseWhere: in, missing and connectives", () => {
  it("parses in and not in lists", () => {
    expect(parseWhere('region in ("Noord", "Zuid")')).toEqual({ kind: "in", column: "region", values: [str("Noord"), str("Zuid")] });
    expect(parseWhere("q not in (1, 2,)")).toEqual({ kind: "not", arg: { kind: "in", column: "q", values: [num(1), num(2)] } });
    expect(parseWhere("q IN (-1)")).toEqual({ kind: "in", column: "q", values: [num(-1)] });
  });

  it("parses is missing and is not missing", () => {
    expect(parseWhere("income is missing")).toEqual({ kind: "missing", column: "income" });
    expect(parseWhere("income IS NOT MISSING")).toEqual({ kind: "not", arg: { kind: "missing", column: "income" } });
  });

  it("binds not tighter than and, and and tighter than or", () => {
    const a = cmp("a", "==", num(1));
    const b = cmp("b", "==", num(2));
    const c = cmp("c", "==", num(3));
    expect(parseWhere("a == 1 or b == 2 and c == 3")).toEqual({ kind: "or", args: [a, { kind: "and", args: [b, c] }] });
    expect(parseWhere("a == 1 and b == 2 or c == 3")).toEqual({ kind: "or", args: [{ kind: "and", args: [a, b] }, c] });
    expect(parseWhere("not a == 1 and b == 2")).toEqual({ kind: "and", args: [{ kind: "not", arg: a }, b] });
    expect(parseWhere("(a == 1 or b == 2) and c == 3")).toEqual({ kind: "and", args: [{ kind: "or", args: [a, b] }, c] });
    expect(parseWhere("not (a == 1 or b == 2)")).toEqual({ kind: "not", arg: { kind: "or", args: [a, b] } });
  });

  it("accepts keywords in any case and the symbols &&, || and !", () => {
    const expected: Expr = { kind: "or", args: [{ kind: "and", args: [col("x"), { kind: "not", arg: col("y") }] }, col("z")] };
    expect(parseWhere("x AND NOT y Or z")).toEqual(expected);
    expect(parseWhere("x && !y || z")).toEqual(expected);
  });

  it("flattens nested and/or chains", () => {
    expect(parseWhere("a and (b and c) and d")).toEqual({ kind: "and", args: [col("a"), col("b"), col("c"), col("d")] });
    expect(parseWhere("(a or b) or (c or (d))")).toEqual({ kind: "or", args: [col("a"), col("b"), col("c"), col("d")] });
    expect(parseWhere("((a and b)) and (c or d)")).toEqual(
      { kind: "and", args: [col("a"), col("b"), { kind: "or", args: [col("c"), col("d")] }] });
  });

  it("keeps a double negation as written", () => {
    expect(parseWhere("not not x")).toEqual({ kind: "not", arg: { kind: "not", arg: col("x") } });
  });

  it("parses the question from the regional report", () => {
    expect(parseWhere('age >= 65 and sex == "M" and lives_alone and neighbourhood_ses in ("low") and diabetes')).toEqual({
      kind: "and",
      args: [
        cmp("age", ">=", num(65)), cmp("sex", "==", str("M")), col("lives_alone"),
        { kind: "in", column: "neighbourhood_ses", values: [str("low")] }, col("diabetes"),
      ],
    });
  });
});

describe("parseWhere: errors name the position", () => {
  const cases: [string, number, RegExp][] = [
    ["", 0, /empty expression at position 0/],
    ["   ", 0, /empty expression at position 0/],
    ["age >", 5, /unexpected end of input at position 5 \(expected a value after ">"\)/],
    ['sex == "M', 7, /unterminated string starting at position 7/],
    ["sex == 'M\\'", 7, /unterminated string/],
    ["(age > 1", 8, /unexpected end of input at position 8 \(expected "\)"/],
    ["age > 1)", 7, /unexpected "\)" at position 7/],
    ["age > (65 + 1)", 6, /unexpected "\(" at position 6/],
    ["age > 1 2", 8, /unexpected "2" at position 8 \(expected "and", "or" or end of input\)/],
    ["age > 1 and", 11, /unexpected end of input at position 11/],
    ["and age > 1", 0, /unexpected "and" at position 0/],
    ["age > 1 or or b", 11, /unexpected "or" at position 11/],
    ["q in ()", 6, /empty list at position 5; "in" needs at least one value/],
    ["q in (1, 2", 10, /unexpected end of input at position 10 \(expected "," or "\)"\)/],
    ["q in 1", 5, /unexpected "1" at position 5 \(expected "\(" to start the list\)/],
    ["q not 1", 6, /unexpected "1" at position 6 \(expected "in" after "not"\)/],
    ["age > weight", 6, /comparing column "age" with column "weight" is not supported at position 6/],
    ["1 == 2", 0, /comparing two literals is not supported at position 0/],
    ["65", 0, /a literal alone is not a condition at position 0/],
    ["65 age", 3, /unexpected "age" at position 3 \(expected a comparison operator\)/],
    ["x == missing", 5, /write "x is missing"/],
    ["x is y", 5, /unexpected "y" at position 5 \(expected "missing"\)/],
    ["x & y", 2, /unexpected "&" at position 2 \(did you mean "&&" or "and"\?\)/],
    ["x == 5abc", 5, /malformed number "5a" at position 5/],
    ["x == 1e999", 5, /number 1e999 at position 5 is out of range/],
    ['x == "\\q"', 6, /unknown escape "\\q" at position 6/],
    ['x == "\\u12"', 6, /invalid \\u escape at position 6/],
    ["`` == 1", 0, /empty quoted column name at position 0/],
    ["`abc == 1", 0, /unterminated quoted column name starting at position 0/],
    ["x < true", 2, /"<" cannot order true and false at position 2/],
    ["false >= x", 6, /">=" cannot order true and false at position 6/],
    ["x == - 1", 5, /unexpected "-" at position 5/],
    ["x == 1 ; drop table", 7, /unexpected ";" at position 7/],
  ];
  for (const [text, position, message] of cases) {
    it(`refuses ${JSON.stringify(text)} at position ${position}`, () => {
      const error = failure(text);
      expect(error.position).toBe(position);
      expect(error.message).toMatch(message);
      expect(error.code).toBe("BAD_EXPRESSION");
    });
  }

  it("refuses a text longer than the length limit before reading it", () => {
    const error = failure(`x == "${"a".repeat(MAX_WHERE_LENGTH)}"`);
    expect(error.message).toMatch(/characters long; the limit is 10000/);
    expect(error.position).toBe(MAX_WHERE_LENGTH);
    expect(() => parseWhere(`x == "${"a".repeat(MAX_WHERE_LENGTH - 7)}"`)).not.toThrow();
  });

  it("allows nesting up to the depth limit and refuses one more, at the offending parenthesis", () => {
    const nested = (depth: number) => `${"(".repeat(depth)}x${")".repeat(depth)}`;
    expect(parseWhere(nested(MAX_WHERE_DEPTH))).toEqual(col("x"));
    const error = failure(nested(MAX_WHERE_DEPTH + 1));
    expect(error.position).toBe(MAX_WHERE_DEPTH);
    expect(error.message).toMatch(/nests deeper than 64 levels at position 64/);
  });

  it("counts a chain of nots towards the depth limit", () => {
    const error = failure(`${"not ".repeat(MAX_WHERE_DEPTH + 1)}x`);
    expect(error.position).toBe(4 * MAX_WHERE_DEPTH);
  });

  it("survives hostile input without exhausting the stack", () => {
    expect(failure("(".repeat(MAX_WHERE_LENGTH)).message).toMatch(/nests deeper/);
    expect(failure("!".repeat(MAX_WHERE_LENGTH)).message).toMatch(/nests deeper/);
    expect(failure("x or ".repeat(1999) + "x or").message).toMatch(/unexpected end of input/);
    const wide = Array.from({ length: 1000 }, (_, i) => `c${i}`).join(" and ");
    expect((parseWhere(wide) as { args: Expr[] }).args).toHaveLength(1000);
  });

  it("refuses a non-string", () => {
    expect(() => parseWhere(42 as unknown as string)).toThrow(ExpressionError);
  });
});

describe("formatWhere", () => {
  it("writes canonical text", () => {
    expect(formatWhere(parseWhere("65<=AGE AND Sex='M' && !(x || y)"))).toBe('AGE >= 65 and Sex == "M" and not (x or y)');
    expect(formatWhere(parseWhere("(a or b) and c"))).toBe("(a or b) and c");
    expect(formatWhere(parseWhere("a or b and c"))).toBe("a or b and c");
    expect(formatWhere(parseWhere("q not in (1,2) and r is not missing"))).toBe("q not in (1, 2) and r is not missing");
    expect(formatWhere(parseWhere("not a > 1"))).toBe("not (a > 1)");
    expect(formatWhere(parseWhere("not not flag"))).toBe("not not flag");
    expect(formatWhere(parseWhere("`weight (kg)` > 1e21 and `missing` = 'it\\''"))).toBe(
      '`weight (kg)` > 1e+21 and `missing` == "it\'"');
    expect(formatWhere(cmp("x", "==", str('a"b\\c\nd\u0001')))).toBe('x == "a\\"b\\\\c\\nd\\u0001"');
  });

  it("refuses a non-finite number rather than writing text that will not parse", () => {
    expect(() => formatWhere(cmp("x", ">", num(Infinity)))).toThrow(/non-finite/);
  });

  const examples = [
    "age >= 65",
    "-0.5 > x",
    "x == -0",
    "x != 1e-7",
    "x >= 123456789012345680000",
    'sex == "M" and (region in ("Noord", \'Zuid\') or income is missing)',
    "not (a and b) or not c",
    "a and not (b or c and not d)",
    "flag == false and other != TRUE",
    "`and` and `or` or `not`",
    "`a``b` not in ('x', \"y\\n\", 3)",
    "x is not missing and not x is missing",
    '"😀 and \\u0000" == emoji',
  ];
  for (const text of examples) {
    it(`round-trips ${JSON.stringify(text)}`, () => {
      const expr = parseWhere(text);
      const canonical = formatWhere(expr);
      expect(parseWhere(canonical)).toEqual(expr);
      expect(formatWhere(parseWhere(canonical))).toBe(canonical);
    });
  }

  it("round-trips a thousand random expressions", () => {
    let seed = 20240611;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    const names = ["age", "sex", "_x1", "In", "missing", "weight (kg)", "a`b", "1st", "één", "TRUE"];
    const strings = ["", "M", 'quote"', "back\\slash", "new\nline", "tab\t", "😀", "\u0007", "'single'"];
    const numbers = [0, -0, 1, -1, 65, 0.1, -2.5e-8, 1e21, 123.456, Number.MAX_SAFE_INTEGER, 5e-324];
    const literal = (): Literal => {
      const k = random();
      return k < 0.45 ? num(pick(numbers)) : k < 0.9 ? str(pick(strings)) : bool(random() < 0.5);
    };
    const leaf = (): Expr => {
      const k = random();
      const column = pick(names);
      if (k < 0.4) {
        const value = literal();
        const op = value.kind === "bool" ? pick(["==", "!="] as const) : pick(["==", "!=", "<", "<=", ">", ">="] as const);
        return cmp(column, op, value);
      }
      if (k < 0.6) return { kind: "in", column, values: Array.from({ length: 1 + Math.floor(random() * 3) }, literal) };
      if (k < 0.8) return { kind: "missing", column };
      return col(column);
    };
    const build = (depth: number, parent?: "and" | "or"): Expr => {
      const k = random();
      if (depth === 0 || k < 0.3) return leaf();
      if (k < 0.45) return { kind: "not", arg: build(depth - 1) };
      const kind = parent === "and" ? "or" : parent === "or" ? "and" : pick(["and", "or"] as const);
      return { kind, args: Array.from({ length: 2 + Math.floor(random() * 3) }, () => build(depth - 1, kind)) };
    };
    for (let i = 0; i < 1000; i++) {
      const expr = build(5);
      expect(parseWhere(formatWhere(expr))).toEqual(expr);
    }
  });
});

import { describe, expect, it } from "vitest";
import { FormulaError, UnknownColumn, BadInput } from "../common/errors.js";
import { binomialTrials, designColumnNames, formatFormula, nullFormula, parseFormula } from "../common/formula.js";

const columns = {
  fall: "numeric",
  age: "numeric",
  sex: "categorical",
  diabetes: "boolean",
  region: "categorical",
  income_quintile: "numeric",
  t: "numeric",
  x: "numeric",
  z: "numeric",
  "my col": "numeric",
} as const;
const levels = { sex: ["F", "M"], region: ["Noord", "Oost", "Zuid"], income_quintile: ["1", "2", "3"] };
const names = (formula: string) => designColumnNames(formula, { levels, columns });

function positionOf(formula: string): number {
  try {
    parseFormula(formula);
  } catch (e) {
    expect(e).toBeInstanceOf(FormulaError);
    return (e as FormulaError).position;
  }
  throw new Error(`"${formula}" parsed`);
}

describe("parseFormula", () => {
  it("parses response, terms and the default intercept into a JSON-serialisable structure", () => {
    const f = parseFormula("fall ~ age + sex");
    expect(f.response).toEqual({ kind: "column", label: "fall", column: "fall" });
    expect(f.intercept).toBe(true);
    expect(f.terms.map((t) => t.label)).toEqual(["age", "sex"]);
    expect(JSON.parse(JSON.stringify(f))).toEqual(f);
  });

  it("drops the intercept with -1, +0 and 0 +, and restores it with +1", () => {
    expect(parseFormula("y ~ x - 1").intercept).toBe(false);
    expect(parseFormula("y ~ x + 0").intercept).toBe(false);
    expect(parseFormula("y ~ 0 + x").intercept).toBe(false);
    expect(parseFormula("y ~ -1 + x").intercept).toBe(false);
    expect(parseFormula("y ~ x - 1 + 1").intercept).toBe(true);
  });

  it("expands a*b into a + b + a:b and orders terms by degree as R does", () => {
    expect(parseFormula("y ~ a:b + c + a*b").terms.map((t) => t.label)).toEqual(["c", "a", "b", "a:b"]);
    expect(parseFormula("y ~ (a + b + c)^2").terms.map((t) => t.label)).toEqual(["a", "b", "c", "a:b", "a:c", "b:c"]);
    expect(parseFormula("y ~ a*b - a:b").terms.map((t) => t.label)).toEqual(["a", "b"]);
  });

  it("labels an interaction in variable order (first appearance), like R's terms()", () => {
    expect(parseFormula("y ~ b + a + a:b").terms.map((t) => t.label)).toEqual(["b", "a", "b:a"]);
  });

  it("deparses I(), log() and offset() the way R labels them", () => {
    const f = parseFormula("y ~ I(age ^ 2) + I((age-80)*2) + log( x + 1 ) + I(x/2) + offset(log(t))");
    expect(f.terms.map((t) => t.label)).toEqual(["I(age^2)", "I((age - 80) * 2)", "log(x + 1)", "I(x/2)"]);
    expect(f.offsets.map((o) => o.label)).toEqual(["offset(log(t))"]);
    expect(parseFormula("y ~ I(x * 100000) + I(x * 0.0001)").terms.map((t) => t.label)).toEqual(["I(x * 1e+05)", "I(x * 1e-04)"]);
  });

  it("keeps back-quoted names and quotes them in labels", () => {
    expect(parseFormula("y ~ `my col` + x").terms.map((t) => t.label)).toEqual(["`my col`", "x"]);
  });

  it("writes a canonical formula and the null model back as text that parses again", () => {
    const f = parseFormula("y ~ a*b + offset(log(t)) - 1");
    expect(formatFormula(f)).toBe("y ~ 0 + a + b + a:b + offset(log(t))");
    expect(parseFormula(formatFormula(f)).terms).toEqual(f.terms);
    expect(nullFormula(f)).toBe("y ~ 0 + offset(log(t))");
  });

  it("parses the intercept-only model y ~ 1 as R does: no terms, only the intercept", () => {
    for (const text of ["y ~ 1", "y ~ +1", "y ~ (1)"]) {
      const f = parseFormula(text);
      expect(f.intercept).toBe(true);
      expect(f.terms).toEqual([]);
      expect(designColumnNames(f, { levels: {} })).toEqual(["(Intercept)"]);
    }
    expect(designColumnNames("y ~ 0", { levels: {} })).toEqual([]);
    expect(designColumnNames(nullFormula(parseFormula("y ~ a + b")), { levels: {} })).toEqual(["(Intercept)"]);
  });

  it("reads cbind(successes, failures) as a binomial response: the proportion, and the trials as weights", () => {
    const f = parseFormula("cbind(s, n - s) ~ x");
    expect(f.response.label).toBe("cbind(s, n - s)");
    expect(binomialTrials(f)).toBeDefined();
    expect(binomialTrials(parseFormula("y ~ x"))).toBeUndefined();
    expect(nullFormula(f)).toBe("cbind(s, n - s) ~ 1");
    expect(parseFormula(nullFormula(f)).response).toEqual(f.response);
    expect(() => parseFormula("y ~ cbind(a, b)")).toThrow(/only be the response/);
    expect(() => parseFormula("cbind(a) ~ x")).toThrow(/two arguments/);
    expect(() => parseFormula("y ~ I(cbind(a, b))")).toThrow(FormulaError);
  });

  it("reports errors with the character position", () => {
    expect(positionOf("fall ~ age +")).toBe(12);
    expect(positionOf("fall ~ age + + sex")).toBe(13);
    expect(positionOf("fall ~ age + foo(x)")).toBe(13);
    expect(positionOf("fall ~ age $ sex")).toBe(11);
    expect(positionOf("fall ~ I(age ^ )")).toBe(15);
    expect(positionOf("fall ~ (age + sex")).toBe(17);
    expect(positionOf("fall age")).toBe(8);
    expect(positionOf("~ age")).toBe(0);
    expect(positionOf("y ~ x %in% z")).toBe(6);
    expect(positionOf("y ~ x + 2")).toBe(8);
    expect(positionOf("y ~ factor(x + 1)")).toBe(13);
    expect(positionOf("y ~ x ~ z")).toBe(6);
    expect(positionOf("y ~ offset(t):x")).toBe(4);
  });

  it("never evaluates text: a would-be injection is just an unknown function", () => {
    expect(() => parseFormula("y ~ process.exit(1)")).toThrow(FormulaError);
    expect(() => parseFormula("y ~ I(require('fs'))")).toThrow(FormulaError);
  });
});

describe("designColumns", () => {
  it("treatment-codes categorical columns with the first level as reference, named as R names them", () => {
    expect(names("fall ~ age + sex + region")).toEqual(["(Intercept)", "age", "sexM", "regionOost", "regionZuid"]);
  });

  it("names logical columns as R does (diabetesTRUE) and factor() of numbers as factor(x)2", () => {
    expect(names("fall ~ diabetes + factor(income_quintile)")).toEqual([
      "(Intercept)", "diabetesTRUE", "factor(income_quintile)2", "factor(income_quintile)3",
    ]);
  });

  it("lays out interactions with the first variable varying fastest", () => {
    expect(names("fall ~ sex * diabetes")).toEqual(["(Intercept)", "sexM", "diabetesTRUE", "sexM:diabetesTRUE"]);
    expect(names("fall ~ sex:region + sex + region")).toEqual([
      "(Intercept)", "sexM", "regionOost", "regionZuid", "sexM:regionOost", "sexM:regionZuid",
    ]);
    expect(names("fall ~ age * sex")).toEqual(["(Intercept)", "age", "sexM", "age:sexM"]);
  });

  it("codes a factor fully where R's marginality rule says so", () => {
    // age:sex without age before it: sex takes all its levels; with age before it, contrasts
    expect(names("fall ~ age:sex")).toEqual(["(Intercept)", "age:sexF", "age:sexM"]);
    expect(names("fall ~ age + age:sex")).toEqual(["(Intercept)", "age", "age:sexM"]);
    // sex:region after sex: region within each sex (sex fully coded there, region by contrasts)
    expect(names("fall ~ sex + sex:region")).toEqual([
      "(Intercept)", "sexM", "sexF:regionOost", "sexM:regionOost", "sexF:regionZuid", "sexM:regionZuid",
    ]);
    // no intercept: the first factor takes all its levels, later ones contrasts
    expect(names("fall ~ sex + region - 1")).toEqual(["sexF", "sexM", "regionOost", "regionZuid"]);
    expect(names("fall ~ 0 + age + sex")).toEqual(["age", "sexF", "sexM"]);
  });

  it("takes levels from the job, so a station without some level still builds every column", () => {
    const design = designColumnNames("fall ~ region", { levels: { region: ["Noord", "Oost", "West", "Zuid"] }, columns });
    expect(design).toEqual(["(Intercept)", "regionOost", "regionWest", "regionZuid"]);
  });

  it("without a schema (SDK side) treats a column with levels as categorical", () => {
    expect(designColumnNames("fall ~ age + sex", { levels: { sex: ["F", "M"] } })).toEqual(["(Intercept)", "age", "sexM"]);
  });

  it("refuses unknown columns, missing levels and categorical columns in arithmetic", () => {
    expect(() => names("fall ~ agee")).toThrow(UnknownColumn);
    expect(() => names("fall ~ I(agee^2)")).toThrow(UnknownColumn);
    expect(() => names("nofall ~ age")).toThrow(UnknownColumn);
    expect(() => names("fall ~ age + offset(log(tt))")).toThrow(UnknownColumn);
    expect(() => names("fall ~ factor(x)")).toThrow(BadInput);
    expect(() => names("fall ~ I(sex * 2)")).toThrow(/categorical/);
  });
});

import { describe, expect, it } from "vitest";
import { checkWhere, evaluateWhere, MAX_FILTER_DEPTH, MAX_FILTER_NODES } from "../station-daemon/compute/filter.js";
import { parseWhere } from "../sdk/query/where.js";
import { BadInput, UnknownColumn } from "../common/errors.js";
import type { Expr } from "../common/expression.js";
import type { Column, Table } from "../station-daemon/data/table.js";
import { tableOf, type Cell } from "./helpers/table.js";


const kinds = { age: "numeric", sex: "categorical", region: "categorical", alone: "boolean", income: "numeric" } as const;
const rows: Record<string, Cell>[] = [
  { age: 70, sex: "M", region: "Noord", alone: true, income: 20000 },
  { age: 64, sex: "F", region: "Zuid", alone: false, income: null },
  { age: null, sex: "F", region: "Noord", alone: true, income: 35000 },
  { age: 80, sex: null, region: "Oost", alone: null, income: 50000 },
  { age: 65, sex: "M", region: "Zuid", alone: false, income: 10000 },
  { age: 90, sex: "F", region: null, alone: true, income: null },
  { age: 30, sex: "M", region: "Noord", alone: null, income: 25000 },
  { age: 66, sex: "X", region: "West", alone: false, income: 40000 },
];
const clients = tableOf(kinds, rows, "clients");

/** Indices of the rows a where-expression keeps. */
function selected(where: string | Expr | undefined): number[] {
  const expr = typeof where === "string" ? parseWhere(where) : where;
  const mask = evaluateWhere(clients, expr);
  expect(mask).toBeInstanceOf(Uint8Array);
  expect(mask).toHaveLength(clients.rowCount);
  return [...mask.keys()].filter((i) => mask[i] === 1);
}

function refusal(where: string | Expr, table = clients): Error {
  const expr = typeof where === "string" ? parseWhere(where) : where;
  try {
    evaluateWhere(table, expr);
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a refusal");
}

describe("evaluateWhere: results on a small table (expectations worked out by hand)", () => {
  const cases: [string, number[]][] = [
    ["age > 65", [0, 3, 5, 7]],
    ["65 < age", [0, 3, 5, 7]],
    ["age >= 65 and age <= 70", [0, 4, 7]],
    ["age == 65", [4]],
    ["age != 65", [0, 1, 3, 5, 6, 7]],
    ["age < 65", [1, 6]],
    ["age in (30, 90, 31)", [5, 6]],
    ['sex == "M"', [0, 4, 6]],
    ['sex != "M"', [1, 2, 5, 7]],
    ['sex == "Q"', []],
    ['sex != "Q"', [0, 1, 2, 4, 5, 6, 7]],
    ['region in ("Noord", "Oost")', [0, 2, 3, 6]],
    ['region in ("Noord", "Nowhere")', [0, 2, 6]],
    ['region not in ("Noord", "Oost")', [1, 4, 7]],
    ["alone", [0, 2, 5]],
    ["alone == true", [0, 2, 5]],
    ["alone == false", [1, 4, 7]],
    ["alone != true", [1, 4, 7]],
    ["alone in (false)", [1, 4, 7]],
    ["alone or age > 65", [0, 2, 3, 5, 7]],
    ["alone and age > 65", [0, 5]],
    ['income >= 25000 and sex == "F"', [2]],
    ['income is not missing and sex not in ("M")', [2, 7]],
    ['age > 65 and (sex == "F" or region == "Oost")', [3, 5]],
  ];
  for (const [where, expected] of cases) {
    it(`selects rows ${JSON.stringify(expected)} for ${where}`, () => {
      expect(selected(where)).toEqual(expected);
    });
  }

  it("selects every row without an expression", () => {
    expect(selected(undefined)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

describe("evaluateWhere: missing values follow SQL's three-valued logic", () => {
  it("leaves rows with a missing value out of a comparison and out of its negation", () => {
    expect(selected("age > 65")).not.toContain(2);
    expect(selected("not (age > 65)")).toEqual([1, 4, 6]);
    expect(selected("not not (age > 65)")).toEqual([0, 3, 5, 7]);
    expect(selected("not alone")).toEqual([1, 4, 7]);
  });

  it("selects missing values only with is missing", () => {
    expect(selected("age is missing")).toEqual([2]);
    expect(selected("sex is missing")).toEqual([3]);
    expect(selected("alone is missing")).toEqual([3, 6]);
    expect(selected("age > 65 or age is missing")).toEqual([0, 2, 3, 5, 7]);
    expect(selected("not (age is missing)")).toEqual([0, 1, 3, 4, 5, 6, 7]);
  });

  it("lets a false operand decide an and, and a true operand decide an or, over unknown", () => {
    // Row 6: alone unknown, age 30 → "alone and age > 65" is false, so its negation is true.
    expect(selected("not (alone and age > 65)")).toEqual([1, 4, 6, 7]);
    // Row 3: alone unknown, age 80 → "alone or age > 65" is true; row 6 stays unknown.
    expect(selected("alone or age > 65")).toContain(3);
    expect(selected("not (alone or age > 65)")).toEqual([1, 4]);
  });

  it("matches an independent three-valued evaluation on random tables and expressions", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    const many = Array.from({ length: 500 }, () => ({
      age: random() < 0.2 ? null : Math.floor(random() * 10),
      sex: random() < 0.2 ? null : pick(["F", "M", "X"]),
      region: random() < 0.2 ? null : pick(["Noord", "Zuid"]),
      alone: random() < 0.2 ? null : random() < 0.5,
      income: random() < 0.5 ? null : random() * 3,
    }));
    const table = tableOf(kinds, many, "random");
    // null is unknown; this reference works on row objects, not on the station's arrays.
    const truth = (e: Expr, row: Record<string, Cell>): boolean | null => {
      switch (e.kind) {
        case "column": return row[e.name] as boolean | null;
        case "missing": return row[e.column] === null;
        case "compare": {
          const v = row[e.column];
          if (v === null) return null;
          const x = e.value.value;
          return e.op === "==" ? v === x : e.op === "!=" ? v !== x : e.op === "<" ? v < x :
            e.op === "<=" ? v <= x : e.op === ">" ? v > x : v >= x;
        }
        case "in": {
          const v = row[e.column];
          return v === null ? null : e.values.some((l) => l.value === v);
        }
        case "not": {
          const t = truth(e.arg, row);
          return t === null ? null : !t;
        }
        case "and": {
          const ts = e.args.map((a) => truth(a, row));
          return ts.includes(false) ? false : ts.includes(null) ? null : true;
        }
        case "or": {
          const ts = e.args.map((a) => truth(a, row));
          return ts.includes(true) ? true : ts.includes(null) ? null : false;
        }
      }
    };
    const leaf = (): string => pick([
      () => `age ${pick(["==", "!=", "<", "<=", ">", ">="])} ${Math.floor(random() * 10)}`,
      () => `income ${pick(["<", ">="])} ${(random() * 3).toFixed(2)}`,
      () => `sex ${pick(["==", "!="])} "${pick(["F", "M", "Q"])}"`,
      () => `region in ("${pick(["Noord", "Zuid", "Elders"])}", "${pick(["Noord", "Zuid"])}")`,
      () => `age in (1, 3, 5)`,
      () => `alone`,
      () => `alone == ${pick(["true", "false"])}`,
      () => `${pick(["age", "sex", "alone", "income"])} is ${pick(["", "not "])}missing`,
    ])();
    const build = (depth: number): string => {
      const k = random();
      if (depth === 0 || k < 0.3) return leaf();
      if (k < 0.5) return `not (${build(depth - 1)})`;
      return `(${build(depth - 1)} ${pick(["and", "or"])} ${build(depth - 1)})`;
    };
    for (let i = 0; i < 300; i++) {
      const expr = parseWhere(build(4));
      const mask = evaluateWhere(table, expr);
      const expected = many.map((row) => (truth(expr, row) === true ? 1 : 0));
      expect([...mask]).toEqual(expected);
    }
  });
});

describe("evaluateWhere: refusals", () => {
  it("refuses to compare a numeric column with a string", () => {
    const error = refusal('age == "65"');
    expect(error).toBeInstanceOf(BadInput);
    expect(error.message).toBe('column "age" is numeric; compare it with a number, not the string "65"');
  });

  it("refuses to compare a categorical column with a number, or to order it", () => {
    expect(refusal("sex == 1").message).toBe('column "sex" is categorical; compare it with a string such as "F", not the number 1');
    expect(refusal('sex < "M"').message).toMatch(/column "sex" is categorical; "<" needs a numeric column/);
    expect(refusal('region in ("Noord", 2)').message).toMatch(/column "region" is categorical; match it with a string/);
  });

  it("refuses to compare a boolean column with a number, or to order it", () => {
    expect(refusal("alone == 1").message).toMatch(/column "alone" is boolean; compare it with true or false, not the number 1/);
    const ordered: Expr = { kind: "compare", column: "alone", op: "<", value: { kind: "bool", value: true } };
    expect(refusal(ordered).message).toMatch(/column "alone" is boolean; "<" needs a numeric column/);
    expect(refusal("age == true").message).toMatch(/column "age" is numeric; compare it with a number, not the value true/);
  });

  it("refuses a non-boolean column standing alone as a condition", () => {
    expect(refusal("age and alone")).toBeInstanceOf(BadInput);
    expect(refusal("age").message).toMatch(/column "age" is numeric and cannot stand alone as a condition/);
    expect(refusal("sex").message).toMatch(/column "sex" is categorical and cannot stand alone/);
  });

  it("refuses an unknown column, naming the dataset and its columns", () => {
    const error = refusal("alone or weight > 80");
    expect(error).toBeInstanceOf(UnknownColumn);
    expect(error.message).toBe('dataset "clients" has no column "weight" (columns: age, sex, region, alone, income)');
    expect(refusal("weight is missing")).toBeInstanceOf(UnknownColumn);
  });

  it("checks the whole expression before evaluating any of it", () => {
    expect(() => checkWhere(clients, parseWhere('age > 1 and sex == 2'))).toThrow(BadInput);
    expect(() => checkWhere(clients, parseWhere('age > 1 and sex == "F"'))).not.toThrow();
  });

  it("refuses malformed and oversized expressions from the wire", () => {
    const malformed: unknown[] = [
      { kind: "drop" },
      null,
      { kind: "and", args: [] },
      { kind: "in", column: "age", values: [] },
      { kind: "compare", column: "age", op: "=~", value: { kind: "number", value: 1 } },
      { kind: "compare", column: "age", op: ">", value: { kind: "number", value: NaN } },
      { kind: "compare", column: "age", op: ">", value: { kind: "number", value: "1" } },
      { kind: "compare", column: { toString: () => "age" }, op: ">", value: { kind: "number", value: 1 } },
    ];
    for (const expr of malformed) expect(() => evaluateWhere(clients, expr as Expr), JSON.stringify(expr)).toThrow(BadInput);

    let deep: Expr = { kind: "column", name: "alone" };
    for (let i = 0; i < MAX_FILTER_DEPTH; i++) deep = { kind: "not", arg: deep };
    expect(refusal(deep).message).toMatch(/nests deeper than 256 levels/);
    let deepest: Expr = { kind: "column", name: "alone" };
    for (let i = 0; i < 100_000; i++) deepest = { kind: "not", arg: deepest };
    expect(refusal(deepest)).toBeInstanceOf(BadInput);

    const wide: Expr = { kind: "or", args: Array.from({ length: MAX_FILTER_NODES }, () => ({ kind: "column", name: "alone" })) };
    expect(refusal(wide).message).toMatch(/more than 4096 parts/);
  });
});

describe("evaluateWhere: a large table", () => {
  it("filters a million rows with a six-part condition", () => {
    const n = 1_000_000;
    const age = new Float64Array(n);
    const alone = new Float64Array(n);
    const codes = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      age[i] = i % 101 === 0 ? NaN : 50 + (i % 50);
      alone[i] = i % 7 === 0 ? NaN : i % 3 === 0 ? 1 : 0;
      codes[i] = i % 11 === 0 ? -1 : i % 4;
    }
    const table: Table = {
      name: "big", rowCount: n, columns: new Map<string, Column>([
        ["age", { kind: "numeric", name: "age", values: age }],
        ["alone", { kind: "boolean", name: "alone", values: alone }],
        ["region", { kind: "categorical", name: "region", codes, levels: ["Noord", "Oost", "West", "Zuid"] }],
      ]),
    };
    const expr = parseWhere('age >= 65 and alone and region in ("Noord", "Zuid") or not (age < 90) and region is not missing');
    const mask = evaluateWhere(table, expr);
    let expected = 0;
    for (let i = 0; i < n; i++) {
      const a = age[i], l = alone[i], c = codes[i];
      const first = a >= 65 && l === 1 && (c === 0 || c === 3);
      const second = !Number.isNaN(a) && a >= 90 && c >= 0;
      if (first || second) expected++;
    }
    expect(mask.reduce((s, v) => s + v, 0)).toBe(expected);
  });
});

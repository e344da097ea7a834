import { describe, expect, it } from "vitest";
import { BadInput, NotConverged, RankDeficient, UnknownColumn } from "../common/errors.js";
import { GLM_HEADER_LENGTH as STATION_HEADER, GLM_LAYOUT, glmContribution, glmVectorLength } from "../station-daemon/compute/glm.js";
import {
  GLM_EVALUATE_HEADER_LENGTH,
  LOGIT_RANGE,
} from "../station-daemon/compute/glm-evaluate.js";
import { EVALUATE_HEADER_LENGTH, EVALUATE_LOGIT_RANGE, GLM_HEADER_LENGTH } from "../sdk/glm/vector.js";
import { fitGlm } from "../sdk/glm/index.js";
import { federation, makeTable, normalSampler, seededRandom, stationTables, type ColumnData } from "./glm-fixtures.js";

const all = (n: number) => new Uint8Array(n).fill(1);

describe("station GLM kernel", () => {
  it("agrees with the SDK on the vector layout", () => {
    expect(STATION_HEADER).toBe(GLM_HEADER_LENGTH);
    expect(GLM_EVALUATE_HEADER_LENGTH).toBe(EVALUATE_HEADER_LENGTH);
    expect(LOGIT_RANGE).toBe(EVALUATE_LOGIT_RANGE);
    expect(glmVectorLength({ formula: "y ~ x + sex", levels: { sex: ["F", "M"] }, beta: [] })).toBe(8 + 3 + 6);
  });

  it("sums over complete cases within the filter, like R's na.omit", () => {
    const table = makeTable("t", {
      y: [1, 0, 1, 0, 1, null],
      x: [1, 2, null, 4, 5, 6],
      sex: ["F", "M", "F", null, "M", "F"],
    });
    const rows = Uint8Array.from([1, 1, 1, 1, 0, 1]);
    const v = glmContribution({
      table,
      rows,
      computation: { kind: "glm", formula: "y ~ x + sex", family: "binomial", link: "logit", levels: { sex: ["F", "M"] }, beta: [0, 0, 0] },
    });
    // rows 0 and 1 only: row 2 misses x, row 3 sex, row 4 is filtered out, row 5 misses y
    expect(v[GLM_LAYOUT.n]).toBe(2);
    expect(v[GLM_LAYOUT.responseSum]).toBe(1);
    expect(v[GLM_LAYOUT.deviance]).toBeCloseTo(2 * 2 * Math.log(2), 12);
    // score at beta = 0: Σ (y − ½) x = ½·(1,1,0) − ½·(1,2,1)
    expect(Array.from(v.subarray(8, 11))).toEqual([0, -0.5, -0.5]);
    // information: ¼ Σ x xᵀ, upper triangle
    expect(Array.from(v.subarray(11))).toEqual([0.5, 0.75, 0.25, 1.25, 0.5, 0.25]);
  });

  it("builds every column from the job's levels even when the station lacks a level", () => {
    const table = makeTable("t", { y: [1, 0, 1], region: ["Noord", "Noord", "Zuid"] });
    const v = glmContribution({
      table,
      rows: all(3),
      computation: { kind: "glm", formula: "y ~ region", family: "binomial", link: "logit", levels: { region: ["Noord", "Oost", "Zuid"] }, beta: [0, 0, 0] },
    });
    expect(v.length).toBe(8 + 3 + 6);
  });

  it("refuses unknown columns, non-0/1 binomial responses and mismatched coefficient counts", () => {
    const table = makeTable("clients", { y: [1, 0, 2], x: [1, 2, 3] });
    const glm = (formula: string, beta: number[] = [0, 0]) =>
      glmContribution({ table, rows: all(3), computation: { kind: "glm", formula, family: "binomial", link: "logit", levels: {}, beta } });
    expect(() => glm("y ~ age")).toThrow(UnknownColumn);
    expect(() => glm("y ~ age")).toThrow(/dataset "clients" has no column "age"/);
    expect(() => glm("y ~ x")).toThrow(/0\/1/);
    expect(() => glm("y ~ x", [0])).toThrow(BadInput);
    expect(() =>
      glmContribution({ table, rows: all(3), computation: { kind: "glm", formula: "y ~ x", family: "gaussian", link: "identity", levels: {}, beta: [0, 0], weights: "w" } }),
    ).toThrow(UnknownColumn);
  });
});

describe("federated fit: design problems and convergence", () => {
  it("names the collinear columns of a rank-deficient design", async () => {
    const random = seededRandom(3);
    const data: Record<string, ColumnData> = { y: [], a: [], b: [], c: [] };
    for (let i = 0; i < 60; i++) {
      const a = random();
      const b = random();
      (data.y as number[]).push(random() < 0.5 ? 1 : 0);
      (data.a as number[]).push(a);
      (data.b as number[]).push(b);
      (data.c as number[]).push(2 * a - b);
    }
    const error = await fitGlm({ formula: "y ~ a + b + c", family: "binomial", levels: {}, aggregate: federation(stationTables(data)) }).catch((e) => e);
    expect(error).toBeInstanceOf(RankDeficient);
    expect((error as RankDeficient).columns).toEqual(["c"]);
    expect((error as Error).message).toMatch(/c is a linear combination of a, b/);
  });

  it("names a constant column and a level without rows", async () => {
    const data: Record<string, ColumnData> = {
      y: [1, 0, 1, 0, 1, 0, 1, 1, 0],
      one: [1, 1, 1, 1, 1, 1, 1, 1, 1],
      x: [1, 2, 3, 4, 5, 6, 7, 8, 9],
      region: ["Noord", "Zuid", "Noord", "Zuid", "Noord", "Zuid", "Noord", "Zuid", "Zuid"],
    };
    const fit = (formula: string) =>
      fitGlm({ formula, family: "binomial", levels: { region: ["Noord", "Oost", "Zuid"] }, aggregate: federation(stationTables(data)) }).catch((e) => e);
    const constant = await fit("y ~ x + one");
    expect(constant).toBeInstanceOf(RankDeficient);
    expect(constant.columns).toEqual(["one"]);
    expect(constant.message).toMatch(/one is a linear combination of \(Intercept\)/);
    const empty = await fit("y ~ x + region");
    expect(empty).toBeInstanceOf(RankDeficient);
    expect(empty.columns).toEqual(["regionOost"]);
    expect(empty.message).toMatch(/zero in every row/);
  });

  it("warns of separation, and fails with NotConverged when a script asks for it", async () => {
    const data: Record<string, ColumnData> = { y: [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1], x: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 2.5, 8.5] };
    const model = await fitGlm({ formula: "y ~ x", family: "binomial", levels: {}, aggregate: federation(stationTables(data)) });
    expect(model.warnings.join("\n")).toMatch(/fitted probabilities numerically 0 or 1/);
    const strict = await fitGlm({
      formula: "y ~ x",
      family: "binomial",
      levels: {},
      aggregate: federation(stationTables(data)),
      maxIterations: 3,
      failOnNotConverged: true,
    }).catch((e) => e);
    expect(strict).toBeInstanceOf(NotConverged);
    const lenient = await fitGlm({ formula: "y ~ x", family: "binomial", levels: {}, aggregate: federation(stationTables(data)), maxIterations: 3 });
    expect(lenient.converged).toBe(false);
    expect(lenient.iterations).toBe(3);
    expect(lenient.warnings.join("\n")).toMatch(/did not converge/);
  });

  it("takes a categorical response for binomial as R does (first level = no event)", async () => {
    const y = [0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 1];
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    const numeric = await fitGlm({ formula: "y ~ x", family: "binomial", levels: {}, aggregate: federation(stationTables({ y, x })) });
    const categorical = await fitGlm({
      formula: "outcome ~ x",
      family: "binomial",
      levels: { outcome: ["no", "yes"] },
      columns: { outcome: "categorical", x: "numeric" },
      aggregate: federation(stationTables({ outcome: y.map((v) => (v ? "yes" : "no")), x })),
    });
    expect(categorical.estimates).toEqual(numeric.estimates);
    expect(categorical.deviance).toBe(numeric.deviance);
  });

  it("reports each iteration and takes iterations + 1 rounds (the start round)", async () => {
    const random = seededRandom(5);
    const data: Record<string, ColumnData> = { y: [], x: [] };
    for (let i = 0; i < 200; i++) {
      const x = random() * 4 - 2;
      (data.x as number[]).push(x);
      (data.y as number[]).push(random() < 1 / (1 + Math.exp(-(0.5 + x))) ? 1 : 0);
    }
    const log = { rounds: 0 };
    const seen: number[] = [];
    const model = await fitGlm({
      formula: "y ~ x",
      family: "binomial",
      levels: {},
      aggregate: federation(stationTables(data), log),
      onIteration: (info) => seen.push(info.iteration),
    });
    expect(seen).toEqual(Array.from({ length: model.iterations }, (_, i) => i + 1));
    expect(log.rounds).toBe(model.iterations + 1);
  });
});

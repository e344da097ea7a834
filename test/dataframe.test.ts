/**
 * `toDataFrame()` on every kind of result and on a model's coefficient table, from real station
 * processes; and, with danfojs made unresolvable (it is an optional peer dependency), a typed
 * MissingDependency that names the install command.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MISSING_LEVEL } from "../common/job.js";
import type { Federation } from "../sdk/federation.js";
import { LocalFederation } from "../sdk/local-federation.js";
import type { Result } from "../sdk/results/result.js";
import { writeScenario } from "../synth/index.js";

const root = resolve(import.meta.dirname, "..");
let work: string;
let local: LocalFederation;
let fed: Federation;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-dataframe-"));
  const fall = await writeScenario({ scenario: "fall-risk", stations: 3, rows: 800, seed: 5, out: join(work, "fall") });
  const hood = await writeScenario({ scenario: "neighbourhood", stations: 3, rows: 2000, seed: 5, out: join(work, "hood") });
  local = await LocalFederation.start({
    dir: join(work, "stations"),
    stations: fall.files.map((f, i) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f, neighbourhood: hood.files[i] } })),
  });
  fed = await local.connect();
}, 180_000);

afterAll(async () => {
  fed?.close();
  await local?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The frame's rows as records, to compare with the result's own. */
function rowsOf(df: { columns: string[]; values: unknown[] }): Array<Record<string, unknown>> {
  return (df.values as unknown[][]).map((row) => Object.fromEntries(df.columns.map((c, i) => [c, row[i]])));
}

async function expectFrameOf(result: Result, columns: string[]): Promise<void> {
  const df = await result.toDataFrame();
  expect(df.columns).toEqual(columns);
  const records = result.records();
  expect(df.shape).toEqual([records.length, columns.length]);
  // danfo keeps numbers and strings as given; a withheld value (null) comes back as NaN or null.
  const rows = rowsOf(df);
  rows.forEach((row, i) => {
    for (const c of columns) {
      const want = records[i][c];
      if (want === null) expect(row[c] === null || Number.isNaN(row[c]), `${c} of row ${i}`).toBe(true);
      else expect(row[c], `${c} of row ${i}`).toEqual(want);
    }
  });
}

describe("toDataFrame", () => {
  const fall = () => fed.dataset("fall_risk");

  it("of a count: one row per cell, (missing) included, counts adding up to the total", async () => {
    const r = await fall().count({ by: ["sex", "income_quintile"] });
    await expectFrameOf(r, ["sex", "income_quintile", "count"]);
    const df = await r.toDataFrame();
    expect(rowsOf(df).some((row) => row.income_quintile === MISSING_LEVEL)).toBe(true);
    expect(rowsOf(df).reduce((n, row) => n + (row.count as number), 0)).toBe(r.total);
  });

  it("of a mean and a summary", async () => {
    await expectFrameOf(await fall().mean("age", { by: ["sex"] }), ["sex", "n", "mean", "sd"]);
    await expectFrameOf(await fall().summary("num_medications", { by: ["sex"] }), ["sex", "n", "sum", "mean", "variance", "sd"]);
  });

  it("of a crosstab: the inner cells, long", async () => {
    const r = await fall().crosstab("sex", "lives_alone");
    await expectFrameOf(r, ["sex", "lives_alone", "count"]);
    expect((await r.toDataFrame()).shape[0]).toBe(4);
  });

  it("of a histogram: one row per bin, then below, above and missing", async () => {
    const r = await fall().histogram("age", { edges: [60, 80, 110], by: ["sex"] });
    await expectFrameOf(r, ["sex", "bin", "from", "to", "count"]);
    expect(rowsOf(await r.toDataFrame()).filter((row) => row.sex === "F").map((row) => row.bin)).toEqual(["[60, 80)", "[80, 110]", "below 60", "above 110", "missing"]);
  });

  it("of quantiles: one row per group and probability", async () => {
    const r = await fall().quantile("age", [0.25, 0.5, 0.75], { by: ["sex"] });
    await expectFrameOf(r, ["sex", "n", "p", "value"]);
    expect((await r.toDataFrame()).shape[0]).toBe(6);
  });

  it("of proportions, rates, standardised rates and an indicator set", async () => {
    await expectFrameOf(await fall().proportion("fell_12m", { by: ["sex"] }), ["sex", "numerator", "denominator", "proportion", "estimate", "lower", "upper"]);
    const hood = fed.dataset("neighbourhood");
    const reference = { "18-39": 0.35, "40-64": 0.38, "65-74": 0.14, "75-84": 0.09, "85+": 0.04 };
    const dsr = await hood.standardisedRate("lives_alone", { ageColumn: "age_group", reference });
    await expectFrameOf(dsr, ["events", "population", "crudeRate", "rate", "lower", "upper"]);
    const set = await hood.indicators([{ name: "lonely", numerator: "lonely" }, { name: "diabetes", numerator: "diabetes" }], { by: ["sex"] });
    await expectFrameOf(set, ["indicator", "sex", "numerator", "denominator", "proportion", "estimate", "lower", "upper"]);
  });

  it("of a model: its coefficient table with odds ratios", async () => {
    const model = await fall().glm("fell_12m ~ age + sex + prior_fall", { family: "binomial" });
    const df = await model.toDataFrame();
    expect(df.columns).toEqual(["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high", "odds_ratio", "odds_ratio_ci_low", "odds_ratio_ci_high"]);
    const rows = rowsOf(df);
    expect(rows.map((r) => r.term)).toEqual([...model.names]);
    rows.forEach((row, i) => expect(row.estimate).toBe(model.estimates[i]));
    expect(rows[1].odds_ratio).toBeCloseTo(Math.exp(model.estimates[1]), 12);
  });

  it("without danfojs installed, throws MissingDependency naming the install command", () => {
    // A resolve hook that makes "danfojs" unfindable, as in a project that never installed it.
    const hooks = join(work, "no-danfojs.mjs");
    writeFileSync(hooks, `export async function resolve(specifier, context, next) {
  if (specifier === "danfojs" || specifier.startsWith("danfojs/")) {
    throw Object.assign(new Error("Cannot find package 'danfojs'"), { code: "ERR_MODULE_NOT_FOUND" });
  }
  return next(specifier, context);
}\n`);
    const script = `
      import { register } from "node:module";
      register(${JSON.stringify(pathToFileURL(hooks).href)});
      const { CountResult } = await import(${JSON.stringify(pathToFileURL(join(root, "dist", "sdk", "index.js")).href)});
      const r = new CountResult({ dataset: "d", by: [{ column: "sex", levels: ["F", "M"] }], sum: new Float64Array([12, 30]), stations: ["a"] });
      try { await r.toDataFrame(); console.log("no error"); }
      catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, dependency: e.dependency, message: e.message })); }
    `;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", cwd: work });
    expect(run.status, run.stderr).toBe(0);
    const err = JSON.parse(run.stdout) as { name: string; code: string; dependency: string; message: string };
    expect(err).toMatchObject({ name: "MissingDependency", code: "MISSING_DEPENDENCY", dependency: "danfojs" });
    expect(err.message).toContain("npm install danfojs@1.1.2");
  });
});

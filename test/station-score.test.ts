/**
 * `werkplaats station score`: a home-care organisation applies a regional fall-risk model to its
 * own clients, locally. The model is fitted here in-process (stations' kernels summed, as in
 * glm-oracle.test.ts); the command runs as the built CLI; the expected scores are computed in this
 * file straight from the coefficients and the CSV text, not with the model's own predict().
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fitGlm, type GlmModel } from "../sdk/glm/index.js";
import { initStation } from "../station-daemon/config.js";
import { columnTypes } from "../station-daemon/compute/glm-design.js";
import { loadCsv } from "../station-daemon/data/csv.js";
import { writeScenario } from "../synth/index.js";
import { federation } from "./glm-fixtures.js";
import { num, readRows, type PooledRow } from "./helpers/pooled.js";
import { runCli as cli } from "./helpers/cli.js";

const FORMULA = "fell_12m ~ age + sex + num_medications + prior_fall + dementia + income_quintile";

let work: string;
let stationDir: string;
let modelFile: string;
let poissonFile: string;
let model: GlmModel;
let clients: PooledRow[];


function readScores(file: string): { header: string[]; rows: string[][] } {
  const [header, ...lines] = readFileSync(file, "utf8").trimEnd().split("\n");
  return { header: header.split(","), rows: lines.map((l) => l.split(",")) };
}

/** The linear predictor from the coefficients and the CSV's text, independent of GlmModel.predict. */
function linearPredictor(r: PooledRow): number {
  if (r.income_quintile === "") return NaN;
  const b = model.params;
  const yes = (v: string) => (v === "true" ? 1 : 0);
  return (
    b["(Intercept)"] + b.age * num(r.age) + b.sexM * (r.sex === "M" ? 1 : 0) + b.num_medications * num(r.num_medications) +
    b.prior_fallTRUE * yes(r.prior_fall) + b.dementiaTRUE * yes(r.dementia) + b.income_quintile * num(r.income_quintile)
  );
}

/** A copy of a CSV with columns dropped and cells rewritten. */
function variant(source: string, file: string, options: { drop?: string[]; edit?: (row: Record<string, string>, i: number) => void }): string {
  const [headerLine, ...lines] = readFileSync(source, "utf8").trimEnd().split("\n");
  const header = headerLine.split(",");
  const keep = header.filter((h) => !(options.drop ?? []).includes(h));
  const out = [keep.join(",")];
  lines.forEach((line, i) => {
    const cells = line.split(",");
    const row = Object.fromEntries(header.map((h, j) => [h, cells[j]]));
    options.edit?.(row, i);
    out.push(keep.map((h) => row[h]).join(","));
  });
  writeFileSync(file, out.join("\n") + "\n");
  return file;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-score-"));
  const { files } = await writeScenario({ scenario: "fall-risk", stations: 3, rows: 1500, seed: 21, out: join(work, "data") });
  const tables = await Promise.all(files.map((file) => loadCsv({ file, dataset: "fall_risk" })));
  model = await fitGlm({ formula: FORMULA, family: "binomial", levels: { sex: ["F", "M"] }, columns: columnTypes(tables[0]), aggregate: federation(tables) });
  modelFile = join(work, "fall-model.json");
  model.save(modelFile);
  const poisson = await fitGlm({ formula: "num_medications ~ age + dementia", family: "poisson", levels: {}, columns: columnTypes(tables[0]), aggregate: federation(tables) });
  poissonFile = join(work, "meds-model.json");
  poisson.save(poissonFile);

  const homecare = files[1];
  clients = readRows([homecare]);
  stationDir = join(work, "homecare-station");
  initStation({
    dir: stationDir,
    name: "homecare",
    data: [
      { name: "fall_risk", file: homecare },
      // new clients: no outcome yet
      { name: "new_clients", file: variant(homecare, join(work, "new.csv"), { drop: ["fell_12m"] }) },
      { name: "no_dementia", file: variant(homecare, join(work, "no-dementia.csv"), { drop: ["dementia"] }) },
      { name: "odd_sex", file: variant(homecare, join(work, "odd-sex.csv"), { edit: (row, i) => { if (i === 7 || i === 9) row.sex = "X"; } }) },
    ],
  });
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("werkplaats station score", () => {
  it("writes each row's predicted probability, equal to the model's prediction, with an empty score where a covariate is missing", async () => {
    const out = join(work, "scores.csv");
    const run = await cli(["station", "score", stationDir, "--model", modelFile, "--dataset", "fall_risk", "--out", out]);
    expect(run.code, run.stderr).toBe(0);
    const { header, rows } = readScores(out);
    expect(header).toEqual(["row", "probability", "risk_group"]);
    expect(rows).toHaveLength(clients.length);
    let empty = 0;
    rows.forEach(([row, score, group], i) => {
      expect(row).toBe(String(i + 1));
      const eta = linearPredictor(clients[i]);
      if (Number.isNaN(eta)) {
        empty++;
        expect(score).toBe("");
        expect(group).toBe("");
        return;
      }
      const p = 1 / (1 + Math.exp(-eta));
      expect(Math.abs(Number(score) - p)).toBeLessThan(1e-12);
      expect(group).toBe(p < 0.1 ? "low" : p < 0.2 ? "medium" : "high");
    });
    expect(empty).toBe(clients.filter((r) => r.income_quintile === "").length);
    expect(empty).toBeGreaterThan(0);
    expect(run.stdout).toContain(`scored ${clients.length - empty} of ${clients.length} rows`);
  });

  it("sorts rows into risk groups by the given cut-points, and --type link gives the linear predictor", async () => {
    const out = join(work, "scores-link.csv");
    const run = await cli(["station", "score", stationDir, "--model", modelFile, "--dataset", "fall_risk", "--out", out, "--type", "link", "--cutpoints", "0.3,0.5", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const { header, rows } = readScores(out);
    expect(header).toEqual(["row", "linear_predictor", "risk_group"]);
    const counts: Record<string, number> = { low: 0, medium: 0, high: 0 };
    rows.forEach(([, score, group], i) => {
      const eta = linearPredictor(clients[i]);
      if (Number.isNaN(eta)) return expect(score).toBe("");
      expect(Math.abs(Number(score) - eta)).toBeLessThan(1e-12 * Math.max(1, Math.abs(eta)));
      const p = 1 / (1 + Math.exp(-eta));
      const expected = p < 0.3 ? "low" : p < 0.5 ? "medium" : "high";
      expect(group).toBe(expected);
      counts[expected]++;
    });
    const summary = JSON.parse(run.stdout);
    expect(summary.risk_groups).toEqual(counts);
    expect(counts.low).toBeGreaterThan(0);
    expect(counts.medium).toBeGreaterThan(0);
    expect(counts.high).toBeGreaterThan(0);
  });

  it("scores new clients whose outcome is not known yet", async () => {
    const out = join(work, "new-scores.csv");
    const run = await cli(["station", "score", stationDir, "--model", modelFile, "--dataset", "new_clients", "--out", out]);
    expect(run.code, run.stderr).toBe(0);
    expect(readScores(out).rows).toHaveLength(clients.length);
  });

  it("a poisson model gives the mean, without risk groups", async () => {
    const out = join(work, "meds.csv");
    const run = await cli(["station", "score", stationDir, "--model", poissonFile, "--dataset", "fall_risk", "--out", out]);
    expect(run.code, run.stderr).toBe(0);
    const { header, rows } = readScores(out);
    expect(header).toEqual(["row", "mean"]);
    expect(Number(rows[0][1])).toBeGreaterThan(0);
    const cut = await cli(["station", "score", stationDir, "--model", poissonFile, "--dataset", "fall_risk", "--out", out, "--cutpoints", "0.1"]);
    expect(cut.code).toBe(2);
  });

  it("a column the model uses but the dataset lacks is a clear error (exit 3), and no file is written", async () => {
    const out = join(work, "never.csv");
    const run = await cli(["station", "score", stationDir, "--model", modelFile, "--dataset", "no_dementia", "--out", out]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('uses column "dementia", which dataset "no_dementia" at station homecare does not have');
    expect(() => readFileSync(out)).toThrow();
  });

  it("a category the model was not fitted with is an error naming it and its rows", async () => {
    const run = await cli(["station", "score", stationDir, "--model", modelFile, "--dataset", "odd_sex", "--out", join(work, "never2.csv")]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('column "sex" has "X" in 2 rows');
  });

  it("an unknown dataset or an unreadable model file exits 3", async () => {
    const unknown = await cli(["station", "score", stationDir, "--model", modelFile, "--dataset", "nope", "--out", join(work, "x.csv")]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('no dataset "nope"');
    writeFileSync(join(work, "broken.json"), "{ not json");
    const broken = await cli(["station", "score", stationDir, "--model", join(work, "broken.json"), "--dataset", "fall_risk", "--out", join(work, "x.csv")]);
    expect(broken.code).toBe(3);
    expect(broken.stderr).toContain("not a saved werkplaats model");
  });
});

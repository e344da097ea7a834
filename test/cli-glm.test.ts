/**
 * `werkplaats glm` as a scheduled script runs it: the built CLI in a child process, its stdout,
 * stderr, exit code and --out file. One `--local` run starts its own three stations; the other
 * runs use `--federation` against one LocalFederation started here, so the file starts stations
 * twice in all. Needs `npm run build` (npm test runs it first).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GlmModel } from "../sdk/index.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { writeScenario } from "../synth/index.js";
import { oracleFit } from "./glm-fixtures.js";
import { readRows } from "./helpers/pooled.js";
import { runCli as cli, freePort } from "./helpers/cli.js";

const FORMULA = "fell_12m ~ age + sex + num_medications + prior_fall + dementia + lives_alone";

let work: string;
let files: string[];
let local: LocalFederation;




/** A file standing for last night's good model, which a failed run must leave alone. */
function previousModel(name: string): { path: string; content: string } {
  const path = join(work, name);
  const content = '{"format":"werkplaats.glm.v1","note":"last night\'s model"}\n';
  writeFileSync(path, content);
  return { path, content };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-cli-glm-"));
  files = (await writeScenario({ scenario: "fall-risk", stations: 3, rows: 1500, seed: 3, out: join(work, "data") })).files;
  local = await LocalFederation.start({
    dir: join(work, "stations"),
    stations: files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })),
  });
});

afterAll(async () => {
  await local?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("werkplaats glm", () => {
  it("--local --json prints one JSON object that matches statsmodels, and --out saves a loadable model", async () => {
    const out = join(work, "model.json");
    const run = await cli(["glm", FORMULA, "--family", "binomial", "--local", ...files, "--dataset", "fall_risk", "--json", "--out", out]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.endsWith("\n")).toBe(true);
    expect(run.stdout.trim().split("\n")).toHaveLength(1);
    const json = JSON.parse(run.stdout);
    expect(json).toMatchObject({ family: "binomial", link: "logit", formula: FORMULA, n: 4500, converged: true });
    for (const key of ["iterations", "deviance", "null_deviance", "aic", "bic"]) expect(typeof json[key]).toBe("number");
    // progress went to stderr: the stations, one line per iteration
    expect(run.stderr).toMatch(/station gp listening on 127\.0\.0\.1:\d+/);
    expect(run.stderr).toMatch(/iteration 1: deviance [\d.]+ .*stations gp, homecare, hospital/);
    expect(run.stderr).toContain("stations stopped");

    const rows = readRows(files);
    const pooled = join(work, "pooled.csv");
    const header = Object.keys(rows[0]);
    writeFileSync(pooled, [header.join(","), ...rows.map((r) => header.map((h) => (r[h] === "true" ? "1" : r[h] === "false" ? "0" : r[h])).join(","))].join("\n"));
    const oracle = oracleFit({ csv: pooled, formula: FORMULA, family: "binomial" });
    const rName = (k: string) => k.replace(/^sex\[T\.M\]$/, "sexM").replace(/^(prior_fall|dementia|lives_alone)$/, "$1TRUE");
    const params = Object.fromEntries(Object.entries(oracle.params).map(([k, v]) => [rName(k), v]));
    const bse = Object.fromEntries(Object.entries(oracle.bse).map(([k, v]) => [rName(k), v]));
    expect(json.coefficients.map((c: { term: string }) => c.term).sort()).toEqual(Object.keys(params).sort());
    for (const c of json.coefficients as Array<{ term: string; estimate: number; std_error: number; ci_low: number; ci_high: number; p_value: number }>) {
      expect(Math.abs(c.estimate - params[c.term]) / Math.max(Math.abs(params[c.term]), 1e-3), c.term).toBeLessThan(1e-6);
      expect(Math.abs(c.std_error - bse[c.term]) / bse[c.term], c.term).toBeLessThan(1e-6);
      expect(c.ci_low).toBeLessThan(c.estimate);
      expect(c.ci_high).toBeGreaterThan(c.estimate);
      expect(c.p_value).toBeGreaterThanOrEqual(0);
    }
    expect(Math.abs(json.deviance - oracle.deviance) / oracle.deviance).toBeLessThan(1e-6);

    const saved = GlmModel.load(out);
    expect(saved.toJSON()).toEqual(json);
    expect(saved.predict({ age: 85, sex: "F", num_medications: 7, prior_fall: true, dementia: true, lives_alone: true })).toBeGreaterThan(0.3);
  });

  it("prints R's summary without --json", async () => {
    const run = await cli(["glm", FORMULA, "--family", "binomial", "--federation", local.federationFile, "--dataset", "fall_risk"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("Coefficients:");
    expect(run.stdout).toContain("Odds ratios (95% Wald CI):");
    expect(run.stdout).toMatch(/Number of Fisher Scoring iterations: \d/);
  });

  it("a bad formula exits 3 without starting stations, and leaves an existing --out file intact", async () => {
    const previous = previousModel("bad-formula.json");
    const run = await cli(["glm", "fell_12m ~ age +", "--family", "binomial", "--local", ...files, "--out", previous.path]);
    expect(run.code).toBe(3);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain("bad formula: expected a term");
    expect(run.stderr).toContain("  fell_12m ~ age +\n                  ^");
    expect(run.stderr).not.toContain("listening");
    expect(readFileSync(previous.path, "utf8")).toBe(previous.content);
  });

  it("an unknown column exits 3 naming it, and leaves an existing --out file intact", async () => {
    const previous = previousModel("unknown-column.json");
    const run = await cli(["glm", "fell_12m ~ agee + sex", "--family", "binomial", "--federation", local.federationFile, "--dataset", "fall_risk", "--json", "--out", previous.path]);
    expect(run.code).toBe(3);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain('no column "agee"');
    expect(readFileSync(previous.path, "utf8")).toBe(previous.content);
  });

  it("a federation with an unreachable station exits 6 naming the station", async () => {
    const federation = JSON.parse(readFileSync(local.federationFile, "utf8"));
    federation.stations[1].address = `127.0.0.1:${await freePort()}`;
    const file = join(work, "federation-unreachable.json");
    writeFileSync(file, JSON.stringify(federation));
    const started = Date.now();
    const run = await cli(["glm", FORMULA, "--family", "binomial", "--federation", file, "--dataset", "fall_risk", "--json", "--timeout", "3"]);
    expect(run.code).toBe(6);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(`station ${federation.stations[1].name}`);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("a malformed --local file exits 3 naming the file and line, and stops the stations that did start", async () => {
    const ragged = join(work, "ragged.csv");
    writeFileSync(ragged, "age,sex,fell_12m\n80,F,true\n81,M\n");
    const started = Date.now();
    const run = await cli(["glm", FORMULA, "--family", "binomial", "--local", files[0], ragged, files[2]]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`station ragged could not load its data: ${ragged}, line 3`);
    // a station left running would hold the command's pipes open: it would not have exited
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it("too few --local files exits 5 before starting anything", async () => {
    const run = await cli(["glm", FORMULA, "--family", "binomial", "--local", files[0], files[1]]);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain("at least 3 stations");
  });

  it("not converged: exit 0 with a warning and converged=false, or exit 7 with --fail-on-not-converged", async () => {
    const soft = await cli(["glm", FORMULA, "--family", "binomial", "--federation", local.federationFile, "--dataset", "fall_risk", "--json", "--max-iterations", "1"]);
    expect(soft.code, soft.stderr).toBe(0);
    expect(JSON.parse(soft.stdout).converged).toBe(false);
    expect(soft.stderr).toContain("did not converge");

    const previous = previousModel("not-converged.json");
    const hard = await cli([
      "glm", FORMULA, "--family", "binomial", "--federation", local.federationFile, "--dataset", "fall_risk",
      "--json", "--max-iterations", "1", "--fail-on-not-converged", "--out", previous.path,
    ]);
    expect(hard.code).toBe(7);
    expect(hard.stdout).toBe("");
    expect(readFileSync(previous.path, "utf8")).toBe(previous.content);
  });

  it("usage errors exit 2; --help exits 0 and documents the exit codes", async () => {
    expect((await cli(["glm", FORMULA, "--local", ...files])).code).toBe(2); // no --family
    expect((await cli(["glm", FORMULA, "--family", "binomial"])).code).toBe(2); // neither --local nor --federation
    const help = await cli(["glm", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--fail-on-not-converged");
    expect(help.stdout).toContain("--standard-errors");
    const bad = await cli(["glm", FORMULA, "--family", "binomial", "--standard-errors", "sandwich", "--local", ...files]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--standard-errors must be one of at-estimates, last-iteration");
    expect(help.stdout).toContain("Exit codes:");
    expect(existsSync(join(work, "model.json"))).toBe(true);
  });
});

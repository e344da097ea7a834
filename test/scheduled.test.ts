/**
 * What a scheduler (cron, CI) relies on: `--out` never leaves a half-written file and never
 * replaces the last good one, even when the run is killed; exit codes it can tell apart;
 * `--log-format json` for log collectors; `glm --compare` to see how far last night's model moved.
 * The exit codes 2, 3, 5, 6 and 7 are pinned in cli-glm.test.ts; 9 (differs) in replay.test.ts;
 * 4 (refused by policy) here. Needs `npm run build` (npm test runs it first).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalFederation } from "../sdk/local-federation.js";
import { writeScenario } from "../synth/index.js";
import { readRows } from "./helpers/pooled.js";
import { runCli as cli } from "./helpers/cli.js";

const FORMULA = "fell_12m ~ age + sex + num_medications + prior_fall";

let work: string;
let files: string[];
let local: LocalFederation;
let fed: string;



const glmArgs = (...more: string[]) => ["glm", FORMULA, "--family", "binomial", "--federation", fed, "--dataset", "fall_risk", ...more];

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-scheduled-"));
  files = (await writeScenario({ scenario: "fall-risk", stations: 3, rows: 800, seed: 5, out: join(work, "data") })).files;
  local = await LocalFederation.start({ dir: join(work, "stations"), stations: files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })) });
  fed = local.federationFile;
});

afterAll(async () => {
  await local?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("scheduled runs", () => {
  it("a glm --out run SIGKILLed after its first iteration leaves the previous model byte-identical and no temporary file", async () => {
    const dir = mkdtempSync(join(work, "killed-"));
    const out = join(dir, "model.json");
    const good = await cli(glmArgs("--out", out));
    expect(good.code, good.stderr).toBe(0);
    const previous = readFileSync(out);

    let killedAt = "";
    const run = await cli(glmArgs("--out", out, "--log-format", "json"), { onStderr: (text, kill) => {
      if (!killedAt && text.includes('"event":"iteration"')) {
        killedAt = text;
        kill("SIGKILL");
      }
    } });
    expect(run.signal).toBe("SIGKILL");
    // killed in the middle of the fit: no line says it finished or saved
    expect(killedAt).not.toContain('"event":"fitted"');
    expect(run.stderr).not.toContain('"event":"saved"');
    expect(readFileSync(out).equals(previous)).toBe(true);
    expect(readdirSync(dir)).toEqual(["model.json"]);

    // the next run replaces it with a complete new model and leaves nothing else behind
    const next = await cli(glmArgs("--out", out));
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(readFileSync(out, "utf8")).provenance.call.method).toBe("glm");
    expect(readdirSync(dir)).toEqual(["model.json"]);
  });

  it("a stale temporary file from a run killed mid-write is removed by the next run with the same --out", async () => {
    const dir = mkdtempSync(join(work, "stale-"));
    const out = join(dir, "result.json");
    const stale = join(dir, ".result.json.0123456789ab.tmp");
    writeFileSync(stale, '{"half":');
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(stale, old, old);
    const run = await cli(["query", "--federation", fed, "--dataset", "fall_risk", "--out", out, "count"]);
    expect(run.code, run.stderr).toBe(0);
    expect(readdirSync(dir)).toEqual(["result.json"]);
  });

  it("refused by a station's policy exits 4 and leaves the --out file alone; with --log-format json the failure is a JSON line", async () => {
    // an age threshold that selects 1 … 9 rows at the first station: below its minimum subset size
    const ages = readRows([files[0]]).map((r) => Number(r.age)).sort((a, b) => b - a);
    const threshold = ages.find((_, k) => k + 1 >= 1 && k + 1 <= 9 && ages[k + 1] !== ages[k])!;
    expect(threshold).toBeDefined();
    const out = join(work, "refused.json");
    writeFileSync(out, "last good\n");
    const run = await cli(glmArgs("--where", `age >= ${threshold}`, "--out", out, "--log-format", "json"));
    expect(run.code, run.stderr).toBe(4);
    expect(readFileSync(out, "utf8")).toBe("last good\n");
    const events = jsonLines(run.stderr);
    expect(events.at(-1)).toMatchObject({ level: "error", event: "failed", exit_code: 4, code: "POLICY_REFUSED" });
    // Another station may refuse first, for a factor level too rare among its few rows.
    expect(String(events.at(-1)!.message)).toMatch(/minimum subset size|minimum cell size/);

    const q = await cli(["query", "--federation", fed, "--dataset", "fall_risk", "--where", `age >= ${threshold}`, "--out", out, "count"]);
    expect(q.code, q.stderr).toBe(4);
    expect(readFileSync(out, "utf8")).toBe("last good\n");
  });

  it("--log-format json: every stderr line of glm and query is a JSON object with time, level and event", async () => {
    const g = await cli(glmArgs("--json", "--log-format", "json"));
    expect(g.code, g.stderr).toBe(0);
    const events = jsonLines(g.stderr);
    for (const e of events) {
      expect(Number.isNaN(Date.parse(String(e.time)))).toBe(false);
      expect(["debug", "info", "warn", "error"]).toContain(e.level);
      expect(typeof e.event).toBe("string");
    }
    const iterations = events.filter((e) => e.event === "iteration");
    expect(iterations.length).toBeGreaterThan(1);
    expect(iterations[0]).toMatchObject({ iteration: 1, stations: expect.any(Array), deviance: expect.any(Number) });
    expect(events.find((e) => e.event === "fitted")).toMatchObject({ converged: true });
    expect(JSON.parse(g.stdout).provenance.stations).toHaveLength(3);

    const q = await cli(["query", "--federation", fed, "--dataset", "fall_risk", "--log-format", "json", "--json", "mean", "age", "--by", "sex"]);
    expect(q.code, q.stderr).toBe(0);
    expect(jsonLines(q.stderr).map((e) => e.event)).toEqual(["connected", "computed"]);
    expect(JSON.parse(q.stdout).provenance.call).toMatchObject({ method: "summary", args: ["age", { by: ["sex"], levels: { sex: ["F", "M"] } }] });

    const bad = await cli(["query", "--federation", fed, "--dataset", "fall_risk", "--log-format", "json", "mean", "no_such_column"]);
    expect(bad.code).toBe(3);
    expect(jsonLines(bad.stderr).at(-1)).toMatchObject({ event: "failed", exit_code: 3 });
  });

  it("glm --compare reports per term the previous and new estimate, their difference and in SEs, and both AUCs", async () => {
    const previousFile = join(work, "older.json");
    const older = await cli(glmArgs("--where", "age >= 75", "--out", previousFile));
    expect(older.code, older.stderr).toBe(0);
    const previous = JSON.parse(readFileSync(previousFile, "utf8")) as { coefficients: { term: string; estimate: number; std_error: number }[] };

    const run = await cli(glmArgs("--compare", previousFile, "--json"));
    expect(run.code, run.stderr).toBe(0);
    const model = JSON.parse(run.stdout) as {
      coefficients: { term: string; estimate: number }[];
      comparison: { coefficients: { term: string; previous: number; new: number; difference: number; difference_in_se: number }[]; auc: { previous: number; new: number; difference: number } };
    };
    expect(model.comparison.coefficients.map((c) => c.term)).toEqual(model.coefficients.map((c) => c.term));
    for (const c of model.comparison.coefficients) {
      const before = previous.coefficients.find((x) => x.term === c.term)!;
      expect(c.previous).toBe(before.estimate);
      expect(c.new).toBe(model.coefficients.find((x) => x.term === c.term)!.estimate);
      expect(c.difference).toBeCloseTo(c.new - c.previous, 12);
      expect(c.difference_in_se).toBeCloseTo(c.difference / before.std_error, 12);
    }
    expect(model.comparison.coefficients.some((c) => Math.abs(c.difference) > 0)).toBe(true);
    const auc = model.comparison.auc;
    expect(auc.previous).toBeGreaterThan(0.5);
    expect(auc.new).toBeGreaterThan(0.5);
    expect(auc.difference).toBeCloseTo(auc.new - auc.previous, 12);
    // on the rows both are evaluated on, the model fitted to them discriminates at least as well
    expect(auc.new).toBeGreaterThanOrEqual(auc.previous - 0.01);

    const text = await cli(glmArgs("--compare", previousFile));
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain("Compared with the previous model");
    expect(text.stdout).toMatch(/diff \/ prev SE/);
    expect(text.stdout).toMatch(/AUC 0\.\d{4} → 0\.\d{4}/);

    const missing = await cli(glmArgs("--compare", join(work, "no-such-model.json")));
    expect(missing.code).toBe(3);
  });
});

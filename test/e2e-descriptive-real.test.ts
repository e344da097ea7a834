/**
 * Descriptive statistics on a real, public dataset: Fair's 1978 survey of extramarital affairs
 * (6 366 women, Redbook 1974), as statsmodels ships it (Debian's python3-statsmodels), split
 * round-robin over three real station processes. The reference numbers come from pandas and
 * numpy on the pooled rows (test/oracle/descriptive_oracle.py), not from our own code.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Federation } from "../sdk/federation.js";
import { cliEntryPoint } from "../common/package-root.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { wilsonInterval } from "../sdk/results/intervals.js";

interface Summary {
  n: number;
  sum: number;
  mean: number;
  variance: number;
}

interface Oracle {
  files: string[];
  rows: number;
  affairs_by_religious: Record<string, Summary>;
  yrs_married: Summary;
  affairs_quantiles: Record<string, number>;
  crosstab_religious_occupation: Record<string, Record<string, number>>;
  had_affair_by_occupation: Record<string, [number, number]>;
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe("Fair's affairs data (statsmodels) over three station processes", () => {
  let work: string;
  let local: LocalFederation;
  let fed: Federation;
  let oracle: Oracle;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "werkplaats-e2e-fair-"));
    const answer = execFileSync("/usr/bin/python3", [join(import.meta.dirname, "oracle", "descriptive_oracle.py")], {
      input: JSON.stringify({ dataset: "fair", out: join(work, "data"), stations: 3 }),
      encoding: "utf8",
    });
    oracle = JSON.parse(answer) as Oracle;
    local = await LocalFederation.start({
      dir: join(work, "stations"),
      stations: oracle.files.map((file, i) => ({ name: `station-${i + 1}`, datasets: { fair: file } })),
    });
    fed = await local.connect({ timeoutMs: 20_000 });
  });

  afterAll(async () => {
    fed?.close();
    await local?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("gives n, mean and variance of a fractional column by group to 1e-9 of pandas", async () => {
    const s = await fed.dataset("fair").summary("affairs", { by: ["religious"] });
    for (const [level, ref] of Object.entries(oracle.affairs_by_religious)) {
      const c = s.get({ religious: level })!;
      expect(c.n).toBe(ref.n);
      // Not bit-exact: the pooled oracle sums in floating point, the stations exactly in fixed point.
      expect(relative(c.sum!, ref.sum)).toBeLessThan(1e-12);
      expect(relative(c.mean!, ref.mean)).toBeLessThan(1e-9);
      expect(relative(c.variance!, ref.variance)).toBeLessThan(1e-9);
    }
  });

  it("sums a column of half-years exactly", async () => {
    const s = await fed.dataset("fair").sum("yrs_married");
    expect(s.cells[0].n).toBe(oracle.rows);
    expect(s.cells[0].sum).toBe(oracle.yrs_married.sum);
    expect(relative(s.cells[0].variance!, oracle.yrs_married.variance)).toBeLessThan(1e-9);
  });

  it("cross-tabulates religiousness by occupation with the margins pandas.crosstab gives", async () => {
    const t = await fed.dataset("fair").where("occupation >= 2 and occupation <= 5").crosstab("religious", "occupation");
    const ref = oracle.crosstab_religious_occupation;
    for (const r of ["1", "2", "3", "4"]) {
      for (const c of ["2", "3", "4", "5"]) expect(t.get(r, c)).toBe(ref[r][c]);
      expect(t.get(r, "1")).toBe(0);
      expect(t.get(r, "6")).toBe(0);
      expect(t.rowTotal(r)).toBe(ref[r].total);
    }
    for (const c of ["2", "3", "4", "5"]) expect(t.columnTotal(c)).toBe(ref.total[c]);
    expect(t.total.count).toBe(ref.total.total);
  });

  it("gives the proportion who had an affair by occupation with Wilson intervals", async () => {
    const p = await fed.dataset("fair").where("occupation >= 2 and occupation <= 5").proportion("affairs > 0", { by: ["occupation"] });
    for (const [occupation, [x, n]] of Object.entries(oracle.had_affair_by_occupation)) {
      const c = p.get({ occupation })!;
      expect([c.numerator, c.denominator]).toEqual([x, n]);
      expect(c.proportion).toBe(x / n);
      const [lo, hi] = wilsonInterval(x, n);
      expect([c.lower, c.upper]).toEqual([lo, hi]);
    }
  });

  it("reads quantiles within half a bin of numpy's inverted-CDF quantiles", async () => {
    const q = await fed.dataset("fair").quantile("affairs", [0.5, 0.75, 0.9], { bins: 2000 });
    for (const [p, ref] of Object.entries(oracle.affairs_quantiles)) {
      expect(Math.abs(q.value(Number(p))! - ref)).toBeLessThanOrEqual(q.errorBound * (1 + 1e-12));
    }
  });

  describe("werkplaats query", () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, [cliEntryPoint(), "query", ...args], { encoding: "utf8", timeout: 60_000 });

    it("prints one JSON object: a crosstab with margins", () => {
      const run = cli("--federation", local.federationFile, "--dataset", "fair", "--where", "occupation >= 2 and occupation <= 5", "crosstab", "religious", "occupation", "--json");
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      const result = JSON.parse(run.stdout) as { kind: string; total: { count: number }; rowTotals: Array<{ group: Record<string, string>; count: number }> };
      expect(result.kind).toBe("crosstab");
      expect(result.total.count).toBe(oracle.crosstab_religious_occupation.total.total);
      expect(result.rowTotals.find((r) => r.group.religious === "2")!.count).toBe(oracle.crosstab_religious_occupation["2"].total);
    });

    it("runs an inline indicator set and prints a table", () => {
      const set = JSON.stringify([
        { name: "had an affair", numerator: "affairs > 0" },
        { name: "two or more children", numerator: "children >= 2" },
      ]);
      const run = cli("--federation", local.federationFile, "--dataset", "fair", "indicators", set, "--by", "religious");
      expect(run.status).toBe(0);
      expect(run.stdout).toContain("had an affair");
      expect(run.stdout).toContain("religious");
    });

    it("exits 2 on a usage error and 3 on a bad expression, before contacting a station", () => {
      const usage = cli("--federation", local.federationFile, "--dataset", "fair", "crosstab", "religious");
      expect(usage.status).toBe(2);
      expect(usage.stderr).toContain("two arguments");
      const bad = cli("--federation", local.federationFile, "--dataset", "fair", "proportion", "affairs >");
      expect(bad.status).toBe(3);
      const help = cli("--help");
      expect(help.status).toBe(0);
      expect(help.stdout).toContain("standardised-rate");
    });
  });
});

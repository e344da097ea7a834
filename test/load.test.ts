/**
 * Many jobs at once, and many stations in one job, over real station processes. Every job has its
 * own where-filter, so results differ from job to job and each is checked against the pooled rows:
 * a job whose masks were mixed with another's, or that read another job's contribution, would not
 * add up. (The 50-station job runs in `npm run bench -- stations50`: 50 station processes are too
 * heavy for the test suite on a shared two-core machine; here it is 12.)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Federation } from "../sdk/federation.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { writeScenario } from "../synth/index.js";
import { type PooledRow, num, readRows } from "./helpers/pooled.js";

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-load-"));
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * Twenty different filters: an age threshold crossed with sex or living alone. Thresholds five
 * years apart, so that no two filters' row sets at a station differ by fewer than the minimum
 * subset size (which the station's differencing record would refuse).
 */
function filters(): Array<{ where: string; keep: (r: PooledRow) => boolean }> {
  const out: Array<{ where: string; keep: (r: PooledRow) => boolean }> = [];
  const alone = (r: PooledRow) => String(r.lives_alone) === "true";
  for (const age of [65, 70, 75, 80, 85]) {
    out.push({ where: `age >= ${age} and sex == "F"`, keep: (r) => num(r.age) >= age && r.sex === "F" });
    out.push({ where: `age >= ${age} and sex == "M"`, keep: (r) => num(r.age) >= age && r.sex === "M" });
    out.push({ where: `age >= ${age} and lives_alone`, keep: (r) => num(r.age) >= age && alone(r) });
    out.push({ where: `age >= ${age} and not lives_alone`, keep: (r) => num(r.age) >= age && String(r.lives_alone) === "false" });
  }
  return out;
}

describe("load", () => {
  it("runs 20 concurrent jobs from 5 SDK clients against 5 stations, each result right", async () => {
    const data = await writeScenario({ scenario: "fall-risk", stations: 5, rows: 2000, seed: 31, out: join(work, "five") });
    const local = await LocalFederation.start({
      dir: join(work, "five-stations"),
      stations: data.files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })),
    });
    const feds: Federation[] = [];
    try {
      for (let i = 0; i < 5; i++) feds.push(await local.connect({ timeoutMs: 30_000 }));
      const pooled = readRows(data.files);
      const jobs = filters();
      const started = performance.now();
      const results = await Promise.all(jobs.map((j, i) => feds[i % feds.length].dataset("fall_risk").where(j.where).count()));
      const ms = performance.now() - started;
      console.log(`load: ${jobs.length} concurrent jobs from ${feds.length} clients over 5 stations in ${ms.toFixed(0)} ms`);
      results.forEach((result, i) => {
        expect(result.stations.length, jobs[i].where).toBe(5);
        expect(result.total, jobs[i].where).toBe(pooled.filter(jobs[i].keep).length);
      });
      // The filters really do differ: a mix-up between jobs could not hide behind equal answers.
      expect(new Set(results.map((r) => r.total)).size).toBeGreaterThan(15);
    } finally {
      feds.forEach((f) => f.close());
      await local.stop();
    }
  });

  it("runs one job over 12 stations correctly (round time printed, not asserted)", async () => {
    const data = await writeScenario({ scenario: "fall-risk", stations: 12, rows: 150, seed: 37, out: join(work, "twelve") });
    const started = performance.now();
    const local = await LocalFederation.start({
      dir: join(work, "twelve-stations"),
      stations: data.files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })),
    });
    const startMs = performance.now() - started;
    const fed = await local.connect({ timeoutMs: 30_000 });
    try {
      const pooled = readRows(data.files);
      const t = performance.now();
      const result = await fed.dataset("fall_risk").where("age >= 70").count({ by: ["sex"] });
      const roundMs = performance.now() - t;
      console.log(`load: 12 stations started in ${startMs.toFixed(0)} ms; one count job over them (cold connections) in ${roundMs.toFixed(0)} ms`);
      expect(result.stations.length).toBe(12);
      const older = pooled.filter((r) => num(r.age) >= 70);
      expect(result.cells.map((c) => c.count)).toEqual([older.filter((r) => r.sex === "F").length, older.filter((r) => r.sex === "M").length]);
    } finally {
      fed.close();
      await local.stop();
    }
  });
});

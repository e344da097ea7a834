/**
 * Replay: a saved result or model run again on its federation says "identical", or names what
 * changed — a station's data snapshot, a station missing or added — and lists the numbers that
 * moved. One LocalFederation of four stations; "fed3" is a federation file naming three of them,
 * "fed4" all four. Every result of a study covers its fixed station set (governance/policy.ts), so
 * the set changes only when the stewards change it: the stations start with a study of the first
 * three, and the tests switch the policy to all four (and back) where a station is added (missing). The data-change test runs last: it edits one station's CSV and restarts it.
 * Needs `npm run build` (npm test runs it first).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Federation, type ReplayReport } from "../sdk/index.js";
import { LOCAL_STUDY, LocalFederation } from "../sdk/local-federation.js";
import { POLICY_FILE, defaultPolicy } from "../station-daemon/governance/policy.js";
import { writeScenario } from "../synth/index.js";
import { runCli as cli } from "./helpers/cli.js";

const FORMULA = "fell_12m ~ age + sex + prior_fall";

let work: string;
let files: string[];
let local: LocalFederation;
let fed3: string;
let fed4: string;
let names: string[];



beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-replay-"));
  files = (await writeScenario({ scenario: "fall-risk", stations: 4, rows: 400, seed: 11, out: join(work, "data") })).files;
  names = files.map((f) => basename(f, ".csv"));
  local = await LocalFederation.start({
    dir: join(work, "stations"),
    stations: files.map((f, i) => ({ name: names[i], datasets: { fall_risk: f } })),
    policy: (researcherKey) => studyOf(researcherKey, names.slice(0, 3)),
  });
  fed4 = local.federationFile;
  const file = JSON.parse(readFileSync(fed4, "utf8")) as { stations: unknown[] };
  fed3 = join(work, "fed3.json");
  writeFileSync(fed3, JSON.stringify({ ...file, stations: file.stations.slice(0, 3) }));
});

/** The local study, run by the given stations. */
function studyOf(researcherKey: string, stations: string[]): Record<string, unknown> {
  const policy = defaultPolicy({ researcherKey, researcherName: "local analyst", study: LOCAL_STUDY });
  (policy.studies as Array<Record<string, unknown>>)[0].stations = stations;
  return policy;
}

/** The stewards change the study's station set: every station's policy, then a restart. */
async function setStudyStations(stations: string[]): Promise<void> {
  for (const name of names) {
    const file = join(local.dir, name, POLICY_FILE);
    const policy = JSON.parse(readFileSync(file, "utf8")) as { studies: Array<Record<string, unknown>> };
    policy.studies[0].stations = stations;
    writeFileSync(file, JSON.stringify(policy, null, 2) + "\n");
  }
  await Promise.all(names.map((name) => local.restart(name)));
}

afterAll(async () => {
  await local?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("replay", () => {
  it("records provenance on results and models: call, jobs, stations with versions and snapshot fingerprints, time", async () => {
    const fed = await Federation.connect(fed3);
    try {
      // Not "age >= 70": at a 100-row station its rows differ from the all-rows model below by fewer
      // than 10 people, which the station refuses as differencing.
      const count = await fed.dataset("fall_risk").where("age >= 80").count({ by: ["sex"] });
      const p = count.provenance!;
      expect(p.format).toBe("werkplaats.provenance.v1");
      expect(p.federation.file).toBe(fed3);
      expect(p.call).toEqual({ method: "count", args: [{ by: ["sex"], levels: { sex: ["F", "M"] } }] });
      expect(p.where).toMatchObject({ kind: "compare" });
      expect(p.jobs).toHaveLength(1);
      expect(p.stations.map((s) => s.name)).toEqual(names.slice(0, 3).sort());
      for (const s of p.stations) {
        expect(s.fingerprint).toMatch(/^[0-9a-f]{64}$/);
        expect(s.softwareVersion).toMatch(/^\d+\.\d+\.\d+/);
        expect(s.protocolVersion).toBe("werkplaats.v1");
      }
      expect(Date.now() - Date.parse(p.time)).toBeLessThan(60_000);
      expect((count.toJSON() as { provenance: unknown }).provenance).toEqual(p);
      // the fingerprints of different data differ
      expect(new Set(p.stations.map((s) => s.fingerprint)).size).toBe(3);

      const model = await fed.dataset("fall_risk").glm(FORMULA, { family: "binomial" });
      expect(model.provenance!.call.method).toBe("glm");
      expect(model.provenance!.call.args).toEqual([FORMULA, { family: "binomial", link: "logit", levels: { sex: ["F", "M"] } }]);
      expect(model.provenance!.jobCount).toBe(model.iterations + 1);
    } finally {
      fed.close();
    }
  });

  it("an unchanged federation replays identical, from the SDK (fed.replay and Federation.replay on the JSON)", async () => {
    const fed = await Federation.connect(fed3);
    try {
      const q = fed.dataset("fall_risk").where('sex == "F"');
      const summary = await q.summary("num_medications", { by: ["prior_fall"] });
      const again = await fed.replay(summary);
      expect(again.identical).toBe(true);
      expect(again.differences).toEqual([]);
      expect(again.numeric).toEqual([]);
      const quantile = await q.quantile("age", [0.5]);
      const fromJson: ReplayReport = await Federation.replay(JSON.parse(JSON.stringify(quantile.toJSON())));
      expect(fromJson.identical).toBe(true);
    } finally {
      fed.close();
    }
  });

  it("the CLI replays a query and a model: identical, exit 0; --json gives the report", async () => {
    const q = await cli(["query", "--federation", fed3, "--dataset", "fall_risk", "--json", "--out", join(work, "q3.json"), "crosstab", "sex", "prior_fall"]);
    expect(q.code, q.stderr).toBe(0);
    expect(JSON.parse(q.stdout).provenance.call.method).toBe("crosstab");
    expect(JSON.parse(readFileSync(join(work, "q3.json"), "utf8"))).toEqual(JSON.parse(q.stdout));
    const r = await cli(["replay", join(work, "q3.json")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/identical/);

    const m = await cli(["glm", FORMULA, "--family", "binomial", "--federation", fed3, "--dataset", "fall_risk", "--out", join(work, "m3.json")]);
    expect(m.code, m.stderr).toBe(0);
    const rm = await cli(["replay", join(work, "m3.json"), "--json", "--log-format", "json"]);
    expect(rm.code, rm.stderr).toBe(0);
    const report = JSON.parse(rm.stdout) as ReplayReport;
    expect(report.identical).toBe(true);
    const events = rm.stderr.trim().split("\n").map((l) => JSON.parse(l) as { event: string; level: string; time: string });
    expect(events.map((e) => e.event)).toContain("iteration");
    expect(events.at(-1)!.event).toBe("identical");
  });

  // Two policy changes with a restart of every station each, and two CLI runs: slow on a busy machine.
  it("names a station added and a station missing (exit 9)", async () => {
    await setStudyStations(names);
    const added = await cli(["replay", join(work, "q3.json"), "--federation", fed4]);
    expect(added.code, added.stderr).toBe(9);
    expect(added.stdout).toContain(`station ${names[3]} was added`);
    expect(added.stdout).toMatch(/numbers? in \d+ estimates? or cells? differ/);

    const q4 = await cli(["query", "--federation", fed4, "--dataset", "fall_risk", "--json", "--out", join(work, "q4.json"), "count", "--by", "sex"]);
    expect(q4.code, q4.stderr).toBe(0);
    await setStudyStations(names.slice(0, 3));
    const missing = await cli(["replay", join(work, "q4.json"), "--federation", fed3, "--json"]);
    expect(missing.code, missing.stderr).toBe(9);
    const report = JSON.parse(missing.stdout) as ReplayReport;
    expect(report.differences).toContainEqual({ kind: "station_missing", station: names[3] });
    expect(report.differences.filter((d) => d.kind === "snapshot_changed")).toEqual([]);
    expect(report.items.map((i) => i.item)).toEqual(expect.arrayContaining(["cells[sex=F]", "cells[sex=M]"]));
  }, 240_000);

  it("after one station's data changes, names that station's snapshot and lists the numeric differences (exit 9)", async () => {
    // Drop 25 rows from the first station's file and restart it: it loads the file again.
    const file = files[0];
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    writeFileSync(file, lines.slice(0, lines.length - 25).join("\n") + "\n");
    await local.restart(names[0]);

    const r = await cli(["replay", join(work, "m3.json"), "--json"]);
    expect(r.code, r.stderr).toBe(9);
    const report = JSON.parse(r.stdout) as ReplayReport;
    expect(report.identical).toBe(false);
    const changed = report.differences.filter((d) => d.kind === "snapshot_changed");
    expect(changed).toEqual([expect.objectContaining({ kind: "snapshot_changed", station: names[0], dataset: "fall_risk" })]);
    expect(report.differences.filter((d) => d.kind === "station_added" || d.kind === "station_missing")).toEqual([]);
    const n = report.numeric.find((d) => d.path === "n")!;
    expect(n.original - n.replayed).toBe(25);
    const age = report.items.find((i) => i.item === "coefficients[age]")!;
    expect(age.absolute).toBeGreaterThan(0);
    expect(age.relative).toBeGreaterThan(0);
    expect(report.largest.absolute).toBeGreaterThan(0);

    const text = await cli(["replay", join(work, "m3.json")]);
    expect(text.code).toBe(9);
    expect(text.stdout).toContain(`station ${names[0]}: dataset snapshot changed`);
    expect(text.stdout).toMatch(/coefficients\[age\]: largest absolute [\d.e+-]+, relative [\d.e+-]+/);
  });

  it("a file without provenance exits 3; a missing file exits 3; no argument exits 2", async () => {
    const bare = join(work, "bare.json");
    writeFileSync(bare, '{"kind":"count","cells":[]}');
    expect((await cli(["replay", bare])).code).toBe(3);
    expect((await cli(["replay", join(work, "nope.json")])).code).toBe(3);
    expect((await cli(["replay"])).code).toBe(2);
  });
});

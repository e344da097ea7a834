/**
 * A station operator's path through the command line, and the messages on it: `station init`
 * with a fixed listen address and its federation entry, `federation add`, `station roster`
 * checking the station's own entry, a station without a roster that starts and refuses jobs, and
 * mistakes in a federation file reported as exit 3 naming the file and field — never as a
 * refused signature or an unreachable "impostor".
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEntryPoint } from "../common/package-root.js";
import { writeScenario } from "../synth/index.js";
import { freePort, runCli as cli } from "./helpers/cli.js";
import { tempDir } from "./helpers/temp.js";

interface Entry {
  name: string;
  address: string;
  identityKey: string;
  tlsFingerprint: string;
}

let work: string;
let files: string[];
let researcherPub: string;
const entries: Entry[] = [];
const dirs: string[] = [];
const running: ChildProcess[] = [];
let fedFile: string;

function startStation(dir: string): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, [cliEntryPoint(), "station", "start", dir, "--exit-with-parent", String(process.pid)], { stdio: ["ignore", "pipe", "pipe"] });
  running.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve({ child, address: m[1] });
    });
    child.once("exit", (code) => reject(new Error(`station ${dir} exited with ${code}: ${err}`)));
  });
}

async function stopAll(): Promise<void> {
  await Promise.all(running.splice(0).map((c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : (c.once("exit", () => r()), c.kill("SIGTERM"))))));
}

/** The federation file with one station's entry changed. */
function variant(name: string, change: (stations: Array<Record<string, unknown>>) => void): string {
  const fed = JSON.parse(readFileSync(fedFile, "utf8")) as { stations: Array<Record<string, unknown>> };
  change(fed.stations);
  const file = join(work, `${name}.json`);
  writeFileSync(file, JSON.stringify(fed));
  return file;
}

beforeAll(async () => {
  work = tempDir("werkplaats-operator-");
  files = (await writeScenario({ scenario: "fall-risk", stations: 3, rows: 900, seed: 5, out: join(work, "data") })).files;
  expect((await cli(["keys", "new", "--out", join(work, "researcher")])).code).toBe(0);
  researcherPub = join(work, "researcher", "researcher.pub");
  fedFile = join(work, "federation.json");
});

afterAll(stopAll);

describe("station init", () => {
  it("listens on 127.0.0.1:7443 unless told otherwise, and says the roster is still to come", async () => {
    const dir = join(work, "default-listen");
    const run = await cli(["station", "init", dir, "--name", "gp", "--data", `fall_risk=${files[0]}`]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, "station.json"), "utf8")).listen).toBe("127.0.0.1:7443");
    expect(run.stdout).toContain('"address":"127.0.0.1:7443"');
    expect(run.stderr).toMatch(/roster is empty: the station starts, but refuses jobs until you run werkplaats station roster/);
  });

  it("prints the station's federation entry with --json, and warns loudly about a demonstration study", async () => {
    for (const file of files) {
      const name = basename(file, ".csv");
      const dir = join(work, "stations", name);
      const listen = `127.0.0.1:${await freePort()}`;
      const run = await cli(["station", "init", dir, "--name", name, "--data", `fall_risk=${file}`, "--listen", listen, "--allow-researcher", researcherPub, "--study", "falls", "--json"]);
      expect(run.code, run.stderr).toBe(0);
      const entry = JSON.parse(run.stdout) as Entry;
      expect(Object.keys(entry).sort()).toEqual(["address", "identityKey", "name", "tlsFingerprint"]);
      expect(entry).toMatchObject({ name, address: listen });
      expect(entry.identityKey).toBe(readFileSync(join(dir, "identity.pub"), "utf8").trim());
      expect(run.stderr).toMatch(/WARNING: .*policy\.json holds a DEMONSTRATION study "falls".*--purpose and --dpia/);
      writeFileSync(join(work, `${name}.entry.json`), run.stdout);
      entries.push(entry);
      dirs.push(dir);
    }
  });

  it("refuses a demonstration study on a station the network can reach, and records --purpose and --dpia", async () => {
    const open = await cli(["station", "init", join(work, "open"), "--name", "open", "--data", `fall_risk=${files[0]}`, "--listen", "0.0.0.0:7443", "--allow-researcher", researcherPub]);
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/needs --purpose TEXT and --dpia REFERENCE/);
    const dir = join(work, "real");
    const real = await cli([
      "station", "init", dir, "--name", "real", "--data", `fall_risk=${files[0]}`, "--listen", "0.0.0.0:7443", "--address", "station.example.org:7443",
      "--allow-researcher", researcherPub, "--study", "falls", "--purpose", "Fall prevention in home care", "--dpia", "DPIA-2026-014", "--json",
    ]);
    expect(real.code, real.stderr).toBe(0);
    expect(real.stderr).not.toMatch(/DEMONSTRATION/);
    expect(JSON.parse(real.stdout).address).toBe("station.example.org:7443");
    const study = JSON.parse(readFileSync(join(dir, "policy.json"), "utf8")).studies[0];
    expect(study).toMatchObject({ id: "falls", purpose: "Fall prevention in home care", dpia: "DPIA-2026-014" });
  });
});

describe("federation add", () => {
  it("creates the federation file from the stations' entries, atomically", async () => {
    const run = await cli(["federation", "add", fedFile, ...entries.map((e) => join(work, `${e.name}.entry.json`)), "--study", "falls", "--key", join(work, "researcher", "researcher.key")]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/added gp, homecare, hospital; 3 stations/);
    const fed = JSON.parse(readFileSync(fedFile, "utf8"));
    expect(fed.stations).toEqual(entries);
    expect(fed.study).toBe("falls");
    expect(readdirSync(work).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("updates a station's address, and refuses a second station under a listed name or key", async () => {
    const copy = join(work, "fed-copy.json");
    writeFileSync(copy, readFileSync(fedFile));
    const moved = join(work, "moved.json");
    writeFileSync(moved, JSON.stringify({ ...entries[0], address: "127.0.0.1:9999" }));
    const update = await cli(["federation", "add", copy, moved]);
    expect(update.code, update.stderr).toBe(0);
    expect(update.stdout).toMatch(/updated gp/);
    expect(JSON.parse(readFileSync(copy, "utf8")).stations[0].address).toBe("127.0.0.1:9999");

    const sameName = join(work, "same-name.json");
    writeFileSync(sameName, JSON.stringify({ ...entries[0], identityKey: "ab".repeat(32) }));
    const byName = await cli(["federation", "add", copy, sameName]);
    expect(byName.code).toBe(3);
    expect(byName.stderr).toMatch(/lists a station gp already, with another identity key \(stations\[0\]\.identityKey\).*--replace/);

    const sameKey = join(work, "same-key.json");
    writeFileSync(sameKey, JSON.stringify({ ...entries[1], name: "thuiszorg" }));
    const byKey = await cli(["federation", "add", copy, sameKey]);
    expect(byKey.code).toBe(3);
    expect(byKey.stderr).toMatch(/is listed in .* already, as station homecare \(stations\[1\]\.identityKey\)/);
  });

  it("names the entry file and field of a malformed entry", async () => {
    const bad = join(work, "bad-entry.json");
    writeFileSync(bad, JSON.stringify({ ...entries[0], name: "new", tlsFingerprint: entries[0].tlsFingerprint.slice(2) }));
    const run = await cli(["federation", "add", join(work, "fed-other.json"), bad]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`${bad}: field "stations[0].tlsFingerprint"`);
    expect(run.stderr).toMatch(/has 62 hex digits, not 64/);
  });
});

describe("a station without a roster", () => {
  it("starts, answers federation check, and refuses jobs saying what its steward must do", async () => {
    for (const dir of dirs) await startStation(dir);
    const check = await cli(["federation", "check", fedFile, "--wait", "30"]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/3 stations answer \(gp, homecare, hospital\)/);
    const query = await cli(["query", "--federation", fedFile, "--dataset", "fall_risk", "count"]);
    expect(query.code).toBe(3);
    expect(query.stderr).toMatch(/has no roster yet: its steward must run werkplaats station roster DIR --federation FEDERATION\.json/);
    await stopAll();
  });
});

describe("station start", () => {
  it("names the listen field when the port is taken (exit 3), instead of a stack trace", async () => {
    const twin = join(work, "twin");
    expect((await cli(["station", "init", twin, "--name", "twin", "--data", `fall_risk=${files[0]}`, "--listen", entries[0].address])).code).toBe(0);
    const { child } = await startStation(dirs[0]);
    const second = await cli(["station", "start", twin]);
    expect(second.code).toBe(3);
    expect(second.stderr).toMatch(/station\.json: field "listen" is 127\.0\.0\.1:\d+, where this station cannot listen: .*give each its own port/);
    expect(second.stderr).not.toMatch(/internal error/);
    await stopAll();
    expect(child.exitCode).toBe(0);
  });
});

describe("station roster", () => {
  it("names an address that is not where the station listens", async () => {
    const file = variant("wrong-address", (s) => (s[0].address = "127.0.0.1:1"));
    const run = await cli(["station", "roster", dirs[0], "--federation", file]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`${file}: field "stations[0].address" is 127.0.0.1:1, but`);
    expect(run.stderr).toMatch(/listens on 127\.0\.0\.1:\d+: the ports differ/);
  });

  it("names a TLS fingerprint that is not the station's certificate", async () => {
    const file = variant("wrong-pin", (s) => (s[0].tlsFingerprint = entries[1].tlsFingerprint));
    const run = await cli(["station", "roster", dirs[0], "--federation", file]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`${file}: field "stations[0].tlsFingerprint" is not the fingerprint of this station's certificate`);
  });

  it("takes the roster from a federation file that describes the station as it is", async () => {
    for (const dir of dirs) {
      const run = await cli(["station", "roster", dir, "--federation", fedFile]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/entry checked; roster set to gp, homecare, hospital/);
    }
  });
});

describe("mistakes in the analyst's federation file", () => {
  beforeAll(async () => {
    for (const dir of dirs) await startStation(dir);
    expect((await cli(["federation", "check", fedFile, "--wait", "30"])).code).toBe(0);
  });

  const typos: Array<[string, string, (s: string) => string, RegExp]> = [
    ["62 digits", "identityKey", (k) => k.slice(2), /has 62 hex digits, not 64/],
    ["colons", "identityKey", (k) => k.match(/../g)!.join(":"), /has colons/],
    ["a letter that is not hex", "identityKey", (k) => `g${k.slice(1)}`, /the character "g" at position 1/],
    ["62 digits in colon pairs", "tlsFingerprint", (k) => k.slice(2).match(/../g)!.join(":"), /31 colon-separated pairs, a SHA-256 has 32/],
    ["stray colons", "tlsFingerprint", (k) => `${k.slice(0, 10)}:${k.slice(10)}`, /has colons, but not between every pair/],
  ];
  for (const [what, field, typo, message] of typos) {
    it(`reports ${what} in an ${field} when the file is read (exit 3, file and field)`, async () => {
      const file = variant(`typo-${field}-${what.replace(/\W/g, "-")}`, (s) => (s[1][field] = typo(s[1][field] as string)));
      const run = await cli(["query", "--federation", file, "--dataset", "fall_risk", "count"]);
      expect(run.code).toBe(3);
      expect(run.stderr).toContain(`${file}: field "stations[1].${field}"`);
      expect(run.stderr).toMatch(message);
    });
  }

  it("says a well-formed but wrong identity key is the file's, not the signature's (exit 3)", async () => {
    const file = variant("other-key", (s) => (s[1].identityKey = "ab".repeat(32)));
    const run = await cli(["query", "--federation", file, "--dataset", "fall_risk", "count"]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(new RegExp(`station homecare at ${entries[1].address} presented a different identity key than .*other-key\\.json lists \\(field stations\\[1\\]\\.identityKey\\)`));
    expect(run.stderr).not.toMatch(/signature does not verify/);
  });

  it("says a well-formed but wrong TLS fingerprint is the file's, not an unreachable station (exit 3)", async () => {
    const file = variant("other-pin", (s) => (s[1].tlsFingerprint = entries[2].tlsFingerprint));
    const run = await cli(["query", "--federation", file, "--dataset", "fall_risk", "count"]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(new RegExp(`station homecare at ${entries[1].address} presented a different TLS certificate than .*other-pin\\.json lists \\(field stations\\[1\\]\\.tlsFingerprint\\)`));
    expect(run.stderr).not.toMatch(/unreachable/);
  });

  it("runs a query on the right file", async () => {
    const run = await cli(["query", "--federation", fedFile, "--dataset", "fall_risk", "--json", "count", "--by", "sex"]);
    expect(run.code, run.stderr).toBe(0);
  });
});

describe("station score on a model fitted on a subset", () => {
  it("warns that rows outside the model's where are scored, or leaves them empty with --where-as-fitted", async () => {
    const model = join(work, "older.json");
    const fit = await cli(["glm", "fell_12m ~ age + num_medications", "--family", "binomial", "--federation", fedFile, "--dataset", "fall_risk", "--where", "age >= 65", "--out", model]);
    expect(fit.code, fit.stderr).toBe(0);
    const rows = readFileSync(files[0], "utf8").trim().split("\n");
    const header = rows[0].split(",");
    const ageAt = header.indexOf("age");
    const younger = rows.slice(1).filter((r) => r.split(",")[ageAt] !== "" && Number(r.split(",")[ageAt]) < 65).length;
    expect(younger).toBeGreaterThan(0);

    // Scoring writes an audit line into the station's log, which a running station holds.
    await stopAll();
    const scored = await cli(["station", "score", dirs[0], "--model", model, "--out", join(work, "scores.csv"), "--json"]);
    expect(scored.code, scored.stderr).toBe(0);
    expect(scored.stderr).toMatch(/warning: the model was fitted only on rows where age >= 65; \d+ of \d+ rows of fall_risk are outside that subset and are scored anyway/);
    const summary = JSON.parse(scored.stdout);
    expect(summary.fitted_where).toBe("age >= 65");
    expect(summary.outside_fitted_where).toBeGreaterThanOrEqual(younger);

    const subset = await cli(["station", "score", dirs[0], "--model", model, "--out", join(work, "scores-subset.csv"), "--json", "--where-as-fitted"]);
    expect(subset.code, subset.stderr).toBe(0);
    expect(JSON.parse(subset.stdout).empty).toBeGreaterThanOrEqual(summary.outside_fitted_where);
  });
});

describe("usage messages", () => {
  it("names the nearest valid option for a typo (exit 2)", async () => {
    const run = await cli(["query", "--federation", fedFile, "--dataset", "fall_risk", "count", "--bi", "sex"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown option --bi \(did you mean --by\?\)/);
    const other = await cli(["station", "init", join(work, "x"), "--nmae", "x"]);
    expect(other.stderr).toMatch(/did you mean --name\?/);
  });

  it("lists federation add and check in the help", async () => {
    const help = await cli(["--help"]);
    expect(help.stdout).toContain("werkplaats federation add F ENTRY.json…");
    const sub = await cli(["federation", "--help"]);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain("werkplaats federation check FEDERATION.json [--wait SECONDS]");
  });

  it("says in query --help what the tables print for a withheld cell", async () => {
    const help = await cli(["query", "--help"]);
    expect(help.stdout).toMatch(/Withheld cells print as "suppressed" in count tables and as "x" in the wider tables/);
  });
});

/**
 * How organisations join a federation, through the command line only: a researcher makes keys,
 * three stations are initialised, the federation file is assembled from what `station init`
 * printed, every station takes the roster from it, the stations run, the analyst queries, and
 * each steward verifies the audit log afterwards.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEntryPoint } from "../common/package-root.js";
import { writeScenario } from "../synth/index.js";
import { isTrue, num, readRows } from "./helpers/pooled.js";
import { freePort, runCli as cli } from "./helpers/cli.js";



function startStation(dir: string): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, [cliEntryPoint(), "station", "start", dir], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve({ child, address: m[1] });
    });
    child.once("exit", (code) => reject(new Error(`station ${dir} exited with ${code}`)));
  });
}

let work: string;
let files: string[];
const running: ChildProcess[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-cli-flow-"));
  files = (await writeScenario({ scenario: "fall-risk", stations: 3, rows: 1500, seed: 21, out: join(work, "data") })).files;
});

afterAll(async () => {
  await Promise.all(running.map((c) => new Promise<void>((r) => (c.exitCode !== null ? r() : (c.once("exit", () => r()), c.kill("SIGTERM"))))));
  rmSync(work, { recursive: true, force: true });
});

describe("joining a federation with the command line", () => {
  it("goes from keys to a verified audit log", async () => {
    const keys = await cli(["keys", "new", "--out", join(work, "researcher")]);
    expect(keys.code, keys.stderr).toBe(0);
    const researcherPub = join(work, "researcher", "researcher.pub");

    const stations: Array<{ name: string; dir: string; identityKey: string; tlsFingerprint: string; address?: string }> = [];
    for (const file of files) {
      const name = basename(file, ".csv");
      const dir = join(work, "stations", name);
      const listen = `127.0.0.1:${await freePort()}`;
      const init = await cli(["station", "init", dir, "--name", name, "--data", `fall_risk=${file}`, "--listen", listen, "--allow-researcher", researcherPub, "--study", "falls-2026", "--json"]);
      expect(init.code, init.stderr).toBe(0);
      const printed = JSON.parse(init.stdout) as { address: string; identityKey: string; tlsFingerprint: string };
      expect(printed.address).toBe(listen);
      stations.push({ name, dir, ...printed });
      const check = await cli(["station", "policy", "check", dir]);
      expect(check.code, check.stderr).toBe(0);
    }

    // The stations must know each other before they can aggregate: first the keys, then the roster.
    const federationFile = join(work, "federation.json");
    const writeFederation = () =>
      writeFileSync(
        federationFile,
        JSON.stringify({
          name: "regio-test",
          study: "falls-2026",
          key: join(work, "researcher", "researcher.key"),
          stations: stations.map((s) => ({ name: s.name, address: s.address, identityKey: s.identityKey, tlsFingerprint: s.tlsFingerprint })),
        }),
      );
    writeFederation();
    for (const s of stations) {
      const roster = await cli(["station", "roster", s.dir, "--federation", federationFile]);
      expect(roster.code, roster.stderr).toBe(0);
    }
    for (const s of stations) {
      const { child, address } = await startStation(s.dir);
      running.push(child);
      expect(address).toBe(s.address);
    }

    const query = await cli(["query", "--federation", federationFile, "--dataset", "fall_risk", "--where", "age >= 65 and diabetes", "--json", "count", "--by", "sex"]);
    expect(query.code, query.stderr).toBe(0);
    const result = JSON.parse(query.stdout) as { cells: Array<{ group: Record<string, string>; count: number }> };
    const pooled = readRows(files).filter((r) => num(r.age) >= 65 && isTrue(r.diabetes));
    for (const sex of ["F", "M"]) {
      expect(result.cells.find((c) => c.group.sex === sex)!.count).toBe(pooled.filter((r) => r.sex === sex).length);
    }

    // While the stations run, --verify is not an alarm: their newest lines are simply not sealed yet.
    for (const s of stations) {
      const audit = await cli(["station", "audit", s.dir, "--verify"]);
      expect(audit.code, audit.stdout + audit.stderr).toBe(0);
      expect(audit.stdout).toMatch(/running; \d+ lines not yet sealed — .*line MACs .*nothing wrong found/);
    }

    await Promise.all(running.map((c) => new Promise<void>((r) => (c.once("exit", () => r()), c.kill("SIGTERM")))));
    for (const s of stations) {
      const audit = await cli(["station", "audit", s.dir, "--verify"]);
      expect(audit.code, audit.stdout + audit.stderr).toBe(0);
      expect(audit.stdout).toMatch(/intact — \d+ lines, hash chain, line MACs and \d+ signed checkpoints verified/);
      const lines = readFileSync(join(s.dir, "audit.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { type: string; study?: string });
      expect(lines.filter((l) => l.type === "request" && l.study === "falls-2026").length).toBeGreaterThan(3);
    }
  }, 240_000); // seventeen command runs, each a fresh Node process, on a shared two-core machine

  it("refuses a roster that does not list the station under its own key", async () => {
    const dir = join(work, "stations", "gp");
    const other = join(work, "other-federation.json");
    const fed = JSON.parse(readFileSync(join(work, "federation.json"), "utf8")) as { stations: Array<{ name: string; identityKey: string }> };
    fed.stations[0].identityKey = "ab".repeat(32);
    writeFileSync(other, JSON.stringify(fed));
    const run = await cli(["station", "roster", dir, "--federation", other]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/field "stations\[0\]\.identityKey" lists gp with another identity key/);
  });
});

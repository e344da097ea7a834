/**
 * Attack family 7 of the privacy issue: rewriting a station's audit log without its key, against
 * real station processes (station-daemon/governance/README.md, "Threat model").
 *
 * The attacker can read and write the station's disk while the station is stopped, but not read
 * its identity.key. They want the lines that show what was asked about the 102-year-old client
 * gone, and `station audit --verify` (and the restarted station) to say nothing. Each variant:
 *
 * - delete the lines, renumber `seq`, recompute the SHA-256 chain, drop the later checkpoints,
 *   restart once (the attack that worked on the unkeyed chain), keeping or stripping the MACs;
 * - cut the log back to the last checkpoint before those lines (a "crash");
 * - cut whole sessions off, back to an earlier shutdown checkpoint, with and without the head file.
 *
 * None may end in "intact": either the station refuses to start and --verify says NOT intact
 * (exit 3), or the station records what it found and --verify reports warnings (exit 11).
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StationUnreachable } from "../../common/errors.js";
import { Federation } from "../../sdk/federation.js";
import { LocalFederation } from "../../sdk/local-federation.js";
import { AUDIT_GENESIS, lineHash } from "../../station-daemon/governance/audit-log.js";
import { writeScenario } from "../../synth/index.js";
import { runCli as cli } from "../helpers/cli.js";

let work: string;
let names: string[];
let local: LocalFederation;
const TARGET = "age >= 100";

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-privacy-audit-"));
  const files = (await writeScenario({ scenario: "fall-risk", stations: 3, rows: 900, seed: 12, out: join(work, "data") })).files;
  names = files.map((f) => basename(f, ".csv"));
  local = await LocalFederation.start({ dir: join(work, "stations"), stations: files.map((f, i) => ({ name: names[i], datasets: { fall_risk: f } })) });
  const fed = await Federation.connect(local.federation);
  try {
    await fed.dataset("fall_risk").count({ by: ["sex"] });
    // what the attacker wants gone: a question about the oldest clients (allowed or refused, it is logged)
    await fed.dataset("fall_risk").where(TARGET).count().catch(() => undefined);
    await fed.dataset("fall_risk").where("age >= 65").count({ by: ["sex"] });
  } finally {
    fed.close();
  }
});

afterAll(async () => {
  await local?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const logOf = (name: string) => join(local.dir, name, "audit.log");
const readLines = (file: string) => readFileSync(file, "utf8").split("\n").slice(0, -1);
const writeLines = (file: string, lines: string[]) => writeFileSync(file, lines.map((l) => l + "\n").join(""));

async function stop(name: string): Promise<void> {
  const child = local.process(name)!;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  local.kill(name, "SIGTERM");
  await exited;
}

/** Restarts a station; resolves with the error when it refuses to start. */
async function restart(name: string): Promise<Error | undefined> {
  try {
    await local.restart(name);
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

/** The attacker's rewrite: drop lines matching `drop`, renumber, recompute the unkeyed chain, drop later checkpoints. */
function rewriteWithoutKey(lines: string[], drop: (l: Record<string, unknown>) => boolean, options: { stripMacs: boolean }): string[] {
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const firstDropped = parsed.findIndex(drop);
  expect(firstDropped).toBeGreaterThan(0);
  const kept = parsed.filter((l, i) => !drop(l) && !(i > firstDropped && l.type === "checkpoint"));
  const out: string[] = [];
  let prev = AUDIT_GENESIS;
  kept.forEach((l, i) => {
    const line = { ...l, seq: i + 1, prev };
    if (options.stripMacs) delete line.mac;
    const text = JSON.stringify(line);
    out.push(text);
    prev = lineHash(text);
  });
  return out;
}

describe("rewriting the audit log without the station's key", () => {
  it("while the stations run, --verify says 'running; N lines not yet sealed' and exits 0", async () => {
    for (const name of names) {
      const r = await cli(["station", "audit", join(local.dir, name), "--verify"]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/running; \d+ lines not yet sealed/);
    }
  }, 300_000);

  it("deleting lines, renumbering, re-chaining and dropping later checkpoints is found, with or without the MACs; the station will not start on it", async () => {
    const name = names[0];
    await stop(name);
    const file = logOf(name);
    const original = readLines(file);
    expect(original.some((l) => l.includes(`"where":"${TARGET}"`))).toBe(true);
    const before = await cli(["station", "audit", join(local.dir, name), "--verify"]);
    expect(before.code, before.stdout).toBe(0); // the untouched log is intact: the attack is what changes it
    copyFileSync(file, join(work, "original.log"));

    for (const stripMacs of [false, true]) {
      const rewritten = rewriteWithoutKey(original, (l) => l.where === TARGET, { stripMacs });
      writeLines(file, rewritten);
      expect(readFileSync(file, "utf8")).not.toContain(TARGET);
      const verify = await cli(["station", "audit", join(local.dir, name), "--verify"]);
      expect(verify.code, verify.stdout).toBe(3);
      expect(verify.stdout).toMatch(stripMacs ? /old audit-log format|carries no MAC/ : /NOT intact[\s\S]*fails its MAC/);
      expect(verify.stdout).not.toMatch(/: intact/);
      const refused = await restart(name);
      expect(refused).toBeInstanceOf(StationUnreachable);
      expect(refused!.message).toMatch(stripMacs ? /old audit-log format/ : /fails its MAC.*will not start on a broken audit log/);
      // nothing was appended: the rewritten tail was not sealed by the station
      expect(readLines(file)).toEqual(rewritten);
    }
    copyFileSync(join(work, "original.log"), file);
    expect(await restart(name)).toBeUndefined();
  }, 300_000);

  it("cutting the log back to the checkpoint before those lines is recorded at restart and reported as a warning, never intact", async () => {
    const name = names[1];
    await stop(name);
    const file = logOf(name);
    const lines = readLines(file);
    const target = lines.findIndex((l) => l.includes(`"where":"${TARGET}"`));
    const lastCheckpointBefore = lines.slice(0, target).map((l) => JSON.parse(l) as { type: string }).map((l) => l.type).lastIndexOf("checkpoint");
    // a cut log against the station's recorded head: refused outright
    writeLines(file, lines.slice(0, lastCheckpointBefore + 1));
    const refused = await restart(name);
    expect(refused!.message).toMatch(/lines \d+–\d+ were removed/);
    // the attacker deletes the head file too: the station starts, but says what it found, keyed
    unlinkSync(`${file}.head`);
    expect(await restart(name)).toBeUndefined();
    await stop(name);
    const verify = await cli(["station", "audit", join(local.dir, name), "--verify"]);
    expect(verify.code, verify.stdout).toBe(11);
    expect(verify.stdout).toMatch(/warning: .*audit\.log\.head was missing at start/);
    expect(verify.stdout).toMatch(/NOT verified intact/);
    expect(verify.stdout).not.toMatch(/: intact/);
    expect(await restart(name)).toBeUndefined();
  }, 300_000);

  it("a crash leaves an unsealed tail: the restarted station writes 'N lines found unsealed at restart', and --verify warns (exit 11)", async () => {
    const name = names[2];
    await local.restart(name, { crash: true });
    await stop(name);
    const file = logOf(name);
    const notice = readLines(file).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.type === "notice");
    expect(notice).toMatchObject({ event: "unsealed-at-restart", mac: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(String(notice!.message)).toMatch(/^\d+ lines? found unsealed at restart/);
    const verify = await cli(["station", "audit", join(local.dir, name), "--verify", "--json"]);
    expect(verify.code).toBe(11);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, status: "warnings" });
    expect(existsSync(`${file}.lock`), `a cleanly stopped station leaves no lock: ${existsSync(`${file}.lock`) ? readFileSync(`${file}.lock`, "utf8") : ""} ${local.process(name)?.pid} ${local.log(name).slice(-600)}`).toBe(false);
    expect(await restart(name)).toBeUndefined();
  }, 300_000);
});

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { stationAuditCommand } from "../cli/commands/station-audit.js";
import { toHex } from "../common/hex.js";
import { AUDIT_GENESIS, AuditLog, type AuditRecord, verifyAuditLog } from "../station-daemon/governance/audit-log.js";
import { tempDir } from "./helpers/temp.js";

const secretKey = ed25519.utils.randomSecretKey();
const identity = { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
const stationKey = toHex(identity.publicKey);

function record(i: number, over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    researcher: "ab".repeat(32),
    study: i % 2 ? "falls" : "waits",
    method: "Contribute",
    computation: "count",
    dataset: "fall_risk",
    columns: ["age", "sex"],
    where: `age >= ${60 + i}`,
    outcome: i % 3 === 2 ? "refused" : "allowed",
    reason: i % 3 === 2 ? "a cell is below the minimum cell size of 10: cell (sex = \"M\")" : null,
    bytes: i % 3 === 2 ? 0 : 96,
    ...over,
  };
}

/** A closed log: open checkpoint, `count` requests, shutdown checkpoint. */
async function makeLog(count: number, options: { checkpointEvery?: number } = {}): Promise<{ dir: string; file: string }> {
  const dir = tempDir("wp-audit-");
  const log = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0, ...options });
  await Promise.all(Array.from({ length: count }, (_, i) => log.append(record(i))));
  await log.close();
  return { dir, file: log.file };
}

const lines = (file: string) => readFileSync(file, "utf8").split("\n").slice(0, -1);
const rewrite = (file: string, ls: string[]) => writeFileSync(file, ls.map((l) => l + "\n").join(""));

describe("audit log", () => {
  it("writes chained, numbered JSON lines between an open and a shutdown checkpoint", async () => {
    const { file } = await makeLog(5);
    const ls = lines(file).map((l) => JSON.parse(l));
    expect(ls.map((l) => l.type)).toEqual(["checkpoint", "request", "request", "request", "request", "request", "checkpoint"]);
    expect(ls.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(ls[0].prev).toBe(AUDIT_GENESIS);
    expect(ls[6].reason).toBe("shutdown");
    expect(ls[1]).toMatchObject({ researcher: "ab".repeat(32), study: "waits", computation: "count", dataset: "fall_risk", columns: ["age", "sex"], where: "age >= 60", outcome: "allowed", reason: null, bytes: 96 });
    const report = verifyAuditLog({ file, stationKey });
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, sealed: true, lines: 7 });
  });

  it("signs a checkpoint every N lines and continues the chain when reopened", async () => {
    const { dir, file } = await makeLog(7, { checkpointEvery: 3 });
    const again = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0 });
    await again.append(record(8));
    await again.close();
    const ls = lines(file).map((l) => JSON.parse(l));
    expect(ls.filter((l) => l.reason === "count")).toHaveLength(2);
    expect(ls.find((l) => l.reason === "open" && l.previousStop)).toMatchObject({ previousStop: "clean" });
    expect(verifyAuditLog({ file, stationKey }).ok).toBe(true);
  });

  it("notes an unclean stop when reopened after a crash", async () => {
    const dir = tempDir("wp-audit-");
    const log = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0 });
    await log.append(record(0)); // no close(): the station "crashed"
    const again = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0 });
    await again.close();
    const report = verifyAuditLog({ file: again.file, stationKey });
    expect(report.ok).toBe(true);
    expect(report.notes[0]).toMatchObject({ line: 3 });
    expect(report.notes[0].message).toMatch(/unclean stop/);
  });

  it("has every line on disk when append() resolves", async () => {
    const dir = tempDir("wp-audit-");
    const log = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0 });
    await log.append(record(0, { where: "marker-1" }));
    expect(readFileSync(log.file, "utf8")).toContain("marker-1");
    await log.close();
  });

  it("detects and locates a flipped byte", async () => {
    const { file } = await makeLog(5);
    const ls = lines(file);
    ls[2] = ls[2].replace("age >= 61", "age >= 71");
    rewrite(file, ls);
    const report = verifyAuditLog({ file, stationKey });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([{ line: 3, message: expect.stringMatching(/was altered: its hash no longer matches the "prev" recorded by line 4/) }]);
  });

  it("detects a byte flipped into invalid JSON", async () => {
    const { file } = await makeLog(5);
    const buf = readFileSync(file);
    const at = buf.indexOf("\n", buf.indexOf("\n") + 1) + 1; // first byte of line 3
    buf[at] ^= 0x01;
    writeFileSync(file, buf);
    expect(verifyAuditLog({ file, stationKey }).problems[0]).toMatchObject({ line: 3, message: expect.stringMatching(/not a valid audit line/) });
  });

  it("detects and locates a deleted line", async () => {
    const { file } = await makeLog(5);
    const ls = lines(file);
    ls.splice(3, 1);
    rewrite(file, ls);
    expect(verifyAuditLog({ file, stationKey }).problems).toEqual([{ line: 4, message: expect.stringMatching(/1 line\(s\) are missing before this line \(sequence jumps from 3 to 5\)/) }]);
  });

  it("detects and locates a swapped pair", async () => {
    const { file } = await makeLog(5);
    const ls = lines(file);
    [ls[2], ls[3]] = [ls[3], ls[2]];
    rewrite(file, ls);
    const problems = verifyAuditLog({ file, stationKey }).problems;
    expect(problems[0]).toMatchObject({ line: 3, message: expect.stringMatching(/out of order: sequence number 4 where 3 was expected \(that line is at line 4\)/) });
    expect(problems[1]).toMatchObject({ line: 4, message: expect.stringMatching(/out of order/) });
  });

  it("detects a truncated tail, and a cut through the last line", async () => {
    const { file } = await makeLog(5);
    const ls = lines(file);
    rewrite(file, ls.slice(0, 4));
    const report = verifyAuditLog({ file, stationKey });
    expect(report.sealed).toBe(false);
    expect(report.problems).toEqual([{ line: 4, message: expect.stringMatching(/does not end with the station's signed shutdown checkpoint: lines 2–4 are not sealed/) }]);
    writeFileSync(file, readFileSync(file, "utf8").slice(0, -10));
    expect(verifyAuditLog({ file, stationKey }).problems[0]).toMatchObject({ line: 4, message: expect.stringMatching(/incomplete/) });
  });

  it("detects a forged or edited checkpoint", async () => {
    const { file } = await makeLog(2);
    const ls = lines(file);
    const last = JSON.parse(ls[ls.length - 1]);
    ls[ls.length - 1] = JSON.stringify({ ...last, time: "2020-01-01T00:00:00.000Z" });
    rewrite(file, ls);
    expect(verifyAuditLog({ file, stationKey }).problems[0]).toMatchObject({ line: 4, message: expect.stringMatching(/signature does not verify/) });
    // and another key's signatures are not this station's
    const { file: clean } = await makeLog(2);
    expect(verifyAuditLog({ file: clean, stationKey: "cd".repeat(32) }).ok).toBe(false);
  });

  it("refuses to open a broken log, naming the line", async () => {
    const { dir, file } = await makeLog(5, { checkpointEvery: 100 });
    const ls = lines(file);
    ls.splice(5, 1); // remove the last request: the shutdown checkpoint no longer follows it
    rewrite(file, ls);
    await expect(AuditLog.open({ dir, identity, checkpointIntervalMs: 0 })).rejects.toThrow(/audit\.log: line 6: 1 line\(s\) are missing before this line.*will not start on a broken audit log/);
    const other = ed25519.utils.randomSecretKey();
    const { dir: dir2 } = await makeLog(1);
    await expect(AuditLog.open({ dir: dir2, identity: { secretKey: other, publicKey: ed25519.getPublicKey(other) }, checkpointIntervalMs: 0 })).rejects.toThrow(/line 1: is a checkpoint whose signature does not verify with this station's identity key/);
  });
});

describe("audit log of a large station (tail verification at open)", () => {
  it("continues from the tail, and refuses a break between the last two checkpoints", async () => {
    const { dir, file } = await makeLog(20, { checkpointEvery: 5 });
    const reopened = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0, verifyWholeBytes: 0 });
    await reopened.append(record(1));
    await reopened.close();
    expect(verifyAuditLog({ file, stationKey }).ok).toBe(true);
    const ls = lines(file);
    // the request between the open and the shutdown checkpoint of the last run
    ls[ls.length - 2] = ls[ls.length - 2].replace('"bytes":96', '"bytes":97');
    rewrite(file, ls);
    await expect(AuditLog.open({ dir, identity, checkpointIntervalMs: 0, verifyWholeBytes: 0 })).rejects.toThrow(new RegExp(`line ${ls.length - 1}: was altered`));
  });
});

describe("werkplaats station audit", () => {
  afterEach(() => vi.restoreAllMocks());

  async function run(argv: string[]): Promise<{ code: number; out: string }> {
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const code = await stationAuditCommand(argv);
    const text = out.mock.calls.map((c) => String(c[0])).join("");
    vi.restoreAllMocks();
    return { code, out: text };
  }

  it("shows, filters and verifies the log", async () => {
    const { dir, file } = await makeLog(6);
    writeFileSync(join(dir, "identity.pub"), stationKey + "\n");
    const all = await run([dir]);
    expect(all.code).toBe(0);
    expect(all.out).toMatch(/REFUSED .*study falls .*count fall_risk \[age, sex\] where age >= 65 .*a cell is below/);
    const falls = await run([dir, "--study", "falls", "--json"]);
    expect(falls.out.trim().split("\n").map((l) => JSON.parse(l).study)).toEqual(["falls", "falls", "falls"]);
    expect((await run([dir, "--researcher", "cd"])).out).toBe("");
    expect((await run([dir, "--until", "2000-01-01"])).out).toBe("");
    const ok = await run([dir, "--verify"]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/intact — 8 lines/);
    const ls = lines(file);
    ls.splice(2, 1);
    rewrite(file, ls);
    const bad = await run([dir, "--verify"]);
    expect(bad.code).toBe(3);
    expect(bad.out).toMatch(/NOT intact[\s\S]*line 3: 1 line\(s\) are missing/);
  });
});

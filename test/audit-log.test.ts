import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { cliEntryPoint } from "../common/package-root.js";
import { lineHash } from "../station-daemon/governance/audit-log.js";
import { stationAuditCommand } from "../cli/commands/station-audit.js";
import { toHex } from "../common/hex.js";
import { AUDIT_GENESIS, AuditLog, type AuditRecord, verifyAuditLog } from "../station-daemon/governance/audit-log.js";

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

const made: string[] = [];
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "wp-audit-"));
  made.push(dir);
  return dir;
}

/** A closed log: open checkpoint, `count` requests, shutdown checkpoint. */
async function makeLog(count: number, options: { checkpointEvery?: number } = {}): Promise<{ dir: string; file: string }> {
  const dir = tempDir();
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

  it("records an unsealed tail found at restart in a keyed notice line, and verifies it as a warning, not as intact", async () => {
    const dir = tempDir();
    const log = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0 });
    await log.append(record(0));
    await log.append(record(1));
    await log.abandon(); // no shutdown checkpoint: the station "crashed"
    const again = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0 });
    expect(again.opened).toEqual({ unclean: true, unsealedLines: 2 });
    await again.close();
    const ls = lines(again.file).map((l) => JSON.parse(l));
    expect(ls[3]).toMatchObject({ seq: 4, type: "notice", event: "unsealed-at-restart", lines: 2, mac: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(ls[3].message).toMatch(/^2 lines found unsealed at restart/);
    expect(ls[4]).toMatchObject({ type: "checkpoint", reason: "open", previousStop: "unclean" });
    const report = verifyAuditLog({ file: again.file, stationKey, identitySecretKey: secretKey });
    expect(report.problems).toEqual([]);
    expect(report.status).toBe("warnings");
    expect(report.warnings).toEqual([{ line: 4, message: expect.stringMatching(/2 lines found unsealed at restart/) }]);
  });

  it("has every line on disk when append() resolves", async () => {
    const dir = tempDir();
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
    // with only the public key: the chain finds it
    const report = verifyAuditLog({ file, stationKey });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([{ line: 3, message: expect.stringMatching(/was altered: its hash no longer matches the "prev" recorded by line 4/) }]);
    // with the key: the line's own MAC
    expect(verifyAuditLog({ file, stationKey, identitySecretKey: secretKey }).problems).toEqual([{ line: 3, message: expect.stringMatching(/fails its MAC/) }]);
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

  it("finds a truncated tail of a stopped station by its head file; without one, reports a warning (never intact); a cut through the last line is a problem", async () => {
    const { file } = await makeLog(5);
    const ls = lines(file);
    rewrite(file, ls.slice(0, 4));
    const cut = verifyAuditLog({ file, stationKey, identitySecretKey: secretKey });
    expect(cut.status).toBe("broken");
    expect(cut.problems).toEqual([{ line: 4, message: expect.stringMatching(/recorded this log 7 lines long .*lines 5–7 were removed/) }]);
    unlinkSync(`${file}.head`);
    const report = verifyAuditLog({ file, stationKey, identitySecretKey: secretKey });
    expect(report.sealed).toBe(false);
    expect(report.status).toBe("warnings");
    expect(report.warnings).toEqual([
      { line: 4, message: expect.stringMatching(/does not end with the station's signed shutdown checkpoint and no station is running: lines 2–4 after the last checkpoint are not sealed/) },
      { line: 4, message: expect.stringMatching(/audit\.log\.head is missing/) },
    ]);
    // without the key, the unsealed lines could not be checked at all, and it says so
    expect(verifyAuditLog({ file, stationKey }).warnings[0].message).toMatch(/lines 2–4 were not checked: identity\.key was not readable/);
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
    await expect(AuditLog.open({ dir: dir2, identity: { secretKey: other, publicKey: ed25519.getPublicKey(other) }, checkpointIntervalMs: 0 })).rejects.toThrow(/line 1: fails its MAC/);
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
    await expect(AuditLog.open({ dir, identity, checkpointIntervalMs: 0, verifyWholeBytes: 0 })).rejects.toThrow(new RegExp(`line ${ls.length - 1}: fails its MAC`));
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
    writeFileSync(join(dir, "identity.key"), toHex(secretKey) + "\n", { mode: 0o600 });
    const all = await run([dir]);
    expect(all.code).toBe(0);
    expect(all.out).toMatch(/REFUSED .*study falls .*count fall_risk \[age, sex\] where age >= 65 .*a cell is below/);
    const falls = await run([dir, "--study", "falls", "--json"]);
    expect(falls.out.trim().split("\n").map((l) => JSON.parse(l).study)).toEqual(["falls", "falls", "falls"]);
    expect((await run([dir, "--researcher", "cd"])).out).toBe("");
    expect((await run([dir, "--until", "2000-01-01"])).out).toBe("");
    const ok = await run([dir, "--verify"]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/intact — 8 lines, hash chain, line MACs and 2 signed checkpoints verified/);
    const ls = lines(file);
    ls.splice(2, 1);
    rewrite(file, ls);
    const bad = await run([dir, "--verify"]);
    expect(bad.code).toBe(3);
    expect(bad.out).toMatch(/NOT intact[\s\S]*line 3: 1 line\(s\) are missing/);
  });
});

describe("who holds the log, and how long it was", () => {
  it("a second writer is refused while the log is held; a lock left by a crash is taken over", async () => {
    const dir = tempDir();
    const log = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0 });
    expect(JSON.parse(readFileSync(join(dir, "audit.log.lock"), "utf8")).pid).toBe(process.pid);
    expect(statSync(join(dir, "audit.log.lock")).mode & 0o777).toBe(0o600);
    await expect(AuditLog.open({ dir, identity, checkpointIntervalMs: 0 })).rejects.toThrow(/held by a running process \(pid \d+/);
    await log.abandon();
    expect(existsSync(join(dir, "audit.log.lock"))).toBe(true);
    const again = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0 });
    await again.close();
    expect(existsSync(join(dir, "audit.log.lock"))).toBe(false);
  });

  it("refuses a log cut back to an earlier shutdown checkpoint (the head file is longer), and notes a missing head file", async () => {
    const { dir, file } = await makeLog(2);
    const first = lines(file);
    const again = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0 });
    await again.append(record(7, { where: "age == 102" }));
    await again.close();
    expect(statSync(join(dir, "audit.log.head")).mode & 0o777).toBe(0o600);
    // cut the whole second session: what is left ends on a valid shutdown checkpoint
    rewrite(file, first);
    expect(verifyAuditLog({ file, stationKey }).status).toBe("intact"); // the log alone, by its signatures, cannot tell
    expect(verifyAuditLog({ file, stationKey, identitySecretKey: secretKey }).problems).toEqual([{ line: 4, message: expect.stringMatching(/recorded this log 7 lines long .*lines 5–7 were removed/) }]);
    await expect(AuditLog.open({ dir, identity, checkpointIntervalMs: 0 })).rejects.toThrow(/ends at line 4, but the station recorded it 7 lines long .*lines 5–7 were removed/);
    // ... unless the head file goes too: then the station starts, and says so in the log
    unlinkSync(join(dir, "audit.log.head"));
    const third = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0 });
    await third.close();
    const report = verifyAuditLog({ file, stationKey, identitySecretKey: secretKey });
    expect(report.status).toBe("warnings");
    expect(report.warnings[0].message).toMatch(/audit\.log\.head was missing at start/);
  });

  it("refuses a log in the old unkeyed format, at start and at --verify (no silent acceptance)", async () => {
    const dir = tempDir();
    const file = join(dir, "audit.log");
    // an old-format log: unkeyed chain, no mac
    const body = { seq: 1, prev: AUDIT_GENESIS, type: "request", time: "2026-01-01T00:00:00.000Z", ...record(0) };
    const line1 = JSON.stringify(body);
    const line2 = JSON.stringify({ ...body, seq: 2, prev: lineHash(line1) });
    writeFileSync(file, line1 + "\n" + line2 + "\n");
    await expect(AuditLog.open({ dir, identity, checkpointIntervalMs: 0 })).rejects.toThrow(/old audit-log format .*Move it aside/);
    const report = verifyAuditLog({ file, stationKey, identitySecretKey: secretKey });
    expect(report.status).toBe("old-format");
    expect(report.ok).toBe(false);
    expect(report.entries).toHaveLength(2); // still readable
  });
});

describe("werkplaats station audit --verify, as a scheduler runs it", () => {
  afterEach(() => vi.restoreAllMocks());

  async function run(argv: string[]): Promise<{ code: number; out: string }> {
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const code = await stationAuditCommand(argv);
    const text = out.mock.calls.map((c) => String(c[0])).join("");
    vi.restoreAllMocks();
    return { code, out: text };
  }

  function stationFolder(dir: string): void {
    writeFileSync(join(dir, "identity.pub"), stationKey + "\n");
    writeFileSync(join(dir, "identity.key"), toHex(secretKey) + "\n", { mode: 0o600 });
  }

  it("a running station: exit 0, 'running; N lines not yet sealed'; after a crash and restart: exit 11 with the notice", async () => {
    const dir = tempDir();
    stationFolder(dir);
    const log = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0 });
    await log.append(record(0));
    await log.append(record(1));
    const running = await run([dir, "--verify"]);
    expect(running.out).toMatch(/running; 2 lines not yet sealed — 3 lines, hash chain, line MACs and 1 signed checkpoints verified, nothing wrong found/);
    expect(running.code).toBe(0);
    await log.abandon(); // crash: the lock is stale now
    const crashed = await run([dir, "--verify"]);
    expect(crashed.code).toBe(11);
    expect(crashed.out).toMatch(/warning: line 3: the log does not end with the station's signed shutdown checkpoint and no station is running/);
    const again = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0 });
    await again.close();
    const restarted = await run([dir, "--verify", "--json"]);
    expect(restarted.code).toBe(11);
    const report = JSON.parse(restarted.out) as { status: string; warnings: Array<{ line: number; message: string }> };
    expect(report.status).toBe("warnings");
    expect(report.warnings).toEqual([{ line: 4, message: expect.stringMatching(/2 lines found unsealed at restart/) }]);
  });

  it("without a readable identity.key it verifies a sealed log by its signatures, and says what it could not check", async () => {
    const { dir } = await makeLog(3);
    writeFileSync(join(dir, "identity.pub"), stationKey + "\n");
    const r = await run([dir, "--verify"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/note: .*identity\.key is not readable here.*checked the hash chain and signed checkpoints only/);
    expect(r.out).toMatch(/intact — 5 lines, hash chain and 2 signed checkpoints verified/);
  });

  it("`station audit DIR | head -n 1` exits quietly, without an EPIPE stack trace", async () => {
    const dir = tempDir();
    stationFolder(dir);
    const log = await AuditLog.open({ dir, identity, checkpointIntervalMs: 0, checkpointEvery: 10_000 });
    // more than a pipe buffer (64 KiB) of output, so that the writer meets the closed pipe
    await Promise.all(Array.from({ length: 700 }, (_, i) => log.append(record(i))));
    await log.close();
    const r = spawnSync("bash", ["-c", `set -o pipefail; "${process.execPath}" "${cliEntryPoint()}" station audit "${dir}" | head -n 1`], { encoding: "utf8" });
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).not.toMatch(/EPIPE|Error|at /);
    expect(r.status).toBe(0);
  });
});

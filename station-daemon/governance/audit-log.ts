/**
 * The station's audit log, DIR/audit.log: one JSON object per line for every request and its
 * outcome, append-only, and not rewritable by anyone without the station's identity key.
 *
 * - Every line records `seq` (1, 2, 3, … — equal to its line number) and `prev`, the SHA-256 of
 *   the previous line's exact bytes (for line 1: AUDIT_GENESIS), and ends with `mac`: an
 *   HMAC-SHA256 of the line's other bytes under a key derived (HKDF, with its own label) from the
 *   station's Ed25519 identity key. Editing, removing, inserting or reordering lines breaks the
 *   chain, and recomputing the chain after such an edit needs the MAC key: without it, every
 *   rewritten line fails its MAC.
 * - Every `checkpointEvery` lines, every `checkpointIntervalMs` (when lines were added), at open and
 *   at shutdown the station also appends a checkpoint signed with its Ed25519 identity key over
 *   (seq, prev, time, reason). A signature seals every line before it through the chain, and can be
 *   checked with the public key alone (identity.pub): a cleanly stopped station's log is verifiable
 *   by anyone holding its public key; the MACs are what protect the tail after the last checkpoint.
 * - Why an HMAC per line and signatures only at checkpoints: the station verifies its log (whole,
 *   up to 64 MiB) at every start, and `--verify` may check millions of lines. HMAC-SHA256 costs a
 *   microsecond or two per line; an Ed25519 verification in this process costs about a
 *   millisecond — minutes of start-up for a large log. The MAC key never leaves the station
 *   folder; the steward verifies there.
 * - An unsealed end found at restart (the previous run did not write its shutdown checkpoint: a
 *   crash, a power loss — or lines cut off the end) is not sealed silently: the station first
 *   appends a keyed "notice" line saying how many lines it found unsealed, then its open
 *   checkpoint. `--verify` reports such a notice as a warning, never as intact.
 * - While the station runs it holds DIR/audit.log.lock (its process id): a second station on the
 *   same folder refuses to start, and `--verify` knows that an unsealed end is the running tail.
 * - At every checkpoint the station also writes DIR/audit.log.head (seq and hash of the last line,
 *   keyed). At start, a log shorter than its recorded head — cut back to an earlier shutdown
 *   checkpoint, say — is refused, and a missing head file is a warning.
 * - A line is written and fsynced before `append()` resolves; the station answers a request only
 *   after that, so no answer leaves without its record on disk. Lines that arrive while a write is
 *   in flight are written and synced together (group commit).
 *
 * Limits (honest ones): whoever holds the station's identity key — on the station's own machine —
 * can rewrite the whole log and re-key it. Someone who can write the station's disk and kept an old
 * copy of both audit.log and audit.log.head can roll both back together. Against both, copy
 * checkpoint heads off the machine (`werkplaats station audit DIR --verify` prints the head), or
 * ship the log to a write-once store.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync, unlinkSync, writeSync } from "node:fs";
import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ed25519Sign, ed25519Verify } from "../../common/curves.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { ConfigInvalid } from "../../common/errors.js";
import { writeFileAtomic } from "../../common/files.js";
import { toHex } from "../../common/hex.js";

export const AUDIT_LOG_FILE = "audit.log";
/** `prev` of line 1: a fixed value, so that removing the first lines is visible too. */
export const AUDIT_GENESIS = toHex(sha256(new TextEncoder().encode("werkplaats.v1/audit-log/genesis")));
export const CHECKPOINT_LABEL = "werkplaats.v1/audit-checkpoint";
/** HKDF info of the audit MAC key: no other use of the identity key can produce it. */
const MAC_KEY_LABEL = "werkplaats.v2/audit-log/mac-key";
const MAC_LABEL = "werkplaats.v2/audit-line\u0000";
const HEAD_LABEL = "werkplaats.v2/audit-head\u0000";

export type AuditOutcome = "allowed" | "refused" | "error";
export type CheckpointReason = "open" | "count" | "interval" | "shutdown";

/** What the station records about one request (or one local action, such as `station score`). */
export interface AuditRecord {
  /** Researcher's public key, hex; null for an unsigned or unreadable request, or a local action. */
  researcher: string | null;
  study: string | null;
  /** The RPC, e.g. "StartJob"; "LocalScore" for `station score`. */
  method: string;
  computation: string | null;
  dataset: string | null;
  /** Columns the job reads (where, group-by, values, model). */
  columns: string[];
  /** The where-expression as text, as the caller renders it; null for all rows. */
  where: string | null;
  outcome: AuditOutcome;
  /** Why it was refused or failed; null when allowed. */
  reason: string | null;
  /** Size of what was returned, bytes (0 when refused). */
  bytes: number;
  /** A local action at the station (not a request over the network): who ran it and what it wrote. */
  local?: { user: string; model?: string; rows?: number; scored?: number; output?: string };
}

export interface RequestLine extends AuditRecord {
  seq: number;
  prev: string;
  type: "request";
  time: string;
  mac?: string;
}

export interface CheckpointLine {
  seq: number;
  prev: string;
  type: "checkpoint";
  time: string;
  reason: CheckpointReason;
  /** Only on "open" checkpoints after existing lines: how the previous run ended. */
  previousStop?: "clean" | "unclean";
  /** The station's identity key, hex. */
  station: string;
  signature: string;
  mac?: string;
}

/** What the station found at start and will not pass over silently. */
export interface NoticeLine {
  seq: number;
  prev: string;
  type: "notice";
  time: string;
  event: "unsealed-at-restart" | "head-missing";
  /** unsealed-at-restart: lines after the last checkpoint of the previous run. */
  lines?: number;
  message: string;
  mac?: string;
}

export type AuditLine = RequestLine | CheckpointLine | NoticeLine;

const utf8 = new TextEncoder();

export function lineHash(text: string): string {
  return toHex(sha256(utf8.encode(text)));
}

/** The key that MACs every line and the head file: HKDF-SHA256 of the identity key's seed. */
export function auditMacKey(identitySecretKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync("sha256", identitySecretKey, new Uint8Array(0), MAC_KEY_LABEL, 32));
}

function hmacHex(key: Buffer, label: string, text: string): string {
  return createHmac("sha256", key).update(label).update(text).digest("hex");
}

/** `{…body…}` → `{…body…,"mac":"…"}`: the MAC covers the exact bytes of the body. */
function withMac(body: string, key: Buffer): string {
  return `${body.slice(0, -1)},"mac":"${hmacHex(key, MAC_LABEL, body)}"}`;
}

const MAC_TAIL = /,"mac":"([0-9a-f]{64})"\}$/;

/** "ok", "missing" (no mac field), or "bad". */
export function checkLineMac(text: string, key: Buffer): "ok" | "missing" | "bad" {
  const m = MAC_TAIL.exec(text);
  if (!m) return "missing";
  const body = text.slice(0, m.index) + "}";
  const expected = Buffer.from(hmacHex(key, MAC_LABEL, body), "hex");
  return timingSafeEqual(expected, Buffer.from(m[1], "hex")) ? "ok" : "bad";
}

/** The bytes a checkpoint signs: label, seq, prev, time, reason, each length-prefixed. */
export function checkpointStatement(c: Pick<CheckpointLine, "seq" | "prev" | "time" | "reason"> & { previousStop?: string }): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const field of [CHECKPOINT_LABEL, String(c.seq), c.prev, c.time, c.reason, c.previousStop ?? ""]) {
    const body = utf8.encode(field);
    const head = new Uint8Array(4);
    new DataView(head.buffer).setUint32(0, body.length);
    parts.push(head, body);
  }
  return Buffer.concat(parts);
}

export function verifyCheckpointSignature(c: CheckpointLine, stationKey: string): boolean {
  if (typeof c.signature !== "string" || !/^[0-9a-f]{128}$/.test(c.signature) || c.station !== stationKey) return false;
  try {
    return ed25519Verify(new Uint8Array(Buffer.from(c.signature, "hex")), checkpointStatement(c), new Uint8Array(Buffer.from(stationKey, "hex")));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The lock (who writes the log) and the head file (how long the log was)

export function auditLockFile(file: string): string {
  return `${file}.lock`;
}

export function auditHeadFile(file: string): string {
  return `${file}.head`;
}

/** Files locked by an AuditLog open in this process (a lock with our own pid but not listed here is stale). */
const heldHere = new Set<string>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The process id of a live process holding the log, or undefined when nothing (alive) holds it. */
export function auditLogHolder(file: string): number | undefined {
  let pid: number;
  try {
    pid = Number((JSON.parse(readFileSync(auditLockFile(file), "utf8")) as { pid?: unknown }).pid);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (pid === process.pid) return heldHere.has(resolve(file)) ? pid : undefined;
  return processAlive(pid) ? pid : undefined;
}

function acquireLock(file: string): void {
  const lock = auditLockFile(file);
  const content = JSON.stringify({ pid: process.pid, started: new Date().toISOString() }) + "\n";
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, "wx", 0o600);
      writeSync(fd, content);
      closeSync(fd);
      heldHere.add(resolve(file));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = auditLogHolder(file);
      if (holder !== undefined) {
        throw new ConfigInvalid(`${file} is held by a running process (pid ${holder}, see ${lock}): the station is already running on this folder; stop it first`);
      }
      // A stale lock: its process is gone (a crash). The unsealed end it left is reported at open.
      try {
        unlinkSync(lock);
      } catch {
        /* removed meanwhile */
      }
    }
  }
  throw new ConfigInvalid(`${lock} could not be taken: another process is starting on this station folder`);
}

function releaseLock(file: string): void {
  heldHere.delete(resolve(file));
  try {
    unlinkSync(auditLockFile(file));
  } catch {
    /* already gone */
  }
}

function writeHead(file: string, key: Buffer, head: { seq: number; hash: string }): void {
  const body = JSON.stringify({ seq: head.seq, hash: head.hash });
  writeFileAtomic(auditHeadFile(file), `${body.slice(0, -1)},"mac":"${hmacHex(key, HEAD_LABEL, body)}"}\n`, { mode: 0o600 });
}

/** The recorded head, "missing", or "invalid" (edited, or another station's). */
function readHead(file: string, key: Buffer): { seq: number; hash: string } | "missing" | "invalid" {
  let text: string;
  try {
    text = readFileSync(auditHeadFile(file), "utf8").trim();
  } catch {
    return "missing";
  }
  const m = /,"mac":"([0-9a-f]{64})"\}$/.exec(text);
  if (!m) return "invalid";
  const body = text.slice(0, m.index) + "}";
  if (hmacHex(key, HEAD_LABEL, body) !== m[1]) return "invalid";
  try {
    const v = JSON.parse(body) as { seq: number; hash: string };
    return Number.isInteger(v.seq) && typeof v.hash === "string" ? v : "invalid";
  } catch {
    return "invalid";
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface AuditLogOptions {
  /** The station folder (the log is DIR/audit.log) or, with `file`, ignored. */
  dir: string;
  file?: string;
  identity: { secretKey: Uint8Array; publicKey: Uint8Array };
  checkpointEvery?: number;
  checkpointIntervalMs?: number;
  /** Logs up to this size are verified whole at open, larger ones from their second-last checkpoint (default 64 MiB). */
  verifyWholeBytes?: number;
  /** For tests. */
  clock?: () => Date;
}

interface Pending {
  text: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** What AuditLog.open found about the previous run. */
export interface AuditOpenReport {
  /** The previous run did not end with its shutdown checkpoint. */
  unclean: boolean;
  /** Lines after the previous run's last checkpoint (found unsealed). */
  unsealedLines: number;
}

export class AuditLog {
  readonly file: string;
  /** How the previous run ended, as found at open. */
  readonly opened: AuditOpenReport;
  private readonly secretKey: Uint8Array;
  private readonly macKey: Buffer;
  private readonly stationKey: string;
  private readonly checkpointEvery: number;
  private readonly clock: () => Date;
  private seq: number;
  private prev: string;
  private sinceCheckpoint = 0;
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private failed: Error | undefined;
  private closed = false;
  private readonly timer: NodeJS.Timeout | undefined;

  private constructor(private readonly handle: FileHandle, options: AuditLogOptions, file: string, head: { seq: number; hash: string }, opened: AuditOpenReport) {
    this.file = file;
    this.opened = opened;
    this.secretKey = options.identity.secretKey;
    this.macKey = auditMacKey(options.identity.secretKey);
    this.stationKey = toHex(options.identity.publicKey);
    this.checkpointEvery = options.checkpointEvery ?? 1000;
    this.clock = options.clock ?? (() => new Date());
    this.seq = head.seq;
    this.prev = head.hash;
    const interval = options.checkpointIntervalMs ?? 60_000;
    if (interval > 0) {
      this.timer = setInterval(() => {
        if (this.sinceCheckpoint > 0 && !this.closed && !this.failed) this.checkpoint("interval").catch(() => {});
      }, interval);
      this.timer.unref();
    }
  }

  /**
   * Opens (or creates) the log, holding its lock. An existing log is verified first (whole, or
   * from its second-last checkpoint when large), MACs included; a broken log stops the station
   * with an error naming the line. An unsealed end is recorded in a keyed notice line.
   */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    const file = options.file ?? join(resolve(options.dir), AUDIT_LOG_FILE);
    const stationKey = toHex(options.identity.publicKey);
    const macKey = auditMacKey(options.identity.secretKey);
    acquireLock(file);
    try {
      const exists = existsSync(file) && statSync(file).size > 0;
      const tail = exists ? verifyTail(file, stationKey, macKey, options.verifyWholeBytes ?? VERIFY_WHOLE_BYTES) : { seq: 0, hash: AUDIT_GENESIS, sealed: true, unsealedLines: 0 };
      const recorded = readHead(file, macKey);
      if (recorded === "invalid") {
        throw new ConfigInvalid(`${auditHeadFile(file)} was edited or belongs to another station (its MAC does not verify); the station will not start: keep it as evidence and run werkplaats station audit DIR --verify`);
      }
      if (recorded !== "missing" && recorded.seq > tail.seq) {
        throw new ConfigInvalid(
          `${file} ends at line ${tail.seq}, but the station recorded it ${recorded.seq} lines long (${auditHeadFile(file)}): lines ${tail.seq + 1}–${recorded.seq} were removed. ` +
            "The station will not start on a cut log: keep both files as evidence",
        );
      }
      if (recorded !== "missing" && recorded.seq === tail.seq && recorded.hash !== tail.hash) {
        throw new ConfigInvalid(`${file}: line ${tail.seq} is not the line the station recorded as its last (${auditHeadFile(file)}): the end of the log was replaced. The station will not start on it`);
      }
      const handle = await open(file, "a", 0o640);
      const opened = { unclean: exists && !tail.sealed, unsealedLines: tail.unsealedLines };
      const log = new AuditLog(handle, options, file, tail, opened);
      if (exists && recorded === "missing") {
        log.notice({
          event: "head-missing",
          message: `${auditHeadFile(file)} was missing at start: the station cannot tell whether lines were cut off the end of this log before line ${tail.seq + 1}`,
        }).catch(() => {});
      }
      if (opened.unclean) {
        log.notice({
          event: "unsealed-at-restart",
          lines: tail.unsealedLines,
          message:
            `${tail.unsealedLines} line${tail.unsealedLines === 1 ? "" : "s"} found unsealed at restart: the previous run did not end with its shutdown checkpoint ` +
            `(a crash or power loss — or lines were cut off its end)`,
        }).catch(() => {});
      }
      await log.checkpoint("open", exists ? (tail.sealed ? "clean" : "unclean") : undefined);
      return log;
    } catch (err) {
      releaseLock(file);
      throw err;
    }
  }

  /** The sequence number and hash of the last line. */
  head(): { seq: number; hash: string } {
    return { seq: this.seq, hash: this.prev };
  }

  /** Appends a request's record; resolves once it is on disk (fsync). Rejects if the log cannot be written. */
  append(record: AuditRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`audit log ${this.file} is closed`));
    if (this.failed) return Promise.reject(this.failed);
    const line: RequestLine = {
      seq: this.seq + 1,
      prev: this.prev,
      type: "request",
      time: this.clock().toISOString(),
      researcher: record.researcher,
      study: record.study,
      method: record.method,
      computation: record.computation,
      dataset: record.dataset,
      columns: [...record.columns],
      where: record.where,
      outcome: record.outcome,
      reason: record.reason,
      bytes: record.bytes,
      ...(record.local ? { local: { ...record.local } } : {}),
    };
    const written = this.enqueue(line);
    this.sinceCheckpoint++;
    if (this.sinceCheckpoint >= this.checkpointEvery) this.checkpoint("count").catch(() => {});
    return written;
  }

  /** Appends a signed checkpoint of the chain head. */
  checkpoint(reason: CheckpointReason, previousStop?: "clean" | "unclean"): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const unsigned = { seq: this.seq + 1, prev: this.prev, type: "checkpoint" as const, time: this.clock().toISOString(), reason, ...(previousStop ? { previousStop } : {}) };
    const signature = toHex(ed25519Sign(checkpointStatement(unsigned), this.secretKey));
    this.sinceCheckpoint = 0;
    const written = this.enqueue({ ...unsigned, station: this.stationKey, signature });
    const head = this.head();
    return written.then(() => writeHead(this.file, this.macKey, head));
  }

  /** Writes the shutdown checkpoint, waits for everything to reach the disk, and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    try {
      if (!this.failed) await this.checkpoint("shutdown");
      await this.flushing;
    } finally {
      this.closed = true;
      await this.handle.close();
      releaseLock(this.file);
    }
  }

  /**
   * For tests of crash recovery: closes the file as a killed process would, without a shutdown
   * checkpoint and leaving its lock file behind (stale: this object no longer holds it).
   */
  async abandon(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flushing;
    this.closed = true;
    heldHere.delete(resolve(this.file));
    await this.handle.close();
  }

  private notice(n: Pick<NoticeLine, "event" | "message" | "lines">): Promise<void> {
    const line: NoticeLine = { seq: this.seq + 1, prev: this.prev, type: "notice", time: this.clock().toISOString(), event: n.event, ...(n.lines !== undefined ? { lines: n.lines } : {}), message: n.message };
    this.sinceCheckpoint++;
    return this.enqueue(line);
  }

  private enqueue(line: AuditLine): Promise<void> {
    const { mac: _, ...body } = line;
    const text = withMac(JSON.stringify(body), this.macKey);
    if (text.includes("\n")) throw new Error("an audit line may not contain a newline"); // JSON escapes them; belt and braces
    this.seq = line.seq;
    this.prev = lineHash(text);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ text, resolve, reject });
      if (!this.flushing) this.flushing = this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      try {
        await this.handle.appendFile(batch.map((p) => p.text + "\n").join(""));
        await this.handle.datasync();
        batch.forEach((p) => p.resolve());
      } catch (err) {
        // Fail closed: once a line could not be written, nothing more is answered.
        this.failed = new Error(`audit log ${this.file} cannot be written: ${(err as Error).message}`, { cause: err });
        for (const p of [...batch, ...this.pending.splice(0)]) p.reject(this.failed);
      }
    }
    this.flushing = undefined;
  }
}

/** Logs up to this size are verified whole at open; larger ones from their second-last checkpoint on. */
const VERIFY_WHOLE_BYTES = 64 * 1024 * 1024;

const OLD_FORMAT =
  "is in the old audit-log format (before keyed lines: no \"mac\" on its lines), whose chain anyone could recompute. " +
  "Move it aside (keep it: `werkplaats station audit` still shows it) and start the station again on a new log";

/**
 * Verifies an existing log before the station appends to it: the whole log when it is small, else
 * its tail from the second-last checkpoint (so that the last checkpoint's link to the lines before
 * it is checked too). A broken log stops the station. An unsealed end is not an error here — it is
 * what a crash leaves — and is recorded in a notice line before the open checkpoint.
 */
function verifyTail(file: string, stationKey: string, macKey: Buffer, wholeBytes: number): { seq: number; hash: string; sealed: boolean; unsealedLines: number } {
  const size = statSync(file).size;
  const whole = size <= wholeBytes;
  const texts = whole ? readAllLines(file) : readTailFromCheckpoint(file, 2);
  if (texts.length === 0) return { seq: 0, hash: AUDIT_GENESIS, sealed: true, unsealedLines: 0 };
  let anchor: { seq: number; prev: string } = { seq: 1, prev: AUDIT_GENESIS };
  const first = parseLine(texts[0]);
  if (first && checkLineMac(texts[0], macKey) === "missing") throw new ConfigInvalid(`${file} ${OLD_FORMAT}`);
  if (!whole && first?.type === "checkpoint") anchor = { seq: first.seq, prev: first.prev };
  const result = checkLines(texts, { stationKey, macKey, anchor });
  if (result.problems.length > 0) {
    const p = result.problems[0];
    throw new ConfigInvalid(
      `${file}: line ${p.line}: ${p.message}. The station will not start on a broken audit log: run werkplaats station audit DIR --verify, and keep the broken log as evidence`,
    );
  }
  return { seq: result.head.seq, hash: result.head.hash, sealed: result.sealed, unsealedLines: result.unsealedLines };
}

function readAllLines(file: string): string[] {
  const text = readFileSync(file, "utf8");
  if (text.length === 0) return [];
  if (!text.endsWith("\n")) {
    throw new ConfigInvalid(`${file}: the last line is incomplete (the station stopped while writing it?); the station will not start on it: run werkplaats station audit DIR --verify`);
  }
  return text.slice(0, -1).split("\n");
}

function parseLine(text: string): AuditLine | undefined {
  try {
    const v = JSON.parse(text) as AuditLine;
    return v && typeof v === "object" && typeof v.seq === "number" ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The lines from the `k`-th last checkpoint (inclusive) to the end; all lines when there are fewer. */
function readTailFromCheckpoint(file: string, k: number): string[] {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return [];
    const chunk = 64 * 1024;
    let end = size;
    let text = "";
    for (;;) {
      const start = Math.max(0, end - chunk);
      const buf = Buffer.alloc(end - start);
      readSync(fd, buf, 0, buf.length, start);
      text = buf.toString("latin1") + text;
      end = start;
      const lines = text.split("\n");
      if (lines[lines.length - 1] !== "") {
        throw new ConfigInvalid(`${file}: the last line is incomplete (the station stopped while writing it?); the station will not start on it: run werkplaats station audit DIR --verify`);
      }
      // lines[0] may be partial unless we reached the start of the file
      const complete = start === 0 ? lines.slice(0, -1) : lines.slice(1, -1);
      let found = 0;
      for (let i = complete.length - 1; i >= 0; i--) {
        if (complete[i].includes('"type":"checkpoint"') && ++found === k) return complete.slice(i).map((l) => Buffer.from(l, "latin1").toString("utf8"));
      }
      if (start === 0) return complete.map((l) => Buffer.from(l, "latin1").toString("utf8"));
    }
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Verification of a whole log (werkplaats station audit DIR --verify)

export interface AuditProblem {
  /** 1-based line number in the file. */
  line: number;
  message: string;
}

/**
 * - intact: every line verified, ends with the shutdown checkpoint, no warnings.
 * - running: the station runs (it holds the lock); everything written so far verified, its newest
 *   lines are not sealed yet, no warnings.
 * - warnings: nothing was found altered, but something cannot be vouched for: lines found
 *   unsealed at a restart (a crash, or a cut-off end), a stopped station whose log has no shutdown
 *   checkpoint, or lines after the last checkpoint that could not be checked without identity.key.
 * - broken: lines were edited, removed, reordered, forged or cut through.
 * - old-format: a log from before keyed lines; its unkeyed chain proves nothing against rewriting.
 */
export type AuditStatus = "intact" | "running" | "warnings" | "broken" | "old-format";

export interface AuditVerification {
  /** No problems (nothing found altered); see `status` for warnings. */
  ok: boolean;
  status: AuditStatus;
  /** Lines in the file. */
  lines: number;
  /** Every line that parsed, in file order, with its line number. */
  entries: Array<{ line: number; entry: AuditLine }>;
  problems: AuditProblem[];
  /** Not proven tampering, but not intact either (see AuditStatus "warnings"). */
  warnings: AuditProblem[];
  /** The last checkpoint whose signature verified. */
  lastCheckpoint?: { line: number; seq: number; reason: CheckpointReason; head: string };
  /** Hash of the last line: record it elsewhere to detect later truncation. */
  head: { seq: number; hash: string };
  /** The log ends with a valid shutdown checkpoint. */
  sealed: boolean;
  /** Lines after the last signed checkpoint. */
  unsealedLines: number;
  /** The line MACs were checked (identity.key was given); else only the chain and signatures. */
  keyed: boolean;
  /** A live process holds the log's lock. */
  running: boolean;
}

/**
 * Checks the whole log: every line's JSON, sequence, hash link, MAC (with the identity secret key)
 * and checkpoint signature, and how it ends. With only the public key, lines sealed by a
 * checkpoint are fully verified (the signature covers them through the chain); lines after the
 * last checkpoint are then a warning.
 */
export function verifyAuditLog(options: { file: string; stationKey: string; identitySecretKey?: Uint8Array; running?: boolean }): AuditVerification {
  const running = options.running ?? auditLogHolder(options.file) !== undefined;
  const raw = readFileSync(options.file).toString("utf8");
  const texts = raw.split("\n");
  let incomplete = texts[texts.length - 1] !== "";
  let lines = incomplete ? texts : texts.slice(0, -1);
  // A running station may be in the middle of appending: its half-written last line is not an error.
  if (incomplete && running) {
    lines = texts.slice(0, -1);
    incomplete = false;
  }
  const macKey = options.identitySecretKey ? auditMacKey(options.identitySecretKey) : undefined;
  const base = { lines: lines.length, keyed: macKey !== undefined, running };
  const first = lines.length > 0 ? parseLine(lines[0]) : undefined;
  if (first && !MAC_TAIL.test(lines[0])) {
    // The old format: show it, verify its unkeyed chain, and never call it intact.
    const result = checkLines(lines, { stationKey: options.stationKey, anchor: { seq: 1, prev: AUDIT_GENESIS }, incomplete, oldFormat: true });
    const problems = [{ line: 1, message: `the log ${OLD_FORMAT}` }, ...result.problems];
    return { ...base, ok: false, status: "old-format", entries: result.entries, problems, warnings: [], lastCheckpoint: result.lastCheckpoint, head: result.head, sealed: result.sealed, unsealedLines: result.unsealedLines };
  }
  const result = checkLines(lines, { stationKey: options.stationKey, macKey, anchor: { seq: 1, prev: AUDIT_GENESIS }, incomplete });
  const warnings = [...result.warnings];
  const lastLine = lines.length;
  if (lines.length > 0 && !result.sealed && result.problems.length === 0) {
    const from = result.lastCheckpoint ? result.lastCheckpoint.line + 1 : 1;
    const span = from <= lastLine ? `lines ${from}–${lastLine}` : "no lines";
    const unchecked = !macKey && from <= lastLine ? `; ${span} were not checked: identity.key was not readable, so their MACs could not be verified` : "";
    if (!running) {
      warnings.push({
        line: lastLine,
        message: `the log does not end with the station's signed shutdown checkpoint and no station is running: ${span} after the last checkpoint are not sealed. ` +
          `The station stopped uncleanly — or lines after line ${lastLine} were cut off${unchecked}`,
      });
    } else if (unchecked) {
      warnings.push({ line: lastLine, message: `the running station's newest lines are not sealed yet${unchecked}` });
    }
  }
  // The head file the station keeps (keyed): a log shorter than it, or with another line there, was cut.
  if (macKey && lines.length > 0) {
    const recorded = readHead(options.file, macKey);
    if (recorded === "missing") {
      warnings.push({ line: lastLine, message: `${auditHeadFile(options.file)} is missing: whether lines were cut off the end cannot be checked` });
    } else if (recorded === "invalid") {
      result.problems.push({ line: lastLine, message: `${auditHeadFile(options.file)} was edited or belongs to another station (its MAC does not verify)` });
    } else if (recorded.seq > lastLine) {
      result.problems.push({ line: lastLine, message: `the station recorded this log ${recorded.seq} lines long (${auditHeadFile(options.file)}): lines ${lastLine + 1}–${recorded.seq} were removed` });
    } else if (lineHash(lines[recorded.seq - 1]) !== recorded.hash) {
      result.problems.push({ line: recorded.seq, message: `is not the line the station recorded at this position (${auditHeadFile(options.file)}): the log was replaced from here` });
    }
  }
  const problems = result.problems;
  const status: AuditStatus = problems.length > 0 ? "broken" : warnings.length > 0 ? "warnings" : running && !result.sealed ? "running" : "intact";
  return { ...base, ok: problems.length === 0, status, entries: result.entries, problems, warnings, lastCheckpoint: result.lastCheckpoint, head: result.head, sealed: result.sealed, unsealedLines: result.unsealedLines };
}

/**
 * The verifier proper, over lines whose first has sequence number `anchor.seq` and `prev`
 * `anchor.prev` (line 1 and the genesis value for a whole log). Line numbers in reports are
 * `anchor.seq + index`, which is the file's line number in an intact log. Without `macKey` the
 * MACs are not checked (public-key verification).
 */
function checkLines(
  lines: string[],
  options: { stationKey: string; macKey?: Buffer; anchor: { seq: number; prev: string }; incomplete?: boolean; oldFormat?: boolean },
): { entries: AuditVerification["entries"]; problems: AuditProblem[]; warnings: AuditProblem[]; lastCheckpoint?: AuditVerification["lastCheckpoint"]; head: { seq: number; hash: string }; sealed: boolean; unsealedLines: number } {
  const problems: AuditProblem[] = [];
  const warnings: AuditProblem[] = [];
  const entries: AuditVerification["entries"] = [];
  const base = options.anchor.seq;
  if (options.incomplete) problems.push({ line: base + lines.length - 1, message: "is incomplete (no newline at the end): the log was cut in the middle of a line" });
  const parsed = lines.map(parseLine);
  const seqAt = new Map<number, number>();
  parsed.forEach((p, i) => p && !seqAt.has(p.seq) && seqAt.set(p.seq, i));

  let expectedSeq = base;
  let prevHash = options.anchor.prev;
  let previousOk = true;
  let lastCheckpoint: AuditVerification["lastCheckpoint"];
  lines.forEach((text, i) => {
    const n = base + i;
    const line = parsed[i];
    const hash = lineHash(text);
    if (!line) {
      problems.push({ line: n, message: "is not a valid audit line (not JSON, or no sequence number): it was edited or corrupted" });
      expectedSeq++;
      prevHash = hash;
      previousOk = false;
      return;
    }
    entries.push({ line: n, entry: line });
    let ok = true;
    if (!options.oldFormat) {
      const mac = options.macKey ? checkLineMac(text, options.macKey) : MAC_TAIL.test(text) ? "ok" : "missing";
      if (mac === "missing") {
        ok = false;
        problems.push({ line: n, message: "carries no MAC: it was inserted or rewritten by someone without the station's key" });
      } else if (mac === "bad") {
        ok = false;
        problems.push({ line: n, message: "fails its MAC: it was edited, renumbered or forged by someone without the station's key" });
      }
    }
    if (line.seq !== expectedSeq) {
      ok = false;
      if (line.seq > expectedSeq) {
        const laterIndex = seqAt.get(expectedSeq);
        if (laterIndex !== undefined && laterIndex > i) {
          problems.push({ line: n, message: `is out of order: sequence number ${line.seq} where ${expectedSeq} was expected (that line is at line ${base + laterIndex}): lines were reordered` });
        } else {
          problems.push({ line: n, message: `${line.seq - expectedSeq} line(s) are missing before this line (sequence jumps from ${expectedSeq - 1} to ${line.seq}): lines were removed` });
        }
      } else {
        problems.push({ line: n, message: `is out of order: sequence number ${line.seq} where ${expectedSeq} was expected: lines were reordered or duplicated` });
      }
    } else if (line.prev !== prevHash && previousOk) {
      ok = false;
      problems.push(
        i > 0
          ? { line: n - 1, message: `was altered: its hash no longer matches the "prev" recorded by line ${n} (or line ${n}'s "prev" field was edited)` }
          : { line: n, message: `does not start the chain: its "prev" is not the expected value (the first lines were removed, or this line was edited)` },
      );
    }
    if (line.type === "checkpoint") {
      if (!verifyCheckpointSignature(line, options.stationKey)) {
        ok = false;
        problems.push({ line: n, message: "is a checkpoint whose signature does not verify with this station's identity key: it was edited or forged" });
      } else {
        lastCheckpoint = { line: n, seq: line.seq, reason: line.reason, head: line.prev };
      }
    } else if (line.type === "notice" && ok) {
      warnings.push({ line: n, message: `the station noted at start: ${line.message}` });
    }
    expectedSeq = Math.max(expectedSeq, line.seq + 1);
    prevHash = hash;
    previousOk = ok;
  });
  const last = parsed[parsed.length - 1];
  const lastLine = base + lines.length - 1;
  const sealed = !options.incomplete && last?.type === "checkpoint" && last.reason === "shutdown" && lastCheckpoint?.line === lastLine;
  const lastText = lines[lines.length - 1];
  return {
    entries,
    problems,
    warnings,
    lastCheckpoint,
    head: { seq: last?.seq ?? base - 1, hash: lastText !== undefined ? lineHash(lastText) : options.anchor.prev },
    sealed: Boolean(sealed),
    unsealedLines: lines.length === 0 ? 0 : lastLine - (lastCheckpoint?.line ?? base - 1),
  };
}

/**
 * The station's audit log, DIR/audit.log: one JSON object per line for every request and its
 * outcome, append-only and tamper-evident.
 *
 * - Every line records `seq` (1, 2, 3, … — equal to its line number) and `prev`, the SHA-256 of
 *   the previous line's exact bytes (for line 1: AUDIT_GENESIS). Editing, removing, inserting or
 *   reordering a line breaks the chain at that point, and `verifyAuditLog` says where.
 * - Every `checkpointEvery` lines, every `checkpointIntervalMs` (when lines were added), at open and
 *   at shutdown the station appends a checkpoint line signed with its Ed25519 identity key over
 *   (seq, prev, time, reason). The signature seals every line before it, through the chain.
 * - The last line of a cleanly stopped station is its shutdown checkpoint, so cutting lines off
 *   the end is visible: the log then ends on an unsigned tail. A station that restarts after a
 *   crash notes `"previousStop": "unclean"` in its open checkpoint.
 * - A line is written and fsynced before `append()` resolves; the station answers a request only
 *   after that, so no answer leaves without its record on disk. Lines that arrive while a write is
 *   in flight are written and synced together (group commit).
 *
 * Limits (honest ones): whoever holds the station's identity key — on the station's own machine —
 * can rewrite the whole log and re-sign it; the chain only proves that the log is as the key
 * holder last signed it. Truncating back to an earlier shutdown checkpoint (cutting off whole
 * later sessions) leaves a valid-looking log. Against both, copy checkpoint heads off the machine
 * (`werkplaats station audit DIR --verify` prints the head; a steward can record it elsewhere, or
 * ship the log to a write-once store). Lines after the last checkpoint of a running or crashed
 * station are chained but not yet signed.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ed25519Sign, ed25519Verify } from "../../common/curves.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { ConfigInvalid } from "../../common/errors.js";
import { toHex } from "../../common/hex.js";

export const AUDIT_LOG_FILE = "audit.log";
/** `prev` of line 1: a fixed value, so that removing the first lines is visible too. */
export const AUDIT_GENESIS = toHex(sha256(new TextEncoder().encode("werkplaats.v1/audit-log/genesis")));
export const CHECKPOINT_LABEL = "werkplaats.v1/audit-checkpoint";

export type AuditOutcome = "allowed" | "refused" | "error";
export type CheckpointReason = "open" | "count" | "interval" | "shutdown";

/** What the station records about one request. */
export interface AuditRecord {
  /** Researcher's public key, hex; null for an unsigned or unreadable request. */
  researcher: string | null;
  study: string | null;
  /** The RPC, e.g. "Contribute". */
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
}

export interface RequestLine extends AuditRecord {
  seq: number;
  prev: string;
  type: "request";
  time: string;
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
}

export type AuditLine = RequestLine | CheckpointLine;

const utf8 = new TextEncoder();

export function lineHash(text: string): string {
  return toHex(sha256(utf8.encode(text)));
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

export class AuditLog {
  readonly file: string;
  private readonly secretKey: Uint8Array;
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

  private constructor(private readonly handle: FileHandle, options: AuditLogOptions, file: string, head: { seq: number; hash: string }) {
    this.file = file;
    this.secretKey = options.identity.secretKey;
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
   * Opens (or creates) the log. An existing log's tail — from its last checkpoint on — is verified
   * first; a broken log stops the station with an error naming the line.
   */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    const file = options.file ?? join(resolve(options.dir), AUDIT_LOG_FILE);
    const stationKey = toHex(options.identity.publicKey);
    const tail = existsSync(file) ? verifyTail(file, stationKey, options.verifyWholeBytes ?? VERIFY_WHOLE_BYTES) : { seq: 0, hash: AUDIT_GENESIS, sealed: true };
    const handle = await open(file, "a", 0o640);
    const log = new AuditLog(handle, options, file, tail);
    await log.checkpoint("open", tail.seq > 0 ? (tail.sealed ? "clean" : "unclean") : undefined);
    return log;
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
    return this.enqueue({ ...unsigned, station: this.stationKey, signature });
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
    }
  }

  private enqueue(line: AuditLine): Promise<void> {
    const text = JSON.stringify(line);
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

/**
 * Verifies an existing log before the station appends to it: the whole log when it is small, else
 * its tail from the second-last checkpoint (so that the last checkpoint's link to the lines before
 * it is checked too). A broken log stops the station. An unsealed end is not an error here — it is
 * what a crash leaves — and is recorded in the next open checkpoint.
 */
function verifyTail(file: string, stationKey: string, wholeBytes: number): { seq: number; hash: string; sealed: boolean } {
  const size = statSync(file).size;
  const whole = size <= wholeBytes;
  const texts = whole ? readAllLines(file) : readTailFromCheckpoint(file, 2);
  if (texts.length === 0) return { seq: 0, hash: AUDIT_GENESIS, sealed: true };
  let anchor: { seq: number; prev: string } = { seq: 1, prev: AUDIT_GENESIS };
  const first = parseLine(texts[0]);
  if (!whole && first?.type === "checkpoint") anchor = { seq: first.seq, prev: first.prev };
  const result = checkLines(texts, { stationKey, anchor });
  const problems = result.problems.filter((p) => !p.unsealed);
  if (problems.length > 0) {
    const p = problems[0];
    throw new ConfigInvalid(
      `${file}: line ${p.line}: ${p.message}. The station will not start on a broken audit log: run werkplaats station audit DIR --verify, and keep the broken log as evidence`,
    );
  }
  return { seq: result.head.seq, hash: result.head.hash, sealed: result.sealed };
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

export interface AuditVerification {
  ok: boolean;
  /** Lines in the file. */
  lines: number;
  /** Every line that parsed, in file order, with its line number. */
  entries: Array<{ line: number; entry: AuditLine }>;
  problems: AuditProblem[];
  /** Not tampering, but worth a steward's attention (an unclean stop). */
  notes: AuditProblem[];
  /** The last checkpoint whose signature verified. */
  lastCheckpoint?: { line: number; seq: number; reason: CheckpointReason; head: string };
  /** Hash of the last line: record it elsewhere to detect later truncation. */
  head: { seq: number; hash: string };
  /** The log ends with a valid shutdown checkpoint. */
  sealed: boolean;
}

/** Checks the whole log: every line's JSON, sequence, hash link and checkpoint signature, and the sealed end. */
export function verifyAuditLog(options: { file: string; stationKey: string }): AuditVerification {
  const raw = readFileSync(options.file).toString("utf8");
  const texts = raw.split("\n");
  const incomplete = texts[texts.length - 1] !== "";
  const lines = incomplete ? texts : texts.slice(0, -1);
  const result = checkLines(lines, { stationKey: options.stationKey, anchor: { seq: 1, prev: AUDIT_GENESIS }, incomplete });
  const problems = result.problems.map(({ line, message }) => ({ line, message }));
  return { ok: problems.length === 0, lines: lines.length, entries: result.entries, problems, notes: result.notes, lastCheckpoint: result.lastCheckpoint, head: result.head, sealed: result.sealed };
}

/**
 * The verifier proper, over lines whose first has sequence number `anchor.seq` and `prev`
 * `anchor.prev` (line 1 and the genesis value for a whole log). Line numbers in reports are
 * `anchor.seq + index`, which is the file's line number in an intact log.
 */
function checkLines(
  lines: string[],
  options: { stationKey: string; anchor: { seq: number; prev: string }; incomplete?: boolean },
): Omit<AuditVerification, "ok" | "lines" | "problems"> & { problems: Array<AuditProblem & { unsealed?: boolean }> } {
  const problems: Array<AuditProblem & { unsealed?: boolean }> = [];
  const notes: AuditProblem[] = [];
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
        if (line.previousStop === "unclean") {
          notes.push({ line: n, message: "the station restarted here after an unclean stop (crash or power loss — or the log was truncated before this restart): the lines just before were not sealed by a shutdown checkpoint" });
        }
      }
    }
    expectedSeq = Math.max(expectedSeq, line.seq + 1);
    prevHash = hash;
    previousOk = ok;
  });
  const last = parsed[parsed.length - 1];
  const lastLine = base + lines.length - 1;
  const sealed = !options.incomplete && last?.type === "checkpoint" && last.reason === "shutdown" && lastCheckpoint?.line === lastLine;
  if (lines.length > 0 && !sealed) {
    const from = lastCheckpoint ? lastCheckpoint.line + 1 : base;
    problems.push({
      line: lastLine,
      unsealed: true,
      message: `the log does not end with the station's signed shutdown checkpoint: lines ${from}–${lastLine} are not sealed. ` +
        `Lines after line ${from - 1} may have been cut off — or the station is still running, or it stopped uncleanly`,
    });
  }
  const lastText = lines[lines.length - 1];
  return {
    entries,
    problems,
    notes,
    lastCheckpoint,
    head: { seq: last?.seq ?? base - 1, hash: lastText !== undefined ? lineHash(lastText) : options.anchor.prev },
    sealed: Boolean(sealed),
  };
}

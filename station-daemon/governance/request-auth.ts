/**
 * The station's check that a request comes from a researcher its policy knows, was meant for this
 * station, method and message, is recent, and has not been seen before. The signed statement is
 * defined once, in common/request-statement.ts.
 *
 * Order of checks: unsigned → malformed → unknown key → signature → clock window → replay. The
 * signature is checked before the nonce is remembered, so forged requests cannot fill the replay
 * cache; the replay cache remembers a nonce until its request falls out of the clock window, after
 * which the window check refuses it anyway.
 */
import { ed25519Verify } from "../../common/curves.js";
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigInvalid, PolicyRefused, ProtocolViolation } from "../../common/errors.js";
import { writeFileAtomic } from "../../common/files.js";
import { type RequestAuth, requestStatement } from "../../common/request-statement.js";
import type { StationPolicy } from "./policy.js";
import { researcherKeys } from "./policy-check.js";

/** The station's memory of nonces and job ids, DIR/seen-requests.log (mode 0600). */
export const SEEN_STATE_FILE = "seen-requests.log";

type SeenKind = "nonce" | "job";

/**
 * What the station has seen, kept across restarts: the nonces of signed requests (until their
 * request falls out of the clock window) and the job ids it started (until the job's deadline).
 * An append-only file of JSON lines, one per entry (the id's SHA-256, its kind, and until when it
 * is kept); at open, expired entries are dropped and the
 * file is rewritten with the live ones, so it stays as small as what is still inside a window.
 *
 * Each entry is written (write(2)) before the request is answered, so a killed station keeps it.
 * It is not fsynced per request: after a power loss the newest entries may be gone, which is why
 * a station that restarts after an unclean stop also refuses every request signed before it
 * started (ReplayCache `notBefore`).
 */
export class SeenStore {
  private readonly entries: Record<SeenKind, Map<string, number>> = { nonce: new Map(), job: new Map() };
  private fd: number | undefined;
  private written = 0;

  private constructor(readonly file: string) {}

  static open(dir: string, now = Date.now()): SeenStore {
    const store = new SeenStore(join(resolve(dir), SEEN_STATE_FILE));
    if (existsSync(store.file)) {
      const text = readFileSync(store.file, "utf8");
      text.split("\n").forEach((line, i) => {
        if (line === "") return;
        let entry: { k?: unknown; id?: unknown; until?: unknown };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          // A line cut by a crash in the middle of a write can only be the last one.
          if (i === text.split("\n").length - 2 && !text.endsWith("\n")) return;
          throw new ConfigInvalid(`${store.file}: line ${i + 1} is not a valid entry; the station will not forget what it has seen: remove the line only if you know why it is broken`);
        }
        if ((entry.k === "nonce" || entry.k === "job") && typeof entry.id === "string" && typeof entry.until === "number" && entry.until >= now) {
          store.entries[entry.k].set(entry.id, entry.until);
        }
      });
    }
    writeFileAtomic(store.file, store.lines(), { mode: 0o600 });
    store.fd = openSync(store.file, "a", 0o600);
    return store;
  }

  has(kind: SeenKind, id: string, now: number): boolean {
    const until = this.entries[kind].get(digestOf(kind, id));
    return until !== undefined && until >= now;
  }

  add(kind: SeenKind, id: string, until: number): void {
    const digest = digestOf(kind, id);
    this.entries[kind].set(digest, until);
    if (this.fd !== undefined) {
      writeSync(this.fd, lineOf(kind, digest, until));
      // Rewrite without the expired entries once the file holds many more lines than live ones.
      if (++this.written > 4 * (this.entries.nonce.size + this.entries.job.size) + 1000) this.compact(Date.now());
    }
  }

  /** Drops expired entries from memory. */
  sweep(now: number): void {
    for (const map of Object.values(this.entries)) for (const [id, until] of map) if (until < now) map.delete(id);
  }

  count(kind: SeenKind): number {
    return this.entries[kind].size;
  }

  private lines(): string {
    return (["nonce", "job"] as const).flatMap((kind) => [...this.entries[kind]].map(([id, until]) => lineOf(kind, id, until))).join("");
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private compact(now: number): void {
    this.sweep(now);
    if (this.fd !== undefined) closeSync(this.fd);
    writeFileAtomic(this.file, this.lines(), { mode: 0o600 });
    this.fd = openSync(this.file, "a", 0o600);
    this.written = 0;
  }
}

/**
 * What the file keeps of an id: its SHA-256, enough to recognise it again, so that the station's
 * disk holds no job ids or nonces beyond the audit log (they are not secrets, but need not linger).
 */
function digestOf(kind: SeenKind, id: string): string {
  return createHash("sha256").update(`${kind}\u0000${id}`).digest("hex");
}

function lineOf(kind: SeenKind, id: string, until: number): string {
  return JSON.stringify({ k: kind, id, until }) + "\n";
}

/**
 * Nonces seen within the clock window, per researcher key. Bounded: when full of nonces that are
 * all still inside the window, new requests are refused rather than an old nonce forgotten
 * (forgetting would let that request be replayed). Only validly signed requests get in, so only a
 * known researcher can fill it, and the audit log shows who did. With a SeenStore it survives a
 * restart; `notBefore` refuses everything signed before it (set after an unclean stop, when the
 * newest nonces may not have reached the disk).
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();
  private nextSweep = 0;
  private readonly store: SeenStore | undefined;
  readonly notBefore: number | undefined;

  constructor(readonly maxEntries = 100_000, options: { store?: SeenStore; notBefore?: number } = {}) {
    this.store = options.store;
    this.notBefore = options.notBefore;
  }

  get size(): number {
    return this.store ? this.store.count("nonce") : this.seen.size;
  }

  /** Records the nonce; false when it was seen already. */
  remember(options: { researcherKey: string; nonce: string; forgetAfter: number; now: number; time?: number }): boolean | "full" | "before-restart" {
    if (this.notBefore !== undefined && options.time !== undefined && options.time < this.notBefore) return "before-restart";
    const id = `${options.researcherKey}/${options.nonce}`;
    if (this.store) {
      if (this.store.has("nonce", id, options.now)) return false;
      if (options.now >= this.nextSweep) {
        this.store.sweep(options.now);
        this.nextSweep = options.now + 1000;
      }
      if (this.store.count("nonce") >= this.maxEntries) {
        this.store.sweep(options.now);
        if (this.store.count("nonce") >= this.maxEntries) return "full";
      }
      this.store.add("nonce", id, options.forgetAfter);
      return true;
    }
    const until = this.seen.get(id);
    if (until !== undefined && until >= options.now) return false;
    if (this.seen.size >= this.maxEntries || options.now >= this.nextSweep) this.sweep(options.now);
    if (this.seen.size >= this.maxEntries) return "full";
    this.seen.set(id, options.forgetAfter);
    return true;
  }

  private sweep(now: number): void {
    for (const [id, until] of this.seen) if (until < now) this.seen.delete(id);
    this.nextSweep = now + 1000;
  }
}

/**
 * Job ids a station has started, until each job's deadline, across restarts: a job id seen before
 * is refused, whoever signs the new request. Bounded like the replay cache.
 */
export class SeenJobs {
  constructor(private readonly store: SeenStore, readonly maxEntries = 100_000) {}

  /** Records the job id; throws ProtocolViolation when it was seen before (or PolicyRefused when full). */
  remember(jobId: string, deadlineMs: number, now = Date.now(), stationName?: string): void {
    if (this.store.has("job", jobId, now)) {
      throw new ProtocolViolation(`job id ${jobId} was used before at this station: every job needs a fresh id`);
    }
    if (this.store.count("job") >= this.maxEntries) {
      this.store.sweep(now);
      if (this.store.count("job") >= this.maxEntries) throw new PolicyRefused("too many jobs open at this station: try again after some have ended", stationName);
    }
    this.store.add("job", jobId, Math.max(deadlineMs, now));
  }
}

export interface VerifyRequestOptions {
  /** From requestAuthFromMetadata; undefined when the request carried no signature. */
  auth: Partial<RequestAuth> | undefined;
  /** The full gRPC method path the request arrived on (call.getPath()). */
  method: string;
  /** The canonical bytes of the request message, computed as the SDK did. */
  body: Uint8Array;
  /** This station's identity key, hex: requests signed for another station are refused. */
  station: string;
  policy: StationPolicy;
  /** Milliseconds since the epoch. */
  now: number;
  replayCache: ReplayCache;
  /** Named in refusals. */
  stationName?: string;
  /**
   * The identity key the SDK says it signed for (unsigned metadata, a hint only): when the
   * signature fails and this is not the station's key, the analyst's federation file has the
   * wrong key, and the refusal says so instead of blaming the researcher's signature.
   */
  audience?: string;
}

/** Returns the verified researcher key and study, or throws PolicyRefused with the reason. */
export function verifyRequest(options: VerifyRequestOptions): { researcherKey: string; study: string } {
  const refuse = (why: string): never => {
    throw new PolicyRefused(why, options.stationName);
  };
  const a = options.auth;
  if (!a || a.signature === undefined) {
    return refuse("the request is not signed: every request must carry a researcher's signature (werkplaats keys new; the SDK signs with it)");
  }
  if (typeof a.researcherKey !== "string" || !/^[0-9a-f]{64}$/.test(a.researcherKey)) return refuse("the request's researcher key is not 64 lower-case hex digits");
  if (typeof a.study !== "string" || a.study.length === 0 || a.study.length > 64) return refuse("the request names no study");
  if (typeof a.time !== "number" || !Number.isSafeInteger(a.time)) return refuse("the request's signing time is missing or not a whole number of milliseconds");
  if (typeof a.nonce !== "string" || !/^[0-9a-f]{32}$/.test(a.nonce)) return refuse("the request's nonce is not 16 bytes of hex");
  if (!/^[0-9a-f]{128}$/.test(a.signature)) return refuse("the request's signature is not 64 bytes of hex");
  const key = a.researcherKey;
  if (!researcherKeys(options.policy).has(key)) return refuse(`researcher key ${key.slice(0, 16)}… is not listed in any study of this station's policy`);
  const statement = requestStatement({
    station: options.station,
    method: options.method,
    body: options.body,
    study: a.study,
    time: a.time,
    nonce: a.nonce,
    researcherKey: key,
  });
  let valid = false;
  try {
    valid = ed25519Verify(new Uint8Array(Buffer.from(a.signature, "hex")), statement, new Uint8Array(Buffer.from(key, "hex")));
  } catch {
    valid = false;
  }
  if (!valid && typeof options.audience === "string" && /^[0-9a-f]{64}$/.test(options.audience) && options.audience !== options.station) {
    throw new ConfigInvalid(
      `station ${options.stationName ?? ""} was addressed under identity key ${options.audience}, but its identity key is ${options.station}: the federation file lists a different identityKey for it`,
    );
  }
  if (!valid) return refuse("the request's signature does not verify: it was not signed by this researcher's key for this station, method and message");
  const window = options.policy.requestWindowMs;
  const skew = a.time - options.now;
  if (Math.abs(skew) > window) {
    return refuse(
      `the request was signed at ${new Date(a.time).toISOString()}, ${Math.round(Math.abs(skew) / 1000)} s ${skew < 0 ? "before" : "after"} this station's clock ` +
        `(${new Date(options.now).toISOString()}); requests must be signed within ±${window / 1000} s: check both clocks`,
    );
  }
  const remembered = options.replayCache.remember({ researcherKey: key, nonce: a.nonce, forgetAfter: a.time + window, now: options.now, time: a.time });
  if (remembered === false) return refuse("the request's nonce was used before: a replayed request is refused");
  if (remembered === "before-restart") {
    return refuse("the request was signed before this station restarted after an unclean stop, when its memory of nonces may have been lost: sign it again");
  }
  if (remembered === "full") return refuse("too many requests within the clock window: try again shortly");
  return { researcherKey: key, study: a.study };
}

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
import { ConfigInvalid, PolicyRefused } from "../../common/errors.js";
import { type RequestAuth, requestStatement } from "../../common/request-statement.js";
import type { StationPolicy } from "./policy.js";
import { researcherKeys } from "./policy-check.js";

/**
 * Nonces seen within the clock window, per researcher key. Bounded: when full of nonces that are
 * all still inside the window, new requests are refused rather than an old nonce forgotten
 * (forgetting would let that request be replayed). Only validly signed requests get in, so only a
 * known researcher can fill it, and the audit log shows who did.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();
  private nextSweep = 0;
  constructor(readonly maxEntries = 100_000) {}

  get size(): number {
    return this.seen.size;
  }

  /** Records the nonce; false when it was seen already. */
  remember(options: { researcherKey: string; nonce: string; forgetAfter: number; now: number }): boolean | "full" {
    const id = `${options.researcherKey}/${options.nonce}`;
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
  const remembered = options.replayCache.remember({ researcherKey: key, nonce: a.nonce, forgetAfter: a.time + window, now: options.now });
  if (remembered === false) return refuse("the request's nonce was used before: a replayed request is refused");
  if (remembered === "full") return refuse("too many requests within the clock window: try again shortly");
  return { researcherKey: key, study: a.study };
}

/**
 * Round 0, AdvertiseKeys (Bonawitz et al. Fig. 4/5): each station makes two fresh X25519 key pairs
 * for this job — c for sealing pad seeds, s for pairwise masks — and signs both public keys with
 * its long-term identity key. The signature also covers the job's terms (context, job id, station
 * list, deadline), so every station can check in round 1 that all of them were shown the same job.
 * (v1 also signed a Shamir threshold; v2 has none: every station of the list must contribute.)
 */
import { BadInput, ProtocolViolation } from "../common/errors.js";
import type { Field } from "./encoding.js";
import { generateKeyPair, type KeyPair } from "./keyagreement.js";
import {
  expectBytes,
  expectNameSet,
  expectObject,
  expectString,
  type KeyAdvertisement,
} from "./messages.js";
import {
  JOB_ID_PATTERN,
  KEY_BYTES,
  MAX_CONTEXT_BYTES,
  MAX_JOB_LIFETIME_MS,
  MAX_STATIONS,
  SIGNATURE_BYTES,
} from "./params.js";
import { signStatement, STATEMENT, verifyStatement } from "./signing.js";

/** What every station must agree on for one job; fixed in round 0. */
export interface JobTerms {
  jobId: string;
  context: Uint8Array;
  /** Every station of the job; each one's input is in the sum, or nothing is released. */
  stations: readonly string[];
  deadlineMs: number;
}

/** Long-term identity keys of the federation, from each station's own configuration. */
export type Roster = ReadonlyMap<string, Uint8Array>;

export function checkJobId(value: unknown): string {
  const jobId = expectString(value, "jobId");
  if (!JOB_ID_PATTERN.test(jobId)) {
    // Never echo an unbounded string: it would land in logs and the audit log as it is.
    const shown = jobId.length > 64 ? `${JSON.stringify(jobId.slice(0, 64))}… (${jobId.length} characters)` : JSON.stringify(jobId);
    throw new ProtocolViolation(`job id ${shown} is not of the form ${JOB_ID_PATTERN}`);
  }
  return jobId;
}

/**
 * A station's acceptance of a job. Refused: a station list that leaves this station out, names a
 * station not on its roster (a coordinator inventing stations), repeats one, or is smaller than
 * the station's minimum; a deadline in the past or too far ahead. Whether the list is exactly the
 * set of stations that release the job's dataset to its study is checked by the station daemon
 * (governance/policy.ts), which knows the study; this module knows only the roster.
 */
export function acceptJobTerms(
  request: unknown,
  station: { self: string; roster: Roster; minStations: number; now: number },
): JobTerms {
  const message = expectObject(request, "AdvertiseKeysRequest");
  const jobId = checkJobId(message.jobId);
  const context = expectBytes(message.context, "context");
  if (context.length === 0 || context.length > MAX_CONTEXT_BYTES) {
    throw new ProtocolViolation(`job ${jobId}: context must be 1..${MAX_CONTEXT_BYTES} bytes, got ${context.length}`);
  }
  const stations = expectNameSet(message.stations, `job ${jobId}: stations`);
  if (!stations.includes(station.self)) {
    throw new ProtocolViolation(`job ${jobId}: the station list does not include this station (${station.self})`);
  }
  const strangers = stations.filter((name) => !station.roster.has(name));
  if (strangers.length > 0) {
    throw new ProtocolViolation(`job ${jobId}: stations not on this station's roster: ${strangers.join(", ")}`);
  }
  if (stations.length < station.minStations) {
    throw new ProtocolViolation(`job ${jobId}: ${stations.length} stations, but this station requires at least ${station.minStations}`);
  }
  if (stations.length > MAX_STATIONS) throw new ProtocolViolation(`job ${jobId}: more than ${MAX_STATIONS} stations`);
  const deadlineMs = message.deadlineMs;
  if (typeof deadlineMs !== "number" || !Number.isFinite(deadlineMs)) {
    throw new ProtocolViolation(`job ${jobId}: deadlineMs must be a finite number`);
  }
  if (deadlineMs <= station.now) throw new ProtocolViolation(`job ${jobId}: deadline ${new Date(deadlineMs).toISOString()} has passed`);
  if (deadlineMs > station.now + MAX_JOB_LIFETIME_MS) {
    throw new ProtocolViolation(`job ${jobId}: deadline is more than ${MAX_JOB_LIFETIME_MS / 60000} minutes ahead`);
  }
  return { jobId, context: new Uint8Array(context), stations, deadlineMs };
}

/**
 * The signed statement of an advertisement: the job's terms and the station's two keys.
 * The deadline is signed with the rest of the terms: an advertisement is then valid only until
 * its job's deadline, so a station may forget a job id once that deadline has passed without
 * ever accepting the old job's advertisements into a new job of the same id.
 */
function advertisementFields(terms: JobTerms, ad: Omit<KeyAdvertisement, "signature">): Field[] {
  return [...termFields(terms), ad.station, ad.encryptionPublicKey, ad.maskingPublicKey];
}

/**
 * The job's terms as signed fields: every statement of every round starts with them, so no
 * signature made for one job (or one station list, or one deadline) verifies in another.
 */
export function termFields(terms: JobTerms): Field[] {
  return [terms.context, terms.jobId, terms.stations, terms.deadlineMs];
}

export function advertiseKeys(
  terms: JobTerms,
  station: { self: string; identitySecretKey: Uint8Array },
): { advertisement: KeyAdvertisement; encryptionKeys: KeyPair; maskingKeys: KeyPair } {
  const encryptionKeys = generateKeyPair();
  const maskingKeys = generateKeyPair();
  const unsigned = {
    station: station.self,
    encryptionPublicKey: encryptionKeys.publicKey,
    maskingPublicKey: maskingKeys.publicKey,
  };
  const signature = signStatement({
    label: STATEMENT.advertiseKeys,
    fields: advertisementFields(terms, unsigned),
    secretKey: station.identitySecretKey,
  });
  return { advertisement: { ...unsigned, signature }, encryptionKeys, maskingKeys };
}

/** Shape of an advertisement as relayed; the signature is checked by `verifyAdvertisement`. */
export function parseAdvertisement(value: unknown, what: string): KeyAdvertisement {
  const ad = expectObject(value, what);
  const station = expectString(ad.station, `${what}.station`);
  return {
    station,
    encryptionPublicKey: expectBytes(ad.encryptionPublicKey, `${what} (${station}).encryptionPublicKey`, KEY_BYTES),
    maskingPublicKey: expectBytes(ad.maskingPublicKey, `${what} (${station}).maskingPublicKey`, KEY_BYTES),
    signature: expectBytes(ad.signature, `${what} (${station}).signature`, SIGNATURE_BYTES),
  };
}

/**
 * Checks an advertisement against the verifier's own roster — never against a key the coordinator
 * supplies — and against this job's terms. A forged, re-signed or other-job advertisement fails.
 */
export function verifyAdvertisement(terms: JobTerms, roster: Roster, value: unknown): KeyAdvertisement {
  const ad = parseAdvertisement(value, "advertisement");
  const identityKey = roster.get(ad.station);
  if (identityKey === undefined) throw new ProtocolViolation(`job ${terms.jobId}: advertisement from ${ad.station}, who is not on the roster`);
  if (!terms.stations.includes(ad.station)) {
    throw new ProtocolViolation(`job ${terms.jobId}: advertisement from ${ad.station}, who is not a station of this job`);
  }
  const valid = verifyStatement({
    label: STATEMENT.advertiseKeys,
    fields: advertisementFields(terms, ad),
    signature: ad.signature,
    publicKey: identityKey,
  });
  if (!valid) {
    throw new ProtocolViolation(
      `job ${terms.jobId}: advertisement of ${ad.station} has no valid signature by ${ad.station}'s identity key ` +
        `(forged, altered, or signed for other job terms)`,
    );
  }
  return ad;
}

/** Roster from configuration; checked once, at construction of a participant or coordinator. */
export function buildRoster(entries: ReadonlyArray<{ name: string; identityKey: Uint8Array }>): Roster {
  const roster = new Map<string, Uint8Array>();
  for (const entry of entries) {
    if (typeof entry.name !== "string" || entry.name.length === 0) throw new BadInput("roster entry without a name");
    if (roster.has(entry.name)) throw new BadInput(`roster names ${entry.name} twice`);
    if (!(entry.identityKey instanceof Uint8Array) || entry.identityKey.length !== KEY_BYTES) {
      throw new BadInput(`roster key of ${entry.name} must be a ${KEY_BYTES}-byte Ed25519 public key`);
    }
    roster.set(entry.name, new Uint8Array(entry.identityKey));
  }
  return roster;
}

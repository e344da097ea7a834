/**
 * The messages of the four rounds of protocol v2, as plain serialisable objects.
 * protos/werkplaats/v1/secagg.proto mirrors them field for field (proto-loader's camelCase of the
 * snake_case proto names).
 *
 * Names follow the paper where they can: the "c" key pair encrypts pad seeds
 * (encryptionPublicKey), the "s" key pair derives pairwise masks (maskingPublicKey). g_i is a
 * station's pad seed. Everything a station receives passed through the coordinator, so the guards
 * at the bottom treat it as untrusted.
 */
import { ProtocolViolation } from "../common/errors.js";

/** Round 0 (AdvertiseKeys), coordinator → station: the terms of the job. */
export interface AdvertiseKeysRequest {
  jobId: string;
  /** Digest of the job spec; bound into every signature and every pad-seed encryption. */
  context: Uint8Array;
  /** All stations of the job: every one of them contributes, or nothing is released. */
  stations: string[];
  /** Absolute time (ms since the epoch) after which the station drops the job's secrets. */
  deadlineMs: number;
}

/** A station's two fresh public keys for one job, signed with its long-term identity key. */
export interface KeyAdvertisement {
  station: string;
  encryptionPublicKey: Uint8Array;
  maskingPublicKey: Uint8Array;
  signature: Uint8Array;
}

export interface AdvertiseKeysResponse {
  advertisement: KeyAdvertisement;
}

/** Round 1 (ShareKeys), coordinator → station: every station's advertisement from round 0. */
export interface ShareKeysRequest {
  jobId: string;
  advertisements: KeyAdvertisement[];
}

/**
 * The sender's pad seed g for one receiver, encrypted end to end to that receiver. (The message
 * keeps its v1 name: it is still the sealed box of secagg/sharebox.ts, now holding a seed.)
 */
export interface EncryptedShares {
  sender: string;
  receiver: string;
  ciphertext: Uint8Array;
}

export interface ShareKeysResponse {
  encryptedShares: EncryptedShares[];
}

/** Round 2 (MaskedInput), coordinator → station: the sealed pad seeds addressed to it, one per peer. */
export interface MaskedInputRequest {
  jobId: string;
  encryptedShares: EncryptedShares[];
}

export interface MaskedInputResponse {
  /** y_i as ring elements: BYTES_PER_ELEMENT bytes each, little-endian uint32 limbs. */
  maskedVector: Uint8Array;
  /** The station's signature over (job terms, station, SHA-256 of maskedVector). */
  signature: Uint8Array;
}

/** One station's masked input as the coordinator relays it in round 3, with its signature. */
export interface SignedMaskedInput {
  station: string;
  maskedVector: Uint8Array;
  signature: Uint8Array;
}

/** Round 3 (Release), coordinator → station: every station's signed masked input. */
export interface ReleaseRequest {
  jobId: string;
  maskedInputs: SignedMaskedInput[];
}

/**
 * What the stations release to the analyst for one job (station-daemon/release/index.ts decides
 * it). On the wire `values` is IEEE-754 binary64, little-endian, 8 bytes per value, so that
 * "byte-identical releases" means exactly that.
 */
export interface ReleaseMessage {
  values: Uint8Array;
  /** Per value: 0 released, 1 withheld (primary), 2 withheld (secondary). */
  withheld: Uint8Array;
  notes: string[];
}

export interface ReleaseResponse {
  release: ReleaseMessage;
  /** The station's signature over (job terms, station, canonical bytes of the release). */
  signature: Uint8Array;
}

/** The rounds, in order; used for state, timing and failure records. */
export type SecAggPhase = "advertiseKeys" | "shareKeys" | "maskedInput" | "release";
export const PHASES: readonly SecAggPhase[] = ["advertiseKeys", "shareKeys", "maskedInput", "release"];

// ---- guards for untrusted messages -------------------------------------------------------------

export function expectObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolViolation(`${what} is not a message object`);
  }
  return value as Record<string, unknown>;
}

export function expectString(value: unknown, what: string): string {
  if (typeof value !== "string" || value.length === 0) throw new ProtocolViolation(`${what} must be a non-empty string`);
  return value;
}

export function expectBytes(value: unknown, what: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new ProtocolViolation(`${what} must be bytes`);
  if (length !== undefined && value.length !== length) {
    throw new ProtocolViolation(`${what} must be ${length} bytes, got ${value.length}`);
  }
  return value;
}

/** An absent list is an empty one: proto3 does not distinguish them on the wire. */
export function expectArray(value: unknown, what: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ProtocolViolation(`${what} must be a list`);
  return value;
}

/** A list of distinct non-empty names. */
export function expectNameSet(value: unknown, what: string): string[] {
  const names = expectArray(value, what).map((v, i) => expectString(v, `${what}[${i}]`));
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) throw new ProtocolViolation(`${what} names ${duplicate} twice`);
  return names;
}

/** Sets are signed and compared in one canonical order: JavaScript's code-unit string order. */
export function sortedNames(names: Iterable<string>): string[] {
  return [...names].sort(compareNames);
}

export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The messages of the five rounds, as plain serialisable objects. protos/werkplaats/v1/secagg.proto
 * mirrors them field for field (proto-loader's camelCase of the snake_case proto names).
 *
 * Names follow the paper: the "c" key pair encrypts shares (encryptionPublicKey), the "s" key
 * pair derives pairwise masks (maskingPublicKey), b is the self-mask seed. Everything a station
 * receives passed through the coordinator, so the guards at the bottom treat it as untrusted.
 */
import { ProtocolViolation } from "../common/errors.js";

/** Round 0 (AdvertiseKeys), coordinator → station: the terms of the job. */
export interface AdvertiseKeysRequest {
  jobId: string;
  /** Digest of the job spec; bound into every signature and every share encryption. */
  context: Uint8Array;
  /** All stations of the job, in the order that fixes each one's Shamir x = index + 1. */
  stations: string[];
  threshold: number;
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

/** Round 1 (ShareKeys), coordinator → station: every advertisement received in round 0 (U1). */
export interface ShareKeysRequest {
  jobId: string;
  advertisements: KeyAdvertisement[];
}

/** A station's shares of its b and s_sk for one peer, encrypted end to end to that peer. */
export interface EncryptedShares {
  sender: string;
  receiver: string;
  ciphertext: Uint8Array;
}

export interface ShareKeysResponse {
  encryptedShares: EncryptedShares[];
}

/** Round 2 (MaskedInput), coordinator → station: the encrypted shares addressed to it (from U2). */
export interface MaskedInputRequest {
  jobId: string;
  encryptedShares: EncryptedShares[];
}

export interface MaskedInputResponse {
  /** The masked ring vector: 16 bytes per element, four little-endian uint32 limbs each. */
  maskedVector: Uint8Array;
}

/** Round 3 (ConsistencyCheck), coordinator → station: the stations whose masked input arrived (U3). */
export interface ConsistencyCheckRequest {
  jobId: string;
  survivors: string[];
}

export interface ConsistencyCheckResponse {
  /** The station's signature over (context, jobId, sorted U3). */
  signature: Uint8Array;
}

export interface SurvivorSignature {
  station: string;
  signature: Uint8Array;
}

/** Round 4 (Unmask), coordinator → station: the U3 signatures it collected (from U4). */
export interface UnmaskRequest {
  jobId: string;
  signatures: SurvivorSignature[];
}

/** A share that the answering station holds of `station`'s secret. */
export interface RevealedShare {
  station: string;
  share: Uint8Array;
}

export interface UnmaskResponse {
  /** Shares of b for every survivor (U3), so the coordinator can remove their self masks. */
  selfMaskShares: RevealedShare[];
  /** Shares of s_sk for every station that shared keys but sent no masked input (U2 ∖ U3). */
  maskingKeyShares: RevealedShare[];
}

/** The rounds, in order; used for state, timing and dropout records. */
export type SecAggPhase = "advertiseKeys" | "shareKeys" | "maskedInput" | "consistencyCheck" | "unmask";
export const PHASES: readonly SecAggPhase[] = ["advertiseKeys", "shareKeys", "maskedInput", "consistencyCheck", "unmask"];

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

/**
 * What a researcher signs for every request to a station, and how it travels.
 *
 * The statement binds the request to one station (its identity key: a station that receives a
 * request cannot replay it to another member of the federation), one RPC method, the exact
 * request bytes (through their SHA-256), one study, a time and a fresh nonce (so the station can
 * refuse stale and replayed requests). It is encoded injectively — a domain label, then every
 * field as tag ‖ u32 length ‖ bytes — so a signature over one statement cannot be read as a
 * signature over another, nor over a secure-aggregation statement signed with the same curve.
 *
 * Both the SDK (signing) and the station (verifying) import this file: one encoding, never two.
 */
import { sha256 } from "@noble/hashes/sha2.js";

/** Domain-separation label; a new statement layout gets a new label. */
export const REQUEST_SIGNATURE_LABEL = "werkplaats.v1/request-signature";

/** gRPC metadata keys (ASCII values, hex or decimal) that carry a signed request. */
export const REQUEST_AUTH_METADATA = {
  researcherKey: "werkplaats-researcher",
  study: "werkplaats-study",
  time: "werkplaats-time",
  nonce: "werkplaats-nonce",
  signature: "werkplaats-signature",
} as const;

/**
 * Unsigned metadata: the identity key the SDK addressed the request to. Only a hint for the
 * station's refusal message when a federation file lists the wrong key (the signature, which binds
 * the key, is what is checked).
 */
export const AUDIENCE_METADATA = "werkplaats-audience";

export const NONCE_BYTES = 16;
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

/** The signed part of a request, as it travels (hex and decimal text, metadata-safe). */
export interface RequestAuth {
  /** The researcher's Ed25519 public key, 64 lower-case hex digits. */
  researcherKey: string;
  /** The study the request is made under. */
  study: string;
  /** Milliseconds since the epoch, as the researcher's clock read when signing. */
  time: number;
  /** 16 random bytes, hex. */
  nonce: string;
  /** Ed25519 signature over `requestStatement`, hex. */
  signature: string;
}

export interface RequestStatementFields {
  /** The station's identity key, hex: the audience of the request. */
  station: string;
  /** The full gRPC method path, e.g. "/werkplaats.v1.Station/Contribute". */
  method: string;
  /** The canonical bytes of the request message. */
  body: Uint8Array;
  study: string;
  time: number;
  nonce: string;
  researcherKey: string;
}

const utf8 = new TextEncoder();
const TAG_BYTES = 1;
const TAG_STRING = 2;
const TAG_UINT = 3;

/** The exact bytes signed for a request. */
export function requestStatement(fields: RequestStatementFields): Uint8Array {
  if (!Number.isSafeInteger(fields.time) || fields.time < 0) throw new RangeError(`request time must be a natural number of ms, got ${fields.time}`);
  const parts: Uint8Array[] = [];
  const push = (tag: number, body: Uint8Array): void => {
    const head = new Uint8Array(5);
    head[0] = tag;
    new DataView(head.buffer).setUint32(1, body.length);
    parts.push(head, body);
  };
  const time = new Uint8Array(8);
  new DataView(time.buffer).setBigUint64(0, BigInt(fields.time));
  push(TAG_STRING, utf8.encode(REQUEST_SIGNATURE_LABEL));
  push(TAG_STRING, utf8.encode(fields.station.toLowerCase()));
  push(TAG_STRING, utf8.encode(fields.method));
  push(TAG_BYTES, sha256(fields.body));
  push(TAG_STRING, utf8.encode(fields.study));
  push(TAG_UINT, time);
  push(TAG_STRING, utf8.encode(fields.nonce.toLowerCase()));
  push(TAG_STRING, utf8.encode(fields.researcherKey.toLowerCase()));
  return Buffer.concat(parts);
}

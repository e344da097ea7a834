/**
 * The researcher's side of request authentication: sign every request to a station with the
 * researcher's Ed25519 key, and carry the signature in gRPC metadata. See request-statement.ts
 * for what exactly is signed and why.
 */
import { randomBytes } from "node:crypto";
import { ed25519PublicKey, ed25519Sign } from "../../common/curves.js";
import { BadInput } from "../../common/errors.js";
import { toHex } from "../../common/hex.js";
import { NONCE_BYTES, PUBLIC_KEY_BYTES, REQUEST_AUTH_METADATA, type RequestAuth, requestStatement } from "../../common/request-statement.js";

export interface SignRequestOptions {
  /** The researcher's Ed25519 secret key (32-byte seed). */
  secretKey: Uint8Array;
  /** Its public key; derived from `secretKey` when omitted. */
  publicKey?: Uint8Array;
  /** The identity key (hex) of the station the request goes to, from the federation file. */
  station: string;
  /** The full gRPC method path, e.g. "/werkplaats.v1.Station/Contribute". */
  method: string;
  /** The canonical bytes of the request message. */
  body: Uint8Array;
  study: string;
  /** Milliseconds since the epoch; Date.now() when omitted. */
  now?: number;
}

export function signRequest(options: SignRequestOptions): RequestAuth {
  if (!(options.secretKey instanceof Uint8Array) || options.secretKey.length !== 32) {
    throw new BadInput("a researcher's secret key is 32 bytes (werkplaats keys new)");
  }
  const publicKey = options.publicKey ?? ed25519PublicKey(options.secretKey);
  if (publicKey.length !== PUBLIC_KEY_BYTES) throw new BadInput("a researcher's public key is 32 bytes");
  if (!/^[0-9a-fA-F]{64}$/.test(options.station)) throw new BadInput("the station's identity key must be 64 hex digits");
  if (typeof options.study !== "string" || options.study.length === 0) throw new BadInput("a request needs a study id");
  const auth = {
    researcherKey: toHex(publicKey),
    study: options.study,
    time: Math.floor(options.now ?? Date.now()),
    nonce: randomBytes(NONCE_BYTES).toString("hex"),
  };
  const statement = requestStatement({ ...auth, station: options.station, method: options.method, body: options.body });
  return { ...auth, signature: toHex(ed25519Sign(statement, options.secretKey)) };
}

/** Minimal view of grpc-js `Metadata`, so this module does not depend on the transport. */
export interface MetadataLike {
  set(key: string, value: string): void;
  get(key: string): Array<string | Buffer>;
}

/** Puts a signed request's fields into gRPC metadata (keys in REQUEST_AUTH_METADATA). */
export function requestAuthToMetadata(auth: RequestAuth, metadata: MetadataLike): void {
  metadata.set(REQUEST_AUTH_METADATA.researcherKey, auth.researcherKey);
  metadata.set(REQUEST_AUTH_METADATA.study, auth.study);
  metadata.set(REQUEST_AUTH_METADATA.time, String(auth.time));
  metadata.set(REQUEST_AUTH_METADATA.nonce, auth.nonce);
  metadata.set(REQUEST_AUTH_METADATA.signature, auth.signature);
}

/**
 * Reads a signed request's fields from gRPC metadata; undefined when the request carries no
 * signature at all. Malformed values are passed on as they are: the station's verifier refuses them
 * with a reason.
 */
export function requestAuthFromMetadata(metadata: MetadataLike): Partial<RequestAuth> | undefined {
  const text = (key: string): string | undefined => {
    const v = metadata.get(key)[0];
    return v === undefined ? undefined : typeof v === "string" ? v : v.toString("utf8");
  };
  const signature = text(REQUEST_AUTH_METADATA.signature);
  const researcherKey = text(REQUEST_AUTH_METADATA.researcherKey);
  if (signature === undefined && researcherKey === undefined) return undefined;
  const time = text(REQUEST_AUTH_METADATA.time);
  return {
    researcherKey,
    study: text(REQUEST_AUTH_METADATA.study),
    time: time !== undefined && /^\d{1,16}$/.test(time) ? Number(time) : undefined,
    nonce: text(REQUEST_AUTH_METADATA.nonce),
    signature,
  };
}

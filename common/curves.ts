/**
 * X25519 and Ed25519 on raw 32-byte keys, computed by node:crypto (OpenSSL). A job costs every
 * station O(n) agreements and signature checks; OpenSSL does each in tens of microseconds where
 * pure-JS big-integer arithmetic takes about a millisecond, which at 10–50 stations is most of a
 * round; researchers' request signatures and the audit log's checkpoints use the same functions.
 * The tests cross-check every function here against @noble/curves.
 *
 * node:crypto takes keys as DER: the fixed PKCS#8 / SPKI prefixes of RFC 8410 followed by the raw
 * key bytes.
 */
import { type KeyObject, createPrivateKey, createPublicKey, diffieHellman, sign, verify } from "node:crypto";
import { BadInput, ProtocolViolation } from "./errors.js";

const KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;

const PKCS8_PREFIX = {
  x25519: Buffer.from("302e020100300506032b656e04220420", "hex"),
  ed25519: Buffer.from("302e020100300506032b657004220420", "hex"),
};
const SPKI_PREFIX = {
  x25519: Buffer.from("302a300506032b656e032100", "hex"),
  ed25519: Buffer.from("302a300506032b6570032100", "hex"),
};

type Curve = keyof typeof PKCS8_PREFIX;

/**
 * Importing a key costs more than using it, and a job uses each of its keys n times. KeyObjects
 * are cached per key array (weakly: an entry lives exactly as long as the array that holds the
 * key, which the participant drops when the job ends), and per curve, so one array is never read
 * as two kinds of key.
 */
const cache = { private: new WeakMap<Uint8Array, { curve: Curve; key: KeyObject }>(), public: new WeakMap<Uint8Array, { curve: Curve; key: KeyObject }>() };

function privateKey(curve: Curve, raw: Uint8Array): KeyObject {
  if (raw.length !== KEY_BYTES) throw new BadInput(`an ${curve} secret key is ${KEY_BYTES} bytes, got ${raw.length}`);
  const hit = cache.private.get(raw);
  if (hit && hit.curve === curve) return hit.key;
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX[curve], raw]), format: "der", type: "pkcs8" });
  cache.private.set(raw, { curve, key });
  return key;
}

function publicKey(curve: Curve, raw: Uint8Array): KeyObject {
  if (raw.length !== KEY_BYTES) throw new ProtocolViolation(`an ${curve} public key is ${KEY_BYTES} bytes, got ${raw.length}`);
  const hit = cache.public.get(raw);
  if (hit && hit.curve === curve) return hit.key;
  const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX[curve], raw]), format: "der", type: "spki" });
  cache.public.set(raw, { curve, key });
  return key;
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - KEY_BYTES));
}

export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  return rawPublicKey(createPublicKey(privateKey("x25519", secretKey)));
}

/** The raw X25519 shared secret; an all-zero result (a low-order public key) is refused. */
export function x25519SharedSecret(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = new Uint8Array(diffieHellman({ privateKey: privateKey("x25519", secretKey), publicKey: publicKey("x25519", peerPublicKey) }));
  } catch (cause) {
    throw new ProtocolViolation(`X25519 agreement failed (low-order public key?): ${(cause as Error).message}`);
  }
  if (shared.every((b) => b === 0)) throw new ProtocolViolation("X25519 agreement gave the all-zero secret: a low-order public key");
  return shared;
}

export function ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
  return rawPublicKey(createPublicKey(privateKey("ed25519", secretKey)));
}

export function ed25519Sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, privateKey("ed25519", secretKey)));
}

/** True only for a valid signature (RFC 8032); malformed keys or signatures are simply invalid. */
export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKeyBytes: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKeyBytes.length !== KEY_BYTES) return false;
  try {
    return verify(null, message, publicKey("ed25519", publicKeyBytes), signature);
  } catch {
    return false;
  }
}

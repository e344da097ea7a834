/**
 * Key agreement KA of Bonawitz et al. §3: X25519 followed by a KDF. Each station makes two fresh
 * key pairs per job in round 0 — "c" to encrypt shares to its peers, "s" to derive pairwise masks —
 * and throws them away when the job ends, so no key serves two jobs or two purposes.
 */
import { hkdfSync, randomBytes } from "node:crypto";
import { BadInput, ProtocolViolation } from "../common/errors.js";
import { encodeFields, type Field } from "./encoding.js";
import { x25519PublicKey, x25519SharedSecret } from "../common/curves.js";
import { KEY_BYTES } from "./params.js";

export interface KeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

export function generateKeyPair(): KeyPair {
  const secretKey = new Uint8Array(randomBytes(KEY_BYTES));
  return { secretKey, publicKey: x25519PublicKey(secretKey) };
}

export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== KEY_BYTES) throw new BadInput(`an X25519 secret key is ${KEY_BYTES} bytes, got ${secretKey.length}`);
  return x25519PublicKey(secretKey);
}

/**
 * KA.agree: HKDF-SHA256 over the X25519 shared secret, salted with the job context and bound by
 * `purpose` and `fields` (job id, station names), so the same two keys give unrelated outputs for
 * unrelated uses. A low-order public key (all-zero shared secret) is refused: it would let a
 * malicious peer force a key the coordinator can predict.
 */
export function agree(options: {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  context: Uint8Array;
  purpose: string;
  fields: readonly Field[];
}): Uint8Array {
  if (options.publicKey.length !== KEY_BYTES) {
    throw new ProtocolViolation(`an X25519 public key is ${KEY_BYTES} bytes, got ${options.publicKey.length}`);
  }
  const shared = x25519SharedSecret(options.secretKey, options.publicKey);
  const info = encodeFields(options.purpose, options.fields);
  const key = new Uint8Array(hkdfSync("sha256", shared, options.context, info, KEY_BYTES));
  shared.fill(0);
  return key;
}

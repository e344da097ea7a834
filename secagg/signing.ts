/**
 * Ed25519 signatures over the statements that stations relay through the coordinator
 * (Bonawitz et al. §4, active adversary: signed key advertisements in round 0; in v2 also the
 * signed digest of each masked input in round 2, and each station's signed release in round 3).
 * Keys are the long-term identity keys of the roster.
 *
 * Each statement is signed over a canonical byte string: a domain-separation label per statement
 * type, then every field with a type tag and a length prefix. The encoding is injective, so a
 * signature on one statement can never be reinterpreted as another statement or another job.
 */
import { BadInput } from "../common/errors.js";
import { encodeFields, type Field } from "./encoding.js";
import { ed25519PublicKey, ed25519Sign, ed25519Verify } from "../common/curves.js";
import { KEY_BYTES, PROTOCOL_LABEL, SIGNATURE_BYTES } from "./params.js";

/** The statement types; each is its own signing domain. */
export const STATEMENT = {
  advertiseKeys: `${PROTOCOL_LABEL}/advertise-keys`,
  maskedInput: `${PROTOCOL_LABEL}/masked-input`,
  release: `${PROTOCOL_LABEL}/release`,
} as const;
export type StatementLabel = (typeof STATEMENT)[keyof typeof STATEMENT];

export function signStatement(options: { label: StatementLabel; fields: readonly Field[]; secretKey: Uint8Array }): Uint8Array {
  return ed25519Sign(encodeFields(options.label, options.fields), options.secretKey);
}

/** True only for a well-formed, valid signature; malformed input is simply not a valid signature. */
export function verifyStatement(options: {
  label: StatementLabel;
  fields: readonly Field[];
  signature: Uint8Array;
  publicKey: Uint8Array;
}): boolean {
  if (!(options.signature instanceof Uint8Array) || options.signature.length !== SIGNATURE_BYTES) return false;
  if (!(options.publicKey instanceof Uint8Array) || options.publicKey.length !== KEY_BYTES) return false;
  return ed25519Verify(options.signature, encodeFields(options.label, options.fields), options.publicKey);
}

/** The identity public key of an Ed25519 secret key (32-byte seed). */
export function identityPublicKey(secretKey: Uint8Array): Uint8Array {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== KEY_BYTES) {
    throw new BadInput(`an Ed25519 identity secret key is ${KEY_BYTES} bytes`);
  }
  return ed25519PublicKey(secretKey);
}

/**
 * Authenticated encryption AE of Bonawitz et al. §3 for what one station sends another through
 * the coordinator in round 1 — in protocol v2 its pad seed g_i (the function names keep v1's
 * "shares"). The key comes from agreement on the two stations' per-job
 * "c" keys, so the coordinator, which relays the ciphertexts, can neither read nor alter them;
 * the associated data binds context, job, sender and receiver, so a ciphertext cannot be
 * replayed into another job or redirected to another station.
 *
 * Wire form: 12-byte random nonce ‖ AES-256-GCM ciphertext ‖ 16-byte tag.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { ProtocolViolation } from "../common/errors.js";
import { encodeFields } from "./encoding.js";
import { agree } from "./keyagreement.js";
import { PROTOCOL_LABEL } from "./params.js";

const KEY_PURPOSE = `${PROTOCOL_LABEL}/share-box-key`;
const AAD_LABEL = `${PROTOCOL_LABEL}/share-box`;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

interface Envelope {
  context: Uint8Array;
  jobId: string;
  sender: string;
  receiver: string;
}

/**
 * The key is directional (sender, receiver in that order), so the two stations of a pair never
 * encrypt under the same key and random nonces cannot collide across directions.
 */
function boxKey(envelope: Envelope, secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return agree({
    secretKey,
    publicKey,
    context: envelope.context,
    purpose: KEY_PURPOSE,
    fields: [envelope.jobId, envelope.sender, envelope.receiver],
  });
}

function associatedData(envelope: Envelope): Uint8Array {
  return encodeFields(AAD_LABEL, [envelope.context, envelope.jobId, envelope.sender, envelope.receiver]);
}

export function sealShares(options: Envelope & {
  senderSecretKey: Uint8Array;
  receiverPublicKey: Uint8Array;
  plaintext: Uint8Array;
}): Uint8Array {
  const key = boxKey(options, options.senderSecretKey, options.receiverPublicKey);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(associatedData(options));
  const body = Buffer.concat([cipher.update(options.plaintext), cipher.final()]);
  key.fill(0);
  return new Uint8Array(Buffer.concat([nonce, body, cipher.getAuthTag()]));
}

/** Refuses (ProtocolViolation) anything that was not sealed by `sender` for `receiver` in this job. */
export function openShares(options: Envelope & {
  receiverSecretKey: Uint8Array;
  senderPublicKey: Uint8Array;
  ciphertext: Uint8Array;
}): Uint8Array {
  const { ciphertext } = options;
  const what = `encrypted shares from ${options.sender} to ${options.receiver}`;
  if (!(ciphertext instanceof Uint8Array) || ciphertext.length < NONCE_BYTES + TAG_BYTES) {
    throw new ProtocolViolation(`${what} are truncated`);
  }
  const key = boxKey(options, options.receiverSecretKey, options.senderPublicKey);
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, ciphertext.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(options));
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_BYTES));
    const body = ciphertext.subarray(NONCE_BYTES, ciphertext.length - TAG_BYTES);
    return new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
  } catch {
    throw new ProtocolViolation(`${what} fail authentication: tampered, or sealed for another job or station`);
  } finally {
    key.fill(0);
  }
}

/**
 * Round 1, ShareKeys (Bonawitz et al. Fig. 4/5): each station checks every advertisement relayed
 * by the coordinator, draws a fresh self-mask seed b, splits b and its masking secret key s_sk
 * t-of-n with Shamir, and sends each peer its two shares, encrypted end to end. The shares let
 * the coordinator remove a station's masks later: b if the station's input is in the sum, s_sk if
 * it dropped out after this round.
 */
import { randomBytes } from "node:crypto";
import { ProtocolViolation } from "../common/errors.js";
import { verifyAdvertisement, type JobTerms, type Roster } from "./advertise-keys.js";
import { equalBytes } from "./encoding.js";
import type { KeyPair } from "./keyagreement.js";
import { expectArray, expectBytes, expectObject, expectString, type EncryptedShares, type KeyAdvertisement } from "./messages.js";
import { SEED_BYTES, SHARE_BYTES } from "./params.js";
import { split } from "./shamir.js";
import { sealShares } from "./sharebox.js";

/** The two shares one station holds of one peer's secrets. */
export interface SharePair {
  maskingKeyShare: Uint8Array;
  selfMaskShare: Uint8Array;
}

const PLAINTEXT_BYTES = 2 * SHARE_BYTES;
/** 12-byte nonce, the two shares, 16-byte tag (sharebox.ts). */
export const ENCRYPTED_SHARES_BYTES = 12 + PLAINTEXT_BYTES + 16;

/** Shamir x-coordinate of a station: its position in the job's station list, plus one. */
export function shareX(terms: JobTerms, station: string): number {
  const index = terms.stations.indexOf(station);
  if (index < 0) throw new ProtocolViolation(`job ${terms.jobId}: ${station} is not a station of this job`);
  return index + 1;
}

/**
 * U1: the stations whose advertisements verify. One bad advertisement refuses the whole round:
 * it means the coordinator (or a station) is lying, and going on would mean sharing secrets with
 * whoever it chose.
 */
export function acceptAdvertisements(options: {
  terms: JobTerms;
  roster: Roster;
  own: KeyAdvertisement;
  advertisements: unknown;
}): Map<string, KeyAdvertisement> {
  const { terms } = options;
  const accepted = new Map<string, KeyAdvertisement>();
  for (const value of expectArray(options.advertisements, `job ${terms.jobId}: advertisements`)) {
    const ad = verifyAdvertisement(terms, options.roster, value);
    if (accepted.has(ad.station)) throw new ProtocolViolation(`job ${terms.jobId}: two advertisements from ${ad.station}`);
    accepted.set(ad.station, ad);
  }
  const mine = accepted.get(options.own.station);
  if (mine === undefined) throw new ProtocolViolation(`job ${terms.jobId}: this station's own advertisement is missing`);
  if (!equalBytes(mine.encryptionPublicKey, options.own.encryptionPublicKey) || !equalBytes(mine.maskingPublicKey, options.own.maskingPublicKey)) {
    throw new ProtocolViolation(`job ${terms.jobId}: the advertisement under this station's name carries keys it did not make`);
  }
  if (accepted.size < terms.threshold) {
    throw new ProtocolViolation(`job ${terms.jobId}: only ${accepted.size} stations advertised keys, below the threshold ${terms.threshold}`);
  }
  return accepted;
}

export function shareKeys(options: {
  terms: JobTerms;
  self: string;
  peers: ReadonlyMap<string, KeyAdvertisement>;
  encryptionKeys: KeyPair;
  maskingKeys: KeyPair;
}): { encryptedShares: EncryptedShares[]; selfMaskSeed: Uint8Array; ownShares: SharePair } {
  const { terms, self, peers } = options;
  const holders = [...peers.keys()];
  const xs = holders.map((name) => shareX(terms, name));
  const selfMaskSeed = new Uint8Array(randomBytes(SEED_BYTES));
  const selfMaskShares = split({ secret: selfMaskSeed, threshold: terms.threshold, xs });
  const maskingKeyShares = split({ secret: options.maskingKeys.secretKey, threshold: terms.threshold, xs });
  const encryptedShares: EncryptedShares[] = [];
  let ownShares: SharePair | undefined;
  holders.forEach((holder, i) => {
    const pair = { maskingKeyShare: maskingKeyShares[i].y, selfMaskShare: selfMaskShares[i].y };
    if (holder === self) {
      ownShares = pair;
      return;
    }
    const plaintext = encodeSharePair(pair);
    encryptedShares.push({
      sender: self,
      receiver: holder,
      ciphertext: sealShares({
        context: terms.context,
        jobId: terms.jobId,
        sender: self,
        receiver: holder,
        senderSecretKey: options.encryptionKeys.secretKey,
        receiverPublicKey: peers.get(holder)!.encryptionPublicKey,
        plaintext,
      }),
    });
    plaintext.fill(0);
    pair.maskingKeyShare.fill(0);
    pair.selfMaskShare.fill(0);
  });
  if (ownShares === undefined) throw new ProtocolViolation(`job ${terms.jobId}: this station is not among the advertised stations`);
  return { encryptedShares, selfMaskSeed, ownShares };
}

export function encodeSharePair(pair: SharePair): Uint8Array {
  const out = new Uint8Array(PLAINTEXT_BYTES);
  out.set(pair.maskingKeyShare, 0);
  out.set(pair.selfMaskShare, SHARE_BYTES);
  return out;
}

export function decodeSharePair(plaintext: Uint8Array, what: string): SharePair {
  if (plaintext.length !== PLAINTEXT_BYTES) throw new ProtocolViolation(`${what}: decrypted shares are ${plaintext.length} bytes, expected ${PLAINTEXT_BYTES}`);
  return { maskingKeyShare: plaintext.slice(0, SHARE_BYTES), selfMaskShare: plaintext.slice(SHARE_BYTES) };
}

export function parseEncryptedShares(value: unknown, what: string): EncryptedShares {
  const message = expectObject(value, what);
  return {
    sender: expectString(message.sender, `${what}.sender`),
    receiver: expectString(message.receiver, `${what}.receiver`),
    ciphertext: expectBytes(message.ciphertext, `${what}.ciphertext`),
  };
}

/**
 * Coordinator side: a station's answer must hold exactly one ciphertext of the expected size for
 * every other station of U1, sent under its own name; anything else drops the station.
 */
export function checkShareKeysResponse(response: unknown, options: { station: string; u1: readonly string[] }): EncryptedShares[] {
  const list = expectArray(expectObject(response, "ShareKeysResponse").encryptedShares, "encryptedShares");
  const expected = new Set(options.u1.filter((name) => name !== options.station));
  const seen = new Set<string>();
  const out = list.map((value, i) => {
    const item = parseEncryptedShares(value, `encryptedShares[${i}]`);
    if (item.sender !== options.station) throw new ProtocolViolation(`encrypted shares claim sender ${item.sender}`);
    if (!expected.has(item.receiver)) throw new ProtocolViolation(`encrypted shares addressed to ${item.receiver}, who did not advertise keys`);
    if (seen.has(item.receiver)) throw new ProtocolViolation(`two sets of encrypted shares for ${item.receiver}`);
    if (item.ciphertext.length !== ENCRYPTED_SHARES_BYTES) {
      throw new ProtocolViolation(`encrypted shares for ${item.receiver} are ${item.ciphertext.length} bytes, expected ${ENCRYPTED_SHARES_BYTES}`);
    }
    seen.add(item.receiver);
    return item;
  });
  const missing = [...expected].filter((name) => !seen.has(name));
  if (missing.length > 0) throw new ProtocolViolation(`no encrypted shares for ${missing.join(", ")}`);
  return out;
}

/**
 * Round 1, ShareKeys. Each station checks every advertisement relayed by the coordinator — all
 * stations of the job must have advertised — draws a fresh 32-byte pad seed g_i, and sends it to
 * every peer, encrypted end to end (sharebox.ts).
 *
 * Why a pad shared with the peers, where Bonawitz et al. Shamir-share a self-mask seed b_i with
 * the server: in v2 the stations, not the coordinator, remove the pads (round 3), so they see the
 * combined vector first and release only what they agree on. The coordinator never holds a pad
 * seed, so Σ y_j = Σ x_j + Σ PRG(g_j) tells it nothing. Shamir shares, the threshold and the
 * self masks of v1 existed for dropout recovery, which v2 gives up on purpose: a partial sum
 * could be differenced against a full one to reveal one station's part.
 */
import { randomBytes } from "node:crypto";
import { ProtocolViolation } from "../common/errors.js";
import { verifyAdvertisement, type JobTerms, type Roster } from "./advertise-keys.js";
import { equalBytes } from "./encoding.js";
import type { KeyPair } from "./keyagreement.js";
import { expectArray, expectBytes, expectObject, expectString, type EncryptedShares, type KeyAdvertisement } from "./messages.js";
import { SEED_BYTES } from "./params.js";
import { sealShares } from "./sharebox.js";

/** Sharebox wire form (sharebox.ts): 12-byte nonce, the 32-byte pad seed, 16-byte tag. */
export const SEALED_SEED_BYTES = 12 + SEED_BYTES + 16;

/**
 * Every station of the job, each with an advertisement that verifies against this station's own
 * roster. One bad or missing advertisement refuses the whole round: with no dropout recovery, a
 * job without every station cannot release anything anyway, and going on would mean sending
 * seeds to whoever the coordinator chose.
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
  const missing = terms.stations.filter((name) => !accepted.has(name));
  if (missing.length > 0) {
    throw new ProtocolViolation(`job ${terms.jobId}: no advertisement from ${missing.join(", ")}; every station of the job must take part`);
  }
  return accepted;
}

/** Draws g_i and seals it to every peer. The caller keeps (and later wipes) `padSeed`. */
export function shareKeys(options: {
  terms: JobTerms;
  self: string;
  peers: ReadonlyMap<string, KeyAdvertisement>;
  encryptionKeys: KeyPair;
}): { encryptedShares: EncryptedShares[]; padSeed: Uint8Array } {
  const { terms, self, peers } = options;
  const padSeed = new Uint8Array(randomBytes(SEED_BYTES));
  const encryptedShares: EncryptedShares[] = [];
  for (const [receiver, ad] of peers) {
    if (receiver === self) continue;
    encryptedShares.push({
      sender: self,
      receiver,
      ciphertext: sealShares({
        context: terms.context,
        jobId: terms.jobId,
        sender: self,
        receiver,
        senderSecretKey: options.encryptionKeys.secretKey,
        receiverPublicKey: ad.encryptionPublicKey,
        plaintext: padSeed,
      }),
    });
  }
  return { encryptedShares, padSeed };
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
 * Coordinator side: a station's answer must hold exactly one sealed seed of the expected size for
 * every other station of the job, sent under its own name; anything else fails the station.
 */
export function checkShareKeysResponse(response: unknown, options: { station: string; stations: readonly string[] }): EncryptedShares[] {
  const list = expectArray(expectObject(response, "ShareKeysResponse").encryptedShares, "encryptedShares");
  const expected = new Set(options.stations.filter((name) => name !== options.station));
  const seen = new Set<string>();
  const out = list.map((value, i) => {
    const item = parseEncryptedShares(value, `encryptedShares[${i}]`);
    if (item.sender !== options.station) throw new ProtocolViolation(`sealed pad seed claims sender ${item.sender}`);
    if (!expected.has(item.receiver)) throw new ProtocolViolation(`sealed pad seed addressed to ${item.receiver}, who is not another station of the job`);
    if (seen.has(item.receiver)) throw new ProtocolViolation(`two sealed pad seeds for ${item.receiver}`);
    if (item.ciphertext.length !== SEALED_SEED_BYTES) {
      throw new ProtocolViolation(`sealed pad seed for ${item.receiver} is ${item.ciphertext.length} bytes, expected ${SEALED_SEED_BYTES}`);
    }
    seen.add(item.receiver);
    return item;
  });
  const missing = [...expected].filter((name) => !seen.has(name));
  if (missing.length > 0) throw new ProtocolViolation(`no sealed pad seed for ${missing.join(", ")}`);
  return out;
}

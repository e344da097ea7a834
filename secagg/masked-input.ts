/**
 * Round 2, MaskedInput (Bonawitz et al. Fig. 4/5). U2 is the set of stations whose encrypted
 * shares reached this station (plus itself). The station keeps those shares and sends
 *
 *     y_u = x_u + PRG(b_u) + Σ_{v ∈ U2, u < v} PRG(s_uv) − Σ_{v ∈ U2, u > v} PRG(s_uv)   (mod 2^128)
 *
 * The pairwise masks cancel in the sum over U2; the self mask PRG(b_u) keeps y_u hidden even if
 * the coordinator later learns s_u of a station it falsely declares dropped.
 */
import { ProtocolViolation } from "../common/errors.js";
import { type JobTerms } from "./advertise-keys.js";
import { encode, ringAccumulate, ringFromBytes, ringToBytes } from "./fixedpoint.js";
import { agree } from "./keyagreement.js";
import { compareNames, expectArray, expectBytes, expectObject, type KeyAdvertisement } from "./messages.js";
import { PROTOCOL_LABEL } from "./params.js";
import { expandMask } from "./prg.js";
import { decodeSharePair, parseEncryptedShares, type SharePair } from "./share-keys.js";
import { openShares } from "./sharebox.js";

const PAIRWISE_PURPOSE = `${PROTOCOL_LABEL}/pairwise-mask-seed`;

/**
 * s_uv: the same 32 bytes for u and v (the names enter in sorted order), bound to this job, so
 * the coordinator can recompute it from a dropped station's reconstructed s_sk and nothing else.
 */
export function pairwiseSeed(options: {
  terms: Pick<JobTerms, "context" | "jobId">;
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  stations: readonly [string, string];
}): Uint8Array {
  const [a, b] = [...options.stations].sort(compareNames);
  return agree({
    secretKey: options.secretKey,
    publicKey: options.publicKey,
    context: options.terms.context,
    purpose: PAIRWISE_PURPOSE,
    fields: [options.terms.jobId, a, b],
  });
}

/** +1 if `self` adds PRG(s_uv) for `peer`, −1 if it subtracts it: the smaller name adds. */
export function pairwiseSign(self: string, peer: string): 1 | -1 {
  return compareNames(self, peer) < 0 ? 1 : -1;
}

/**
 * Decrypts the shares addressed to this station. Each must come from a station of U1, once, to
 * this station, and authenticate; a tampered or redirected ciphertext refuses the round.
 */
export function openInbox(options: {
  terms: JobTerms;
  self: string;
  peers: ReadonlyMap<string, KeyAdvertisement>;
  encryptionSecretKey: Uint8Array;
  encryptedShares: unknown;
}): Map<string, SharePair> {
  const { terms, self } = options;
  const inbox = new Map<string, SharePair>();
  const list = expectArray(options.encryptedShares, `job ${terms.jobId}: encryptedShares`);
  list.forEach((value, i) => {
    const item = parseEncryptedShares(value, `job ${terms.jobId}: encryptedShares[${i}]`);
    if (item.receiver !== self) throw new ProtocolViolation(`job ${terms.jobId}: encrypted shares addressed to ${item.receiver}, not to ${self}`);
    const sender = options.peers.get(item.sender);
    if (sender === undefined || item.sender === self) {
      throw new ProtocolViolation(`job ${terms.jobId}: encrypted shares from ${item.sender}, who did not advertise keys to this station`);
    }
    if (inbox.has(item.sender)) throw new ProtocolViolation(`job ${terms.jobId}: two sets of encrypted shares from ${item.sender}`);
    const plaintext = openShares({
      context: terms.context,
      jobId: terms.jobId,
      sender: item.sender,
      receiver: self,
      receiverSecretKey: options.encryptionSecretKey,
      senderPublicKey: sender.encryptionPublicKey,
      ciphertext: item.ciphertext,
    });
    inbox.set(item.sender, decodeSharePair(plaintext, `job ${terms.jobId}: shares from ${item.sender}`));
    plaintext.fill(0);
  });
  if (inbox.size + 1 < terms.threshold) {
    throw new ProtocolViolation(`job ${terms.jobId}: shares from only ${inbox.size + 1} stations (with this one), below the threshold ${terms.threshold}`);
  }
  return inbox;
}

/** y_u as above; `u2Peers` are the other stations of U2 with their advertised masking keys. */
export function maskInput(options: {
  terms: JobTerms;
  self: string;
  input: Float64Array;
  selfMaskSeed: Uint8Array;
  maskingSecretKey: Uint8Array;
  u2Peers: ReadonlyArray<KeyAdvertisement>;
}): Uint8Array {
  const { terms, self, input } = options;
  // The range bound counts every station of the job: any subset of them may end up in the sum.
  const y = encode(input, { stations: terms.stations.length });
  const masks: Array<{ vector: Uint32Array; sign: 1 | -1 }> = [{ vector: expandMask(options.selfMaskSeed, input.length), sign: 1 }];
  for (const peer of options.u2Peers) {
    const seed = pairwiseSeed({ terms, secretKey: options.maskingSecretKey, publicKey: peer.maskingPublicKey, stations: [self, peer.station] });
    masks.push({ vector: expandMask(seed, input.length), sign: pairwiseSign(self, peer.station) > 0 ? 1 : -1 });
    seed.fill(0);
  }
  ringAccumulate(y, masks);
  for (const m of masks) m.vector.fill(0);
  return ringToBytes(y);
}

/** Coordinator side: exactly `elements` ring elements, or the station is dropped. */
export function checkMaskedInputResponse(response: unknown, elements: number): Uint32Array {
  const bytes = expectBytes(expectObject(response, "MaskedInputResponse").maskedVector, "maskedVector");
  try {
    return ringFromBytes(bytes, elements);
  } catch (cause) {
    throw new ProtocolViolation(`masked vector has the wrong length: ${(cause as Error).message}`);
  }
}

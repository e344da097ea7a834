/**
 * Round 2, MaskedInput. The station opens the pad seeds g_j of every peer (all must be there) and
 * sends
 *
 *     y_i = encode(x_i) + PRG(g_i) + Σ_{j, i < j} PRG(s_ij) − Σ_{j, i > j} PRG(s_ij)   (mod the ring)
 *
 * signed with its identity key over (job terms, station, SHA-256(y_i)).
 *
 * The pairwise masks cancel in Σ y_j and hide each y_j from the other stations, who learn every
 * g_j in this round: y_j − PRG(g_j) still carries masks shared with stations other than the
 * reader. The pads PRG(g_j) stay in the sum and hide it from the coordinator, who never sees a
 * g_j. The signature lets every station check in round 3 that it sums the very vectors the others
 * sent — a coordinator that alters, swaps or leaves out a y_j is caught there.
 */
import { createHash } from "node:crypto";
import { ProtocolViolation } from "../common/errors.js";
import { termFields, type JobTerms, type Roster } from "./advertise-keys.js";
import { encode, ringAccumulate, ringToBytes } from "./fixedpoint.js";
import { agree } from "./keyagreement.js";
import { compareNames, expectArray, expectBytes, expectObject, type KeyAdvertisement } from "./messages.js";
import { BYTES_PER_ELEMENT, MAX_VECTOR_ELEMENTS, PROTOCOL_LABEL, SEED_BYTES, SIGNATURE_BYTES } from "./params.js";
import { expandMask } from "./prg.js";
import { parseEncryptedShares } from "./share-keys.js";
import { openShares } from "./sharebox.js";
import { signStatement, STATEMENT, verifyStatement } from "./signing.js";

const PAIRWISE_PURPOSE = `${PROTOCOL_LABEL}/pairwise-mask-seed`;

/**
 * s_uv: the same 32 bytes for u and v (the names enter in sorted order), bound to this job, so a
 * mask of one job never reappears in another.
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
 * The pad seeds addressed to this station: exactly one from every other station of the job, each
 * sealed by its sender for this station in this job. A tampered, redirected, duplicated or missing
 * seed refuses the round (no partial sum is ever formed, so a missing peer ends the job).
 */
export function openPadSeeds(options: {
  terms: JobTerms;
  self: string;
  peers: ReadonlyMap<string, KeyAdvertisement>;
  encryptionSecretKey: Uint8Array;
  encryptedShares: unknown;
}): Map<string, Uint8Array> {
  const { terms, self } = options;
  const seeds = new Map<string, Uint8Array>();
  const list = expectArray(options.encryptedShares, `job ${terms.jobId}: encryptedShares`);
  try {
    list.forEach((value, i) => {
      const item = parseEncryptedShares(value, `job ${terms.jobId}: encryptedShares[${i}]`);
      if (item.receiver !== self) throw new ProtocolViolation(`job ${terms.jobId}: sealed pad seed addressed to ${item.receiver}, not to ${self}`);
      const sender = options.peers.get(item.sender);
      if (sender === undefined || item.sender === self) {
        throw new ProtocolViolation(`job ${terms.jobId}: sealed pad seed from ${item.sender}, who is not another station of this job`);
      }
      if (seeds.has(item.sender)) throw new ProtocolViolation(`job ${terms.jobId}: two sealed pad seeds from ${item.sender}`);
      const seed = openShares({
        context: terms.context,
        jobId: terms.jobId,
        sender: item.sender,
        receiver: self,
        receiverSecretKey: options.encryptionSecretKey,
        senderPublicKey: sender.encryptionPublicKey,
        ciphertext: item.ciphertext,
      });
      if (seed.length !== SEED_BYTES) {
        seed.fill(0);
        throw new ProtocolViolation(`job ${terms.jobId}: the pad seed from ${item.sender} is not ${SEED_BYTES} bytes`);
      }
      seeds.set(item.sender, seed);
    });
    const missing = terms.stations.filter((name) => name !== self && !seeds.has(name));
    if (missing.length > 0) {
      throw new ProtocolViolation(`job ${terms.jobId}: no pad seed from ${missing.join(", ")}; every station of the job must take part`);
    }
  } catch (error) {
    for (const seed of seeds.values()) seed.fill(0);
    throw error;
  }
  return seeds;
}

/** y_i as above; `peers` are all other stations of the job with their advertised masking keys. */
export function maskInput(options: {
  terms: JobTerms;
  self: string;
  input: Float64Array;
  padSeed: Uint8Array;
  maskingSecretKey: Uint8Array;
  peers: ReadonlyArray<KeyAdvertisement>;
}): Uint8Array {
  const { terms, self, input } = options;
  const y = encode(input, { stations: terms.stations.length });
  const masks: Array<{ vector: Uint32Array; sign: 1 | -1 }> = [{ vector: expandMask(options.padSeed, input.length), sign: 1 }];
  for (const peer of options.peers) {
    const seed = pairwiseSeed({ terms, secretKey: options.maskingSecretKey, publicKey: peer.maskingPublicKey, stations: [self, peer.station] });
    masks.push({ vector: expandMask(seed, input.length), sign: pairwiseSign(self, peer.station) });
    seed.fill(0);
  }
  ringAccumulate(y, masks);
  for (const m of masks) m.vector.fill(0);
  return ringToBytes(y);
}

export function maskedVectorDigest(maskedVector: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(maskedVector).digest());
}

function maskedInputFields(terms: JobTerms, station: string, digest: Uint8Array) {
  return [...termFields(terms), station, digest];
}

export function signMaskedInput(options: { terms: JobTerms; self: string; maskedVector: Uint8Array; identitySecretKey: Uint8Array }): Uint8Array {
  return signStatement({
    label: STATEMENT.maskedInput,
    fields: maskedInputFields(options.terms, options.self, maskedVectorDigest(options.maskedVector)),
    secretKey: options.identitySecretKey,
  });
}

/** True only if `station`'s roster key signed exactly this masked vector for exactly this job. */
export function verifyMaskedInput(options: { terms: JobTerms; roster: Roster; station: string; maskedVector: Uint8Array; signature: Uint8Array }): boolean {
  const identityKey = options.roster.get(options.station);
  if (identityKey === undefined) return false;
  return verifyStatement({
    label: STATEMENT.maskedInput,
    fields: maskedInputFields(options.terms, options.station, maskedVectorDigest(options.maskedVector)),
    signature: options.signature,
    publicKey: identityKey,
  });
}

/** A masked vector's element count, or a refusal: whole elements, at least one, at most the maximum. */
export function maskedElements(maskedVector: Uint8Array, what: string): number {
  const elements = maskedVector.length / BYTES_PER_ELEMENT;
  if (!Number.isInteger(elements) || elements < 1 || elements > MAX_VECTOR_ELEMENTS) {
    throw new ProtocolViolation(`${what} is ${maskedVector.length} bytes, not 1..${MAX_VECTOR_ELEMENTS} ring elements of ${BYTES_PER_ELEMENT} bytes`);
  }
  return elements;
}

/**
 * Coordinator side: a masked vector of whole ring elements (the same count for every station,
 * checked by the caller) under a valid signature of the station named; anything else fails it.
 */
export function checkMaskedInputResponse(
  response: unknown,
  options: { station: string; terms: JobTerms; roster: Roster },
): { maskedVector: Uint8Array; signature: Uint8Array; elements: number } {
  const message = expectObject(response, "MaskedInputResponse");
  const maskedVector = expectBytes(message.maskedVector, "maskedVector");
  const signature = expectBytes(message.signature, "signature", SIGNATURE_BYTES);
  const elements = maskedElements(maskedVector, "maskedVector");
  if (!verifyMaskedInput({ terms: options.terms, roster: options.roster, station: options.station, maskedVector, signature })) {
    throw new ProtocolViolation(`the signature of ${options.station} over its masked input does not verify`);
  }
  return { maskedVector, signature, elements };
}

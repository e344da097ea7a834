/**
 * Round 4, Unmask (Bonawitz et al. Fig. 5). A station that sees at least t valid signatures over
 * the U3 it signed reveals, for each peer v in its U2, exactly one share: of b_v if v survived
 * (v ∈ U3), of s_sk_v if v dropped (v ∈ U2 ∖ U3). Never both — that would unmask v's input.
 *
 * The coordinator then reconstructs every survivor's b and every dropped station's s_sk, and
 * strips the remaining masks from the sum of the masked vectors.
 */
import { ProtocolViolation } from "../common/errors.js";
import type { JobTerms, Roster } from "./advertise-keys.js";
import { verifySurvivorSignature } from "./consistency-check.js";
import { equalBytes } from "./encoding.js";
import { ringAccumulate, ringAdd, ringSub } from "./fixedpoint.js";
import { publicKeyOf } from "./keyagreement.js";
import { pairwiseSeed, pairwiseSign } from "./masked-input.js";
import {
  expectArray,
  expectBytes,
  expectObject,
  expectString,
  type RevealedShare,
  type UnmaskResponse,
} from "./messages.js";
import { LIMBS_PER_ELEMENT, SHARE_BYTES } from "./params.js";
import { expandMask } from "./prg.js";
import { combine } from "./shamir.js";
import { shareX, type SharePair } from "./share-keys.js";

/**
 * At least t signatures, each from a distinct member of U3, each valid under the roster key over
 * the very U3 this station signed. A survivor set the coordinator changed, or signatures over
 * another set, fail here.
 */
export function verifySurvivorSignatures(options: {
  terms: JobTerms;
  roster: Roster;
  survivors: readonly string[];
  signatures: unknown;
}): void {
  const { terms, survivors } = options;
  const signers = new Set<string>();
  expectArray(options.signatures, `job ${terms.jobId}: signatures`).forEach((value, i) => {
    const entry = expectObject(value, `job ${terms.jobId}: signatures[${i}]`);
    const station = expectString(entry.station, `job ${terms.jobId}: signatures[${i}].station`);
    const signature = expectBytes(entry.signature, `job ${terms.jobId}: signature of ${station}`);
    if (!survivors.includes(station)) throw new ProtocolViolation(`job ${terms.jobId}: signature from ${station}, who is not in the survivor set`);
    if (signers.has(station)) throw new ProtocolViolation(`job ${terms.jobId}: two signatures from ${station}`);
    const identityKey = options.roster.get(station);
    if (identityKey === undefined || !verifySurvivorSignature({ terms, survivors, signature, identityKey })) {
      throw new ProtocolViolation(
        `job ${terms.jobId}: ${station}'s signature is not over the survivor set this station signed ` +
          `(inconsistent survivor sets, or a forged signature)`,
      );
    }
    signers.add(station);
  });
  if (signers.size < terms.threshold) {
    throw new ProtocolViolation(`job ${terms.jobId}: ${signers.size} valid survivor signatures, below the threshold ${terms.threshold}`);
  }
}

/** One share per peer of U2 (itself included): b's share for survivors, s_sk's for the dropped. */
export function revealShares(options: { held: ReadonlyMap<string, SharePair>; survivors: readonly string[] }): UnmaskResponse {
  const selfMaskShares: RevealedShare[] = [];
  const maskingKeyShares: RevealedShare[] = [];
  for (const [station, pair] of options.held) {
    if (options.survivors.includes(station)) selfMaskShares.push({ station, share: new Uint8Array(pair.selfMaskShare) });
    else maskingKeyShares.push({ station, share: new Uint8Array(pair.maskingKeyShare) });
  }
  return { selfMaskShares, maskingKeyShares };
}

/** The shares one station revealed, by the station whose secret they share. */
export interface RevealedShares {
  selfMask: Map<string, Uint8Array>;
  maskingKey: Map<string, Uint8Array>;
}

/** Coordinator side: exactly one share of b per survivor and of s_sk per dropped station. */
export function checkUnmaskResponse(response: unknown, options: { u2: readonly string[]; u3: readonly string[] }): RevealedShares {
  const message = expectObject(response, "UnmaskResponse");
  const dropped = options.u2.filter((name) => !options.u3.includes(name));
  return {
    selfMask: parseShares(message.selfMaskShares, "selfMaskShares", options.u3),
    maskingKey: parseShares(message.maskingKeyShares, "maskingKeyShares", dropped),
  };
}

function parseShares(value: unknown, what: string, owners: readonly string[]): Map<string, Uint8Array> {
  const shares = new Map<string, Uint8Array>();
  expectArray(value, what).forEach((item, i) => {
    const entry = expectObject(item, `${what}[${i}]`);
    const station = expectString(entry.station, `${what}[${i}].station`);
    if (!owners.includes(station)) throw new ProtocolViolation(`${what} includes a share for ${station}, which was not asked for`);
    if (shares.has(station)) throw new ProtocolViolation(`${what} has two shares for ${station}`);
    shares.set(station, expectBytes(entry.share, `${what} for ${station}`, SHARE_BYTES));
  });
  const missing = owners.filter((name) => !shares.has(name));
  if (missing.length > 0) throw new ProtocolViolation(`${what} lacks shares for ${missing.join(", ")}`);
  return shares;
}

/**
 * Σ_{u∈U3} x_u in the ring: the sum of the masked vectors, minus PRG(b_u) for every survivor, and
 * with the pairwise masks that survivors share with each dropped station v ∈ U2 ∖ U3 taken out
 * again (survivor–survivor masks have already cancelled).
 */
export function reconstructSum(options: {
  terms: JobTerms;
  elements: number;
  maskedVectors: ReadonlyMap<string, Uint32Array>;
  u2: readonly string[];
  maskingPublicKeys: ReadonlyMap<string, Uint8Array>;
  revealed: ReadonlyMap<string, RevealedShares>;
}): Uint32Array {
  const { terms, elements } = options;
  const u3 = [...options.maskedVectors.keys()];
  const sum = new Uint32Array(elements * LIMBS_PER_ELEMENT);

  const sharesOf = (owner: string, kind: keyof RevealedShares) =>
    [...options.revealed].map(([holder, shares]) => ({ x: shareX(terms, holder), y: shares[kind].get(owner)! }));

  // Σ masked inputs − Σ self masks, in one pass over the vectors.
  const addends: Array<{ vector: Uint32Array; sign: 1 | -1 }> = [...options.maskedVectors.values()].map((vector) => ({ vector, sign: 1 as const }));
  for (const survivor of u3) {
    const seed = combine({ shares: sharesOf(survivor, "selfMask"), threshold: terms.threshold });
    addends.push({ vector: expandMask(seed, elements), sign: -1 });
  }
  ringAccumulate(sum, addends);
  for (const dropped of options.u2.filter((name) => !u3.includes(name))) {
    const secretKey = combine({ shares: sharesOf(dropped, "maskingKey"), threshold: terms.threshold });
    // The advertised public key commits the dropped station to its s_sk: wrong shares show here.
    if (!equalBytes(publicKeyOf(secretKey), options.maskingPublicKeys.get(dropped)!)) {
      throw new ProtocolViolation(`reconstructed masking key of ${dropped} does not match its advertised public key`);
    }
    for (const survivor of u3) {
      const seed = pairwiseSeed({
        terms,
        secretKey,
        publicKey: options.maskingPublicKeys.get(survivor)!,
        stations: [survivor, dropped],
      });
      const mask = expandMask(seed, elements);
      if (pairwiseSign(survivor, dropped) > 0) ringSub(sum, mask);
      else ringAdd(sum, mask);
    }
  }
  return sum;
}

/**
 * Round 3, ConsistencyCheck (Bonawitz et al. Fig. 5, active adversary only). The coordinator
 * announces U3, the stations whose masked input arrived; each survivor signs (context, job, U3).
 *
 * Why: without it a coordinator could tell some stations that v dropped (and collect shares of
 * v's s_sk) and others that v survived (and collect shares of v's b), then unmask v's input
 * alone. A station signs only one U3 per job and in round 4 reveals shares only for a U3 that at
 * least t stations signed, so two contradictory survivor sets cannot both be unmasked.
 */
import { ProtocolViolation } from "../common/errors.js";
import type { JobTerms, Roster } from "./advertise-keys.js";
import { expectBytes, expectNameSet, expectObject, sortedNames } from "./messages.js";
import { SIGNATURE_BYTES } from "./params.js";
import { signStatement, STATEMENT, verifyStatement } from "./signing.js";

/** U3 must be part of this station's U2, include the station itself, and reach the threshold. */
export function acceptSurvivors(options: { terms: JobTerms; self: string; u2: ReadonlySet<string>; survivors: unknown }): string[] {
  const { terms } = options;
  const survivors = expectNameSet(options.survivors, `job ${terms.jobId}: survivors`);
  const unknown = survivors.filter((name) => !options.u2.has(name));
  if (unknown.length > 0) {
    throw new ProtocolViolation(`job ${terms.jobId}: survivor set names stations that did not share keys with this station: ${unknown.join(", ")}`);
  }
  if (!survivors.includes(options.self)) throw new ProtocolViolation(`job ${terms.jobId}: survivor set leaves out this station (${options.self})`);
  if (survivors.length < terms.threshold) {
    throw new ProtocolViolation(`job ${terms.jobId}: survivor set has ${survivors.length} stations, below the threshold ${terms.threshold}`);
  }
  return sortedNames(survivors);
}

function survivorFields(terms: Pick<JobTerms, "context" | "jobId" | "deadlineMs">, survivors: readonly string[]) {
  return [terms.context, terms.jobId, terms.deadlineMs, sortedNames(survivors)];
}

export function signSurvivors(options: { terms: JobTerms; survivors: readonly string[]; identitySecretKey: Uint8Array }): Uint8Array {
  return signStatement({
    label: STATEMENT.consistencyCheck,
    fields: survivorFields(options.terms, options.survivors),
    secretKey: options.identitySecretKey,
  });
}

export function verifySurvivorSignature(options: {
  terms: Pick<JobTerms, "context" | "jobId" | "deadlineMs">;
  survivors: readonly string[];
  signature: Uint8Array;
  identityKey: Uint8Array;
}): boolean {
  return verifyStatement({
    label: STATEMENT.consistencyCheck,
    fields: survivorFields(options.terms, options.survivors),
    signature: options.signature,
    publicKey: options.identityKey,
  });
}

/** Coordinator side: a signature of the right size (and valid, when the coordinator has a roster). */
export function checkConsistencyCheckResponse(
  response: unknown,
  options: { station: string; terms: Pick<JobTerms, "context" | "jobId" | "deadlineMs">; survivors: readonly string[]; roster?: Roster },
): Uint8Array {
  const signature = expectBytes(expectObject(response, "ConsistencyCheckResponse").signature, "signature", SIGNATURE_BYTES);
  const identityKey = options.roster?.get(options.station);
  if (options.roster !== undefined) {
    if (identityKey === undefined || !verifySurvivorSignature({ ...options, signature, identityKey })) {
      throw new ProtocolViolation(`signature of ${options.station} over the survivor set does not verify`);
    }
  }
  return signature;
}

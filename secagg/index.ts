/**
 * Secure aggregation, protocol v2: after Bonawitz et al., "Practical Secure Aggregation for
 * Privacy-Preserving Machine Learning" (CCS 2017), active-adversary variant, changed so that the
 * stations — not the coordinator (the SDK) — see the combined vector first, and release only what
 * they agree on. The SDK runs the coordinator; each station daemon holds one participant.
 * Transport-agnostic: the messages are plain objects, mirrored by protos/werkplaats/v1/secagg.proto.
 *
 * What changed from the paper (and from v1), and why:
 * - Round 1 sends each peer a pad seed g_i (sealed end to end) instead of Shamir shares of a
 *   self-mask seed and a masking key. Masked inputs carry PRG(g_i), which only the stations can
 *   remove, so the coordinator never sees an unreleased sum.
 * - Round 3 "release" replaces the consistency check and unmask: each station checks every
 *   station's signed masked input, unmasks the sum itself, applies the release rule, and signs
 *   the release; the coordinator returns a release only when all n are byte-identical.
 * - No dropout recovery: every station of the job contributes, or nothing is released. Partial
 *   sums were what let a coordinator difference two results down to one station's part, so
 *   Shamir sharing, the threshold, self masks and the consistency check (which existed only for
 *   recovery) are gone. A station that fails ends the job; the SDK may retry it as a new job.
 *
 * Reading order: params, fixedpoint, prg, keyagreement, sharebox, signing, encoding; then the
 * rounds advertise-keys, share-keys, masked-input, release; then participant (station side) and
 * coordinator (SDK side).
 */
export { SecAggParticipant, type ParticipantOptions, type ReleaseRule } from "./participant.js";
export {
  IncompleteJob,
  runSecureAggregation,
  type PhaseReport,
  type SecAggStation,
  type SecureAggregationOptions,
  type SecureAggregationResult,
  type StationFailure,
} from "./coordinator.js";
export {
  PHASES,
  type AdvertiseKeysRequest,
  type AdvertiseKeysResponse,
  type EncryptedShares,
  type KeyAdvertisement,
  type MaskedInputRequest,
  type MaskedInputResponse,
  type ReleaseMessage,
  type ReleaseRequest,
  type ReleaseResponse,
  type SecAggPhase,
  type ShareKeysRequest,
  type ShareKeysResponse,
  type SignedMaskedInput,
} from "./messages.js";
export { releaseFromMessage, releaseToMessage, type ReleaseBody } from "./release.js";
export { FRACTION_BITS, MIN_STATIONS } from "./params.js";
export { maxMagnitude } from "./fixedpoint.js";
export { checkJobId } from "./advertise-keys.js";

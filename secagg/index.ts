/**
 * Secure aggregation after Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving
 * Machine Learning" (CCS 2017), active-adversary variant. The SDK runs the coordinator; each
 * station daemon holds one participant. Transport-agnostic: the messages are plain objects,
 * mirrored by protos/werkplaats/v1/secagg.proto.
 *
 * Reading order: params, fixedpoint, prg, shamir, keyagreement, sharebox, signing; then the
 * rounds advertise-keys, share-keys, masked-input, consistency-check, unmask; then participant
 * (station side) and coordinator (SDK side).
 */
export { SecAggParticipant, type ParticipantOptions } from "./participant.js";
export {
  runSecureAggregation,
  TooFewSurvivors,
  type DroppedStation,
  type PhaseReport,
  type SecAggStation,
  type SecureAggregationOptions,
  type SecureAggregationResult,
} from "./coordinator.js";
export {
  PHASES,
  type AdvertiseKeysRequest,
  type AdvertiseKeysResponse,
  type ConsistencyCheckRequest,
  type ConsistencyCheckResponse,
  type EncryptedShares,
  type KeyAdvertisement,
  type MaskedInputRequest,
  type MaskedInputResponse,
  type RevealedShare,
  type SecAggPhase,
  type ShareKeysRequest,
  type ShareKeysResponse,
  type SurvivorSignature,
  type UnmaskRequest,
  type UnmaskResponse,
} from "./messages.js";
export { FRACTION_BITS, MIN_STATIONS, minimumThreshold } from "./params.js";
export { maxMagnitude } from "./fixedpoint.js";
export { checkJobId } from "./advertise-keys.js";

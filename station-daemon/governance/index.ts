/**
 * What a station's data steward controls: policy and disclosure control, request authentication,
 * TLS material and the audit log. README.md beside this file gives the trust model.
 */
export {
  DEFAULT_DISCLOSURE, DATASHIELD_LIMITS, KNOWN_COMPUTATIONS, POLICY_FILE,
  type ComputationKind, type DisclosureSettings, type KnownDatasets, type StationPolicy, type StudyPolicy,
  checkPolicyStations, defaultPolicy, expectedStations, loadPolicy, validatePolicy,
} from "./policy.js";
export { COMPUTATION_RULES, type CheckedRequest, checkDisclosure, checkRequest, researcherKeys } from "./policy-check.js";
export { ReplayCache, SEEN_STATE_FILE, SeenJobs, SeenStore, type VerifyRequestOptions, verifyRequest } from "./request-auth.js";
export { TLS_CERTIFICATE_FILE, TLS_KEY_FILE, type StationTls, certificateFingerprint, createStationTls, loadStationTls, stationServerCredentials, writeStationTls } from "./tls.js";
export { AUDIT_LOG_FILE, AuditLog, type AuditOutcome, type AuditRecord, type AuditStatus, type AuditVerification, auditLogHolder, verifyAuditLog } from "./audit-log.js";

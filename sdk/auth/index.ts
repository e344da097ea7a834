/**
 * The researcher's side of station security: signing keys, signed requests, and TLS pinned to a
 * station's certificate fingerprint.
 */
export { REQUEST_AUTH_METADATA, REQUEST_SIGNATURE_LABEL, type RequestAuth, requestStatement } from "../../common/request-statement.js";
export { type MetadataLike, type SignRequestOptions, requestAuthFromMetadata, requestAuthToMetadata, signRequest } from "./sign-request.js";
export { RESEARCHER_PUBLIC_KEY_FILE, RESEARCHER_SECRET_KEY_FILE, type ResearcherKeys, createResearcherKeys, loadResearcherKeys } from "./researcher-keys.js";
export { PinMismatch, certificateFingerprint, fetchPinnedCertificate, normaliseFingerprint, pinnedChannelCredentials } from "./pinned-tls.js";

import { createHash } from "node:crypto";
import type { JobSpec } from "./job.js";
import { canonicalJson } from "./wire.js";

/**
 * The secure-aggregation context of a job: SHA-256 over its canonical JSON. Both sides compute
 * it from the decoded job, so a coordinator that shows stations different jobs gets signatures
 * and share encryptions that do not verify.
 */
export function jobDigest(job: JobSpec): Uint8Array {
  return new Uint8Array(createHash("sha256").update(canonicalJson({ domain: "werkplaats/job/v1", job })).digest());
}

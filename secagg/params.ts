/**
 * The named constants of secure aggregation, in one place so that a reviewer can check them
 * against each other (STYLE.md: "scale, ring size and threshold are named values in one place").
 */

/**
 * Masked vectors live in the ring Z_{2^256}; one element is eight little-endian uint32 limbs.
 *
 * Why 256 bits with 128 fraction bits (FRACTION_BITS below): every double x with
 * 2^-128 ≤ |lowest set bit of x| and |x| ≤ maxMagnitude (≈ 2^127 / stations) is a whole number
 * of 2^-128 steps, so it encodes exactly, and a sum over stations is exact in the ring; decoding
 * rounds once. A station's sums of data scaled anywhere from 1e-12 to 1e12 — and their squares,
 * 1e-24 … 1e24 times millions of rows — lie between 2^-76 (52 bits above 2^-128) and 2^127, so
 * every GLM score and information entry, every moment and count, sums without loss, whatever the
 * units of the data. 2^128 with 32 fraction bits (the earlier ring) rounded a station's sums to
 * 2.3e-10 absolute, which wiped out the variance of a column of 1e-6 values.
 * Plain uint32 limbs keep ring arithmetic in JavaScript numbers (no BigInt per element), which
 * matters for vectors of 10^5…10^6 elements; the code is generic over LIMBS_PER_ELEMENT.
 */
export const RING_BITS = 256;
export const LIMBS_PER_ELEMENT = RING_BITS / 32;
export const BYTES_PER_ELEMENT = RING_BITS / 8;

/**
 * Fixed-point resolution 2^-128 ≈ 2.9e-39: an element x is the integer x · 2^128. A double of
 * magnitude ≥ 2^-76 (≈ 1.3e-23) encodes exactly; smaller non-zero values are rounded to 2^-128
 * (fixedpoint.ts inexactElements finds them, so a caller can say so instead of returning a
 * silently imprecise result). Integers (counts) are exact.
 */
export const FRACTION_BITS = 128;

/** Below this magnitude a non-zero double has bits under 2^-FRACTION_BITS: it cannot encode exactly. */
export const EXACT_MIN_MAGNITUDE = 2 ** (52 - FRACTION_BITS);

/**
 * A job needs at least this many stations (DESIGN.md). Two stations would each learn the other's
 * input from the sum, so secure aggregation is pointless below three. Configuration may raise
 * this floor, never lower it.
 */
export const MIN_STATIONS = 3;

/**
 * Upper bound on the stations in one job: it keeps the per-station range bound of fixedpoint.ts
 * meaningful and the O(n²) pairwise-mask work bounded.
 */
export const MAX_STATIONS = 1000;

/*
 * Protocol v2 has no threshold and no Shamir field: dropout recovery is gone (every station of a
 * job contributes, or nothing is released), so neither a reconstruction threshold nor the
 * GF(2^521 − 1) share field of v1 exists any more. See index.ts for why.
 */

/**
 * Pad seeds g_i, pairwise seeds, X25519 keys and Ed25519 secret keys are all 32 bytes: 256 bits,
 * the key size of the AES-256-CTR PRG that expands them.
 */
export const SEED_BYTES = 32;
export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

/**
 * A station keeps a job's secrets no longer than this, whatever deadline the coordinator asks
 * for: one aggregation takes seconds, and secrets that linger are secrets that can leak.
 */
export const MAX_JOB_LIFETIME_MS = 60 * 60 * 1000;

/**
 * Longest vector one aggregation carries: 2^24 elements is 512 MB of masked limbs per station,
 * beyond any group-by or information matrix we compute, and a bound on what a message may make
 * a peer allocate.
 */
export const MAX_VECTOR_ELEMENTS = 1 << 24;

/**
 * The coordinator's default deadline for a job is one phase timeout per round plus this much, to
 * absorb clock skew between the coordinator and the stations, which check it on their own clock.
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 30_000;

/**
 * How long after its deadline a station still remembers a job id. Not needed for safety (every
 * signed statement binds the deadline, so nothing of a past job verifies again); it lets a late
 * call be told that the job expired rather than that it never existed.
 */
export const ENDED_JOB_MEMORY_MS = 10 * 60 * 1000;

/** Job ids are printable tokens so they embed unambiguously in logs, AAD and signatures. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** The context digest bound into every signature and AEAD (the caller passes a SHA-256). */
export const MAX_CONTEXT_BYTES = 1024;

/** SHA-256 digests of masked vectors, signed in round 2 and checked again in round 3. */
export const DIGEST_BYTES = 32;

/** Protocol version label; every domain-separation string starts with it. */
/**
 * v2: pad seeds instead of Shamir shares, and a release round decided by the stations. A new
 * label makes every v1 signature and key derivation invalid under v2, so the two cannot mix.
 */
export const PROTOCOL_LABEL = "werkplaats/secagg/v2";

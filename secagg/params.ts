/**
 * The named constants of secure aggregation, in one place so that a reviewer can check them
 * against each other (STYLE.md: "scale, ring size and threshold are named values in one place").
 */

/**
 * Masked vectors live in the ring Z_{2^128}; one element is four little-endian uint32 limbs.
 *
 * Why 128 bits: the vectors we add are GLM information matrices, score vectors and counts over
 * up to millions of rows per station. With 32 fraction bits (below) the largest magnitude that
 * one station may contribute is 2^95 / stations ≈ 4e28 / stations, far above any X'WX entry of
 * realistic data (10^7 rows × covariates of 10^4 squared is 10^15), so the range check in
 * fixedpoint.ts never refuses honest analyses, while 2^64 would leave only ~2^31 of headroom.
 * Plain uint32 limbs keep ring arithmetic in JavaScript numbers (no BigInt per element), which
 * matters for vectors of 10^5…10^6 elements.
 */
export const RING_BITS = 128;
export const LIMBS_PER_ELEMENT = 4;
export const BYTES_PER_ELEMENT = 16;

/**
 * Fixed-point resolution 2^-32 ≈ 2.3e-10 per station. Rounding adds at most n · 2^-33 to a sum,
 * which keeps Newton–Raphson on summed score and information within 1e-6 of a pooled fit
 * (DESIGN.md) with many orders of magnitude to spare. Integers (counts) are exact.
 */
export const FRACTION_BITS = 32;

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
 * Longest vector one aggregation carries: 2^24 elements is 256 MB of masked limbs per station,
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

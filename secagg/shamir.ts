/**
 * t-of-n Shamir secret sharing (Bonawitz et al. §3, "SS.share / SS.recon") of 32-byte secrets
 * over GF(2^521 − 1). Stations share their self-mask seed b and masking secret key s_sk this way
 * so that the coordinator can finish an aggregation when some of them drop out.
 *
 * Share x-coordinates are small positive integers (a station's index in the job + 1); y is a
 * field element written as 66 big-endian bytes.
 */
import { randomBytes } from "node:crypto";
import { BadInput, ProtocolViolation } from "../common/errors.js";
import { SEED_BYTES, SHARE_BYTES, SHARE_FIELD_PRIME as P } from "./params.js";

export interface Share {
  x: number;
  y: Uint8Array;
}

/**
 * Splits `secret` into shares at `xs` so that any `threshold` of them reconstruct it and fewer
 * reveal nothing. `randomCoefficient` exists for known-answer tests only; the protocol always
 * draws coefficients from node:crypto.
 */
export function split(options: {
  secret: Uint8Array;
  threshold: number;
  xs: readonly number[];
  randomCoefficient?: () => bigint;
}): Share[] {
  const { secret, threshold, xs } = options;
  if (secret.length !== SEED_BYTES) throw new BadInput(`a shared secret is ${SEED_BYTES} bytes, got ${secret.length}`);
  checkXs(xs);
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > xs.length) {
    throw new BadInput(`threshold must be an integer in 2..${xs.length} (the number of shares), got ${threshold}`);
  }
  const draw = options.randomCoefficient ?? randomFieldElement;
  const coefficients = [bytesToBigInt(secret)];
  for (let i = 1; i < threshold; i++) {
    const c = draw();
    if (c < 0n || c >= P) throw new BadInput("a polynomial coefficient must be a field element");
    coefficients.push(c);
  }
  const shares = xs.map((x) => ({ x, y: bigIntToBytes(evaluate(coefficients, BigInt(x)), SHARE_BYTES) }));
  coefficients.fill(0n);
  return shares;
}

/**
 * Reconstructs the secret from at least `threshold` shares. When more are given, every extra share
 * must lie on the same polynomial: a station that hands out an inconsistent share is caught here
 * instead of silently corrupting the aggregate.
 */
export function combine(options: { shares: readonly Share[]; threshold: number }): Uint8Array {
  const { shares, threshold } = options;
  if (!Number.isInteger(threshold) || threshold < 2) throw new BadInput(`threshold must be an integer ≥ 2, got ${threshold}`);
  if (shares.length < threshold) {
    throw new BadInput(`need at least ${threshold} shares to reconstruct a secret, got ${shares.length}`);
  }
  checkXs(shares.map((s) => s.x));
  const points = shares.map(toPoint);
  const basis = points.slice(0, threshold);
  for (const extra of points.slice(threshold)) {
    if (interpolateAt(basis, extra.x) !== extra.y) {
      throw new ProtocolViolation(`Shamir share at x=${extra.x} is inconsistent with the other shares`);
    }
  }
  const secret = interpolateAt(basis, 0n);
  if (secret >= 1n << BigInt(8 * SEED_BYTES)) {
    throw new ProtocolViolation("reconstructed value is not a 32-byte secret: the shares are inconsistent");
  }
  return bigIntToBytes(secret, SEED_BYTES);
}

/** f(0) of the polynomial through `shares`, whatever their number (for tests of the t−1 case). */
export function interpolateAtZero(shares: readonly Share[]): bigint {
  checkXs(shares.map((s) => s.x));
  return interpolateAt(shares.map(toPoint), 0n);
}

function checkXs(xs: readonly number[]): void {
  if (xs.length === 0) throw new BadInput("no share coordinates given");
  const seen = new Set<number>();
  for (const x of xs) {
    if (!Number.isSafeInteger(x) || x < 1) throw new BadInput(`share x-coordinate must be a positive integer, got ${x}`);
    if (seen.has(x)) throw new BadInput(`duplicate share at x=${x}`);
    seen.add(x);
  }
}

function toPoint(share: Share): { x: bigint; y: bigint } {
  if (share.y.length !== SHARE_BYTES) {
    throw new ProtocolViolation(`Shamir share at x=${share.x} is ${share.y.length} bytes, expected ${SHARE_BYTES}`);
  }
  const y = bytesToBigInt(share.y);
  if (y >= P) throw new ProtocolViolation(`Shamir share at x=${share.x} is not a field element`);
  return { x: BigInt(share.x), y };
}

/** Lagrange interpolation: Σ_i y_i λ_i(at), λ_i(at) = Π_{j≠i} (at − x_j)/(x_i − x_j) mod P. */
function interpolateAt(points: ReadonlyArray<{ x: bigint; y: bigint }>, at: bigint): bigint {
  const weights = lagrangeWeights(points.map((p) => p.x), at);
  let sum = 0n;
  for (let i = 0; i < points.length; i++) sum = (sum + points[i].y * weights[i]) % P;
  return sum;
}

/**
 * The weights depend only on the x-coordinates, which are public and the same for every secret of
 * a job (the same stations reveal shares of every survivor's seed). Recomputing them per secret and
 * per checked share made the coordinator's reconstruction grow as n⁴ (n secrets, n − t checks, t²
 * products and t modular inverses each); cached, it is n² · t products.
 */
const weightCache = new Map<string, bigint[]>();
const WEIGHT_CACHE_ENTRIES = 1024;

function lagrangeWeights(xs: readonly bigint[], at: bigint): bigint[] {
  const key = `${at}@${xs.join(",")}`;
  const known = weightCache.get(key);
  if (known) return known;
  const weights = xs.map((xi, i) => {
    let numerator = 1n;
    let denominator = 1n;
    for (let j = 0; j < xs.length; j++) {
      if (j === i) continue;
      numerator = (numerator * mod(at - xs[j])) % P;
      denominator = (denominator * mod(xi - xs[j])) % P;
    }
    return (numerator * inverse(denominator)) % P;
  });
  if (weightCache.size >= WEIGHT_CACHE_ENTRIES) weightCache.clear();
  weightCache.set(key, weights);
  return weights;
}

function evaluate(coefficients: readonly bigint[], x: bigint): bigint {
  let y = 0n;
  for (let i = coefficients.length - 1; i >= 0; i--) y = (y * x + coefficients[i]) % P;
  return y;
}

function mod(a: bigint): bigint {
  const r = a % P;
  return r < 0n ? r + P : r;
}

/** Extended Euclid; much cheaper than a^(P−2) for a 521-bit modulus. */
function inverse(a: bigint): bigint {
  let [oldR, r] = [mod(a), P];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new BadInput("share x-coordinates collide modulo the field prime");
  return mod(oldS);
}

/** Uniform in [0, P): 521 random bits, rejecting the single value P itself (2^521 − 1). */
function randomFieldElement(): bigint {
  for (;;) {
    const bytes = randomBytes(SHARE_BYTES);
    bytes[0] &= 0x01;
    const c = bytesToBigInt(bytes);
    bytes.fill(0);
    if (c < P) return c;
  }
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function bigIntToBytes(v: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

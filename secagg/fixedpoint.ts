/**
 * Fixed-point encoding of real vectors into Z_{2^128}, and the ring arithmetic on them.
 *
 * An element is four little-endian uint32 limbs in a Uint32Array (params.ts). Arithmetic runs on
 * plain JavaScript numbers with explicit carries: a limb sum is below 2^33, exact in a double,
 * and a Uint32Array store reduces it mod 2^32 — no BigInt per element.
 */
import { BadInput, Overflow, WerkplaatsError } from "../common/errors.js";
import { BYTES_PER_ELEMENT, FRACTION_BITS, LIMBS_PER_ELEMENT, MAX_STATIONS, RING_BITS } from "./params.js";

const TWO_32 = 4294967296;
const SCALE = 2 ** FRACTION_BITS;
const INV_SCALE = 2 ** -FRACTION_BITS;

/**
 * Encoding and the wire format view the limbs as little-endian bytes; a big-endian host would
 * disagree with its peers about every vector, so refuse to run there rather than sum garbage.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
export function assertLittleEndianHost(): void {
  if (!LITTLE_ENDIAN) throw new WerkplaatsError("INTERNAL", "secure aggregation needs a little-endian host");
}

const limitCache = new Map<number, number>();

/**
 * The largest encoded magnitude q (an integer, as a double) that one of `stations` contributors
 * may send so that any sum of up to `stations` of them stays within the signed range of the
 * ring, |sum| ≤ 2^127 − 1, and decodes without wrapping: the largest double ≤ ⌊(2^127−1)/n⌋.
 * Because it is itself a double, `q > limit` is an exact test for every double q.
 */
function encodedLimit(stations: number): number {
  const cached = limitCache.get(stations);
  if (cached !== undefined) return cached;
  const exact = ((1n << BigInt(RING_BITS - 1)) - 1n) / BigInt(stations);
  let limit = Number(exact);
  if (BigInt(limit) > exact) limit = previousDouble(limit);
  limitCache.set(stations, limit);
  return limit;
}

function previousDouble(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) - 1n);
  return view.getFloat64(0);
}

function checkStations(stations: number): void {
  if (!Number.isInteger(stations) || stations < 1 || stations > MAX_STATIONS) {
    throw new BadInput(`stations must be an integer in 1..${MAX_STATIONS}, got ${stations}`);
  }
}

/**
 * The largest |x| that `encode(…, { stations })` accepts: about 2^(127 − FRACTION_BITS) / stations.
 * Anything larger could make the sum over all stations wrap the ring, which would decode as a
 * silently wrong number.
 */
export function maxMagnitude(stations: number): number {
  checkStations(stations);
  return encodedLimit(stations) * INV_SCALE;
}

/**
 * x ↦ round(x · 2^FRACTION_BITS) mod 2^128, two's complement. Refuses NaN, ±Infinity and any
 * |x| > maxMagnitude(stations), naming the element.
 */
export function encode(values: Float64Array, options: { stations: number }): Uint32Array {
  checkStations(options.stations);
  const limit = encodedLimit(options.stations);
  const out = new Uint32Array(values.length * LIMBS_PER_ELEMENT);
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (Number.isNaN(x)) throw new BadInput(`element ${i} is NaN; secure aggregation needs finite numbers`);
    if (!Number.isFinite(x)) throw new Overflow(`element ${i} is ${x}; secure aggregation needs finite numbers`);
    // Scaling by a power of two is exact; rounding |x| keeps the encoding symmetric around 0.
    const q = Math.round(Math.abs(x) * SCALE);
    if (q > limit) {
      throw new Overflow(
        `element ${i} is ${x}; with ${options.stations} stations each value must satisfy ` +
          `|x| ≤ ${maxMagnitude(options.stations)} or the sum could wrap the 2^${RING_BITS} ring`,
      );
    }
    const k = i * LIMBS_PER_ELEMENT;
    if (q < TWO_32) {
      out[k] = q;
    } else {
      // q is an integer-valued double below 2^127: `>>> 0` and the divisions are exact.
      let rest = q;
      for (let limb = 0; limb < LIMBS_PER_ELEMENT; limb++) {
        const low = rest >>> 0;
        out[k + limb] = low;
        rest = (rest - low) / TWO_32;
      }
    }
    if (x < 0 && q !== 0) negateElement(out, k);
  }
  return out;
}

/** Reads each element as a signed two's-complement integer and scales it back by 2^-FRACTION_BITS. */
export function decode(sum: Uint32Array): Float64Array {
  checkRingVector(sum, "sum");
  const out = new Float64Array(sum.length / LIMBS_PER_ELEMENT);
  const scratch = new Uint32Array(LIMBS_PER_ELEMENT);
  for (let i = 0; i < out.length; i++) {
    const k = i * LIMBS_PER_ELEMENT;
    const negative = (sum[k + 3] & 0x80000000) !== 0;
    let l0 = sum[k], l1 = sum[k + 1], l2 = sum[k + 2], l3 = sum[k + 3];
    if (negative) {
      scratch[0] = l0; scratch[1] = l1; scratch[2] = l2; scratch[3] = l3;
      negateElement(scratch, 0);
      l0 = scratch[0]; l1 = scratch[1]; l2 = scratch[2]; l3 = scratch[3];
    }
    // Integer part first, fraction last: counts (l0 = 0, small l1) come out exact.
    const magnitude = (l3 * TWO_32 + l2) * TWO_32 + l1 + l0 * INV_SCALE;
    out[i] = negative ? -magnitude : magnitude;
  }
  return out;
}

function negateElement(v: Uint32Array, k: number): void {
  let carry = 1;
  for (let limb = 0; limb < LIMBS_PER_ELEMENT; limb++) {
    const s = (~v[k + limb] >>> 0) + carry;
    v[k + limb] = s;
    carry = s > 0xffffffff ? 1 : 0;
  }
}

/** target += addend in Z_{2^128}, element-wise, in place. */
export function ringAdd(target: Uint32Array, addend: Uint32Array): void {
  checkSameLength(target, addend);
  for (let k = 0; k < target.length; k += LIMBS_PER_ELEMENT) {
    let s = target[k] + addend[k];
    target[k] = s;
    s = target[k + 1] + addend[k + 1] + (s > 0xffffffff ? 1 : 0);
    target[k + 1] = s;
    s = target[k + 2] + addend[k + 2] + (s > 0xffffffff ? 1 : 0);
    target[k + 2] = s;
    target[k + 3] = target[k + 3] + addend[k + 3] + (s > 0xffffffff ? 1 : 0);
  }
}

/**
 * target += Σ sign·vector in Z_{2^128}, in place, in one pass: each limb position is summed as a
 * plain double (|Σ| < (m + 1)·2^32, exact while m < 2^20 vectors), then carries are propagated
 * once per element. Masking adds n − 1 pairwise masks to every input; one pass instead of n − 1
 * halves the time of the masking round.
 */
export function ringAccumulate(target: Uint32Array, terms: ReadonlyArray<{ vector: Uint32Array; sign: 1 | -1 }>): void {
  checkRingVector(target, "ring vector");
  if (terms.length >= 1 << 20) throw new BadInput(`ringAccumulate takes fewer than 2^20 vectors, got ${terms.length}`);
  for (const t of terms) checkSameLength(target, t.vector);
  const plus = terms.filter((t) => t.sign > 0).map((t) => t.vector);
  const minus = terms.filter((t) => t.sign < 0).map((t) => t.vector);
  for (let k = 0; k < target.length; k += LIMBS_PER_ELEMENT) {
    let s0 = target[k];
    let s1 = target[k + 1];
    let s2 = target[k + 2];
    let s3 = target[k + 3];
    for (let j = 0; j < plus.length; j++) {
      const v = plus[j];
      s0 += v[k];
      s1 += v[k + 1];
      s2 += v[k + 2];
      s3 += v[k + 3];
    }
    for (let j = 0; j < minus.length; j++) {
      const v = minus[j];
      s0 -= v[k];
      s1 -= v[k + 1];
      s2 -= v[k + 2];
      s3 -= v[k + 3];
    }
    // A Uint32Array store reduces mod 2^32 (ToUint32), negative values included; the floor is
    // the signed carry into the next limb.
    target[k] = s0;
    s1 += Math.floor(s0 / TWO_32);
    target[k + 1] = s1;
    s2 += Math.floor(s1 / TWO_32);
    target[k + 2] = s2;
    target[k + 3] = s3 + Math.floor(s2 / TWO_32);
  }
}

/** target −= subtrahend in Z_{2^128}, element-wise, in place. */
export function ringSub(target: Uint32Array, subtrahend: Uint32Array): void {
  checkSameLength(target, subtrahend);
  for (let k = 0; k < target.length; k += LIMBS_PER_ELEMENT) {
    let d = target[k] - subtrahend[k];
    target[k] = d;
    d = target[k + 1] - subtrahend[k + 1] - (d < 0 ? 1 : 0);
    target[k + 1] = d;
    d = target[k + 2] - subtrahend[k + 2] - (d < 0 ? 1 : 0);
    target[k + 2] = d;
    target[k + 3] = target[k + 3] - subtrahend[k + 3] - (d < 0 ? 1 : 0);
  }
}

function checkSameLength(a: Uint32Array, b: Uint32Array): void {
  if (a.length !== b.length) throw new BadInput(`ring vectors differ in length: ${a.length} vs ${b.length} limbs`);
  checkRingVector(a, "ring vector");
}

function checkRingVector(v: Uint32Array, what: string): void {
  if (v.length % LIMBS_PER_ELEMENT !== 0) {
    throw new BadInput(`${what} has ${v.length} limbs, not a multiple of ${LIMBS_PER_ELEMENT}`);
  }
}

/** Number of ring elements in a limb vector. */
export function elementCount(v: Uint32Array): number {
  checkRingVector(v, "ring vector");
  return v.length / LIMBS_PER_ELEMENT;
}

/** The wire form of a ring vector: its limbs as little-endian bytes (a copy, safe to send). */
export function ringToBytes(v: Uint32Array): Uint8Array {
  assertLittleEndianHost();
  return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
}

/**
 * Parses the wire form. Copies, because a transport's buffer may be unaligned for a Uint32Array
 * and must not be mutated by in-place ring arithmetic.
 */
export function ringFromBytes(bytes: Uint8Array, elements: number): Uint32Array {
  assertLittleEndianHost();
  if (bytes.length !== elements * BYTES_PER_ELEMENT) {
    throw new BadInput(`expected ${elements} ring elements (${elements * BYTES_PER_ELEMENT} bytes), got ${bytes.length} bytes`);
  }
  const out = new Uint32Array(elements * LIMBS_PER_ELEMENT);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

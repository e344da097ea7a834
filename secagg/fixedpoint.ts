/**
 * Fixed-point encoding of real vectors into Z_{2^RING_BITS}, and the ring arithmetic on them.
 *
 * An element is LIMBS_PER_ELEMENT little-endian uint32 limbs in a Uint32Array (params.ts).
 * Arithmetic runs on plain JavaScript numbers with explicit carries: a limb sum is below 2^33,
 * exact in a double, and a Uint32Array store reduces it mod 2^32 — no BigInt per element.
 *
 * Encoding is exact for every double whose lowest set bit is at least 2^-FRACTION_BITS: the
 * limbs are the double's 53-bit significand shifted by its exponent, read from its bits, so a
 * sum over stations is the exact sum of what they sent and decode rounds once.
 */
import { BadInput, Overflow, WerkplaatsError } from "../common/errors.js";
import { BYTES_PER_ELEMENT, EXACT_MIN_MAGNITUDE, FRACTION_BITS, LIMBS_PER_ELEMENT, MAX_STATIONS, RING_BITS } from "./params.js";

const TWO_32 = 4294967296;
const TWO_21 = 2097152;
const SCALE = 2 ** FRACTION_BITS;
const INV_SCALE = 2 ** -FRACTION_BITS;
const LIMBS = LIMBS_PER_ELEMENT;
const TOP = LIMBS - 1;
/** Significand of a double (53 bits) with its top limb's place: q = m · 2^(exponent − 1075 + FRACTION_BITS). */
const EXPONENT_BIAS = 1075 - FRACTION_BITS;

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
 * ring, |sum| ≤ 2^(RING_BITS−1) − 1, and decodes without wrapping: the largest double
 * ≤ ⌊(2^(RING_BITS−1)−1)/n⌋. Because it is itself a double, `q > limit` is an exact test for
 * every double q.
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
 * The largest |x| that `encode(…, { stations })` accepts: about 2^(RING_BITS − 1 − FRACTION_BITS) / stations.
 * Anything larger could make the sum over all stations wrap the ring, which would decode as a
 * silently wrong number.
 */
export function maxMagnitude(stations: number): number {
  checkStations(stations);
  return encodedLimit(stations) * INV_SCALE;
}

/**
 * Indices of the elements that `encode` cannot hold exactly: non-zero values with bits below
 * 2^-FRACTION_BITS (|x| < 2^-76 or so). Their sums would be rounded; a caller reports them by
 * name rather than return a result that quietly lost digits.
 */
export function inexactElements(values: Float64Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a !== 0 && a < EXACT_MIN_MAGNITUDE && Math.round(a * SCALE) !== a * SCALE) out.push(i);
  }
  return out;
}

/**
 * x ↦ round(x · 2^FRACTION_BITS) mod 2^RING_BITS, two's complement (exact unless x has bits
 * below 2^-FRACTION_BITS, see inexactElements). Refuses NaN, ±Infinity and any
 * |x| > maxMagnitude(stations), naming the element.
 */
export function encode(values: Float64Array, options: { stations: number }): Uint32Array {
  checkStations(options.stations);
  const limit = encodedLimit(options.stations);
  const out = new Uint32Array(values.length * LIMBS);
  // The doubles' bit patterns, without a copy (a Float64Array is 8-byte aligned): word 2i is the
  // low half of element i on a little-endian host, word 2i + 1 its sign, exponent and top bits.
  assertLittleEndianHost();
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (Number.isNaN(x)) throw new BadInput(`element ${i} is NaN; secure aggregation needs finite numbers`);
    if (!Number.isFinite(x)) throw new Overflow(`element ${i} is ${x}; secure aggregation needs finite numbers`);
    if (x === 0) continue;
    // Scaling by a power of two is exact, so this compares the exact encoded magnitude.
    if (Math.abs(x) * SCALE > limit) {
      throw new Overflow(
        `element ${i} is ${x}; with ${options.stations} stations each value must satisfy ` +
          `|x| ≤ ${maxMagnitude(options.stations)} or the sum could wrap the 2^${RING_BITS} ring`,
      );
    }
    const k = i * LIMBS;
    const hi = bits[2 * i + 1];
    const lo = bits[2 * i];
    const exponent = (hi >>> 20) & 0x7ff;
    // q = m · 2^shift with m the 53-bit significand (subnormals: no hidden bit, exponent 1)
    const shift = (exponent === 0 ? 1 : exponent) - EXPONENT_BIAS;
    if (shift < 0) {
      // Bits below 2^-FRACTION_BITS: round |x| · 2^FRACTION_BITS (below 2^53, so exact) half away from 0.
      const q = Math.round(Math.abs(x) * SCALE);
      out[k] = q;
      out[k + 1] = (q - (q >>> 0)) / TWO_32;
    } else {
      const mHi = (hi & 0xfffff) | (exponent === 0 ? 0 : 0x100000);
      const limb = shift >>> 5;
      const b = shift & 31;
      // m · 2^b spans at most 84 bits: three limbs from `limb` up; the range check keeps them in the element.
      if (b === 0) {
        out[k + limb] = lo;
        out[k + limb + 1] = mHi;
      } else {
        out[k + limb] = lo << b;
        out[k + limb + 1] = (lo >>> (32 - b)) | (mHi << b);
        if (limb + 2 < LIMBS) out[k + limb + 2] = mHi >>> (32 - b);
      }
    }
    if (x < 0) negateElement(out, k);
  }
  return out;
}

/**
 * Reads each element as a signed two's-complement integer and scales it back by
 * 2^-FRACTION_BITS, correctly rounded (to nearest, ties to even): an exact sum loses nothing
 * but this one rounding, and integers below 2^53 come out exact.
 */
export function decode(sum: Uint32Array): Float64Array {
  checkRingVector(sum, "sum");
  const out = new Float64Array(sum.length / LIMBS);
  const e = new Uint32Array(LIMBS);
  for (let i = 0; i < out.length; i++) {
    const k = i * LIMBS;
    for (let l = 0; l < LIMBS; l++) e[l] = sum[k + l];
    const negative = (e[TOP] & 0x80000000) !== 0;
    if (negative) negateElement(e, 0);
    let t = TOP;
    while (t >= 0 && e[t] === 0) t--;
    if (t < 0) continue;
    // Normalise the top three limbs so that the highest set bit is bit 31 of `a`; then the
    // significand is a's 32 bits and b's top 21, the rounding bit b's bit 10, the rest sticky.
    const z = Math.clz32(e[t]);
    const l1 = t >= 1 ? e[t - 1] : 0;
    const l2 = t >= 2 ? e[t - 2] : 0;
    let a = e[t], b = l1, c = l2;
    if (z > 0) {
      a = ((e[t] << z) | (l1 >>> (32 - z))) >>> 0;
      b = ((l1 << z) | (l2 >>> (32 - z))) >>> 0;
      c = (l2 << z) >>> 0;
    }
    let sticky = (b & 0x3ff) !== 0 || c !== 0;
    for (let l = t - 3; l >= 0 && !sticky; l--) sticky = e[l] !== 0;
    let m = a * TWO_21 + (b >>> 11);
    if ((b & 0x400) !== 0 && (sticky || m % 2 === 1)) m += 1;
    // the highest set bit is bit 32t + 31 − z of the integer; m holds it and the 52 below
    const magnitude = m * 2 ** (32 * t + 31 - z - 52 - FRACTION_BITS);
    out[i] = negative ? -magnitude : magnitude;
  }
  return out;
}

function negateElement(v: Uint32Array, k: number): void {
  let carry = 1;
  for (let limb = 0; limb < LIMBS; limb++) {
    const s = (~v[k + limb] >>> 0) + carry;
    v[k + limb] = s;
    carry = s > 0xffffffff ? 1 : 0;
  }
}

/** target += addend in Z_{2^RING_BITS}, element-wise, in place. */
export function ringAdd(target: Uint32Array, addend: Uint32Array): void {
  checkSameLength(target, addend);
  for (let k = 0; k < target.length; k += LIMBS) {
    let carry = 0;
    for (let l = k; l < k + LIMBS; l++) {
      const s = target[l] + addend[l] + carry;
      target[l] = s;
      carry = s > 0xffffffff ? 1 : 0;
    }
  }
}

/**
 * target += Σ sign·vector in Z_{2^RING_BITS}, in place, in one pass: each limb position is
 * summed as a plain double (|Σ| < (m + 1)·2^32, exact while m < 2^20 vectors), then the signed
 * carry goes into the next limb. Masking adds n − 1 pairwise masks to every input; one pass
 * instead of n − 1 halves the time of the masking round.
 */
export function ringAccumulate(target: Uint32Array, terms: ReadonlyArray<{ vector: Uint32Array; sign: 1 | -1 }>): void {
  checkRingVector(target, "ring vector");
  if (terms.length >= 1 << 20) throw new BadInput(`ringAccumulate takes fewer than 2^20 vectors, got ${terms.length}`);
  for (const t of terms) checkSameLength(target, t.vector);
  const plus = terms.filter((t) => t.sign > 0).map((t) => t.vector);
  const minus = terms.filter((t) => t.sign < 0).map((t) => t.vector);
  for (let k = 0; k < target.length; k += LIMBS) {
    let carry = 0;
    for (let l = k; l < k + LIMBS; l++) {
      let s = target[l] + carry;
      for (let j = 0; j < plus.length; j++) s += plus[j][l];
      for (let j = 0; j < minus.length; j++) s -= minus[j][l];
      // A Uint32Array store reduces mod 2^32 (ToUint32), negative values included; the floor is
      // the signed carry into the next limb.
      target[l] = s;
      carry = Math.floor(s / TWO_32);
    }
  }
}

/** target −= subtrahend in Z_{2^RING_BITS}, element-wise, in place. */
export function ringSub(target: Uint32Array, subtrahend: Uint32Array): void {
  checkSameLength(target, subtrahend);
  for (let k = 0; k < target.length; k += LIMBS) {
    let borrow = 0;
    for (let l = k; l < k + LIMBS; l++) {
      const d = target[l] - subtrahend[l] - borrow;
      target[l] = d;
      borrow = d < 0 ? 1 : 0;
    }
  }
}

function checkSameLength(a: Uint32Array, b: Uint32Array): void {
  if (a.length !== b.length) throw new BadInput(`ring vectors differ in length: ${a.length} vs ${b.length} limbs`);
  checkRingVector(a, "ring vector");
}

function checkRingVector(v: Uint32Array, what: string): void {
  if (v.length % LIMBS !== 0) {
    throw new BadInput(`${what} has ${v.length} limbs, not a multiple of ${LIMBS}`);
  }
}

/** Number of ring elements in a limb vector. */
export function elementCount(v: Uint32Array): number {
  checkRingVector(v, "ring vector");
  return v.length / LIMBS;
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
  const out = new Uint32Array(elements * LIMBS);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

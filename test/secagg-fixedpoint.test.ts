import { describe, expect, it } from "vitest";
import { BadInput, Overflow } from "../common/errors.js";
import {
  decode,
  elementCount,
  encode,
  inexactElements,
  maxMagnitude,
  ringAdd,
  ringFromBytes,
  ringSub,
  ringToBytes,
} from "../secagg/fixedpoint.js";
import { BYTES_PER_ELEMENT, FRACTION_BITS, LIMBS_PER_ELEMENT, RING_BITS } from "../secagg/params.js";
import { seededRandom as prng } from "./helpers/random.js";


function sumEncoded(vectors: Float64Array[], stations = vectors.length): Float64Array {
  const total = encode(vectors[0], { stations });
  for (const v of vectors.slice(1)) ringAdd(total, encode(v, { stations }));
  return decode(total);
}

const L = LIMBS_PER_ELEMENT;
const RING = 1n << BigInt(RING_BITS);

/** BigInt reference for one ring element (L little-endian limbs), unsigned. */
function toBig(v: Uint32Array, i: number): bigint {
  let x = 0n;
  for (let limb = L - 1; limb >= 0; limb--) x = (x << 32n) | BigInt(v[L * i + limb]);
  return x;
}

/** The signed value of a ring element. */
function toSigned(v: Uint32Array, i: number): bigint {
  const u = toBig(v, i);
  return u >= RING / 2n ? u - RING : u;
}

/** x · 2^FRACTION_BITS as a BigInt: exact, or rounded half away from zero below 2^-FRACTION_BITS. */
function scaledExact(x: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const word = view.getBigUint64(0);
  const exponent = Number((word >> 52n) & 0x7ffn);
  const mantissa = (word & ((1n << 52n) - 1n)) | (exponent === 0 ? 0n : 1n << 52n);
  const shift = (exponent === 0 ? 1 : exponent) - 1075 + FRACTION_BITS;
  const magnitude =
    shift >= 0 ? mantissa << BigInt(shift) : (mantissa + (1n << BigInt(-shift - 1))) >> BigInt(-shift);
  return x < 0 ? -magnitude : magnitude;
}

/** The double nearest to q · 2^-FRACTION_BITS (ties to even), computed with BigInt only. */
function nearestDouble(q: bigint): number {
  if (q === 0n) return 0;
  const negative = q < 0n;
  let a = negative ? -q : q;
  const bits = a.toString(2).length;
  let exponent = -FRACTION_BITS;
  if (bits > 53) {
    const drop = BigInt(bits - 53);
    const rest = a & ((1n << drop) - 1n);
    const half = 1n << (drop - 1n);
    a >>= drop;
    exponent += Number(drop);
    if (rest > half || (rest === half && (a & 1n) === 1n)) a += 1n;
  }
  const magnitude = Number(a) * 2 ** exponent;
  return negative ? -magnitude : magnitude;
}

function nextUp(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + 1n);
  return view.getFloat64(0);
}

describe(`fixed-point encoding in Z_2^${RING_BITS}`, () => {
  it("sums integer counts exactly", () => {
    const rand = prng(1);
    const stations = Array.from({ length: 7 }, () => Float64Array.from({ length: 50 }, () => Math.floor(rand() * 1e9)));
    const expected = stations[0].map((_, i) => stations.reduce((s, v) => s + v[i], 0));
    expect(Array.from(sumEncoded(stations))).toEqual(Array.from(expected));
  });

  it("keeps integers up to 2^53 exact", () => {
    const big = Float64Array.from([2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 40, 0, 1, -1]);
    expect(Array.from(decode(encode(big, { stations: 3 })))).toEqual(Array.from(big));
  });

  it("round-trips every double from 1e-22 to 1e36 exactly", () => {
    const rand = prng(2);
    const values = Float64Array.from({ length: 4000 }, () => (rand() < 0.5 ? -1 : 1) * (1 + rand()) * 10 ** (rand() * 58 - 22));
    const encoded = encode(values, { stations: 5 });
    expect(inexactElements(values)).toEqual([]);
    values.forEach((x, i) => expect(toSigned(encoded, i)).toBe(scaledExact(x)));
    expect(Array.from(decode(encoded))).toEqual(Array.from(values));
  });

  it("encodes the limbs of the double's significand at every bit offset, subnormals included", () => {
    const values: number[] = [];
    for (let e = -76; e <= 120; e++) values.push(2 ** e, -(2 ** e), (2 ** 53 - 1) * 2 ** (e - 52), 1.5 * 2 ** e);
    const v = Float64Array.from(values);
    const encoded = encode(v, { stations: 3 });
    values.forEach((x, i) => expect(toSigned(encoded, i)).toBe(scaledExact(x)));
    // below 2^-76 the low bits fall under 2^-FRACTION_BITS: rounded half away from zero, and reported
    const tiny = Float64Array.from([3 * 2 ** -130, -3 * 2 ** -130, 2 ** -200, Number.MIN_VALUE, 2 ** -128, 2 ** -76]);
    const t = encode(tiny, { stations: 3 });
    expect([0, 1, 2, 3, 4, 5].map((i) => toSigned(t, i))).toEqual([1n, -1n, 0n, 0n, 1n, 1n << 52n]);
    expect(inexactElements(tiny)).toEqual([0, 1, 2, 3]);
  });

  it("sums data scaled from 1e-12 to 1e12, and their squares, exactly, and decodes with one rounding", () => {
    const rand = prng(11);
    for (const scale of [1e-12, 1e-8, 1e-4, 1, 1e4, 1e8, 1e12]) {
      for (const offset of [0, 1e6, 1e12]) {
        const stations = 7;
        const parts = Array.from({ length: stations }, () =>
          Float64Array.from({ length: 20 }, (_, j) => {
            const x = offset + scale * (rand() - 0.5) * 100;
            return j % 2 === 0 ? x : x * x;
          }),
        );
        const total = encode(parts[0], { stations });
        for (const p of parts.slice(1)) ringAdd(total, encode(p, { stations }));
        const back = decode(total);
        // only values under 2^-76 (tiny squares near zero) are reported as rounded
        for (const p of parts) for (const i of inexactElements(p)) expect(Math.abs(p[i])).toBeLessThan(2 ** -76);
        for (let j = 0; j < 20; j++) {
          const exact = parts.reduce((s, p) => s + scaledExact(p[j]), 0n);
          expect(toSigned(total, j)).toBe(exact);
          expect(back[j]).toBe(nearestDouble(exact));
        }
      }
    }
  });

  it("decodes correctly rounded (ties to even) at every limb", () => {
    const rand = prng(12);
    const limb = () => (rand() < 0.2 ? 0xffffffff : rand() < 0.2 ? 0 : Math.floor(rand() * 2 ** 32));
    const d = 3000;
    const v = new Uint32Array(d * L);
    for (let i = 0; i < d; i++) {
      const top = Math.floor(rand() * L);
      for (let l = 0; l <= top; l++) v[i * L + l] = limb();
      // ties: exactly half an ulp below the kept bits
      if (i % 5 === 0) for (let l = 0; l < top - 1; l++) v[i * L + l] = 0;
    }
    const back = decode(v);
    for (let i = 0; i < d; i++) expect(back[i]).toBe(nearestDouble(toSigned(v, i)));
  });

  it("sums signed values, including sums that change sign", () => {
    const a = Float64Array.from([-5.25, 3, -1e6, 0.5]);
    const b = Float64Array.from([2.25, -7, 1e6, -0.75]);
    const c = Float64Array.from([1, 1, 0.125, 0]);
    expect(Array.from(sumEncoded([a, b, c]))).toEqual([-2, -3, 0.125, -0.25]);
  });

  it("treats -0 as 0 and is symmetric around zero", () => {
    const r = 2 ** -FRACTION_BITS;
    const back = decode(encode(Float64Array.from([-0, 2.5 * r, -2.5 * r]), { stations: 3 }));
    expect(Array.from(back)).toEqual([0, 3 * r, -3 * r]);
  });

  it.each([1, 3, 7, 20, 1000])("accepts ±maxMagnitude for %i stations and refuses the next double up", (stations) => {
    const max = maxMagnitude(stations);
    expect(max).toBeGreaterThan(2 ** (RING_BITS - 1 - FRACTION_BITS) / stations * (1 - 2 ** -40));
    expect(max).toBeLessThanOrEqual(2 ** (RING_BITS - 1 - FRACTION_BITS) / stations);
    expect(() => encode(Float64Array.from([max, -max]), { stations })).not.toThrow();
    expect(() => encode(Float64Array.from([0, nextUp(max)]), { stations })).toThrow(Overflow);
    expect(() => encode(Float64Array.from([0, 0, -nextUp(max)]), { stations })).toThrow(/element 2/);
  });

  it("does not wrap when every station sends the largest allowed value", () => {
    for (const stations of [3, 5, 16]) {
      const max = maxMagnitude(stations);
      const all = Array.from({ length: stations }, () => Float64Array.from([max, -max]));
      const [plus, minus] = sumEncoded(all, stations);
      expect(plus / (max * stations)).toBeCloseTo(1, 12);
      expect(minus / (-max * stations)).toBeCloseTo(1, 12);
    }
  });

  it("refuses NaN and infinities, naming the element", () => {
    expect(() => encode(Float64Array.from([1, 2, NaN]), { stations: 3 })).toThrow(BadInput);
    expect(() => encode(Float64Array.from([1, 2, NaN]), { stations: 3 })).toThrow(/element 2 is NaN/);
    expect(() => encode(Float64Array.from([Infinity]), { stations: 3 })).toThrow(Overflow);
    expect(() => encode(Float64Array.from([0, -Infinity]), { stations: 3 })).toThrow(/element 1 is -Infinity/);
  });

  it("refuses a nonsensical station count", () => {
    expect(() => encode(new Float64Array(1), { stations: 0 })).toThrow(BadInput);
    expect(() => encode(new Float64Array(1), { stations: 2.5 })).toThrow(BadInput);
  });

  it("adds and subtracts in the ring with carries across every limb, like BigInt mod 2^RING_BITS", () => {
    const rand = prng(3);
    const d = 500;
    const limb = () => (rand() < 0.3 ? 0xffffffff : rand() < 0.3 ? 0 : Math.floor(rand() * 2 ** 32));
    const a = Uint32Array.from({ length: L * d }, limb);
    const b = Uint32Array.from({ length: L * d }, limb);
    const sum = a.slice();
    ringAdd(sum, b);
    const difference = a.slice();
    ringSub(difference, b);
    const m = RING - 1n;
    for (let i = 0; i < d; i++) {
      expect(toBig(sum, i)).toBe((toBig(a, i) + toBig(b, i)) & m);
      expect(toBig(difference, i)).toBe((toBig(a, i) - toBig(b, i)) & m);
    }
    ringSub(sum, b);
    expect(Array.from(sum)).toEqual(Array.from(a));
  });

  it("refuses to add vectors of different lengths", () => {
    expect(() => ringAdd(new Uint32Array(2 * L), new Uint32Array(L))).toThrow(BadInput);
    expect(() => elementCount(new Uint32Array(L + 1))).toThrow(BadInput);
  });

  it("round-trips the little-endian wire form and refuses a wrong length", () => {
    const v = encode(Float64Array.from([1.5, -2, 3e9]), { stations: 3 });
    const bytes = ringToBytes(v);
    expect(bytes.length).toBe(3 * BYTES_PER_ELEMENT);
    // 1.5 · 2^FRACTION_BITS: the integer part's lowest bit is byte FRACTION_BITS / 8
    expect(bytes[FRACTION_BITS / 8]).toBe(1);
    expect(bytes[FRACTION_BITS / 8 - 1]).toBe(0x80);
    expect(Array.from(ringFromBytes(bytes, 3))).toEqual(Array.from(v));
    const unaligned = new Uint8Array(3 * BYTES_PER_ELEMENT + 1).subarray(1);
    unaligned.set(bytes);
    expect(Array.from(ringFromBytes(unaligned, 3))).toEqual(Array.from(v));
    expect(() => ringFromBytes(bytes, 4)).toThrow(BadInput);
  });

  it("handles vectors of 10^6 elements", () => {
    const values = Float64Array.from({ length: 1_000_000 }, (_, i) => i * 0.001 - 300);
    const encoded = encode(values, { stations: 10 });
    ringAdd(encoded, encoded);
    const back = decode(encoded);
    expect(back[123456]).toBe(2 * (123456 * 0.001 - 300));
    expect(back[999_999]).toBe(2 * (999_999 * 0.001 - 300));
  });
});

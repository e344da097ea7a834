import { describe, expect, it } from "vitest";
import { BadInput, Overflow } from "../common/errors.js";
import {
  decode,
  encode,
  maxMagnitude,
  ringAdd,
  ringFromBytes,
  ringSub,
  ringToBytes,
} from "../secagg/fixedpoint.js";
import { FRACTION_BITS } from "../secagg/params.js";
import { seededRandom as prng } from "./helpers/random.js";


function sumEncoded(vectors: Float64Array[], stations = vectors.length): Float64Array {
  const total = encode(vectors[0], { stations });
  for (const v of vectors.slice(1)) ringAdd(total, encode(v, { stations }));
  return decode(total);
}

/** BigInt reference for one ring element (4 little-endian limbs). */
function toBig(v: Uint32Array, i: number): bigint {
  let x = 0n;
  for (let limb = 3; limb >= 0; limb--) x = (x << 32n) | BigInt(v[4 * i + limb]);
  return x;
}

function nextUp(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + 1n);
  return view.getFloat64(0);
}

describe("fixed-point encoding in Z_2^128", () => {
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

  it("round-trips reals within 2^-32", () => {
    const rand = prng(2);
    const values = Float64Array.from({ length: 2000 }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 12 - 4));
    const back = decode(encode(values, { stations: 5 }));
    values.forEach((x, i) => expect(Math.abs(back[i] - x)).toBeLessThanOrEqual(2 ** -FRACTION_BITS + Math.abs(x) * 2 ** -52));
  });

  it("sums signed values, including sums that change sign", () => {
    const a = Float64Array.from([-5.25, 3, -1e6, 0.5]);
    const b = Float64Array.from([2.25, -7, 1e6, -0.75]);
    const c = Float64Array.from([1, 1, 0.125, 0]);
    expect(Array.from(sumEncoded([a, b, c]))).toEqual([-2, -3, 0.125, -0.25]);
  });

  it("treats -0 as 0 and is symmetric around zero", () => {
    const back = decode(encode(Float64Array.from([-0, 2.5 * 2 ** -32, -2.5 * 2 ** -32]), { stations: 3 }));
    expect(Array.from(back)).toEqual([0, 3 * 2 ** -32, -3 * 2 ** -32]);
  });

  it.each([1, 3, 7, 20, 1000])("accepts ±maxMagnitude for %i stations and refuses the next double up", (stations) => {
    const max = maxMagnitude(stations);
    expect(max).toBeGreaterThan(2 ** (127 - FRACTION_BITS) / stations * (1 - 2 ** -40));
    expect(max).toBeLessThanOrEqual(2 ** (127 - FRACTION_BITS) / stations);
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

  it("adds and subtracts in the ring with carries across every limb, like BigInt mod 2^128", () => {
    const rand = prng(3);
    const d = 500;
    const limb = () => (rand() < 0.3 ? 0xffffffff : rand() < 0.3 ? 0 : Math.floor(rand() * 2 ** 32));
    const a = Uint32Array.from({ length: 4 * d }, limb);
    const b = Uint32Array.from({ length: 4 * d }, limb);
    const sum = a.slice();
    ringAdd(sum, b);
    const difference = a.slice();
    ringSub(difference, b);
    const m = (1n << 128n) - 1n;
    for (let i = 0; i < d; i++) {
      expect(toBig(sum, i)).toBe((toBig(a, i) + toBig(b, i)) & m);
      expect(toBig(difference, i)).toBe((toBig(a, i) - toBig(b, i)) & m);
    }
    ringSub(sum, b);
    expect(Array.from(sum)).toEqual(Array.from(a));
  });

  it("refuses to add vectors of different lengths", () => {
    expect(() => ringAdd(new Uint32Array(8), new Uint32Array(4))).toThrow(BadInput);
  });

  it("round-trips the little-endian wire form and refuses a wrong length", () => {
    const v = encode(Float64Array.from([1.5, -2, 3e9]), { stations: 3 });
    const bytes = ringToBytes(v);
    expect(bytes.length).toBe(48);
    expect(bytes[4]).toBe(1); // 1.5 = 0x1_8000_0000: limb 1 holds the integer part
    expect(Array.from(ringFromBytes(bytes, 3))).toEqual(Array.from(v));
    const unaligned = new Uint8Array(49).subarray(1);
    unaligned.set(bytes);
    expect(Array.from(ringFromBytes(unaligned, 3))).toEqual(Array.from(v));
    expect(() => ringFromBytes(bytes, 4)).toThrow(BadInput);
  });

  it("handles vectors of 10^6 elements", () => {
    const values = Float64Array.from({ length: 1_000_000 }, (_, i) => i * 0.001 - 300);
    const encoded = encode(values, { stations: 10 });
    ringAdd(encoded, encoded);
    const back = decode(encoded);
    expect(back[123456]).toBeCloseTo(2 * (123456 * 0.001 - 300), 8);
    expect(back[999_999]).toBeCloseTo(2 * (999_999 * 0.001 - 300), 8);
  });
});

import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BadInput, ProtocolViolation } from "../common/errors.js";
import { SHARE_FIELD_PRIME } from "../secagg/params.js";
import { combine, interpolateAtZero, split, type Share } from "../secagg/shamir.js";
import { seededRandom as prng } from "./helpers/random.js";


function secretOf(value: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--, value >>= 8n) out[i] = Number(value & 0xffn);
  return out;
}

function yOf(share: Share): bigint {
  return share.y.reduce((v, b) => (v << 8n) | BigInt(b), 0n);
}

function fixedCoefficients(...values: bigint[]): () => bigint {
  let i = 0;
  return () => values[i++];
}

function subsets<T>(items: T[], size: number): T[][] {
  if (size === 0) return [[]];
  if (items.length < size) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, size - 1).map((s) => [first, ...s]), ...subsets(rest, size)];
}

describe("Shamir secret sharing over GF(2^521 − 1)", () => {
  it("matches a known polynomial: f(x) = 42 + 5x + 7x²", () => {
    const shares = split({ secret: secretOf(42n), threshold: 3, xs: [1, 2, 3, 4, 5], randomCoefficient: fixedCoefficients(5n, 7n) });
    expect(shares.map((s) => s.x)).toEqual([1, 2, 3, 4, 5]);
    expect(shares.map(yOf)).toEqual([54n, 80n, 120n, 174n, 242n]);
    expect(shares.every((s) => s.y.length === 66)).toBe(true);
  });

  it("reduces modulo the prime: f(x) = 42 + (p − 1)x = 42 − x", () => {
    const shares = split({ secret: secretOf(42n), threshold: 2, xs: [1, 2, 50], randomCoefficient: fixedCoefficients(SHARE_FIELD_PRIME - 1n) });
    expect(shares.map(yOf)).toEqual([41n, 40n, SHARE_FIELD_PRIME - 8n]);
    expect(combine({ shares: shares.slice(1), threshold: 2 })).toEqual(secretOf(42n));
  });

  it("reconstructs from every t-subset of n shares", () => {
    const secret = new Uint8Array(randomBytes(32));
    const shares = split({ secret, threshold: 3, xs: [1, 2, 3, 4, 5, 6] });
    for (const subset of subsets(shares, 3)) expect(combine({ shares: subset, threshold: 3 })).toEqual(secret);
  });

  it("gives a different value from t − 1 shares, and combine refuses them", () => {
    const secret = new Uint8Array(randomBytes(32));
    const shares = split({ secret, threshold: 4, xs: [1, 2, 3, 4, 5] });
    for (const subset of subsets(shares, 3)) {
      expect(interpolateAtZero(subset)).not.toBe(BigInt("0x" + Buffer.from(secret).toString("hex")));
      expect(() => combine({ shares: subset, threshold: 4 })).toThrow(BadInput);
      expect(() => combine({ shares: subset, threshold: 4 })).toThrow(/need at least 4 shares/);
    }
  });

  it("refuses duplicate shares", () => {
    const shares = split({ secret: new Uint8Array(32).fill(7), threshold: 2, xs: [1, 2, 3] });
    expect(() => combine({ shares: [shares[0], shares[0]], threshold: 2 })).toThrow(/duplicate share at x=1/);
    expect(() => split({ secret: new Uint8Array(32), threshold: 2, xs: [1, 2, 2] })).toThrow(BadInput);
  });

  it("catches an extra share that is not on the polynomial", () => {
    const shares = split({ secret: new Uint8Array(32).fill(9), threshold: 2, xs: [1, 2, 3] });
    const bad = { x: 3, y: shares[2].y.slice() };
    bad.y[65] ^= 1;
    expect(() => combine({ shares: [shares[0], shares[1], bad], threshold: 2 })).toThrow(ProtocolViolation);
  });

  it("refuses shares that are not field elements, and bad parameters", () => {
    expect(() => combine({ shares: [{ x: 1, y: new Uint8Array(66).fill(0xff) }, { x: 2, y: new Uint8Array(66) }], threshold: 2 })).toThrow(ProtocolViolation);
    expect(() => split({ secret: new Uint8Array(31), threshold: 2, xs: [1, 2] })).toThrow(BadInput);
    expect(() => split({ secret: new Uint8Array(32), threshold: 1, xs: [1, 2] })).toThrow(BadInput);
    expect(() => split({ secret: new Uint8Array(32), threshold: 3, xs: [1, 2] })).toThrow(BadInput);
    expect(() => split({ secret: new Uint8Array(32), threshold: 2, xs: [0, 1] })).toThrow(BadInput);
  });

  it("property: any ≥ t of n random shares reconstruct, over many random (t, n)", () => {
    const rand = prng(11);
    for (let trial = 0; trial < 150; trial++) {
      const n = 2 + Math.floor(rand() * 19);
      const t = 2 + Math.floor(rand() * (n - 1));
      const xs = Array.from({ length: n }, (_, i) => i + 1 + (rand() < 0.3 ? 100 : 0));
      const secret = new Uint8Array(randomBytes(32));
      const shares = split({ secret, threshold: t, xs });
      const k = t + Math.floor(rand() * (n - t + 1));
      const chosen = [...shares].sort(() => rand() - 0.5).slice(0, k);
      expect(combine({ shares: chosen, threshold: t })).toEqual(secret);
      expect(interpolateAtZero(chosen.slice(0, t - 1))).not.toBe(BigInt("0x" + Buffer.from(secret).toString("hex")));
    }
  });
});

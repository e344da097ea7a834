import { describe, expect, it } from "vitest";
import { CategoricalTable, Rng, logGamma } from "../synth/random.js";

function moments(draw: () => number, n: number): { mean: number; variance: number } {
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const x = draw();
    sum += x;
    sumSq += x * x;
  }
  const mean = sum / n;
  return { mean, variance: sumSq / n - mean * mean };
}

describe("synth PRNG (xoshiro128** seeded by splitmix32)", () => {
  it("gives the same stream for the same seed parts and a different one otherwise", () => {
    const take = (rng: Rng) => Array.from({ length: 8 }, () => rng.nextUint32());
    expect(take(new Rng(7, "fall-risk", 0))).toEqual(take(new Rng(7, "fall-risk", 0)));
    expect(take(new Rng(7, "fall-risk", 0))).not.toEqual(take(new Rng(8, "fall-risk", 0)));
    expect(take(new Rng(7, "fall-risk", 0))).not.toEqual(take(new Rng(7, "fall-risk", 1)));
    expect(take(new Rng(7, "fall-risk", 0))).not.toEqual(take(new Rng(7, "neighbourhood", 0)));
    // Seeds that differ only above 32 bits are different seeds.
    expect(take(new Rng(5))).not.toEqual(take(new Rng(5 + 2 ** 32)));
  });

  it("pins its first outputs, so that a change to the generator cannot go unnoticed", () => {
    const rng = new Rng(1);
    const first = Array.from({ length: 4 }, () => rng.nextUint32());
    expect(first).toEqual([2679078417, 3549460057, 4225483978, 1569608517]);
  });

  it("draws 32-bit unsigned integers and uniforms in [0, 1)", () => {
    const rng = new Rng(3);
    for (let i = 0; i < 10_000; i++) {
      const x = rng.nextUint32();
      expect(Number.isInteger(x) && x >= 0 && x < 2 ** 32).toBe(true);
      const u = rng.uniform();
      expect(u >= 0 && u < 1).toBe(true);
    }
    const { mean, variance } = moments(() => rng.uniform(), 200_000);
    expect(mean).toBeCloseTo(0.5, 2);
    expect(variance).toBeCloseTo(1 / 12, 2);
  });

  it("draws integers uniformly over an inclusive range", () => {
    const rng = new Rng(4);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[rng.int(12, 17) - 12]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(5 * Math.sqrt(10_000 * (5 / 6)));
  });

  it("draws standard normals with mean 0 and variance 1", () => {
    const rng = new Rng(5);
    const { mean, variance } = moments(() => rng.normal(), 200_000);
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
    const shifted = moments(() => rng.normal(80, 7), 100_000);
    expect(Math.abs(shifted.mean - 80)).toBeLessThan(0.1);
    expect(Math.abs(Math.sqrt(shifted.variance) - 7)).toBeLessThan(0.1);
  });

  it.each([0.3, 3, 9.99, 10, 25, 140])("draws Poisson(%s) with mean and variance lambda", (lambda) => {
    const rng = new Rng(6, String(lambda));
    const n = 100_000;
    const { mean, variance } = moments(() => rng.poisson(lambda), n);
    expect(Math.abs(mean - lambda)).toBeLessThan(5 * Math.sqrt(lambda / n));
    expect(Math.abs(variance / lambda - 1)).toBeLessThan(0.03);
  });

  it("matches the Poisson probabilities on both sides of the algorithm switch", () => {
    for (const lambda of [4, 14]) {
      const rng = new Rng(11, lambda);
      const n = 200_000;
      const counts = new Map<number, number>();
      for (let i = 0; i < n; i++) {
        const k = rng.poisson(lambda);
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      for (let k = Math.max(0, Math.floor(lambda) - 3); k <= lambda + 3; k++) {
        const p = Math.exp(-lambda + k * Math.log(lambda) - logGamma(k + 1));
        expect(Math.abs((counts.get(k) ?? 0) - n * p)).toBeLessThan(5 * Math.sqrt(n * p * (1 - p)));
      }
    }
  });

  it("computes log-gamma accurately", () => {
    expect(logGamma(1)).toBe(0);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(11)).toBeCloseTo(Math.log(3628800), 12);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    expect(logGamma(101)).toBeCloseTo(363.73937555556347, 9);
  });

  it("draws Bernoulli and categorical outcomes with the given probabilities", () => {
    const rng = new Rng(8);
    const n = 100_000;
    let hits = 0;
    for (let i = 0; i < n; i++) if (rng.bernoulli(0.3)) hits++;
    expect(Math.abs(hits - 0.3 * n)).toBeLessThan(5 * Math.sqrt(n * 0.21));

    const weights = [2, 0, 5, 3];
    const table = new CategoricalTable(weights);
    const viaTable = new Array(4).fill(0);
    const viaRng = new Array(4).fill(0);
    for (let i = 0; i < n; i++) {
      viaTable[table.draw(rng)]++;
      viaRng[rng.categorical(weights)]++;
    }
    for (const counts of [viaTable, viaRng]) {
      expect(counts[1]).toBe(0);
      weights.forEach((w, i) => {
        const p = w / 10;
        expect(Math.abs(counts[i] - n * p)).toBeLessThanOrEqual(5 * Math.sqrt(n * p * (1 - p)));
      });
    }
  });

  it("rejects bad parameters", () => {
    expect(() => new Rng(-1)).toThrow(RangeError);
    expect(() => new Rng(1.5)).toThrow(RangeError);
    expect(() => new Rng(1).poisson(-1)).toThrow(RangeError);
    expect(() => new Rng(1).poisson(Number.NaN)).toThrow(RangeError);
    expect(() => new CategoricalTable([0, 0])).toThrow(RangeError);
  });
});

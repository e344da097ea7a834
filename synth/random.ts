/**
 * A small seeded pseudo-random generator for synthetic data only: xoshiro128** (Blackman and
 * Vigna) in 32-bit integer operations, seeded through splitmix32 so that any seed, scenario
 * and station give an independent, reproducible stream. Never use it for keys, masks or
 * anything secret: secure aggregation draws from node:crypto.
 *
 * Reproducibility: same inputs give the same sequence on every platform, because the core is
 * integer arithmetic and the floating-point steps use only +, *, /, Math.log, Math.sqrt,
 * Math.cos and Math.exp, which V8 computes with its own (fdlibm-derived) code, not the C
 * library's.
 */

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The splitmix32 finaliser (murmur3 fmix32 with splitmix constants): a good 32-bit mixer. */
function mix32(x: number): number {
  let z = x | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over the UTF-16 code units; used to fold names (scenario, station) into a seed. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

/** Seed parts: non-negative safe integers or strings. */
export type SeedPart = number | string;

function seedWords(parts: readonly SeedPart[]): number[] {
  const words: number[] = [];
  for (const part of parts) {
    if (typeof part === "string") {
      words.push(hashString(part), part.length);
    } else {
      if (!Number.isSafeInteger(part) || part < 0) throw new RangeError(`seed part must be a non-negative safe integer, got ${part}`);
      words.push(part % TWO_POW_32, Math.floor(part / TWO_POW_32));
    }
  }
  return words;
}

/**
 * log Γ(x) for x > 0 by the Stirling series after shifting x above 7 (as in numpy's
 * `random_loggam`); accurate to ~1e-14, enough for the Poisson rejection test.
 */
export function logGamma(x: number): number {
  const a = [
    8.333333333333333e-2, -2.777777777777778e-3, 7.936507936507937e-4, -5.952380952380952e-4,
    8.417508417508418e-4, -1.917526917526918e-3, 6.410256410256410e-3, -2.955065359477124e-2,
    1.796443723688307e-1, -1.39243221690590,
  ];
  if (x === 1 || x === 2) return 0;
  const n = x < 7 ? Math.floor(7 - x) : 0;
  let x0 = x + n;
  const x2 = 1 / (x0 * x0);
  let gl0 = a[9];
  for (let k = 8; k >= 0; k--) gl0 = gl0 * x2 + a[k];
  let gl = gl0 / x0 + 0.5 * 1.8378770664093453 + (x0 - 0.5) * Math.log(x0) - x0;
  for (let k = 1; k <= n; k++) {
    gl -= Math.log(x0 - 1);
    x0 -= 1;
  }
  return gl;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | undefined;

  /**
   * A stream determined by all `parts` together, e.g. `new Rng(seed, "fall-risk", "station", 2)`.
   * Four hash lanes with different starting constants keep the full 128-bit state in play.
   */
  constructor(...parts: SeedPart[]) {
    const words = seedWords(parts);
    const lanes = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344];
    for (let lane = 0; lane < 4; lane++) {
      let h = lanes[lane];
      for (const w of words) h = mix32((h ^ w) + 0x9e3779b9);
      lanes[lane] = mix32(h + words.length);
    }
    [this.s0, this.s1, this.s2, this.s3] = lanes;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the one forbidden state
    this.spareNormal = undefined;
  }

  /** xoshiro128**: the next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform on [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / TWO_POW_53;
  }

  /** Uniform on (0, 1): safe to take the logarithm of. */
  uniformOpen(): number {
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    return u;
  }

  /** A uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.uniform() * (max - min + 1));
  }

  bernoulli(p: number): boolean {
    return this.uniform() < p;
  }

  /** Normal by Box–Muller; the second value of each pair is kept for the next call. */
  normal(mean = 0, sd = 1): number {
    let z: number;
    if (this.spareNormal !== undefined) {
      z = this.spareNormal;
      this.spareNormal = undefined;
    } else {
      const r = Math.sqrt(-2 * Math.log(this.uniformOpen()));
      const theta = 2 * Math.PI * this.uniform();
      z = r * Math.cos(theta);
      this.spareNormal = r * Math.sin(theta);
    }
    return mean + sd * z;
  }

  /**
   * Poisson(lambda): multiplication of uniforms (Knuth) for small means, and Hörmann's
   * transformed rejection with squeeze (PTRS, 1993) from 10 on, whose cost does not grow
   * with the mean.
   */
  poisson(lambda: number): number {
    if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new RangeError(`Poisson mean must be finite and >= 0, got ${lambda}`);
    if (lambda === 0) return 0;
    if (lambda < 10) {
      const limit = Math.exp(-lambda);
      let k = 0;
      let p = this.uniform();
      while (p > limit) {
        k++;
        p *= this.uniform();
      }
      return k;
    }
    const slam = Math.sqrt(lambda);
    const loglam = Math.log(lambda);
    const b = 0.931 + 2.53 * slam;
    const a = -0.059 + 0.02483 * b;
    const invalpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = this.uniform() - 0.5;
      const v = this.uniform();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor((2 * a / us + b) * u + lambda + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lambda + k * loglam - logGamma(k + 1)) {
        return k;
      }
    }
  }

  /** An index drawn with probability proportional to `weights` (non-negative, not all zero). */
  categorical(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let u = this.uniform() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i];
      if (u < 0) return i;
    }
    // Rounding can leave u a hair above zero: fall back to the last positive weight.
    for (let i = weights.length - 1; i >= 0; i--) if (weights[i] > 0) return i;
    throw new RangeError("categorical weights are all zero");
  }
}

/** A categorical sampler with precomputed cumulative probabilities, for hot loops. */
export class CategoricalTable {
  private readonly cumulative: Float64Array;

  constructor(weights: readonly number[]) {
    let total = 0;
    for (const w of weights) {
      if (!(w >= 0)) throw new RangeError(`categorical weights must be >= 0, got ${w}`);
      total += w;
    }
    if (!(total > 0)) throw new RangeError("categorical weights are all zero");
    this.cumulative = new Float64Array(weights.length);
    let acc = 0;
    for (let i = 0; i < weights.length; i++) {
      acc += weights[i] / total;
      this.cumulative[i] = acc;
    }
    // Rounding may leave the total a hair below 1: the last category with weight takes the rest.
    let last = weights.length - 1;
    while (weights[last] === 0) last--;
    for (let i = last; i < weights.length; i++) this.cumulative[i] = 1;
  }

  draw(rng: Rng): number {
    const u = rng.uniform();
    const c = this.cumulative;
    for (let i = 0; i < c.length; i++) if (u < c[i]) return i;
    return c.length - 1;
  }
}

export function logistic(eta: number): number {
  return 1 / (1 + Math.exp(-eta));
}

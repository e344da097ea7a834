/**
 * Confidence intervals of descriptive results: Wilson's score interval for proportions and
 * Fay & Feuer's gamma interval for directly standardised rates.
 */
import { BadInput } from "../../common/errors.js";
import { lowerGamma, normalQuantile } from "../glm/distributions.js";

export function checkLevel(level: number | undefined): number {
  const l = level ?? 0.95;
  if (!(l > 0 && l < 1)) throw new BadInput(`the confidence level must lie strictly between 0 and 1, not ${level}`);
  return l;
}

/**
 * Wilson score interval (Wilson 1927; Newcombe 1998, method 3, without continuity correction):
 * unlike the Wald interval it stays inside [0, 1] and keeps its coverage near 0 and 1, where
 * prevalences of rare conditions live. [NaN, NaN] when n is 0.
 */
export function wilsonInterval(x: number, n: number, level = 0.95): [number, number] {
  if (!(n > 0)) return [NaN, NaN];
  const z = normalQuantile(1 - (1 - level) / 2);
  const p = x / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/**
 * The p-quantile of the gamma distribution with the given shape and scale 1: bisection on the
 * regularised lower incomplete gamma P(shape, x), to relative 1e-14 — slower than Newton but
 * sure to converge for the tiny and huge shapes standardised rates produce.
 */
export function gammaQuantile(p: number, shape: number): number {
  if (!(p > 0 && p < 1) || !(shape > 0)) return p === 0 ? 0 : NaN;
  let lo = 0;
  let hi = Math.max(1, shape);
  while (lowerGamma(shape, hi) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-14 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (lowerGamma(shape, mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * Fay & Feuer (1997, Statistics in Medicine 16:791) gamma interval for a directly standardised
 * rate y = Σ w_i d_i / n_i with variance v = Σ w_i² d_i / n_i², where wMax = max_i w_i / n_i:
 *   lower = v/(2y) · χ²_{2y²/v}(α/2),
 *   upper = (v + wMax²)/(2(y + wMax)) · χ²_{2(y + wMax)²/(v + wMax²)}(1 − α/2),
 * written here with gamma quantiles (χ²_k(q)/2 is the q-quantile of Gamma(k/2)). It is
 * conservative (coverage at least nominal) even for few events, which is why public-health
 * bodies (CDC, the UK's PHE/OHID Fingertips tools) use it. With no events the lower limit is 0.
 */
export function fayFeuerInterval(options: { rate: number; variance: number; wMax: number; level?: number }): [number, number] {
  const { rate: y, variance: v, wMax } = options;
  const alpha = 1 - (options.level ?? 0.95);
  if (!Number.isFinite(y) || !Number.isFinite(v)) return [NaN, NaN];
  const lower = y > 0 && v > 0 ? (v / y) * gammaQuantile(alpha / 2, (y * y) / v) : 0;
  const yU = y + wMax;
  const vU = v + wMax * wMax;
  const upper = (vU / yU) * gammaQuantile(1 - alpha / 2, (yU * yU) / vU);
  return [lower, upper];
}

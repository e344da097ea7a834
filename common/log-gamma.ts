/**
 * log Γ, shared by the SDK's distributions (t and χ² tails), the station's Poisson
 * log-likelihood and its SQL twin, so that every side computes the same number.
 */

/** Lanczos coefficients, g = 7, n = 9 (about 1e-15 relative). */
export const LANCZOS: readonly number[] = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log(k!) for k = 0..255: counts are exact sums of logs, as R's lgamma is for small integers. */
export const LOG_FACTORIAL: Float64Array = (() => {
  const t = new Float64Array(256);
  for (let i = 2; i < t.length; i++) t[i] = t[i - 1] + Math.log(i);
  return t;
})();

const LOG_SQRT_PI = 0.5723649429247001;

/** log Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (Number.isInteger(x) && x >= 1 && x <= LOG_FACTORIAL.length) return LOG_FACTORIAL[x - 1];
  if (x === 0.5) return LOG_SQRT_PI;
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

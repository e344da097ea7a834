/**
 * Can a model job isolate a person? Two checks on the station's own design, before its
 * contribution leaves (test/privacy/model-isolation.test.ts attacks them). They look at what the
 * design does, not at how its formula is written, so that exp(50*(age−102)), I(age > 101),
 * 1/(age−101.5), a dummy of a rare level times a step, or age^8 are all judged alike:
 *
 * 1. Support. Every design column that is not zero everywhere must be non-zero in at least
 *    minCellSize of the rows used. "Non-zero" is relative: |x_ij| > NONZERO_RELATIVE · max_i |x_ij|.
 *    exp(50*(age−102)) is 1 at age 102 and 2e−22 at age 101 — not zero, but a row whose value is
 *    below 1e−8 of the column's largest changes that column's sums (score, information) by less
 *    than their eighth digit, so it cannot hide the one row that carries the column. 1e−8 is
 *    the square root of double precision: the information matrix holds squares of x, and there
 *    a 1e−8 row is 1e−16 of the largest, lost to rounding. A column that is exactly 0 in every
 *    row is allowed: that is rank deficiency, which the SDK reports as an aliased coefficient.
 *
 * 2. Leverage. h_i = W_i x_iᵀ I⁺ x_i, with W_i the row's working weight at the job's
 *    coefficients and I = Σ W_i x_i x_iᵀ the station's own information matrix (the pseudo-inverse
 *    over the columns the SDK would not alias, decided exactly as sdk/glm/linalg.ts does, so that
 *    a direction the fit cannot estimate does not count). h_i is the share of row i's own
 *    response in its fitted value; h_i near 1 means the fit reproduces that row's value. It is
 *    invariant to rescaling columns and catches what support cannot: I(age <= 101) is non-zero in
 *    every row but one, yet beside the intercept it isolates the one row as well as I(age > 101).
 *    Leverages sum to the rank, so no row of an honest model over many rows comes near the limit.
 *
 * Refusals name the design column, or say that one row dominates the model — never a value, a
 * row or a count.
 */
import { PolicyRefused } from "../../common/errors.js";
import { choleskyWithAliasing } from "../../sdk/glm/linalg.js";

/** Below this fraction of a column's largest magnitude, a value counts as zero (see above). */
export const NONZERO_RELATIVE = 1e-8;

export interface ModelLimits {
  minCellSize: number;
  maxLeverage: number;
}

export interface ModelDesignView {
  /** Rows in the design (complete cases). */
  n: number;
  p: number;
  /** n × p, row-major. */
  x: Float64Array;
  /** Column names, for refusals. */
  names: readonly string[];
  /** Working weight per design row at the job's coefficients (0 where the prior weight is 0). */
  working: Float64Array;
}

/** Design rows with a non-negligible value, per column (0 for a column that is 0 everywhere). */
export function columnSupport(d: Pick<ModelDesignView, "n" | "p" | "x" | "working">): number[] {
  const { n, p, x, working } = d;
  const largest = new Float64Array(p);
  for (let r = 0; r < n; r++) {
    if (!(working[r] > 0)) continue;
    for (let j = 0; j < p; j++) {
      const a = Math.abs(x[r * p + j]);
      if (a > largest[j]) largest[j] = a;
    }
  }
  const support = new Array<number>(p).fill(0);
  for (let r = 0; r < n; r++) {
    if (!(working[r] > 0)) continue;
    for (let j = 0; j < p; j++) {
      if (largest[j] > 0 && Math.abs(x[r * p + j]) > NONZERO_RELATIVE * largest[j]) support[j]++;
    }
  }
  return support;
}

/** The largest leverage among the design's rows (0 for an empty design). */
export function maxLeverage(d: ModelDesignView): number {
  const { n, p, x, working } = d;
  if (n === 0 || p === 0) return 0;
  const a = new Float64Array(p * p);
  for (let r = 0; r < n; r++) {
    const w = working[r];
    if (!(w > 0)) continue;
    const base = r * p;
    for (let i = 0; i < p; i++) {
      const wx = w * x[base + i];
      if (wx === 0) continue;
      for (let j = i; j < p; j++) a[i * p + j] += wx * x[base + j];
    }
  }
  for (let i = 0; i < p; i++) for (let j = 0; j < i; j++) a[i * p + j] = a[j * p + i];
  const f = choleskyWithAliasing(a, p);
  const kept = new Uint8Array(p).fill(1);
  for (const k of f.aliased) kept[k] = 0;
  const { l, scale } = f;
  const z = new Float64Array(p);
  let largest = 0;
  for (let r = 0; r < n; r++) {
    const w = working[r];
    if (!(w > 0)) continue;
    const base = r * p;
    // h = w ‖L⁻¹ D x‖² over the kept columns: the projection onto what the fit estimates.
    let h = 0;
    for (let i = 0; i < p; i++) {
      if (!kept[i]) {
        z[i] = 0;
        continue;
      }
      let s = x[base + i] * scale[i];
      for (let j = 0; j < i; j++) if (kept[j]) s -= l[i * p + j] * z[j];
      z[i] = s / l[i * p + i];
      h += z[i] * z[i];
    }
    h *= w;
    if (h > largest) largest = h;
  }
  return largest;
}

/**
 * Throws PolicyRefused when a design column is carried by fewer than minCellSize rows, or when
 * one row's leverage exceeds maxLeverage. Runs on the station's own rows, before anything of the
 * job's contribution leaves.
 */
export function checkModelIsolation(d: ModelDesignView, limits: ModelLimits, station?: string): void {
  judgeModelIsolation({ names: d.names, support: columnSupport(d), maxLeverage: () => maxLeverage(d) }, limits, station);
}

/**
 * The verdict on a design's column support and largest leverage (computed here, or in the
 * database by sources/sql-glm.ts), worded the same wherever they were computed.
 */
export function judgeModelIsolation(o: { names: readonly string[]; support: readonly number[]; maxLeverage: () => number }, limits: ModelLimits, station?: string): void {
  const thin = o.names.filter((_, j) => o.support[j] > 0 && o.support[j] < limits.minCellSize);
  if (thin.length > 0) {
    const shown = thin.slice(0, 5).map((name) => `"${name}"`).join(", ");
    throw new PolicyRefused(
      `the design column${thin.length > 1 ? "s" : ""} ${shown}${thin.length > 5 ? ", …" : ""} ${thin.length > 1 ? "are" : "is"} non-zero in fewer rows than the minimum cell size of ${limits.minCellSize}: such a column singles out a few people`,
      station,
    );
  }
  if (o.maxLeverage() > limits.maxLeverage) {
    throw new PolicyRefused(`one row dominates the model (its leverage at this station is above the limit of ${limits.maxLeverage}): the fit would reveal that row's values`, station);
  }
}

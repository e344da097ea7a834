/**
 * Dense symmetric positive (semi-)definite algebra for p × p information matrices (p is small).
 *
 * Rank is decided as R's glm.fit does with its pivoting QR: columns are taken in order, and a
 * column whose part not explained by the earlier kept columns is negligible is aliased. Here that
 * is a Cholesky factorisation of the information matrix scaled to unit diagonal: the Schur
 * complement pivot d_k is the squared relative norm of column k's residual in the W-metric.
 * R's QR tolerance (1e-11 on the norm) would be 1e-22 on d_k, below what a squared-up matrix
 * holds in double precision; we use ALIAS_TOLERANCE (1e-12, i.e. a relative residual norm of
 * 1e-6), far above rounding (~1e-15) and far below the conditioning of usable designs.
 */

export const ALIAS_TOLERANCE = 1e-12;

/** A full symmetric matrix (row-major p × p) from an upper triangle stored row by row. */
export function unpackUpper(packed: ArrayLike<number>, p: number): Float64Array {
  const a = new Float64Array(p * p);
  let k = 0;
  for (let i = 0; i < p; i++) {
    for (let j = i; j < p; j++) {
      a[i * p + j] = packed[k];
      a[j * p + i] = packed[k];
      k++;
    }
  }
  return a;
}

export interface Factorization {
  p: number;
  /** Lower-triangular factor of the scaled matrix (row-major p × p); zero rows/columns where aliased. */
  l: Float64Array;
  /** 1/sqrt(diag(A)), 0 where the diagonal is 0. */
  scale: Float64Array;
  /** Indices of columns that are (numerically) combinations of earlier columns, or all-zero. */
  aliased: number[];
}

export function choleskyWithAliasing(a: Float64Array, p: number): Factorization {
  const scale = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    const d = a[i * p + i];
    scale[i] = d > 0 && Number.isFinite(d) ? 1 / Math.sqrt(d) : 0;
  }
  const l = new Float64Array(p * p);
  const aliased: number[] = [];
  const kept = new Uint8Array(p);
  for (let k = 0; k < p; k++) {
    if (scale[k] === 0) {
      aliased.push(k);
      continue;
    }
    let d = 1;
    for (let j = 0; j < k; j++) d -= l[k * p + j] * l[k * p + j];
    if (!(d > ALIAS_TOLERANCE)) {
      aliased.push(k);
      for (let j = 0; j < k; j++) l[k * p + j] = 0;
      continue;
    }
    kept[k] = 1;
    const lkk = Math.sqrt(d);
    l[k * p + k] = lkk;
    for (let i = k + 1; i < p; i++) {
      if (scale[i] === 0) continue;
      let s = a[i * p + k] * scale[i] * scale[k];
      for (let j = 0; j < k; j++) s -= l[i * p + j] * l[k * p + j];
      l[i * p + k] = s / lkk;
    }
  }
  return { p, l, scale, aliased };
}

/** Solves A x = b for a full-rank factorisation. */
export function solve(f: Factorization, b: ArrayLike<number>): Float64Array {
  const { p, l, scale } = f;
  const y = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    let s = b[i] * scale[i];
    for (let j = 0; j < i; j++) s -= l[i * p + j] * y[j];
    y[i] = s / l[i * p + i];
  }
  for (let i = p - 1; i >= 0; i--) {
    let s = y[i];
    for (let j = i + 1; j < p; j++) s -= l[j * p + i] * y[j];
    y[i] = s / l[i * p + i];
  }
  for (let i = 0; i < p; i++) y[i] *= scale[i];
  return y;
}

/** A⁻¹ (row-major p × p) for a full-rank factorisation. */
export function inverse(f: Factorization): Float64Array {
  const { p } = f;
  const inv = new Float64Array(p * p);
  const e = new Float64Array(p);
  for (let c = 0; c < p; c++) {
    e.fill(0);
    e[c] = 1;
    const col = solve(f, e);
    for (let r = 0; r < p; r++) inv[r * p + c] = col[r];
  }
  // symmetrise the rounding
  for (let i = 0; i < p; i++) {
    for (let j = i + 1; j < p; j++) {
      const m = (inv[i * p + j] + inv[j * p + i]) / 2;
      inv[i * p + j] = m;
      inv[j * p + i] = m;
    }
  }
  return inv;
}

/**
 * For each aliased column, the kept columns it is a combination of (coefficients of its
 * regression on the earlier kept columns in the matrix's metric, those above 1e-6 in scaled terms).
 */
export function aliasPartners(a: Float64Array, f: Factorization): Map<number, number[]> {
  const { p, scale, aliased } = f;
  const keptBefore = (k: number): number[] => {
    const out: number[] = [];
    for (let i = 0; i < k; i++) if (!aliased.includes(i)) out.push(i);
    return out;
  };
  const partners = new Map<number, number[]>();
  for (const k of aliased) {
    if (scale[k] === 0) {
      partners.set(k, []);
      continue;
    }
    const kept = keptBefore(k);
    const m = kept.length;
    // solve the normal equations among kept columns in scaled form
    const sub = new Float64Array(m * m);
    const rhs = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      rhs[i] = a[kept[i] * p + k] * scale[kept[i]] * scale[k];
      for (let j = 0; j < m; j++) sub[i * m + j] = a[kept[i] * p + kept[j]] * scale[kept[i]] * scale[kept[j]];
    }
    const fs = choleskyWithAliasing(sub, m);
    const coef = fs.aliased.length === 0 ? solve(fs, rhs) : new Float64Array(m);
    partners.set(k, kept.filter((_, i) => Math.abs(coef[i]) > 1e-6));
  }
  return partners;
}

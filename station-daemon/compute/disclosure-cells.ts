/**
 * Where the sizes of groups sit in the descriptive kernels' vectors, for the station's disclosure
 * check (governance/policy-check.ts): every entry named here is a count of people, which must be
 * 0 or at least the minimum cell size. Kept beside the kernels because they own the layouts
 * (descriptive.ts); the policy only says which limit applies.
 */
import { INDICATOR_VALUES_PER_CELL, type Computation, type GroupBy, histogramWidth, levelLabels } from "../../common/job.js";

type Of<K extends Computation["kind"]> = Extract<Computation, { kind: K }>;

export interface SizedCell {
  label: string;
  size: number;
}

/** "cell (sex = "F", age_group = "18-39")", or "the total" without group-by; row-major like the kernels. */
export function cellLabels(by: readonly GroupBy[]): string[] {
  let labels = [""];
  for (const g of by) {
    const next: string[] = [];
    // The missing-value cell is named as such, not as a level "(missing)" a column might also hold.
    const names = levelLabels(g).map((level, i) => (i < g.levels.length ? `${g.column} = ${JSON.stringify(level)}` : `${g.column} missing`));
    for (const l of labels) for (const name of names) next.push(l ? `${l}, ${name}` : name);
    labels = next;
  }
  return labels.map((l) => (l ? `cell (${l})` : "the total"));
}

/** Every bin of a histogram, its below/above counts and its missing count. */
export function histogramSizedCells(c: Of<"histogram">, v: ArrayLike<number>): SizedCell[] {
  const width = histogramWidth(c.edges.length);
  const out: SizedCell[] = [];
  cellLabels(c.by).forEach((label, i) => {
    const base = width * i;
    out.push({ label: `${label}: values below ${c.edges[0]}`, size: v[base] });
    for (let k = 0; k < c.edges.length - 1; k++) out.push({ label: `${label}: bin [${c.edges[k]}, ${c.edges[k + 1]}${k === c.edges.length - 2 ? "]" : ")"}`, size: v[base + 1 + k] });
    out.push({ label: `${label}: values above ${c.edges[c.edges.length - 1]}`, size: v[base + width - 2] });
    out.push({ label: `${label}: missing values`, size: v[base + width - 1] });
  });
  return out;
}

/**
 * A quantile job's cell totals and missing counts. Its fine bins — and the open bins below and
 * above, which are of the same nature: a handful of values beyond the range the SDK chose — are
 * not checked: most are small by design, so checking them would refuse nearly every quantile.
 * That is the choice already made for glm_evaluate's probability grid; the SDK shows only the
 * quantiles, and withholds those with fewer than the minimum number of values beyond them.
 */
export function quantileSizedCells(c: Of<"quantile">, v: ArrayLike<number>): SizedCell[] {
  const width = histogramWidth(c.bins + 1);
  const out: SizedCell[] = [];
  cellLabels(c.by).forEach((label, i) => {
    const base = width * i;
    let n = 0;
    for (let k = 0; k < width - 1; k++) n += v[base + k];
    out.push({ label: `${label}: values`, size: n });
    out.push({ label: `${label}: missing values`, size: v[base + width - 1] });
  });
  return out;
}

/** Each indicator's denominator and numerator in every cell. */
export function indicatorSizedCells(c: Of<"indicators">, v: ArrayLike<number>): SizedCell[] {
  const out: SizedCell[] = [];
  let at = 0;
  c.indicators.forEach((indicator, j) => {
    for (const label of cellLabels(indicator.by)) {
      out.push({ label: `indicator ${j + 1}, ${label}: denominator`, size: v[at] });
      out.push({ label: `indicator ${j + 1}, ${label}: numerator`, size: v[at + 1] });
      at += INDICATOR_VALUES_PER_CELL;
    }
  });
  return out;
}

/** Group-bys of an indicator set, for the policy's levels limit and column release check. */
export function indicatorGroupBys(c: Of<"indicators">): Array<{ column: string; levels: string[] }> {
  return c.indicators.flatMap((i) => i.by);
}


/**
 * What the stations release for each computation kind, laid out once for the stations
 * (station-daemon/release/, which decide what is withheld) and the SDK (sdk/results/, which read
 * it). `releaseLayout` turns the combined kernel vector into the released numbers *before*
 * disclosure control, with the table structure the suppression needs:
 *
 *   count       [cells | margins]: every marginal table of the group-by (up to
 *               MAX_MARGIN_DIMENSIONS columns; beyond, the grand total only), from the largest
 *               sub-tables down to the grand total, each row-major like the cells. Margins are
 *               released by the stations so that the analyst sees true totals with cells withheld.
 *   moments     [kernel layout | total]: [n, Σ(x−c), Σ(x−c)²] per cell, and with a group-by the
 *               same three over all cells (the SDK's summary asks the overall n in a first job
 *               anyway; released here, the suppression protects the cells against it). The sums
 *               follow their n.
 *   histogram   [kernel layout | n per cell]: n = below + bins + above (missing apart).
 *   indicators  the kernel layout, [denominator, numerator] per cell; the cell's
 *               "denominator − numerator" is a hidden entry (never released, but counted: a
 *               proportion of 98 % in 50 people names the one who is not).
 *   quantile    derived: [errorBound, then per cell: n, then per probability (value, where);
 *               with a group-by then the n over all cells (as for moments)]:
 *               value the midpoint of the fine bin holding the sample quantile (R type 1),
 *               where 0 inside the bins, −1 below them, +1 above. The fine bins are not released.
 *   glm_evaluate derived: [n, Σw, events, expected, brier, logLoss, auc, hlStatistic, hlDf,
 *               groups | per risk group (low, high, n, observed, expected)]; the fine bins are not
 *               released. Without cut-points the groups are tertiles of predicted risk, from the bins.
 *
 * `cellKeys` says, for perturbation, which entries are counts of rows and which of the job's
 * per-row key sums (the release extras, laid out like the kernel vector) add up to their key.
 */
import { type Computation, type GroupBy, histogramWidth, levelCount, quantileEdges } from "./job.js";
import { type SuppressionLine } from "./disclosure.js";
import { EVALUATE_HEADER_LENGTH, binnedAuc, binnedHosmerLemeshow, binnedRiskGroups } from "./evaluation.js";

type Of<K extends Computation["kind"]> = Extract<Computation, { kind: K }>;

/** Group-bys with more columns get only the grand total as a margin. */
export const MAX_MARGIN_DIMENSIONS = 4;
/** Probabilities a quantile job releases when it names none. */
export const DEFAULT_QUANTILE_PROBABILITIES: readonly number[] = [0.25, 0.5, 0.75];
export const QUANTILE_HEADER = 1;
export const EVALUATION_RELEASE_HEADER = 10;
export const EVALUATION_GROUP_WIDTH = 5;

export interface ReleaseModel {
  /** Length of the released vector; entries at or beyond it are hidden (never released). */
  length: number;
  /** Values of every entry, released and hidden, before disclosure control. */
  values: Float64Array;
  /** Entries that count people: 1 … k − 1 of them is withheld (primary). */
  counts: number[];
  /** Entries withheld (primary) whatever their size, with why. */
  forced: Array<{ entry: number; reason: string }>;
  lines: SuppressionLine[];
  hidden: Set<number>;
  /** Entries that are not counts and may not be picked as secondary partners. */
  notCandidates: Set<number>;
  /** When `of` is withheld, `entries` are withheld with it (a cell's sums follow its n). */
  follows: Array<{ of: number; entries: number[] }>;
  /** Perturbable count entries and the extras (per-row key sums) that make up their cell key. */
  cellKeys: Array<{ entry: number; keys: number[] }>;
  /** Extras the job needs: per kernel-vector entry, the sum of the selected rows' keys. */
  keyedEntries: "none" | "all";
  /** How a count is named in reasons: "people", "values". */
  what: string;
}

/** Sub-tables of a group-by for its margins, by bit mask of the columns kept. */
export function marginMasks(by: readonly GroupBy[]): number[] {
  const m = by.length;
  if (m === 0) return [];
  if (m > MAX_MARGIN_DIMENSIONS) return [0];
  const out: number[] = [];
  for (let mask = (1 << m) - 2; mask >= 0; mask--) out.push(mask);
  return out;
}

function subSize(by: readonly GroupBy[], mask: number): number {
  let size = 1;
  by.forEach((g, d) => {
    if (mask & (1 << d)) size *= levelCount(g);
  });
  return size;
}

/** Index in the sub-table `mask` of the full cell `cell` (row-major over the kept columns). */
function project(by: readonly GroupBy[], mask: number, cell: number): number {
  const digits: number[] = [];
  let rest = cell;
  for (let d = by.length - 1; d >= 0; d--) {
    digits[d] = rest % levelCount(by[d]);
    rest = Math.floor(rest / levelCount(by[d]));
  }
  let index = 0;
  by.forEach((g, d) => {
    if (mask & (1 << d)) index = index * levelCount(g) + digits[d];
  });
  return index;
}

/** Offsets of each margin sub-table in a count release, after the cells. */
export function countMarginOffsets(by: readonly GroupBy[]): Array<{ mask: number; offset: number; size: number }> {
  let offset = by.reduce((n, g) => n * levelCount(g), 1);
  return marginMasks(by).map((mask) => {
    const size = subSize(by, mask);
    const out = { mask, offset, size };
    offset += size;
    return out;
  });
}

export function countReleaseLength(by: readonly GroupBy[]): number {
  const cells = by.reduce((n, g) => n * levelCount(g), 1);
  return cells + countMarginOffsets(by).reduce((n, m) => n + m.size, 0);
}

/** Probabilities of a quantile job. */
export function quantileProbabilities(c: Of<"quantile">): readonly number[] {
  return c.probabilities && c.probabilities.length > 0 ? c.probabilities : DEFAULT_QUANTILE_PROBABILITIES;
}

export function quantileReleaseLength(c: Of<"quantile">): number {
  const cells = c.by.reduce((n, g) => n * levelCount(g), 1);
  return QUANTILE_HEADER + cells * (1 + 2 * quantileProbabilities(c).length) + (c.by.length > 0 ? 1 : 0);
}

export function momentsReleaseLength(c: Of<"moments">): number {
  return 3 * c.by.reduce((n, g) => n * levelCount(g), 1) + (c.by.length > 0 ? 3 : 0);
}

/** The risk groups an evaluation releases: its cut-points + 1, or the default tertiles. */
export function evaluationGroups(c: Pick<Of<"glm_evaluate">, "riskCutpoints">): number {
  return c.riskCutpoints.length > 0 ? c.riskCutpoints.length + 1 : 3;
}

export function evaluationReleaseLength(c: Pick<Of<"glm_evaluate">, "riskCutpoints">): number {
  return EVALUATION_RELEASE_HEADER + EVALUATION_GROUP_WIDTH * evaluationGroups(c);
}

/** Length of the released vector of a job, or undefined where it is the kernel layout. */
export function releaseLength(c: Computation): number | undefined {
  switch (c.kind) {
    case "count":
      return countReleaseLength(c.by);
    case "histogram":
      return histogramWidth(c.edges.length) * c.by.reduce((n, g) => n * levelCount(g), 1) + c.by.reduce((n, g) => n * levelCount(g), 1);
    case "quantile":
      return quantileReleaseLength(c);
    case "moments":
      return momentsReleaseLength(c);
    case "glm_evaluate":
      return evaluationReleaseLength(c);
    default:
      return undefined;
  }
}

/**
 * The sample quantile (R type 1: x_(k), k = ⌈p·n⌉) from fine-bin counts [below, bins…, above]:
 * its bin, the number of values k at or below it. `bin` −1 below the bins, `bins` above.
 */
export function quantileFromBins(counts: ArrayLike<number>, bins: number, p: number): { k: number; n: number; bin: number } {
  let n = 0;
  for (let j = 0; j < bins + 2; j++) n += counts[j];
  // R's fuzz: p·n that is a whole number up to rounding counts as that number
  const k = Math.max(1, Math.ceil(p * n * (1 - 1e-12)));
  let cumulative = 0;
  let j = 0;
  while (j < bins + 1 && cumulative + counts[j] < k) cumulative += counts[j++];
  return { k, n, bin: j - 1 };
}

/** Why a quantile is withheld although its cell is large: too few values beyond it. */
export function quantileTailReason(minCellSize: number): string {
  return `fewer than ${minCellSize} values lie beyond this quantile (minimum cell size ${minCellSize})`;
}

function empty(length: number, values: Float64Array, what = "people"): ReleaseModel {
  return { length, values, counts: [], forced: [], lines: [], hidden: new Set(), notCandidates: new Set(), follows: [], cellKeys: [], keyedEntries: "none", what };
}

/**
 * The release model of a job from its combined kernel vector. `minCellSize` is needed only for
 * the quantiles' tail rule (a quantile is one person's value to within a bin).
 */
export function releaseLayout(c: Computation, sum: ArrayLike<number>, minCellSize: number): ReleaseModel {
  switch (c.kind) {
    case "count":
      return countModel(c, sum);
    case "moments":
      return momentsModel(c, sum);
    case "histogram":
      return histogramModel(c, sum);
    case "indicators":
      return indicatorsModel(c, sum);
    case "quantile":
      return quantileModel(c, sum, minCellSize);
    case "glm_evaluate":
      return evaluationModel(c, sum);
    default:
      // glm: no table; station-daemon/release decides (no rule: nothing is released).
      return empty(sum.length, Float64Array.from(sum));
  }
}

function countModel(c: Of<"count">, sum: ArrayLike<number>): ReleaseModel {
  const { by } = c;
  const cells = by.reduce((n, g) => n * levelCount(g), 1);
  const offsets = countMarginOffsets(by);
  const length = countReleaseLength(by);
  const values = new Float64Array(length);
  for (let i = 0; i < cells; i++) values[i] = Math.round(sum[i]);
  const m = empty(length, values);
  m.keyedEntries = "all";
  for (let i = 0; i < cells; i++) {
    m.counts.push(i);
    m.cellKeys.push({ entry: i, keys: [i] });
  }
  const members = new Map<number, number[]>();
  for (const { mask, offset, size } of offsets) {
    for (let k = 0; k < size; k++) members.set(offset + k, []);
    for (let i = 0; i < cells; i++) {
      const e = offset + project(by, mask, i);
      values[e] += values[i];
      members.get(e)!.push(i);
    }
    for (let k = 0; k < size; k++) {
      m.counts.push(offset + k);
      m.cellKeys.push({ entry: offset + k, keys: members.get(offset + k)! });
    }
  }
  // Lines: each (sub-)table summed over one of its columns gives the sub-table without it.
  const all = (1 << by.length) - 1;
  const tables = [{ mask: all, offset: 0, size: cells }, ...offsets];
  const at = new Map(tables.map((t) => [t.mask, t]));
  for (const t of tables) {
    // The last column first: rows of a crosstab before its columns, as tables are read.
    for (let d = by.length - 1; d >= 0; d--) {
      if (!(t.mask & (1 << d))) continue;
      const below = at.get(t.mask & ~(1 << d));
      if (!below) continue;
      const lines = new Map<number, number[]>();
      for (let k = 0; k < t.size; k++) {
        // The entry of `below` this sub-table entry adds into.
        const full = expand(by, t.mask, k);
        const target = below.offset + project(by, below.mask, full);
        if (!lines.has(target)) lines.set(target, []);
        lines.get(target)!.push(t.offset + k);
      }
      for (const [total, members] of lines) if (members.length > 0) m.lines.push({ cells: members, total });
    }
  }
  if (by.length > MAX_MARGIN_DIMENSIONS && offsets.length === 1) {
    m.lines.push({ cells: Array.from({ length: cells }, (_, i) => i), total: offsets[0].offset });
  }
  return m;
}

/** A full cell index whose projection on `mask` is `k` (other columns at level 0). */
function expand(by: readonly GroupBy[], mask: number, k: number): number {
  const digits: number[] = new Array(by.length).fill(0);
  let rest = k;
  for (let d = by.length - 1; d >= 0; d--) {
    if (!(mask & (1 << d))) continue;
    digits[d] = rest % levelCount(by[d]);
    rest = Math.floor(rest / levelCount(by[d]));
  }
  let index = 0;
  by.forEach((g, d) => {
    index = index * levelCount(g) + digits[d];
  });
  return index;
}

function momentsModel(c: Of<"moments">, sum: ArrayLike<number>): ReleaseModel {
  const L = 3 * c.by.reduce((n, g) => n * levelCount(g), 1);
  const values = new Float64Array(momentsReleaseLength(c));
  values.set(Array.from({ length: L }, (_, i) => sum[i]));
  const m = empty(values.length, values, "values");
  for (let i = 0; i < L; i += 3) {
    m.counts.push(i);
    m.follows.push({ of: i, entries: [i + 1, i + 2] });
    m.notCandidates.add(i + 1).add(i + 2);
  }
  if (c.by.length > 0) {
    const parts = Array.from({ length: L / 3 }, (_, k) => 3 * k);
    for (const j of [0, 1, 2]) {
      values[L + j] = parts.reduce((t, i) => t + values[i + j], 0);
      m.lines.push({ cells: parts.map((i) => i + j), total: L + j });
    }
    m.counts.push(L);
    m.follows.push({ of: L, entries: [L + 1, L + 2] });
    m.notCandidates.add(L + 1).add(L + 2);
  }
  return m;
}

function histogramModel(c: Of<"histogram">, sum: ArrayLike<number>): ReleaseModel {
  const width = histogramWidth(c.edges.length);
  const cells = c.by.reduce((n, g) => n * levelCount(g), 1);
  const raw = width * cells;
  const values = new Float64Array(raw + cells);
  for (let i = 0; i < raw; i++) values[i] = Math.round(sum[i]);
  const m = empty(raw + cells, values, "values");
  m.keyedEntries = "all";
  for (let i = 0; i < raw; i++) {
    m.counts.push(i);
    m.cellKeys.push({ entry: i, keys: [i] });
  }
  for (let cell = 0; cell < cells; cell++) {
    const parts = Array.from({ length: width - 1 }, (_, k) => cell * width + k);
    values[raw + cell] = parts.reduce((s, i) => s + values[i], 0);
    m.counts.push(raw + cell);
    m.cellKeys.push({ entry: raw + cell, keys: parts });
    m.lines.push({ cells: parts, total: raw + cell });
  }
  return m;
}

function indicatorsModel(c: Of<"indicators">, sum: ArrayLike<number>): ReleaseModel {
  const L = sum.length;
  const values = new Float64Array(L + L / 2);
  for (let i = 0; i < L; i++) values[i] = Math.round(sum[i]);
  const m = empty(L, values);
  m.keyedEntries = "all";
  const starts: number[] = [];
  let at = 0;
  for (const ind of c.indicators) {
    starts.push(at);
    at += 2 * ind.by.reduce((n, g) => n * levelCount(g), 1);
  }
  for (let cell = 0; cell < L / 2; cell++) {
    const den = 2 * cell;
    const num = den + 1;
    const without = L + cell;
    values[without] = values[den] - values[num];
    m.hidden.add(without);
    m.counts.push(den, num, without);
    m.cellKeys.push({ entry: den, keys: [den] }, { entry: num, keys: [num] });
    m.lines.push({ cells: [num, without], total: den });
  }
  // Indicators sharing a denominator (and, for numerators, a numerator too) over nested group-bys
  // release the same people twice: a coarser cell is the sum of the finer ones.
  const key = (x: unknown) => JSON.stringify(x ?? null);
  c.indicators.forEach((fine, i) => {
    c.indicators.forEach((coarse, j) => {
      if (i === j || key(fine.denominator) !== key(coarse.denominator)) return;
      const inside = coarse.by.every((g) => fine.by.some((f) => f.column === g.column && key(f.levels) === key(g.levels)));
      if (!inside || (coarse.by.length === fine.by.length && j < i)) return;
      const sameNumerator = key(fine.numerator) === key(coarse.numerator);
      const fineCells = fine.by.reduce((n, g) => n * levelCount(g), 1);
      // Align columns: the coarse cell index of each fine cell.
      const groups = new Map<number, number[]>();
      for (let f = 0; f < fineCells; f++) {
        const digits = new Map<string, number>();
        let rest = f;
        for (let d = fine.by.length - 1; d >= 0; d--) {
          digits.set(fine.by[d].column, rest % levelCount(fine.by[d]));
          rest = Math.floor(rest / levelCount(fine.by[d]));
        }
        let index = 0;
        for (const g of coarse.by) index = index * levelCount(g) + digits.get(g.column)!;
        if (!groups.has(index)) groups.set(index, []);
        groups.get(index)!.push(f);
      }
      for (const [k, fs] of groups) {
        m.lines.push({ cells: fs.map((f) => starts[i] + 2 * f), total: starts[j] + 2 * k });
        if (sameNumerator) m.lines.push({ cells: fs.map((f) => starts[i] + 2 * f + 1), total: starts[j] + 2 * k + 1 });
      }
    });
  });
  return m;
}

function quantileModel(c: Of<"quantile">, sum: ArrayLike<number>, minCellSize: number): ReleaseModel {
  const probabilities = quantileProbabilities(c);
  const width = histogramWidth(c.bins + 1);
  const cells = c.by.reduce((n, g) => n * levelCount(g), 1);
  const per = 1 + 2 * probabilities.length;
  const values = new Float64Array(quantileReleaseLength(c));
  const m = empty(values.length, values, "values");
  values[0] = (c.upper - c.lower) / (2 * c.bins);
  m.notCandidates.add(0);
  const edges = quantileEdges(c);
  for (let cell = 0; cell < cells; cell++) {
    const counts = Array.from({ length: c.bins + 2 }, (_, j) => Math.round(sum[cell * width + j]));
    const base = QUANTILE_HEADER + cell * per;
    const entries: number[] = [];
    let n = 0;
    probabilities.forEach((p, q) => {
      const r = quantileFromBins(counts, c.bins, p);
      n = r.n;
      const v = base + 1 + 2 * q;
      entries.push(v, v + 1);
      m.notCandidates.add(v).add(v + 1);
      if (r.n === 0) return;
      if (r.bin < 0) values[v + 1] = -1;
      else if (r.bin >= c.bins) values[v + 1] = 1;
      else values[v] = (edges[r.bin] + edges[r.bin + 1]) / 2;
      if (r.k < minCellSize || r.n - r.k + 1 < minCellSize) {
        m.forced.push({ entry: v, reason: quantileTailReason(minCellSize) }, { entry: v + 1, reason: quantileTailReason(minCellSize) });
      }
    });
    if (probabilities.length === 0) n = counts.reduce((a, b) => a + b, 0);
    values[base] = n;
    m.counts.push(base);
    m.follows.push({ of: base, entries });
  }
  if (c.by.length > 0) {
    const total = values.length - 1;
    const parts = Array.from({ length: cells }, (_, cell) => QUANTILE_HEADER + cell * per);
    values[total] = parts.reduce((t, i) => t + values[i], 0);
    m.counts.push(total);
    m.lines.push({ cells: parts, total });
  }
  return m;
}

function evaluationModel(c: Of<"glm_evaluate">, sum: ArrayLike<number>): ReleaseModel {
  const groups = evaluationGroups(c);
  const length = evaluationReleaseLength(c);
  const values = new Float64Array(length + 1 + groups);
  const m = empty(length, values);
  const weightSum = sum[1];
  const events = sum[2];
  values.set([sum[0], weightSum, events, sum[3], weightSum > 0 ? sum[4] / weightSum : NaN, weightSum > 0 ? sum[5] / weightSum : NaN], 0);
  values[6] = binnedAuc(sum, c.bins);
  const hl = binnedHosmerLemeshow(sum, c.bins);
  values[7] = hl.statistic;
  values[8] = hl.df;
  values[9] = groups;
  let rows: Array<{ low: number; high: number; n: number; observed: number; expected: number }>;
  if (c.riskCutpoints.length > 0) {
    const base = EVALUATE_HEADER_LENGTH + 3 * c.bins;
    rows = Array.from({ length: groups }, (_, g) => ({
      low: g === 0 ? 0 : c.riskCutpoints[g - 1],
      high: g === c.riskCutpoints.length ? 1 : c.riskCutpoints[g],
      n: sum[base + 3 * g],
      observed: sum[base + 3 * g + 1],
      expected: sum[base + 3 * g + 2],
    }));
  } else {
    rows = binnedRiskGroups(sum, c.bins, groups);
  }
  const nonEvents = length;
  values[nonEvents] = weightSum - events;
  m.hidden.add(nonEvents);
  // n (rows), Σw and the event counts are counts of people; the scores follow n.
  m.counts.push(0, 1, 2, nonEvents);
  m.follows.push({ of: 0, entries: [3, 4, 5, 6, 7, 8] });
  m.follows.push({ of: 2, entries: [3, 6, 7, 8] });
  m.follows.push({ of: nonEvents, entries: [6, 7, 8] });
  for (const i of [3, 4, 5, 6, 7, 8, 9]) m.notCandidates.add(i);
  m.lines.push({ cells: [2, nonEvents], total: 1 });
  const nEntries: number[] = [];
  const observedEntries: number[] = [];
  rows.forEach((r, g) => {
    const at = EVALUATION_RELEASE_HEADER + EVALUATION_GROUP_WIDTH * g;
    values.set([r.low, r.high, r.n, r.observed, r.expected], at);
    const without = length + 1 + g;
    values[without] = r.n - r.observed;
    m.hidden.add(without);
    m.counts.push(at + 2, at + 3, without);
    m.notCandidates.add(at).add(at + 1).add(at + 4);
    m.follows.push({ of: at + 2, entries: [at + 4] });
    m.lines.push({ cells: [at + 3, without], total: at + 2 });
    nEntries.push(at + 2);
    observedEntries.push(at + 3);
  });
  m.lines.push({ cells: nEntries, total: 1 });
  m.lines.push({ cells: observedEntries, total: 2 });
  return m;
}

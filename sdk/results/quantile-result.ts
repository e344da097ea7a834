import type { Provenance } from "../../common/provenance.js";
import { type GroupBy, histogramWidth, quantileEdges } from "../../common/job.js";
import { cellLevels } from "./cells.js";
import { isSmall, primaryReason } from "./disclosure.js";
import { formatNumber } from "./table-text.js";
import { type ResultRecord, fillColumns } from "./dataframe.js";
import { Result, type Tabular } from "./result.js";

export interface QuantileValue {
  /** The probability asked for, in (0, 1). */
  p: number;
  /**
   * The midpoint of the fine bin holding the sample quantile; null when withheld or when the
   * quantile lies outside the range of the bins (see `reason`).
   */
  value: number | null;
  suppressed?: boolean;
  reason?: string;
}

export interface QuantileCell {
  group: Record<string, string>;
  /** Non-missing values. */
  n: number | null;
  quantiles: QuantileValue[];
  suppressed?: boolean;
  reason?: string;
}

/**
 * Quantiles read from a fine secure histogram (one `quantile` job; layout in common/job.ts).
 *
 * Definition: the sample quantile is the inverse of the empirical distribution function, R's
 * quantile(type = 1): x_(k) with k = ⌈p·n⌉ (k = 1 for p·n ≤ 1). The bin in which the cumulative
 * count first reaches k holds x_(k), so its midpoint is within half a bin width of it:
 * `errorBound` = (upper − lower) / (2 · bins). Other definitions (R's default type 7
 * interpolates between x_(k) and x_(k+1)) differ from type 1 by at most the gap between two
 * neighbouring values.
 *
 * Disclosure: a quantile is one person's value, to within the bin. It is withheld unless at
 * least minCellSize values lie at or below it and at least minCellSize at or above it (k ≥ min
 * and n − k + 1 ≥ min), so the 1st percentile of 50 people — someone's actual age — is not
 * shown; a cell whose n is 1 … min − 1 is withheld whole. The fine bins themselves never leave
 * this object, but note that the SDK (the analyst's process) does see them: see dataset-query.ts.
 */
export class QuantileResult extends Result {
  readonly kind = "quantile";
  readonly dataset: string;
  readonly column: string;
  readonly where?: string;
  readonly by: string[];
  readonly probabilities: number[];
  readonly lower: number;
  readonly upper: number;
  readonly bins: number;
  /** Largest distance between a shown quantile and the exact sample quantile: half a bin width. */
  readonly errorBound: number;
  readonly definition = "inverse empirical CDF (R type 1), midpoint of the fine bin holding it";
  readonly cells: QuantileCell[];
  readonly stations: string[];
  readonly minCellSize?: number;

  constructor(options: {
    dataset: string;
    column: string;
    where?: string;
    by: readonly GroupBy[];
    probabilities: readonly number[];
    lower: number;
    upper: number;
    bins: number;
    sum: Float64Array;
    stations: string[];
    minCellSize?: number;
    provenance?: Provenance;
  }) {
    super(options.provenance);
    const { lower, upper, bins, minCellSize } = options;
    this.dataset = options.dataset;
    this.column = options.column;
    this.where = options.where;
    this.by = options.by.map((g) => g.column);
    this.probabilities = [...options.probabilities];
    this.lower = lower;
    this.upper = upper;
    this.bins = bins;
    this.stations = options.stations;
    this.minCellSize = minCellSize;
    const edges = quantileEdges({ lower, upper, bins });
    this.errorBound = (upper - lower) / (2 * bins);
    const width = histogramWidth(bins + 1);
    this.cells = cellLevels(options.by).map((group, i) => {
      // [below, bins…, above] as counts; missing (the last entry) plays no part
      const counts = Array.from(options.sum.subarray(width * i, width * i + bins + 2), Math.round);
      const n = counts.reduce((a, b) => a + b, 0);
      if (minCellSize !== undefined && isSmall(n, minCellSize)) {
        return {
          group,
          n: null,
          quantiles: this.probabilities.map((p) => ({ p, value: null, suppressed: true, reason: primaryReason(minCellSize, "values") })),
          suppressed: true,
          reason: primaryReason(minCellSize, "values"),
        };
      }
      const quantiles = this.probabilities.map((p): QuantileValue => {
        if (n === 0) return { p, value: NaN };
        // R's fuzz: p·n that is a whole number up to rounding counts as that number
        const k = Math.max(1, Math.ceil(p * n * (1 - 1e-12)));
        if (minCellSize !== undefined && (k < minCellSize || n - k + 1 < minCellSize)) {
          return { p, value: null, suppressed: true, reason: `fewer than ${minCellSize} values lie beyond this quantile (minimum cell size ${minCellSize})` };
        }
        let cumulative = 0;
        let j = 0;
        while (cumulative + counts[j] < k) cumulative += counts[j++];
        if (j === 0) return { p, value: null, reason: `below the range of the bins (${lower}); ask again with a wider range` };
        if (j === bins + 1) return { p, value: null, reason: `above the range of the bins (${upper}); ask again with a wider range` };
        return { p, value: (edges[j - 1] + edges[j]) / 2 };
      });
      return { group, n, quantiles };
    });
  }

  get(group: Record<string, string> = {}): QuantileCell | undefined {
    return this.cells.find((c) => this.by.every((b) => c.group[b] === group[b]));
  }

  /** The value for probability p in one cell (the only cell without group-by). */
  value(p: number, group: Record<string, string> = {}): number | null | undefined {
    return this.get(group)?.quantiles.find((q) => q.p === p)?.value;
  }

  /** One record per cell and probability: the levels, n, p and the quantile (null when withheld). */
  override records(): ResultRecord[] {
    return fillColumns(
      this.cells.flatMap((c) =>
        c.quantiles.map((q): ResultRecord => ({ ...c.group, n: c.n, p: q.p, value: q.value, ...(q.suppressed || c.suppressed ? { suppressed: true, reason: q.reason ?? c.reason ?? null } : {}) })),
      ),
    );
  }

  protected resultJSON(): object {
    return {
      kind: this.kind,
      dataset: this.dataset,
      column: this.column,
      where: this.where,
      by: this.by,
      probabilities: this.probabilities,
      range: [this.lower, this.upper],
      bins: this.bins,
      errorBound: this.errorBound,
      definition: this.definition,
      stations: this.stations,
      minCellSize: this.minCellSize,
      cells: this.cells,
    };
  }

  tabular(): Tabular {
    const title = `quantiles of ${this.column} in ${this.dataset}${this.where ? ` where ${this.where}` : ""} (${this.stations.length} stations)`;
    const header = [...this.by, "n", ...this.probabilities.map((p) => `q${formatNumber(p, 3)}`)];
    const rows = this.cells.map((c) => [...this.by.map((b) => c.group[b]), c.n === null ? "x" : String(c.n), ...c.quantiles.map((q) => (q.value === null ? "x" : formatNumber(q.value, 4)))]);
    const reasons = [...new Set(this.cells.flatMap((c) => c.quantiles.flatMap((q) => (q.reason ? [q.reason] : []))))];
    return {
      title,
      header,
      rows,
      numeric: header.map((_, i) => i >= this.by.length),
      notes: [`each value within ±${formatNumber(this.errorBound, 6)} of the sample quantile (${this.bins} bins over [${this.lower}, ${this.upper}])`, ...reasons.map((r) => `x: ${r}`)],
    };
  }
}

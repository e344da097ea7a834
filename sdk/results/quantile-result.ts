import type { Provenance } from "../../common/provenance.js";
import type { GroupBy } from "../../common/job.js";
import { QUANTILE_HEADER } from "../../common/release-layout.js";
import { cellLevels } from "./cells.js";
import { type ReleaseInput, type WithheldKind, generalNotes, marks, readRelease } from "./release.js";
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
  withheld?: WithheldKind;
  reason?: string;
}

export interface QuantileCell {
  group: Record<string, string>;
  /** Non-missing values. */
  n: number | null;
  quantiles: QuantileValue[];
  suppressed?: boolean;
  withheld?: WithheldKind;
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
 * The stations compute the quantiles from the combined fine bins and release only them
 * (common/release-layout.ts); the bins never reach this process. Disclosure, decided by the
 * stations: a quantile is one person's value, to within the bin, so it is withheld unless at least
 * k values lie at or below it and at least k at or above it (so the 1st percentile of 50 people —
 * someone's actual age — is not shown); a cell whose n is 1 … k − 1 is withheld whole.
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
  readonly notes: string[];

  constructor(
    options: {
      dataset: string;
      column: string;
      where?: string;
      by: readonly GroupBy[];
      probabilities: readonly number[];
      lower: number;
      upper: number;
      bins: number;
      stations: string[];
      provenance?: Provenance;
    } & ReleaseInput,
  ) {
    super(options.provenance);
    const { lower, upper, bins } = options;
    this.dataset = options.dataset;
    this.column = options.column;
    this.where = options.where;
    this.by = options.by.map((g) => g.column);
    this.probabilities = [...options.probabilities];
    this.lower = lower;
    this.upper = upper;
    this.bins = bins;
    this.stations = options.stations;
    this.errorBound = (upper - lower) / (2 * bins);
    const { values, withheld, notes } = readRelease(
      { kind: "quantile", column: options.column, lower, upper, bins, by: [...options.by], probabilities: [...options.probabilities] },
      options,
    );
    this.notes = notes;
    const per = 1 + 2 * this.probabilities.length;
    this.cells = cellLevels(options.by).map((group, i) => {
      const base = QUANTILE_HEADER + per * i;
      if (withheld[base]) {
        const m = marks(withheld[base], notes);
        return { group, n: null, quantiles: this.probabilities.map((p) => ({ p, value: null, ...m })), ...m };
      }
      const n = Math.round(values[base]);
      const quantiles = this.probabilities.map((p, q): QuantileValue => {
        const at = base + 1 + 2 * q;
        if (withheld[at]) return { p, value: null, ...marks(withheld[at], notes) };
        if (n === 0) return { p, value: NaN };
        if (values[at + 1] < 0) return { p, value: null, reason: `below the range of the bins (${lower}); ask again with a wider range` };
        if (values[at + 1] > 0) return { p, value: null, reason: `above the range of the bins (${upper}); ask again with a wider range` };
        return { p, value: values[at] };
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
      cells: this.cells,
      notes: this.notes,
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
      notes: [`each value within ±${formatNumber(this.errorBound, 6)} of the sample quantile (${this.bins} bins over [${this.lower}, ${this.upper}])`, ...reasons.map((r) => `x: ${r}`), ...generalNotes(this.notes)],
    };
  }
}

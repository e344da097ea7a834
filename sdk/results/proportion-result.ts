import type { Provenance } from "../../common/provenance.js";
import { type GroupBy, INDICATOR_VALUES_PER_CELL } from "../../common/job.js";
import { cellLevels } from "./cells.js";
import { isSmall, primaryReason } from "./disclosure.js";
import { wilsonInterval } from "./intervals.js";
import { formatNumber } from "./table-text.js";
import { Result, type Tabular } from "./result.js";

export interface ProportionCell {
  group: Record<string, string>;
  /** Rows where the condition is true; null when withheld. */
  numerator: number | null;
  /** Rows where the condition is known (true or false); null when withheld. */
  denominator: number | null;
  /** numerator / denominator, in [0, 1]. */
  proportion: number | null;
  /** proportion × per (a percentage for per = 100, a rate per 1 000 for per = 1000). */
  estimate: number | null;
  /** Wilson score interval, on the scale of `estimate`. */
  lower: number | null;
  upper: number | null;
  suppressed?: boolean;
  reason?: string;
}

/**
 * One cell of a proportion from its summed [denominator, numerator]. Withheld when either count
 * is 1 … minCellSize − 1: a numerator of 3 names three people with the condition, a denominator
 * of 3 makes any proportion of them nearly identifying. No totals are shown beside proportions,
 * so no second cell needs withholding.
 */
export function proportionCell(options: { group: Record<string, string>; denominator: number; numerator: number; per: number; level: number; minCellSize?: number }): ProportionCell {
  const { group, per, minCellSize } = options;
  const den = Math.round(options.denominator);
  const num = Math.round(options.numerator);
  if (minCellSize !== undefined && (isSmall(num, minCellSize) || isSmall(den, minCellSize))) {
    return { group, numerator: null, denominator: null, proportion: null, estimate: null, lower: null, upper: null, suppressed: true, reason: primaryReason(minCellSize) };
  }
  const proportion = den > 0 ? num / den : NaN;
  const [lo, hi] = wilsonInterval(num, den, options.level);
  return { group, numerator: num, denominator: den, proportion, estimate: proportion * per, lower: lo * per, upper: hi * per };
}

/** The cells of one indicator's part of an indicator-set vector, starting at `offset`. */
export function proportionCells(options: { by: readonly GroupBy[]; sum: ArrayLike<number>; offset: number; per: number; level: number; minCellSize?: number }): ProportionCell[] {
  return cellLevels(options.by).map((group, i) => {
    const at = options.offset + INDICATOR_VALUES_PER_CELL * i;
    return proportionCell({ group, denominator: options.sum[at], numerator: options.sum[at + 1], per: options.per, level: options.level, minCellSize: options.minCellSize });
  });
}

export function formatProportion(c: ProportionCell, digits = 2): string[] {
  if (c.suppressed) return ["x", "x", "x", ""];
  return [String(c.numerator), String(c.denominator), formatNumber(c.estimate ?? NaN, digits), `${formatNumber(c.lower ?? NaN, digits)} – ${formatNumber(c.upper ?? NaN, digits)}`];
}

/**
 * A proportion (per = 1), percentage (100) or rate per 1 000 (1000) of rows matching a condition,
 * with Wilson score intervals, per cell of a group-by; from one indicator-set job. Rows on which
 * the condition is unknown (a missing value) are in neither numerator nor denominator.
 */
export class ProportionResult extends Result {
  readonly kind = "proportion";
  readonly dataset: string;
  readonly where?: string;
  readonly condition: string;
  readonly by: string[];
  readonly per: number;
  readonly level: number;
  readonly interval = "Wilson score";
  readonly cells: ProportionCell[];
  readonly stations: string[];
  readonly minCellSize?: number;

  constructor(options: { dataset: string; where?: string; condition: string; by: readonly GroupBy[]; sum: Float64Array; per?: number; level?: number; stations: string[]; minCellSize?: number; provenance?: Provenance }) {
    super(options.provenance);
    this.dataset = options.dataset;
    this.where = options.where;
    this.condition = options.condition;
    this.by = options.by.map((g) => g.column);
    this.per = options.per ?? 1;
    this.level = options.level ?? 0.95;
    this.stations = options.stations;
    this.minCellSize = options.minCellSize;
    this.cells = proportionCells({ by: options.by, sum: options.sum, offset: 0, per: this.per, level: this.level, minCellSize: options.minCellSize });
  }

  get(group: Record<string, string> = {}): ProportionCell | undefined {
    return this.cells.find((c) => this.by.every((b) => c.group[b] === group[b]));
  }

  protected resultJSON(): object {
    const { kind, dataset, where, condition, by, per, level, interval, stations, minCellSize, cells } = this;
    return { kind, dataset, where, condition, by, per, level, interval, stations, minCellSize, cells };
  }

  tabular(): Tabular {
    const what = this.per === 1 ? "proportion" : this.per === 100 ? "percentage" : `rate per ${this.per}`;
    const title = `${what} with ${this.condition} in ${this.dataset}${this.where ? ` where ${this.where}` : ""} (${this.stations.length} stations)`;
    const header = [...this.by, "numerator", "denominator", what, `${Math.round(this.level * 100)}% CI (${this.interval})`];
    const rows = this.cells.map((c) => [...this.by.map((b) => c.group[b]), ...formatProportion(c, this.per === 1 ? 4 : 2)]);
    const reasons = [...new Set(this.cells.flatMap((c) => (c.reason ? [`x: ${c.reason}`] : [])))];
    return { title, header, rows, numeric: header.map((_, i) => i >= this.by.length), notes: reasons };
  }
}

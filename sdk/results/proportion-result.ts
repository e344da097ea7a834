import type { Provenance } from "../../common/provenance.js";
import { type GroupBy, INDICATOR_VALUES_PER_CELL } from "../../common/job.js";
import { cellLevels } from "./cells.js";
import { type ReleaseInput, type WithheldKind, generalNotes, marks } from "./release.js";
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
  withheld?: WithheldKind;
  reason?: string;
}

/**
 * One cell of a proportion from its released [denominator, numerator]. The stations withhold the
 * numerator when it, or the denominator minus it, is 1 … k − 1 (a proportion of 98 % in 50 people
 * names the one without), and the denominator when it is; the proportion then goes with them.
 */
export function proportionCell(options: { group: Record<string, string>; denominator: number; numerator: number; per: number; level: number; withheld?: readonly [number, number]; notes?: readonly string[] }): ProportionCell {
  const { group, per } = options;
  const [denCode, numCode] = options.withheld ?? [0, 0];
  const den = Math.round(options.denominator);
  const num = Math.round(options.numerator);
  if (denCode || numCode) {
    const code = denCode || numCode;
    return { group, numerator: null, denominator: denCode ? null : den, proportion: null, estimate: null, lower: null, upper: null, ...marks(code, options.notes ?? []) };
  }
  const proportion = den > 0 ? num / den : NaN;
  const [lo, hi] = wilsonInterval(num, den, options.level);
  return { group, numerator: num, denominator: den, proportion, estimate: proportion * per, lower: lo * per, upper: hi * per };
}

/** The cells of one indicator's part of an indicator-set release, starting at `offset`. */
export function proportionCells(options: { by: readonly GroupBy[]; sum: ArrayLike<number>; withheld?: ArrayLike<number>; notes?: readonly string[]; offset: number; per: number; level: number }): ProportionCell[] {
  return cellLevels(options.by).map((group, i) => {
    const at = options.offset + INDICATOR_VALUES_PER_CELL * i;
    const withheld = options.withheld ? ([options.withheld[at], options.withheld[at + 1]] as const) : undefined;
    return proportionCell({ group, denominator: options.sum[at], numerator: options.sum[at + 1], per: options.per, level: options.level, withheld, notes: options.notes });
  });
}

export function formatProportion(c: ProportionCell, digits = 2): string[] {
  if (c.suppressed) return ["x", c.denominator === null ? "x" : String(c.denominator), "x", ""];
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
  readonly notes: string[];

  constructor(options: { dataset: string; where?: string; condition: string; by: readonly GroupBy[]; per?: number; level?: number; stations: string[]; provenance?: Provenance } & ReleaseInput) {
    super(options.provenance);
    this.dataset = options.dataset;
    this.where = options.where;
    this.condition = options.condition;
    this.by = options.by.map((g) => g.column);
    this.per = options.per ?? 1;
    this.level = options.level ?? 0.95;
    this.stations = options.stations;
    this.notes = options.notes ?? [];
    this.cells = proportionCells({ by: options.by, sum: options.sum, withheld: options.withheld, notes: this.notes, offset: 0, per: this.per, level: this.level });
  }

  get(group: Record<string, string> = {}): ProportionCell | undefined {
    return this.cells.find((c) => this.by.every((b) => c.group[b] === group[b]));
  }

  protected resultJSON(): object {
    const { kind, dataset, where, condition, by, per, level, interval, stations, cells, notes } = this;
    return { kind, dataset, where, condition, by, per, level, interval, stations, cells, notes };
  }

  tabular(): Tabular {
    const what = this.per === 1 ? "proportion" : this.per === 100 ? "percentage" : `rate per ${this.per}`;
    const title = `${what} with ${this.condition} in ${this.dataset}${this.where ? ` where ${this.where}` : ""} (${this.stations.length} stations)`;
    const header = [...this.by, "numerator", "denominator", what, `${Math.round(this.level * 100)}% CI (${this.interval})`];
    const rows = this.cells.map((c) => [...this.by.map((b) => c.group[b]), ...formatProportion(c, this.per === 1 ? 4 : 2)]);
    const reasons = [...new Set(this.cells.flatMap((c) => (c.reason ? [`x: ${c.reason}`] : [])))];
    return { title, header, rows, numeric: header.map((_, i) => i >= this.by.length), notes: [...reasons, ...generalNotes(this.notes)] };
  }
}

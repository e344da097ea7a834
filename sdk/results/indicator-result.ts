import type { Provenance } from "../../common/provenance.js";
import { type GroupBy, INDICATOR_VALUES_PER_CELL, cellCount } from "../../common/job.js";
import { type ProportionCell, formatProportion, proportionCells } from "./proportion-result.js";
import { type ResultRecord, cellRecords } from "./dataframe.js";
import { type ReleaseInput, generalNotes } from "./release.js";
import { Result, type Tabular } from "./result.js";

export interface IndicatorCell extends ProportionCell {
  /** The indicator's name. */
  indicator: string;
}

export interface IndicatorInfo {
  name: string;
  numerator: string;
  denominator?: string;
  by: string[];
  per: number;
}

/**
 * An indicator set — a neighbourhood profile — from ONE job: per indicator and cell, numerator,
 * denominator, the estimate (a percentage by default) and its Wilson interval. `cells` lists
 * every indicator's cells in the order the indicators were given; `table()` pivots them to one
 * row per group with a column per indicator.
 */
export class IndicatorResult extends Result {
  readonly kind = "indicators";
  readonly dataset: string;
  readonly where?: string;
  readonly indicators: IndicatorInfo[];
  readonly level: number;
  readonly interval = "Wilson score";
  readonly cells: IndicatorCell[];
  readonly stations: string[];
  readonly notes: string[];

  constructor(options: {
    dataset: string;
    where?: string;
    indicators: ReadonlyArray<{ name: string; numerator: string; denominator?: string; by: readonly GroupBy[]; per: number }>;
    level?: number;
    stations: string[];
    provenance?: Provenance;
  } & ReleaseInput) {
    super(options.provenance);
    this.dataset = options.dataset;
    this.where = options.where;
    this.level = options.level ?? 0.95;
    this.stations = options.stations;
    this.notes = options.notes ?? [];
    this.indicators = options.indicators.map((i) => ({
      name: i.name,
      numerator: i.numerator,
      ...(i.denominator ? { denominator: i.denominator } : {}),
      by: i.by.map((g) => g.column),
      per: i.per,
    }));
    this.cells = [];
    let offset = 0;
    for (const i of options.indicators) {
      const cells = proportionCells({ by: i.by, sum: options.sum, withheld: options.withheld, notes: this.notes, offset, per: i.per, level: this.level });
      this.cells.push(...cells.map((c) => ({ indicator: i.name, ...c })));
      offset += INDICATOR_VALUES_PER_CELL * cellCount(i.by);
    }
  }

  get(indicator: string, group: Record<string, string> = {}): IndicatorCell | undefined {
    const info = this.indicators.find((i) => i.name === indicator);
    if (!info) return undefined;
    return this.cells.find((c) => c.indicator === indicator && info.by.every((b) => c.group[b] === group[b]));
  }

  /**
   * One row per group, one column per indicator: the estimates (null when withheld or, for an
   * indicator grouped differently, absent). Every indicator must be grouped by the same columns.
   */
  table(): { by: string[]; indicators: string[]; rows: Array<{ group: Record<string, string>; values: Record<string, number | null> }> } {
    const by = this.indicators[0]?.by ?? [];
    const rows: Array<{ group: Record<string, string>; values: Record<string, number | null> }> = [];
    for (const c of this.cells) {
      let row = rows.find((r) => by.every((b) => r.group[b] === c.group[b]));
      if (!row) rows.push((row = { group: c.group, values: {} }));
      row.values[c.indicator] = c.estimate;
    }
    return { by, indicators: this.indicators.map((i) => i.name), rows };
  }

  /** One record per indicator and cell, the indicator's name first. */
  override records(): ResultRecord[] {
    return cellRecords(this.cells).map((r) => ({ indicator: r.indicator, ...r }));
  }

  protected resultJSON(): object {
    const { kind, dataset, where, indicators, level, interval, stations, cells, notes } = this;
    return { kind, dataset, where, indicators, level, interval, stations, cells, notes };
  }

  tabular(): Tabular {
    const title = `${this.indicators.length} indicators in ${this.dataset}${this.where ? ` where ${this.where}` : ""} (${this.stations.length} stations)`;
    const byColumns = [...new Set(this.indicators.flatMap((i) => i.by))];
    const header = ["indicator", ...byColumns, "numerator", "denominator", "estimate", `${Math.round(this.level * 100)}% CI`];
    const rows = this.cells.map((c) => [c.indicator, ...byColumns.map((b) => c.group[b] ?? ""), ...formatProportion(c)]);
    const defs = this.indicators.map((i) => `${i.name}: ${i.numerator}${i.denominator ? ` among ${i.denominator}` : ""}${i.per === 1 ? "" : i.per === 100 ? " (%)" : ` (per ${i.per})`}`);
    const reasons = [...new Set(this.cells.flatMap((c) => (c.reason ? [`x: ${c.reason}`] : [])))];
    return { title, header, rows, numeric: header.map((_, i) => i > byColumns.length), notes: [...defs, ...reasons, ...generalNotes(this.notes)] };
  }
}

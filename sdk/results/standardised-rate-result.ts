import type { Provenance } from "../../common/provenance.js";
import { type GroupBy, INDICATOR_VALUES_PER_CELL } from "../../common/job.js";
import { cellLevels } from "./cells.js";
import { type ReleaseInput, type WithheldKind, generalNotes, marks } from "./release.js";
import { fayFeuerInterval } from "./intervals.js";
import { formatNumber } from "./table-text.js";
import { Result, type Tabular } from "./result.js";

export interface StandardisedRateCell {
  group: Record<string, string>;
  /** Events (numerator rows) over all age groups; null when withheld. */
  events: number | null;
  /** Population (denominator rows) over all age groups. */
  population: number | null;
  /** events / population × per. */
  crudeRate: number | null;
  /** Directly standardised rate × per: Σ_a w_a · events_a / population_a. */
  rate: number | null;
  /** Fay–Feuer gamma interval × per. */
  lower: number | null;
  upper: number | null;
  suppressed?: boolean;
  withheld?: WithheldKind;
  reason?: string;
  /** Why a rate is missing although the cell is not withheld (an age group with no population). */
  note?: string;
}

/**
 * Directly age-standardised rates: the age-specific rates of each group weighted by a reference
 * population the analyst supplies (weights normalised to sum to 1), with Fay & Feuer's gamma
 * interval (results/intervals.ts), from one indicator-set job grouped by [...by, age column].
 *
 * Disclosure: the stations release the age-specific [population, events] and withhold those of
 * 1 … k − 1 (station-daemon/release/); a group with a withheld age cell has no rate here, since
 * its rate would need the withheld numbers. Age-specific counts are not shown.
 */
export class StandardisedRateResult extends Result {
  readonly kind = "standardised_rate";
  readonly dataset: string;
  readonly where?: string;
  readonly condition: string;
  readonly ageColumn: string;
  /** Normalised reference weights by age group. */
  readonly reference: Record<string, number>;
  readonly by: string[];
  readonly per: number;
  readonly level: number;
  readonly interval = "Fay–Feuer gamma";
  readonly cells: StandardisedRateCell[];
  readonly stations: string[];
  readonly notes: string[];

  constructor(options: {
    dataset: string;
    where?: string;
    condition: string;
    age: GroupBy;
    reference: Record<string, number>;
    by: readonly GroupBy[];
    per?: number;
    level?: number;
    stations: string[];
    provenance?: Provenance;
  } & ReleaseInput) {
    super(options.provenance);
    const { age } = options;
    const withheld = options.withheld ?? new Uint8Array(options.sum.length);
    this.dataset = options.dataset;
    this.where = options.where;
    this.condition = options.condition;
    this.ageColumn = age.column;
    this.by = options.by.map((g) => g.column);
    this.per = options.per ?? 1000;
    this.level = options.level ?? 0.95;
    this.stations = options.stations;
    this.notes = options.notes ?? [];
    const total = age.levels.reduce((s, a) => s + options.reference[a], 0);
    this.reference = Object.fromEntries(age.levels.map((a) => [a, options.reference[a] / total]));
    const A = age.levels.length;
    const per = this.per;
    this.cells = cellLevels(options.by).map((group, g) => {
      let events = 0;
      let population = 0;
      let rate = 0;
      let variance = 0;
      let wMax = 0;
      const empty: string[] = [];
      let code = 0;
      age.levels.forEach((a, k) => {
        const at = INDICATOR_VALUES_PER_CELL * (g * A + k);
        code = Math.max(code, withheld[at], withheld[at + 1]);
        const n = Math.round(options.sum[at]);
        const d = Math.round(options.sum[at + 1]);
        const w = this.reference[a];
        events += d;
        population += n;
        if (n === 0) {
          if (w > 0) empty.push(a);
          return;
        }
        rate += (w * d) / n;
        variance += (w * w * d) / (n * n);
        wMax = Math.max(wMax, w / n);
      });
      if (code) return { group, events: null, population: null, crudeRate: null, rate: null, lower: null, upper: null, ...marks(code, this.notes) };
      const crudeRate = population > 0 ? (events / population) * per : NaN;
      if (empty.length > 0) {
        return { group, events, population, crudeRate, rate: null, lower: null, upper: null, note: `no population in age group ${empty.join(", ")}, so no standardised rate` };
      }
      const [lo, hi] = fayFeuerInterval({ rate, variance, wMax, level: this.level });
      return { group, events, population, crudeRate, rate: rate * per, lower: lo * per, upper: hi * per };
    });
  }

  get(group: Record<string, string> = {}): StandardisedRateCell | undefined {
    return this.cells.find((c) => this.by.every((b) => c.group[b] === group[b]));
  }

  protected resultJSON(): object {
    const { kind, dataset, where, condition, ageColumn, reference, by, per, level, interval, stations, cells, notes } = this;
    return { kind, dataset, where, condition, ageColumn, reference, by, per, level, interval, stations, cells, notes };
  }

  tabular(): Tabular {
    const title = `${this.condition} per ${this.per}, directly standardised by ${this.ageColumn}, in ${this.dataset}${this.where ? ` where ${this.where}` : ""} (${this.stations.length} stations)`;
    const header = [...this.by, "events", "population", "crude rate", "standardised rate", `${Math.round(this.level * 100)}% CI (${this.interval})`];
    const f = (x: number | null) => (x === null ? "x" : formatNumber(x, 2));
    const rows = this.cells.map((c) => [
      ...this.by.map((b) => c.group[b]),
      c.suppressed ? "x" : String(c.events),
      c.suppressed ? "x" : String(c.population),
      f(c.crudeRate),
      c.rate === null ? (c.suppressed ? "x" : "NA") : f(c.rate),
      c.rate === null ? "" : `${f(c.lower)} – ${f(c.upper)}`,
    ]);
    const notes = [...new Set(this.cells.flatMap((c) => [...(c.reason ? [`x: ${c.reason}`] : []), ...(c.note ? [c.note] : [])]))];
    return { title, header, rows, numeric: header.map((_, i) => i >= this.by.length), notes: [...notes, ...generalNotes(this.notes)] };
  }
}

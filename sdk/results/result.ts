import { inspect } from "node:util";
import type { Provenance } from "../../common/provenance.js";
import { type ResultRecord, cellRecords, dataFrameOf } from "./dataframe.js";
import { formatTextTable } from "./table-text.js";

/** A result as one table: what both the text form and a notebook's HTML table are made of. */
export interface Tabular {
  title: string;
  header: string[];
  rows: string[][];
  /** Right-aligned (numeric) columns. */
  numeric: boolean[];
  /** Lines under the table: totals, definitions, why cells are suppressed ("x"). */
  notes: string[];
}

/**
 * What every descriptive result shares. It prints as its readable table wherever Node inspects
 * it — console.log of an object that holds one, the REPL, and the value a tslab notebook cell
 * ends with — instead of as a dump of typed arrays; kernel-extensions renders the same table as
 * HTML. Its JSON carries the provenance last, so the numbers come first when a person reads it.
 */
export abstract class Result {
  /** How it was obtained: call, jobs, stations, snapshots, versions, time (common/provenance.ts). */
  readonly provenance?: Provenance;

  constructor(provenance: Provenance | undefined) {
    if (provenance) this.provenance = provenance;
  }

  abstract tabular(): Tabular;

  /** The result's own members, without provenance. */
  protected abstract resultJSON(): object;

  /**
   * One plain record per cell: group-by levels, then the numbers (withheld ones null, with
   * `suppressed` and `reason` when any cell is withheld). Results whose cells hold lists (a
   * histogram's bins, a quantile's probabilities) give one record per list entry instead.
   */
  records(): ResultRecord[] {
    return cellRecords((this as unknown as { cells?: object[] }).cells ?? []);
  }

  /**
   * `records()` as a danfo.js DataFrame. danfojs is an optional peer dependency, loaded only
   * here: without it this throws MissingDependency naming the install command.
   */
  toDataFrame(): Promise<import("danfojs").DataFrame> {
    return dataFrameOf(this.records());
  }

  toJSON(): object {
    const json = this.resultJSON();
    return this.provenance ? { ...json, provenance: this.provenance } : json;
  }

  toString(): string {
    const t = this.tabular();
    return [t.title, formatTextTable(t.header, t.rows, t.numeric), ...t.notes].join("\n");
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

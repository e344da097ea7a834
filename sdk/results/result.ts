import { inspect } from "node:util";
import type { Provenance } from "../../common/provenance.js";
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

import { inspect } from "node:util";
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
 * Results print as their readable table wherever Node inspects them — console.log of an object
 * that holds one, the REPL, and the value a tslab notebook cell ends with — instead of as a dump
 * of typed arrays and provenance; kernel-extensions renders the same table as HTML.
 */
export abstract class Printable {
  abstract tabular(): Tabular;

  toString(): string {
    const t = this.tabular();
    return [t.title, formatTextTable(t.header, t.rows, t.numeric), ...t.notes].join("\n");
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

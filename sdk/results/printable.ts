import { inspect } from "node:util";

/**
 * Results print as their readable table wherever Node inspects them — console.log of an object
 * that holds one, the REPL, and the value a tslab notebook cell ends with — instead of as a dump
 * of typed arrays and provenance.
 */
export abstract class Printable {
  abstract toString(): string;

  [inspect.custom](): string {
    return this.toString();
  }
}

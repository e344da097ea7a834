/**
 * CSV output as the station loader reads it: header row, comma separator, `true`/`false`
 * for booleans, an empty field for a missing value, plain decimal numbers.
 */
import type { SynthColumn } from "./types.js";

/** Rows per chunk handed to the writer: large enough to amortise I/O, small enough to stream. */
export const CHUNK_ROWS = 4096;

/** A text field, quoted (RFC 4180) only when it must be. */
export function csvText(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** An integer in plain decimal; all synthetic numbers are integers, so no exponent can arise. */
export function csvInt(value: number): string {
  if (!Number.isSafeInteger(value)) throw new Error(`synth: ${value} is not a safe integer`);
  return String(value);
}

export function csvBool(value: boolean): string {
  return value ? "true" : "false";
}

export function csvHeader(columns: readonly SynthColumn[]): string {
  return columns.map((c) => csvText(c.name)).join(",") + "\n";
}

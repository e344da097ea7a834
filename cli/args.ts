import { parseArgs as nodeParseArgs } from "node:util";
import { UsageError } from "./exit-codes.js";

export type OptionSpec = Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>;

export type ParsedValues<T extends OptionSpec> = {
  [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : T[K]["multiple"] extends true ? string[] : string;
} & { help?: boolean };

/** node:util parseArgs with our usage errors, so a typo exits 2 with the command's help hint. */
export function parseArgs<T extends OptionSpec>(argv: string[], options: T, command: string): { values: ParsedValues<T>; positionals: string[] } {
  try {
    const parsed = nodeParseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
    return { values: parsed.values as ParsedValues<T>, positionals: parsed.positionals };
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nsee: werkplaats ${command} --help`);
  }
}

export function wholeNumber(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number, got "${value}"`);
  return n;
}

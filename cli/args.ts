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
    const e = err as Error & { code?: string };
    if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const given = /'(-{1,2}[^']*)'/.exec(e.message)?.[1] ?? "";
      const name = given.replace(/^-+/, "").split("=")[0];
      const near = nearest(name, [...Object.keys(options), "help"]);
      throw new UsageError(`unknown option ${given}${near ? ` (did you mean --${near}?)` : ""}\nsee: werkplaats ${command} --help`);
    }
    throw new UsageError(`${e.message}\nsee: werkplaats ${command} --help`);
  }
}

/** The option most like `name` (edit distance at most a third of its length, at least 2), if any. */
export function nearest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const c of candidates) {
    const d = c.startsWith(name) && name.length >= 2 ? 1 : editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit (--dataste). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

export function wholeNumber(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number, got "${value}"`);
  return n;
}

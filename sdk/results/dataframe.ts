/**
 * Results as rows of plain values, and as danfo.js DataFrames.
 *
 * danfojs is an optional peer dependency: 1.1.2 brings TensorFlow.js (~390 MB installed), far
 * more than the SDK itself, so it is loaded here only when a DataFrame is asked for, and a
 * missing install is a MissingDependency naming the command that adds it.
 */
import { MissingDependency } from "../../common/errors.js";

export type RecordValue = string | number | boolean | null;
/** One row of a result: group-by levels first, then the result's numbers. */
export type ResultRecord = Record<string, RecordValue>;

export const DANFOJS_INSTALL = "npm install danfojs@1.1.2";

/**
 * One record per cell: each group-by column's level, then every scalar the cell holds (NaN and
 * withheld values as null), a tail such as a histogram's `missing: { count }` as its count.
 * `suppressed` and `reason` appear only when some cell is withheld, as false/null elsewhere.
 * Arrays (bins, quantiles) are left to the result's own records().
 */
export function cellRecords(cells: ReadonlyArray<object>, extra: (cell: object) => ResultRecord = () => ({})): ResultRecord[] {
  return fillColumns(
    cells.map((cell) => {
      const record: ResultRecord = { ...((cell as { group?: Record<string, string> }).group ?? {}) };
      for (const [key, value] of Object.entries(cell)) {
        if (key === "group" || Array.isArray(value)) continue;
        const scalar = scalarOf(value);
        if (scalar !== undefined) record[key] = scalar;
      }
      return { ...record, ...extra(cell) };
    }),
  );
}

function scalarOf(value: unknown): RecordValue | undefined {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isNaN(value) ? null : value;
  if (typeof value === "object" && value !== null && "count" in value) return scalarOf((value as { count: unknown }).count);
  return undefined;
}

/**
 * Every record gets every column, in order of first appearance: a withheld mark as false where
 * the cell is shown, anything else as null. Without any withheld cell the marks are left out.
 */
export function fillColumns(records: ResultRecord[]): ResultRecord[] {
  const columns: string[] = [];
  for (const r of records) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  const marks = ["suppressed", "reason"];
  const anyWithheld = records.some((r) => r.suppressed === true);
  const kept = columns.filter((c) => anyWithheld || !marks.includes(c));
  // The marks go last, after the numbers they explain.
  const ordered = [...kept.filter((c) => !marks.includes(c)), ...kept.filter((c) => marks.includes(c))];
  return records.map((r) => Object.fromEntries(ordered.map((c) => [c, r[c] ?? (c === "suppressed" ? false : null)])));
}

type Danfo = typeof import("danfojs");

let danfo: Promise<Danfo> | undefined;

/** danfojs, loaded once; MissingDependency when it is not installed where the SDK can import it. */
export function loadDanfo(): Promise<Danfo> {
  danfo ??= import("danfojs").then(
    (m) => ((m as { DataFrame?: unknown }).DataFrame ? m : (m as unknown as { default: Danfo }).default),
    (err: unknown) => {
      danfo = undefined;
      throw new MissingDependency(
        "danfojs",
        `toDataFrame() needs the danfojs package, an optional dependency of werkplaats (it brings TensorFlow.js, ~390 MB): ` +
          `run \`${DANFOJS_INSTALL}\` in your project or notebook folder`,
        err,
      );
    },
  );
  return danfo;
}

/** A DataFrame with one row per record; the columns of the first record, in order. */
export async function dataFrameOf(records: readonly ResultRecord[], columns?: readonly string[]): Promise<import("danfojs").DataFrame> {
  const { DataFrame } = await loadDanfo();
  const names = columns ?? Object.keys(records[0] ?? {});
  // Column-wise, so an empty result still has its columns, and a column of nulls keeps its name.
  const data: Record<string, RecordValue[]> = Object.fromEntries(names.map((c) => [c, records.map((r) => r[c] ?? null)]));
  return records.length === 0 ? new DataFrame([], { columns: [...names] }) : new DataFrame(data);
}

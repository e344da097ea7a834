/**
 * An independent reading of the synthetic CSV files, for checking federated statistics against
 * the pooled rows. Deliberately simple and separate from the station's loader: the synthetic
 * files have no quoted fields, so a split is a faithful parse.
 */
import { readFileSync } from "node:fs";

export type PooledRow = Record<string, string>;

export function readRows(files: readonly string[]): PooledRow[] {
  const rows: PooledRow[] = [];
  for (const file of files) {
    const lines = readFileSync(file, "utf8").split("\n").filter((l) => l.length > 0);
    const header = lines[0].split(",");
    for (const line of lines.slice(1)) {
      const cells = line.split(",");
      rows.push(Object.fromEntries(header.map((h, i) => [h, cells[i]])));
    }
  }
  return rows;
}

export const num = (v: string | undefined): number => (v === undefined || v === "" || v === "NA" ? NaN : Number(v));
export const isTrue = (v: string | undefined): boolean => v === "true";

export { seededRandom } from "./random.js";

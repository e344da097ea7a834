/**
 * Test fixtures for the GLM suites: tiny in-memory station tables, a seeded generator, the
 * "federation" that sums station vectors, and the statsmodels oracle over the pooled rows.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Column, Table } from "../station-daemon/data/table.js";
import { glmContribution } from "../station-daemon/compute/glm.js";
import { glmEvaluateContribution } from "../station-daemon/compute/glm-evaluate.js";
import type { GlmAggregate, GlmEvaluateComputation } from "../sdk/glm/index.js";
import { tempDir } from "./helpers/temp.js";

export type ColumnData = (number | null)[] | (boolean | null)[] | (string | null)[];

/** A table from plain arrays: numbers → numeric, booleans → boolean, strings → categorical. */
export function makeTable(name: string, data: Record<string, ColumnData>): Table {
  const columns = new Map<string, Column>();
  let rowCount = -1;
  for (const [column, columnValues] of Object.entries(data)) {
    const values = columnValues as (number | boolean | string | null)[];
    if (rowCount >= 0 && values.length !== rowCount) throw new Error(`column ${column} has ${values.length} rows`);
    rowCount = values.length;
    const sample = values.find((v) => v !== null);
    if (typeof sample === "string") {
      const levels = [...new Set(values.filter((v): v is string => v !== null))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const codes = Int32Array.from(values, (v) => (v === null ? -1 : levels.indexOf(v as string)));
      columns.set(column, { kind: "categorical", name: column, codes, levels });
    } else if (typeof sample === "boolean") {
      columns.set(column, { kind: "boolean", name: column, values: Float64Array.from(values, (v) => (v === null ? NaN : v ? 1 : 0)) });
    } else {
      columns.set(column, { kind: "numeric", name: column, values: Float64Array.from(values, (v) => (v === null ? NaN : (v as number))) });
    }
  }
  return { name, rowCount: Math.max(rowCount, 0), columns };
}

/** Splits column data into `k` stations of contiguous rows (sizes differ a little on purpose). */
export function splitData(data: Record<string, ColumnData>, k = 3): Record<string, ColumnData>[] {
  const n = Object.values(data)[0].length;
  const cuts = [0];
  for (let i = 1; i < k; i++) cuts.push(Math.round((n * i) / k + (i % 2 === 0 ? 1 : -1)));
  cuts.push(n);
  return cuts.slice(0, -1).map((from, i) =>
    Object.fromEntries(Object.entries(data).map(([c, v]) => [c, v.slice(from, cuts[i + 1]) as ColumnData])),
  );
}

export function stationTables(data: Record<string, ColumnData>, k = 3): Table[] {
  return splitData(data, k).map((part, i) => makeTable(`station${i + 1}`, part));
}

const allRows = (t: Table): Uint8Array => new Uint8Array(t.rowCount).fill(1);

/** The federation for tests: every station's glm vector, summed (what secure aggregation yields). */
export function federation(tables: Table[], log?: { rounds: number }): GlmAggregate {
  return async (_beta, computation) => {
    if (log) log.rounds++;
    let sum: Float64Array | undefined;
    for (const table of tables) {
      const v = glmContribution({ table, rows: allRows(table), computation });
      if (!sum) sum = v;
      else for (let i = 0; i < v.length; i++) sum[i] += v[i];
    }
    return sum!;
  };
}

export function evaluationFederation(tables: Table[]): (c: GlmEvaluateComputation) => Promise<Float64Array> {
  return async (computation) => {
    let sum: Float64Array | undefined;
    for (const table of tables) {
      const v = glmEvaluateContribution({ table, rows: allRows(table), computation });
      if (!sum) sum = v;
      else for (let i = 0; i < v.length; i++) sum[i] += v[i];
    }
    return sum!;
  };
}

// ---------------------------------------------------------------------------------------------

export { seededRandom } from "./helpers/random.js";

export function normalSampler(random: () => number): () => number {
  return () => {
    const u = 1 - random();
    const v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

export function poissonSample(random: () => number, mean: number): number {
  // Knuth for small means, normal approximation guarded for large (not used above ~30 here)
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= random();
  } while (p > l);
  return k - 1;
}

// ---------------------------------------------------------------------------------------------

const ORACLE = join(dirname(fileURLToPath(import.meta.url)), "oracle", "glm_oracle.py");
const PYTHON = "/usr/bin/python3";

export interface OracleFit {
  params: Record<string, number>;
  bse: Record<string, number>;
  pvalues: Record<string, number>;
  conf_int: Record<string, [number, number]>;
  deviance: number;
  null_deviance: number;
  llf: number;
  aic: number;
  bic_llf: number;
  pearson_chi2: number;
  scale: number;
  df_resid: number;
  nobs: number;
  iterations: number;
  converged: boolean;
  default_params: Record<string, number>;
  default_bse: Record<string, number>;
}

function runOracle<T>(request: object): T {
  const r = spawnSync(PYTHON, [ORACLE], { input: JSON.stringify(request), encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`oracle failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export const workDir = tempDir("werkplaats-glm-");

export function writeCsv(name: string, data: Record<string, ColumnData>): string {
  const path = join(workDir, name);
  const cols = Object.keys(data);
  const n = data[cols[0]].length;
  const lines = [cols.join(",")];
  for (let i = 0; i < n; i++) {
    lines.push(cols.map((c) => {
      const v = data[c][i];
      return v === null ? "" : typeof v === "boolean" ? (v ? "1" : "0") : String(v);
    }).join(","));
  }
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

export function oracleFit(request: {
  csv: string;
  formula: string;
  family: string;
  link?: string;
  offset?: { column: string; log?: boolean };
  weights?: string;
}): OracleFit {
  return runOracle<OracleFit>(request);
}

/** A dataset statsmodels ships, as numeric columns. */
export function statsmodelsDataset(name: string): Record<string, number[]> {
  const out = join(workDir, `${name}.csv`);
  runOracle({ export: name, out });
  const [header, ...lines] = readFileSync(out, "utf8").trim().split("\n");
  const cols = header.split(",");
  const data: Record<string, number[]> = Object.fromEntries(cols.map((c) => [c, [] as number[]]));
  for (const line of lines) line.split(",").forEach((v, i) => data[cols[i]].push(Number(v)));
  return data;
}

/** |a − b| within tol relative to |b|, or absolutely when b is near zero. */
export function close(a: number, b: number, tol = 1e-6): boolean {
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
}

export function relativeError(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(1, Math.abs(b));
}

/**
 * Parquet as a station data source: a file written here with hyparquet-writer loads into the
 * same Table as the CSV of the same rows (types from the file's schema, nulls missing, levels
 * sorted), computes the same vectors, and `station init --data x.parquet` infers the format.
 * Unreadable files and unsupported column types are DataFileInvalid errors naming file and column.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parquetWriteFile } from "hyparquet-writer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigInvalid, DataFileInvalid } from "../common/errors.js";
import type { JobSpec } from "../common/job.js";
import { initStation, loadConfig, parseDataArgument, saveConfig, validateConfig } from "../station-daemon/config.js";
import { loadCsv } from "../station-daemon/data/csv.js";
import type { Table } from "../station-daemon/data/table.js";
import { MemorySource, loadParquet } from "../station-daemon/sources/index.js";
import { Station } from "../station-daemon/station.js";
import { writeScenario } from "../synth/index.js";

let work: string;
let csvFile: string;
let parquetFile: string;
let csvTable: Table;

/** The Table's rows as a Parquet file, with typed, nullable columns (strings dictionary-encoded). */
function writeParquet(file: string, table: Table): void {
  const columnData = [...table.columns.values()].map((c) => {
    if (c.kind === "categorical") return { name: c.name, type: "STRING" as const, data: Array.from(c.codes, (k) => (k < 0 ? null : c.levels[k])) };
    if (c.kind === "boolean") return { name: c.name, type: "BOOLEAN" as const, data: Array.from(c.values, (v) => (Number.isNaN(v) ? null : v === 1)) };
    const integer = c.values.every((v) => Number.isNaN(v) || Number.isInteger(v));
    return { name: c.name, type: integer ? ("INT32" as const) : ("DOUBLE" as const), data: Array.from(c.values, (v) => (Number.isNaN(v) ? null : v)) };
  });
  parquetWriteFile({ filename: file, columnData, rowGroupSize: 1000 });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-parquet-"));
  csvFile = (await writeScenario({ scenario: "fall-risk", stations: 1, rows: 2500, seed: 7, out: join(work, "data") })).files[0];
  csvTable = await loadCsv({ file: csvFile, dataset: "fall_risk" });
  parquetFile = join(work, "clients.parquet");
  writeParquet(parquetFile, csvTable);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("Parquet data source", () => {
  it("loads the same columns, kinds, levels and values as the CSV of the same rows", async () => {
    const t = await loadParquet({ file: parquetFile, dataset: "fall_risk" });
    expect(t.rowCount).toBe(csvTable.rowCount);
    expect([...t.columns.keys()]).toEqual([...csvTable.columns.keys()]);
    for (const [name, c] of csvTable.columns) {
      const p = t.columns.get(name)!;
      expect(p.kind).toBe(c.kind);
      if (c.kind === "categorical" && p.kind === "categorical") {
        expect(p.levels).toEqual(c.levels);
        expect(Array.from(p.codes)).toEqual(Array.from(c.codes));
      } else if (c.kind !== "categorical" && p.kind !== "categorical") {
        expect(Array.from(p.values)).toEqual(Array.from(c.values));
      }
    }
    const q = t.columns.get("income_quintile")!;
    expect(q.kind === "numeric" && q.values.some(Number.isNaN)).toBe(true);
  });

  it("computes the same counts, moments and GLM vectors", async () => {
    const fromCsv = new MemorySource(csvTable, csvFile);
    const fromParquet = new MemorySource(await loadParquet({ file: parquetFile, dataset: "fall_risk" }), parquetFile);
    const jobs: JobSpec[] = [
      { dataset: "fall_risk", where: { kind: "compare", column: "age", op: ">=", value: { kind: "number", value: 75 } }, computation: { kind: "count", by: [{ column: "sex", levels: ["F", "M"] }] } },
      { dataset: "fall_risk", computation: { kind: "moments", column: "income_quintile", by: [{ column: "lives_alone", levels: ["false", "true"] }] } },
      { dataset: "fall_risk", computation: { kind: "glm", formula: "fell_12m ~ age + sex + prior_fall", family: "binomial", link: "logit", levels: { sex: ["F", "M"], prior_fall: ["FALSE", "TRUE"] }, beta: [-3, 0.02, 0.1, 0.5] } },
    ];
    for (const job of jobs) expect(await fromParquet.compute(job)).toEqual(await fromCsv.compute(job));
  });

  it("reads floats, nulls, NaN and text exactly as stored", async () => {
    const file = join(work, "types.parquet");
    parquetWriteFile({
      filename: file,
      columnData: [
        { name: "x", type: "DOUBLE", data: [1.5, null, Number.NaN, -2] },
        { name: "n", type: "INT64", data: [1n, 2n, null, 4n] },
        { name: "t", type: "STRING", data: ["b", " a", null, "b"] },
        { name: "f", type: "BOOLEAN", data: [true, null, false, true] },
      ],
    });
    const t = await loadParquet({ file, dataset: "d" });
    const col = (n: string) => t.columns.get(n)!;
    expect(col("x")).toMatchObject({ kind: "numeric" });
    expect(Array.from((col("x") as { values: Float64Array }).values)).toEqual([1.5, NaN, NaN, -2]);
    expect(Array.from((col("n") as { values: Float64Array }).values)).toEqual([1, 2, NaN, 4]);
    expect(col("t")).toMatchObject({ kind: "categorical", levels: [" a", "b"] });
    expect(Array.from((col("t") as { codes: Int32Array }).codes)).toEqual([1, 0, -1, 1]);
    expect(Array.from((col("f") as { values: Float64Array }).values)).toEqual([1, NaN, 0, 1]);
  });

  it("refuses an unreadable file and an unsupported column type, naming file and column", async () => {
    const garbage = join(work, "garbage.parquet");
    writeFileSync(garbage, "this is not parquet at all, just some text to read");
    const err = await loadParquet({ file: garbage, dataset: "d" }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DataFileInvalid);
    expect((err as Error).message).toContain(garbage);
    const dated = join(work, "dated.parquet");
    parquetWriteFile({ filename: dated, columnData: [{ name: "id", type: "INT32", data: [1, 2] }, { name: "seen", type: "TIMESTAMP", data: [new Date(0), new Date(1000)] }] });
    await expect(loadParquet({ file: dated, dataset: "d" })).rejects.toThrow(/dated\.parquet, column "seen": type INT64 TIMESTAMP.* is not supported/);
    await expect(loadParquet({ file: join(work, "none.parquet"), dataset: "d" })).rejects.toThrow(DataFileInvalid);
  });

  it("station init infers the format from the extension, and the station serves the file", async () => {
    expect(parseDataArgument(`fall_risk=${parquetFile}`)).toMatchObject({ name: "fall_risk", format: "parquet" });
    expect(parseDataArgument("clients.csv")).toMatchObject({ name: "clients", format: "csv" });
    const dir = join(work, "station");
    const { publicKey } = initStation({ dir, name: "homecare", data: [parseDataArgument(`fall_risk=${parquetFile}`)] });
    const config = loadConfig(dir);
    expect(config.datasets[0]).toMatchObject({ name: "fall_risk", format: "parquet" });
    saveConfig(dir, { ...config, roster: [{ name: "homecare", identityKey: publicKey }] });
    const station = await Station.open(dir);
    try {
      const info = station.info();
      expect(info.datasets[0].columns.map((c) => c.name)).toEqual([...csvTable.columns.keys()]);
    } finally {
      await station.stop();
    }
  });
});

describe("station.json dataset sources", () => {
  const base = { name: "s", listen: "127.0.0.1:0", roster: [] };
  const check = (datasets: unknown[]) => validateConfig({ ...base, datasets }, "station.json");

  it("accepts files (format from the extension when absent) and PostgreSQL tables", () => {
    const config = check([
      { name: "a", file: "a.csv" },
      { name: "b", file: "b.parquet" },
      { name: "c", source: "postgres", table: "zorg.clients", connection: { env: "WERKPLAATS_PG_URL" } },
      { name: "d", source: "postgres", table: "clients", connection: { file: "pg.url" }, maxLevels: 50 },
    ]);
    expect(config.datasets.map((d) => ("format" in d ? d.format : d.source))).toEqual(["csv", "parquet", "postgres", "postgres"]);
  });

  it("names the field of a bad source", () => {
    expect(() => check([{ name: "a", file: "a.x", format: "xlsx" }])).toThrow(/datasets\[0\]\.format.*csv, parquet/);
    expect(() => check([{ name: "a", source: "mysql", table: "t" }])).toThrow(/datasets\[0\]\.source/);
    expect(() => check([{ name: "a", source: "postgres", table: "t; DROP TABLE x", connection: { env: "X" } }])).toThrow(/datasets\[0\]\.table/);
    expect(() => check([{ name: "a", source: "postgres", table: "t", connection: "postgresql://u:pw@h/db" }])).toThrow(/datasets\[0\]\.connection.*never the connection string/);
    expect(() => check([{ name: "a", source: "postgres", table: "t", connection: { url: "postgresql://u:pw@h/db" } }])).toThrow(/datasets\[0\]\.connection/);
    expect(() => check([{ name: "a", source: "postgres", table: "t", connection: { env: "X" }, file: "a.csv" }])).toThrow(/"datasets\[0\]\.file" is not a known field/);
    expect(() => check([{ name: "a", source: "postgres", table: "t", connection: { env: "X" } }])).not.toThrow();
    expect(ConfigInvalid).toBeDefined();
  });
});

import { mkdtempSync, rmSync, writeFileSync, createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareCodePoints, loadCsv, loadCsvText, MISSING_MARKERS } from "../station-daemon/data/csv.js";
import { DataFileInvalid } from "../common/errors.js";
import type { Column, Table } from "../station-daemon/data/table.js";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/csv/${name}`, import.meta.url));

function column<K extends Column["kind"]>(table: Table, name: string, kind: K): Extract<Column, { kind: K }> {
  const c = table.columns.get(name);
  expect(c?.kind, `kind of ${name}`).toBe(kind);
  return c as Extract<Column, { kind: K }>;
}

/** Category values per row, undefined for missing. */
function categories(table: Table, name: string): (string | undefined)[] {
  const c = column(table, name, "categorical");
  return [...c.codes].map((code) => (code < 0 ? undefined : c.levels[code]));
}

async function failure(load: Promise<unknown>): Promise<DataFileInvalid> {
  const error = await load.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(DataFileInvalid);
  return error as DataFileInvalid;
}

const text = (csv: string) => loadCsvText({ text: csv, dataset: "d", file: "inline.csv" });

describe("loadCsv: type inference", () => {
  it("infers numeric, boolean and categorical columns from a station file", async () => {
    const table = await loadCsv({ file: fixture("clients.csv"), dataset: "clients" });
    expect(table.name).toBe("clients");
    expect(table.rowCount).toBe(5);
    expect([...table.columns.keys()]).toEqual(["id", "age", "sex", "region", "lives_alone", "income", "note"]);
    expect([...column(table, "id", "numeric").values]).toEqual([1, 2, 3, 4, 5]);
    expect([...column(table, "age", "numeric").values]).toEqual([71, NaN, 66, 80.5, -20]);
    expect([...column(table, "lives_alone", "boolean").values]).toEqual([1, 0, 1, NaN, 0]);
    expect([...column(table, "income", "numeric").values]).toEqual([31000, NaN, NaN, NaN, NaN]);
    expect(column(table, "region", "categorical").levels).toEqual(["Noord", "Oost", "Zuid", "zuid"]);
    expect(categories(table, "region")).toEqual(["Noord", "Zuid", "Noord", "Oost", "zuid"]);
    expect(column(table, "sex", "categorical").levels).toEqual(["F", "M", "X"]);
    expect(categories(table, "note")).toEqual(
      ["likes walking, cycling", 'said "no" twice', "two\nlines", undefined, "plain"]);
    expect(column(table, "note", "categorical").levels).toEqual(
      ["likes walking, cycling", "plain", 'said "no" twice', "two\nlines"]);
  });

  it("treats empty fields and NA, na, N/A and NaN as missing, quoted or not", async () => {
    expect(MISSING_MARKERS).toEqual(["NA", "na", "N/A", "NaN"]);
    const table = await text('x,y\n1,a\nNA,NA\nna,""\n"NA",N/A\nNaN,b\n,"na"\n');
    expect([...column(table, "x", "numeric").values]).toEqual([1, NaN, NaN, NaN, NaN, NaN]);
    expect(categories(table, "y")).toEqual(["a", undefined, undefined, undefined, "b", undefined]);
  });

  it("keeps null, None and - as text", async () => {
    const table = await text("x\n1\nnull\n-\nNone\n");
    expect(categories(table, "x")).toEqual(["1", "null", "-", "None"]);
  });

  it("reads true and false in any letter case as boolean, but keeps 0/1 numeric", async () => {
    const table = await text("a,b,c\nTRUE,1,true\nfalse,0,yes\nTrue,1,false\nNA,,\n");
    expect([...column(table, "a", "boolean").values]).toEqual([1, 0, 1, NaN]);
    expect([...column(table, "b", "numeric").values]).toEqual([1, 0, 1, NaN]);
    expect(column(table, "c", "categorical").levels).toEqual(["false", "true", "yes"]);
  });

  it("accepts decimal numbers only: signs, fractions and exponents, not hex, Infinity or commas", async () => {
    const ok = await text("x\n+1\n-2.5\n.5\n5.\n1e3\n-1.5E-2\n007\n");
    expect([...column(ok, "x", "numeric").values]).toEqual([1, -2.5, 0.5, 5, 1000, -0.015, 7]);
    for (const odd of ["0x1F", "Infinity", "1,5", "1e999", "1_000", "--1", "1e"]) {
      const table = await text(`x\n1\n"${odd}"\n`);
      expect(column(table, "x", "categorical").levels, odd).toEqual(["1", odd].sort(compareCodePoints));
    }
  });

  it("keeps the exact text of numbers when a column turns out to be categorical late", async () => {
    const rows = Array.from({ length: 5000 }, (_, i) => (i % 3 === 0 ? "1.0" : i % 3 === 1 ? "01" : "1"));
    const table = await text(`code,n\n${rows.map((r, i) => `${r},${i}`).join("\n")}\nX,5000\n`);
    expect(column(table, "code", "categorical").levels).toEqual(["01", "1", "1.0", "X"]);
    const values = categories(table, "code");
    expect(values.slice(0, 4)).toEqual(["1.0", "01", "1", "1.0"]);
    expect(values[5000]).toBe("X");
    expect(column(table, "n", "numeric").values[4999]).toBe(4999);
  });

  it("sorts levels by code point, not by UTF-16 unit or locale", async () => {
    const table = await text("x\nb\nB\né\n😀\n\uff01\na\n");
    // U+FF01 sorts before U+1F600 by code point, after it by UTF-16 unit.
    expect(column(table, "x", "categorical").levels).toEqual(["B", "a", "b", "é", "\uff01", "😀"]);
  });

  it("makes an all-missing column numeric with every value NaN", async () => {
    const table = await text("x,empty\n1,\n2,NA\n");
    expect([...column(table, "empty", "numeric").values]).toEqual([NaN, NaN]);
  });

  it("loads a header without rows as an empty table", async () => {
    const table = await text("a,b\n");
    expect(table.rowCount).toBe(0);
    expect(column(table, "a", "numeric").values).toHaveLength(0);
  });

  it("drops spaces around values and the header, strips a UTF-8 BOM, reads CRLF and skips blank lines", async () => {
    const table = await text('\ufeff id , sex \r\n1, M\r\n\r\n  \r\n2 ,"F "\r\n');
    expect([...table.columns.keys()]).toEqual(["id", "sex"]);
    expect([...column(table, "id", "numeric").values]).toEqual([1, 2]);
    expect(categories(table, "sex")).toEqual(["M", "F"]);
  });
});

describe("loadCsv: malformed files name the file and line", () => {
  it("refuses a ragged row, naming the file and its line", async () => {
    const error = await failure(loadCsv({ file: fixture("ragged.csv"), dataset: "d" }));
    expect(error.file).toBe(fixture("ragged.csv"));
    expect(error.line).toBe(3);
    expect(error.message).toBe(`${fixture("ragged.csv")}, line 3: the row has 2 fields; the header has 3`);
    expect(error.code).toBe("DATA_FILE_INVALID");
  });

  it("counts lines inside quoted values, also with CRLF line ends", async () => {
    const error = await failure(loadCsv({ file: fixture("crlf-ragged.csv"), dataset: "d" }));
    expect(error.line).toBe(5);
  });

  it("refuses an unterminated quote at the line where the quoted value opens", async () => {
    const error = await failure(loadCsv({ file: fixture("unterminated-quote.csv"), dataset: "d" }));
    expect(error.line).toBe(3);
    expect(error.column).toBe("b");
    expect(error.message).toMatch(/unterminated-quote\.csv, line 3, column "b": a quoted value .* is never closed/);
  });

  it("refuses a stray quote after a quoted value and inside an unquoted one", async () => {
    const after = await failure(text('a,b\n1,2\n3,"x"y\n'));
    expect([after.line, after.column]).toEqual([3, "b"]);
    expect(after.message).toMatch(/closing quote is followed by other characters/);
    const inside = await failure(text('a,b\n1,2\n3,2\n4,x"y\n'));
    expect(inside.line).toBe(4);
    expect(inside.message).toMatch(/a quote inside an unquoted value/);
  });

  it("refuses a duplicate column name, naming it", async () => {
    const error = await failure(loadCsv({ file: fixture("duplicate-header.csv"), dataset: "d" }));
    expect([error.line, error.column]).toEqual([1, "age"]);
    expect(error.message).toMatch(/the header names this column twice/);
  });

  it("refuses an empty column name", async () => {
    const error = await failure(text("a,,c\n1,2,3\n"));
    expect(error.message).toMatch(/line 1: header field 2 is empty/);
  });

  it("refuses an empty file, and one holding only a BOM and blank lines", async () => {
    const error = await failure(loadCsv({ file: fixture("empty.csv"), dataset: "d" }));
    expect(error.message).toMatch(/empty\.csv, line 1: the file is empty; a header row is required/);
    await failure(text("\ufeff\n\n  \n"));
  });

  it("refuses bytes that are not UTF-8 with their line, and UTF-16 files", async () => {
    const bad = Buffer.concat([Buffer.from("a,b\n1,x\n2,"), Buffer.from([0xe9]), Buffer.from("t\n")]);
    const error = await failure(loadCsvText({ text: bad, dataset: "d", file: "latin1.csv" }));
    expect(error.message).toBe("latin1.csv, line 3: the file is not valid UTF-8");
    const truncated = Buffer.concat([Buffer.from("a\n1\n"), Buffer.from([0xf0, 0x9f])]);
    expect((await failure(loadCsvText({ text: truncated, dataset: "d" }))).line).toBe(3);
    const utf16 = Buffer.from("\ufeffa,b\n1,2\n", "utf16le");
    expect((await failure(loadCsvText({ text: utf16, dataset: "d" }))).message).toMatch(/UTF-16/);
  });

  it("reads multi-byte characters split across read chunks", async () => {
    const dir = mkdtempSync(join(tmpdir(), "werkplaats-csv-"));
    try {
      const file = join(dir, "split.csv");
      writeFileSync(file, `x\n${"é😀\n".repeat(400_000)}`);
      const table = await loadCsv({ file, dataset: "d" });
      expect(table.rowCount).toBe(400_000);
      expect(column(table, "x", "categorical").levels).toEqual(["é😀"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a file that does not exist", async () => {
    const error = await failure(loadCsv({ file: "/nonexistent/x.csv", dataset: "d" }));
    expect(error.message).toMatch(/\/nonexistent\/x\.csv: cannot read the file \(ENOENT\)/);
  });
});

describe("loadCsv: a large file", () => {
  let dir: string;
  const rows = 200_000;
  const expected = { age: 0, income: 0, incomeMissing: 0, alone: 0, regions: new Map<string, number>() };
  const regions = ["Noord", "Zuid", "Oost", "West", "Midden, \"centrum\""];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "werkplaats-csv-"));
    const out = createWriteStream(join(dir, "big.csv"));
    out.write("id,age,sex,region,income,lives_alone,bmi,falls,diabetes,quintile,wait_days,score\n");
    let chunk = "";
    for (let i = 0; i < rows; i++) {
      const age = 55 + ((i * 7) % 45);
      const income = i % 13 === 0 ? undefined : 15000 + ((i * 7919) % 60000) + 0.25;
      const alone = i % 3 === 0;
      const region = regions[(i * 11) % regions.length];
      expected.age += age;
      if (income === undefined) expected.incomeMissing++;
      else expected.income += income;
      if (alone) expected.alone++;
      expected.regions.set(region, (expected.regions.get(region) ?? 0) + 1);
      const quoted = `"${region.replaceAll('"', '""')}"`;
      chunk += `${i},${age},${i % 2 ? "M" : "F"},${quoted},${income ?? "NA"},${alone ? "TRUE" : "FALSE"},` +
        `${(18 + (i % 170) / 10).toFixed(1)},${i % 5},${i % 7 === 0},${1 + (i % 5)},${(i * 31) % 365},${Math.sin(i).toFixed(6)}\n`;
      if (chunk.length > 1 << 16) {
        if (!out.write(chunk)) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
        chunk = "";
      }
    }
    out.end(chunk);
    await new Promise<void>((resolve) => out.once("finish", () => resolve()));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("loads 200 000 rows of 12 columns with the right sums", async () => {
    const table = await loadCsv({ file: join(dir, "big.csv"), dataset: "big" });
    expect(table.rowCount).toBe(rows);
    expect(table.columns.size).toBe(12);
    const sum = (values: Float64Array) => values.reduce((s, v) => (Number.isNaN(v) ? s : s + v), 0);
    expect(sum(column(table, "age", "numeric").values)).toBe(expected.age);
    const income = column(table, "income", "numeric").values;
    expect(sum(income)).toBeCloseTo(expected.income, 2);
    expect(income.filter(Number.isNaN).length).toBe(expected.incomeMissing);
    expect(sum(column(table, "lives_alone", "boolean").values)).toBe(expected.alone);
    column(table, "diabetes", "boolean");
    const region = column(table, "region", "categorical");
    expect(region.levels).toEqual([...expected.regions.keys()].sort(compareCodePoints));
    const counts = new Map<string, number>();
    for (const code of region.codes) counts.set(region.levels[code], (counts.get(region.levels[code]) ?? 0) + 1);
    expect(counts).toEqual(expected.regions);
    expect(column(table, "quintile", "numeric").values[12]).toBe(3);
  });
});

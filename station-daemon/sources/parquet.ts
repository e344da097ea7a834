/**
 * Loads a station's Parquet file into the same column-wise `Table` as a CSV file, with hyparquet.
 *
 * Types come from the file's schema, not from guessing: integer and floating-point columns
 * (INT32, INT64, FLOAT, DOUBLE, DECIMAL, FLOAT16) are numeric, BOOLEAN is boolean, and text
 * (BYTE_ARRAY as STRING/UTF8/ENUM, or without annotation, dictionary-encoded or not) is
 * categorical with its distinct values sorted by code point as levels. Nulls, and NaN in a float
 * column, are missing. Strings are taken exactly as stored: a typed file has real nulls, so
 * unlike a CSV file no text ("", "NA") is read as missing. Dates, timestamps, times, JSON,
 * binary, UUIDs and nested columns are refused with an error naming the file and column
 * (convert them to a number or text before export). INT64 values beyond 2^53 lose precision, as
 * they would in any double.
 */
import { promises as fs } from "node:fs";
import { type SchemaElement, type SchemaTree, asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetSchema } from "hyparquet";
import { DataFileInvalid, WerkplaatsError } from "../../common/errors.js";
import { compareCodePoints } from "../data/csv.js";
import type { Column, ColumnKind, Table } from "../data/table.js";

const NUMERIC_PHYSICAL = new Set(["INT32", "INT64", "FLOAT", "DOUBLE"]);
const UNSUPPORTED_CONVERTED = new Set(["DATE", "TIME_MILLIS", "TIME_MICROS", "TIMESTAMP_MILLIS", "TIMESTAMP_MICROS", "JSON", "BSON", "INTERVAL", "MAP", "MAP_KEY_VALUE", "LIST"]);
const UNSUPPORTED_LOGICAL = new Set(["DATE", "TIME", "TIMESTAMP", "JSON", "BSON", "UUID", "INTERVAL", "MAP", "LIST", "VARIANT", "GEOMETRY", "GEOGRAPHY", "NULL"]);

/** The column kind a Parquet leaf maps to, or why it cannot be loaded. */
export function parquetColumnKind(element: SchemaElement): ColumnKind | { unsupported: string } {
  const logical = element.logical_type?.type;
  const converted = element.converted_type;
  const described = [element.type, logical ?? converted].filter(Boolean).join(" ");
  if (element.repetition_type === "REPEATED") return { unsupported: "a repeated (list) column" };
  if ((logical && UNSUPPORTED_LOGICAL.has(logical)) || (converted && UNSUPPORTED_CONVERTED.has(converted))) {
    return { unsupported: `type ${described}` };
  }
  if (element.type === "BOOLEAN") return "boolean";
  if (element.type !== undefined && NUMERIC_PHYSICAL.has(element.type)) return "numeric";
  if (logical === "DECIMAL" || converted === "DECIMAL" || logical === "FLOAT16") return "numeric";
  if (element.type === "BYTE_ARRAY" && (logical === undefined || logical === "STRING" || logical === "ENUM") && (converted === undefined || converted === "UTF8" || converted === "ENUM")) {
    return "categorical";
  }
  return { unsupported: `type ${described || "unknown"}` };
}

interface Builder {
  name: string;
  kind: ColumnKind;
  values?: Float64Array;
  codes?: Int32Array;
  seen?: Map<string, number>;
}

/** Loads `file` as the dataset `dataset`; throws DataFileInvalid naming the file (and column). */
export async function loadParquet(options: { file: string; dataset: string }): Promise<Table> {
  const { file } = options;
  const stat = await fs.stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new DataFileInvalid({ file, reason: `cannot read the file (${error.code ?? error.message})` });
  });
  if (!stat.isFile()) throw new DataFileInvalid({ file, reason: "not a regular file" });
  const buffer = await asyncBufferFromFile(file);
  let tree: SchemaTree;
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  try {
    metadata = await parquetMetadataAsync(buffer);
    tree = parquetSchema(metadata);
  } catch (err) {
    throw new DataFileInvalid({ file, reason: `not a readable Parquet file (${(err as Error).message})` });
  }
  const rowCount = Number(metadata.num_rows);
  if (!Number.isSafeInteger(rowCount) || rowCount < 0) throw new DataFileInvalid({ file, reason: "the file's row count is not valid" });
  const builders: Builder[] = [];
  const names = new Set<string>();
  for (const child of tree.children) {
    const name = child.element.name;
    if (child.children.length > 0) throw new DataFileInvalid({ file, column: name, reason: "a nested (struct, list or map) column is not supported" });
    if (names.has(name)) throw new DataFileInvalid({ file, column: name, reason: "the column name appears twice" });
    names.add(name);
    const kind = parquetColumnKind(child.element);
    if (typeof kind !== "string") {
      throw new DataFileInvalid({ file, column: name, reason: `${kind.unsupported} is not supported (numbers, booleans and text are; convert it before export)` });
    }
    builders.push(
      kind === "categorical"
        ? { name, kind, codes: new Int32Array(rowCount).fill(-1), seen: new Map() }
        : { name, kind, values: new Float64Array(rowCount).fill(NaN) },
    );
  }
  if (builders.length === 0) throw new DataFileInvalid({ file, reason: "the file has no columns" });
  const byName = new Map(builders.map((b) => [b.name, b]));
  const filled = new Map(builders.map((b) => [b.name, 0]));
  try {
    await parquetRead({
      file: buffer,
      metadata,
      onChunk: (chunk) => {
        const b = byName.get(chunk.columnName);
        if (!b) return;
        const data = chunk.columnData as ArrayLike<unknown>;
        const end = Math.min(chunk.rowEnd, rowCount);
        for (let r = chunk.rowStart, i = 0; r < end; r++, i++) storeValue(b, r, data[i], file);
        filled.set(b.name, filled.get(b.name)! + Math.max(0, end - chunk.rowStart));
      },
    });
  } catch (err) {
    if (err instanceof WerkplaatsError) throw err;
    throw new DataFileInvalid({ file, reason: `cannot decode the file (${(err as Error).message})` });
  }
  for (const b of builders) {
    if (filled.get(b.name)! < rowCount) throw new DataFileInvalid({ file, column: b.name, reason: "the column holds fewer values than the file has rows" });
  }
  const columns = new Map<string, Column>();
  for (const b of builders) columns.set(b.name, finish(b));
  return { name: options.dataset, rowCount, columns };
}

function storeValue(b: Builder, row: number, value: unknown, file: string): void {
  if (value === null || value === undefined) return;
  switch (b.kind) {
    case "numeric": {
      const v = typeof value === "bigint" ? Number(value) : value;
      if (typeof v !== "number") throw new DataFileInvalid({ file, column: b.name, reason: `a value of type ${typeof value} where a number was expected` });
      b.values![row] = v;
      return;
    }
    case "boolean":
      if (typeof value !== "boolean") throw new DataFileInvalid({ file, column: b.name, reason: `a value of type ${typeof value} where a boolean was expected` });
      b.values![row] = value ? 1 : 0;
      return;
    case "categorical": {
      if (typeof value !== "string") throw new DataFileInvalid({ file, column: b.name, reason: `a value of type ${typeof value} where text was expected` });
      let code = b.seen!.get(value);
      if (code === undefined) {
        code = b.seen!.size;
        b.seen!.set(value, code);
      }
      b.codes![row] = code;
      return;
    }
  }
}

function finish(b: Builder): Column {
  if (b.kind !== "categorical") return { kind: b.kind, name: b.name, values: b.values! };
  const levels = [...b.seen!.keys()].sort(compareCodePoints);
  const remap = new Int32Array(levels.length);
  levels.forEach((level, i) => (remap[b.seen!.get(level)!] = i));
  const codes = b.codes!;
  for (let r = 0; r < codes.length; r++) if (codes[r] >= 0) codes[r] = remap[codes[r]];
  return { kind: "categorical", name: b.name, codes, levels };
}

/**
 * The fingerprint of a dataset snapshot: SHA-256 over a canonical encoding of a table's columns
 * (name, kind, categorical levels and every value, row by row in load order), so that an analyst
 * replaying a published result can tell whether a station still holds the same data. It reveals
 * nothing but equality with another table's fingerprint.
 *
 * Only the columns a study may see go in (the caller passes them), so a change in a column the
 * study cannot see does not show, and equality of unreleased columns is never revealed.
 */
import { createHash } from "node:crypto";
import type { Column, Table } from "./table.js";

/** Tag and version of the encoding: a change to it must change every fingerprint. */
const DOMAIN = "werkplaats.dataset-fingerprint.v1";

const cache = new WeakMap<Table, Map<string, string>>();

/** Hex SHA-256 of the table restricted to `columns` (in the table's order); cached per table. */
export function tableFingerprint(table: Table, columns: readonly Column[]): string {
  const key = columns.map((c) => c.name).join("\u0000");
  let perTable = cache.get(table);
  if (!perTable) cache.set(table, (perTable = new Map()));
  const known = perTable.get(key);
  if (known) return known;
  const hash = createHash("sha256");
  const text = (s: string) => {
    const bytes = Buffer.from(s, "utf8");
    hash.update(u32(bytes.length));
    hash.update(bytes);
  };
  text(DOMAIN);
  hash.update(u32(table.rowCount));
  hash.update(u32(columns.length));
  for (const column of columns) {
    text(column.name);
    text(column.kind);
    if (column.kind === "categorical") {
      hash.update(u32(column.levels.length));
      for (const level of column.levels) text(level);
      hash.update(littleEndian(new Int32Array(column.codes.subarray(0, table.rowCount))));
    } else {
      // NaN (missing) has many bit patterns and -0 equals 0: one canonical encoding each, so that
      // the same values always give the same bytes.
      const values = new Float64Array(table.rowCount);
      for (let i = 0; i < table.rowCount; i++) {
        const v = column.values[i];
        values[i] = Number.isNaN(v) ? NaN : v === 0 ? 0 : v;
      }
      hash.update(littleEndian(values));
    }
  }
  const fingerprint = hash.digest("hex");
  perTable.set(key, fingerprint);
  return fingerprint;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** The array's bytes in little-endian order whatever the machine's. */
function littleEndian(array: Float64Array | Int32Array): Uint8Array {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) return bytes;
  const copy = Buffer.from(bytes);
  if (array instanceof Float64Array) copy.swap64();
  else copy.swap32();
  return copy;
}

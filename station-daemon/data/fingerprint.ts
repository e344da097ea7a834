/**
 * The fingerprint of a dataset snapshot: HMAC-SHA256, under a per-station secret, over a canonical
 * encoding of a table's columns (name, kind, categorical levels and every value, row by row in
 * load order), so that an analyst replaying a published result can tell whether a station still
 * holds the same data.
 *
 * Keyed, because an unkeyed hash of the values is a test for guesses: whoever knows the rest of a
 * table could try each value of the one cell they do not know and compare. Under the station's
 * secret, two fingerprints reveal only whether two snapshots of the same station are equal.
 *
 * The secret: DIR/fingerprint.key (32 bytes, hex, mode 0600) when the station folder has one, else
 * derived (HKDF-SHA256, own label) from the station's identity key — stable for as long as the
 * station keeps its identity. A steward who rotates the identity key and wants fingerprints to stay
 * comparable writes the old secret to fingerprint.key first.
 *
 * Local stations (`werkplaats glm --local`, the demo, `LocalFederation`) are created afresh for
 * every run, each with a new identity key, so their secret cannot come from it: LocalFederation
 * writes a fingerprint.key derived from the station's name and the bytes of its data files
 * (localFingerprintKey). A replay of a `--local` result therefore sees the same fingerprint while
 * the files are unchanged. That secret is no secret from whoever has the files — the analyst who
 * ran `--local` on them — so a `--local` result's fingerprint is as revealing as a hash of its
 * files: fine for the analyst's own files, not for publishing a result of files others must not
 * be able to test guesses against.
 *
 * Only the columns a study may see go in (the caller passes them), so a change in a column the
 * study cannot see does not show, and equality of unreleased columns is never revealed.
 */
import { createHash, createHmac, hkdfSync } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigInvalid } from "../../common/errors.js";
import { fromHex } from "../../common/hex.js";
import type { Column, Table } from "./table.js";

/** Tag and version of the encoding: a change to it must change every fingerprint. */
const DOMAIN = "werkplaats.dataset-fingerprint.v2";
const KEY_LABEL = "werkplaats.v2/dataset-fingerprint-key";
const LOCAL_KEY_LABEL = "werkplaats.v2/local-station-fingerprint-key";

/** A station folder's own fingerprint secret (see the file comment). */
export const FINGERPRINT_KEY_FILE = "fingerprint.key";

/** The station's fingerprint secret: DIR/fingerprint.key, or derived from the identity key. */
export function fingerprintKey(dir: string, identitySecretKey: Uint8Array): Uint8Array {
  const file = join(resolve(dir), FINGERPRINT_KEY_FILE);
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) throw new ConfigInvalid(`${file} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${file}`);
    return fromHex(readFileSync(file, "utf8").trim(), file, 32);
  }
  return new Uint8Array(hkdfSync("sha256", identitySecretKey, new Uint8Array(0), KEY_LABEL, 32));
}

/**
 * The fingerprint secret of a local station: from its name and its data files' bytes (dataset
 * name → file), the same in every run on the same files.
 */
export function localFingerprintKey(station: string, files: Record<string, string>): Uint8Array {
  const hash = createHash("sha256");
  const text = (s: string) => {
    const bytes = Buffer.from(s, "utf8");
    hash.update(u32(bytes.length));
    hash.update(bytes);
  };
  text(LOCAL_KEY_LABEL);
  text(station);
  for (const name of Object.keys(files).sort()) {
    text(name);
    hash.update(createHash("sha256").update(readFileSync(files[name])).digest());
  }
  return new Uint8Array(hash.digest());
}

const cache = new WeakMap<Table, Map<string, string>>();

/** Hex HMAC-SHA256 under `key` of the table restricted to `columns` (in the table's order); cached per table. */
export function tableFingerprint(table: Table, columns: readonly Column[], key: Uint8Array): string {
  if (!(key instanceof Uint8Array) || key.length < 16) throw new Error("a dataset fingerprint needs the station's fingerprint key");
  const cacheKey = Buffer.from(createHash("sha256").update(key).digest()).toString("hex") + "\u0000" + columns.map((c) => c.name).join("\u0000");
  let perTable = cache.get(table);
  if (!perTable) cache.set(table, (perTable = new Map()));
  const known = perTable.get(cacheKey);
  if (known) return known;
  const hash = createHmac("sha256", key);
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
  perTable.set(cacheKey, fingerprint);
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

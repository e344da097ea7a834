/**
 * Record keys for cell-key perturbation (common/perturbation.ts): one random integer per row of a
 * dataset snapshot, drawn with the operating system's CSPRNG — never derived from the row's values,
 * so a key says nothing about the row and nothing about the row can be learned from it. They are
 * kept in the station folder, `record-keys/<dataset>-<snapshot>.keys` (mode 0600), so the same row
 * keeps its key across restarts: a key that changed at every restart would let an analyst average
 * the noise away by asking again after each. A new snapshot (other rows) gets new keys.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tableFingerprint } from "../data/fingerprint.js";
import type { Table } from "../data/table.js";

export const RECORD_KEYS_DIR = "record-keys";

const folders = new WeakMap<Table, string>();
const loaded = new WeakMap<Table, Uint16Array>();

/** Tells the release module where `table`'s record keys live (Station.open, for file datasets). */
export function attachRecordKeys(options: { dir: string; table: Table }): void {
  folders.set(options.table, options.dir);
}

const LOCAL_SNAPSHOT_KEY = new Uint8Array(32);

/** The table's record keys, loaded or made on first use; undefined when none can exist here. */
export function recordKeysOf(table: Table): Uint16Array | undefined {
  const known = loaded.get(table);
  if (known) return known;
  const dir = folders.get(table);
  if (dir === undefined || table.rowCount === 0) return undefined;
  const folder = join(dir, RECORD_KEYS_DIR);
  // Only a file name inside the station folder, never sent anywhere: a fixed key is enough to
  // tell snapshots apart (the station's secret key keys the fingerprints it publishes).
  const snapshot = tableFingerprint(table, [...table.columns.values()], LOCAL_SNAPSHOT_KEY).slice(0, 32);
  const file = join(folder, `${table.name}-${snapshot}.keys`);
  let keys: Uint16Array;
  if (existsSync(file)) {
    const bytes = readFileSync(file);
    if (bytes.length !== 2 * table.rowCount) throw new Error(`${file} holds ${bytes.length / 2} record keys for ${table.rowCount} rows; remove it to make new keys`);
    keys = new Uint16Array(table.rowCount);
    for (let r = 0; r < keys.length; r++) keys[r] = bytes.readUInt16LE(2 * r);
  } else {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    const bytes = randomBytes(2 * table.rowCount);
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, bytes, { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, file);
    keys = new Uint16Array(table.rowCount);
    for (let r = 0; r < keys.length; r++) keys[r] = bytes.readUInt16LE(2 * r);
  }
  loaded.set(table, keys);
  return keys;
}

/**
 * `--out FILE` for scheduled runs: the file is replaced atomically (common/files.ts: a temporary
 * sibling, fsync, rename), so a run that fails or is killed leaves the last good file as it was.
 * The temporary sibling exists only for the milliseconds of the write; should a run be killed in
 * exactly that window, the next run with the same --out removes the leftover.
 */
import { readdirSync, statSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../common/files.js";

/** Older than this, a temporary sibling belongs to no run still writing (a write takes milliseconds). */
const STALE_AFTER_MS = 60_000;

export function writeOutFile(file: string, text: string): void {
  removeStaleTemporaries(file);
  writeFileAtomic(file, text);
}

/** The `.NAME.<hex>.tmp` siblings writeFileAtomic leaves when killed mid-write, once stale. */
export function removeStaleTemporaries(file: string, now = Date.now()): string[] {
  const dir = dirname(file);
  const prefix = `.${basename(file)}.`;
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^[0-9a-f]{12}\.tmp$/.test(name.slice(prefix.length))) continue;
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs < STALE_AFTER_MS) continue;
      unlinkSync(path);
      removed.push(path);
    } catch {
      // another run removed or renamed it meanwhile
    }
  }
  return removed;
}

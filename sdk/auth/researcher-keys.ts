/**
 * A researcher's signing key pair on disk:
 *
 *   DIR/researcher.key   Ed25519 secret key (32-byte seed), hex, mode 0600 — never leaves this machine
 *   DIR/researcher.pub   its public key, hex — what a station's data steward puts in policy.json
 */
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { ConfigInvalid } from "../../common/errors.js";
import { fromHex, toHex } from "../../common/hex.js";

export const RESEARCHER_SECRET_KEY_FILE = "researcher.key";
export const RESEARCHER_PUBLIC_KEY_FILE = "researcher.pub";

export interface ResearcherKeys {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

/**
 * Writes a new file atomically and never over an existing one: the content goes to a temporary
 * sibling, is fsynced, and is then hard-linked to the target name, which fails if the name exists
 * (a rename would silently replace it — and with it someone's only copy of a key).
 */
export function writeNewFileAtomic(file: string, data: string, mode: number): void {
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", mode);
  try {
    writeSync(fd, Buffer.from(data, "utf8"));
    fsyncSync(fd);
    closeSync(fd);
    linkSync(tmp, file);
  } catch (err) {
    try { closeSync(fd); } catch { /* closed already */ }
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new ConfigInvalid(`${file} exists already; not overwriting a key`);
    throw err;
  } finally {
    try { unlinkSync(tmp); } catch { /* gone */ }
  }
}

/** Makes a fresh key pair in `dir` (created, mode 0700, if missing); refuses to overwrite. */
export function createResearcherKeys(dir: string): { publicKey: string; secretKeyFile: string; publicKeyFile: string } {
  const folder = resolve(dir);
  const secretKeyFile = join(folder, RESEARCHER_SECRET_KEY_FILE);
  const publicKeyFile = join(folder, RESEARCHER_PUBLIC_KEY_FILE);
  for (const f of [secretKeyFile, publicKeyFile]) {
    if (existsSync(f)) throw new ConfigInvalid(`${f} exists already; not overwriting a key (choose another --out)`);
  }
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const secretKey = ed25519.utils.randomSecretKey();
  const publicKey = toHex(ed25519.getPublicKey(secretKey));
  writeNewFileAtomic(secretKeyFile, toHex(secretKey) + "\n", 0o600);
  try {
    writeNewFileAtomic(publicKeyFile, publicKey + "\n", 0o644);
  } catch (err) {
    // Half a key pair is worse than none: the next attempt would refuse to overwrite it.
    try { unlinkSync(secretKeyFile); } catch { /* gone */ }
    throw err;
  }
  return { publicKey, secretKeyFile, publicKeyFile };
}

/**
 * Reads a key pair from a folder holding researcher.key, or from the .key file itself. Refuses a
 * secret key that others can read, as ssh does.
 */
export function loadResearcherKeys(path: string): ResearcherKeys {
  const abs = resolve(path);
  const file = existsSync(abs) && statSync(abs).isDirectory() ? join(abs, RESEARCHER_SECRET_KEY_FILE) : abs;
  if (!existsSync(file)) throw new ConfigInvalid(`${file} not found (make one with: werkplaats keys new --out DIR)`);
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) throw new ConfigInvalid(`${file} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${file}`);
  const secretKey = fromHex(readFileSync(file, "utf8").trim(), file, 32);
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
}

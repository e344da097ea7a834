/**
 * A station's configuration folder:
 *
 *   DIR/station.json     name, listen address, datasets, roster of federation members
 *   DIR/identity.key     Ed25519 secret key, hex, mode 0600 — never leaves the station
 *   DIR/identity.pub     its public key, hex — what the federation file and peers' rosters list
 *   DIR/tls.crt, tls.key TLS certificate (its fingerprint is pinned in the federation file) and key
 *   DIR/policy.json      who may ask what (governance/policy.ts); empty, it refuses everything
 *   DIR/audit.log        every request and its outcome, hash-chained (governance/audit-log.ts)
 */
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { basename, extname, isAbsolute, join, relative, resolve } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { ConfigInvalid } from "../common/errors.js";
import { writeFileAtomic } from "../common/files.js";
import { fromHex, toHex } from "../common/hex.js";
import { POLICY_FILE, defaultPolicy, validatePolicy } from "./governance/policy.js";
import { writeStationTls } from "./governance/tls.js";

export interface DatasetSource {
  name: string;
  /** Path to the CSV file, relative to the station folder unless absolute. */
  file: string;
  format: "csv";
}

export interface RosterEntry {
  name: string;
  /** Ed25519 public key, hex. */
  identityKey: string;
}

export interface StationConfig {
  name: string;
  /** host:port; port 0 picks a free port at start. */
  listen: string;
  datasets: DatasetSource[];
  /** Every federation member this station will do secure aggregation with, itself included. */
  roster: RosterEntry[];
  /** Jobs with fewer stations are refused. */
  minStations: number;
}

export const CONFIG_FILE = "station.json";
export const SECRET_KEY_FILE = "identity.key";
export const PUBLIC_KEY_FILE = "identity.pub";

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function parseDataArgument(arg: string): { name: string; file: string } {
  const eq = arg.indexOf("=");
  if (eq > 0) return { name: arg.slice(0, eq), file: arg.slice(eq + 1) };
  return { name: basename(arg, extname(arg)).replace(/[^A-Za-z0-9_]/g, "_"), file: arg };
}

export interface InitOptions {
  dir: string;
  name: string;
  data: Array<{ name: string; file: string }>;
  listen?: string;
  roster?: RosterEntry[];
  minStations?: number;
  /**
   * A researcher allowed everything under a default policy (study `study`, default "demo");
   * without one the policy has no studies and the station refuses every request.
   */
  allowResearcher?: { key: string; name?: string; study?: string };
}

/**
 * Creates the folder, a fresh identity key pair, TLS certificate, policy and station.json;
 * refuses to overwrite a station.
 */
export function initStation(options: InitOptions): { config: StationConfig; publicKey: string; tlsFingerprint: string } {
  if (!NAME_PATTERN.test(options.name)) {
    throw new ConfigInvalid(`station name "${options.name}" must be 1-64 letters, digits, '_', '.', '-'`);
  }
  const dir = resolve(options.dir);
  if (existsSync(join(dir, CONFIG_FILE))) throw new ConfigInvalid(`${join(dir, CONFIG_FILE)} exists already; not overwriting a station`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const datasets: DatasetSource[] = options.data.map((d) => {
    const abs = resolve(d.file);
    if (!existsSync(abs)) throw new ConfigInvalid(`data file ${d.file} does not exist`);
    const rel = relative(dir, abs);
    return { name: d.name, file: rel.startsWith("..") ? abs : rel, format: "csv" };
  });
  const secretKey = ed25519.utils.randomSecretKey();
  const publicKey = toHex(ed25519.getPublicKey(secretKey));
  const config: StationConfig = {
    name: options.name,
    listen: options.listen ?? "127.0.0.1:0",
    datasets,
    roster: options.roster ?? [],
    minStations: options.minStations ?? 3,
  };
  validateConfig(config, join(dir, CONFIG_FILE));
  const policy = options.allowResearcher
    ? defaultPolicy({ researcherKey: options.allowResearcher.key, researcherName: options.allowResearcher.name, study: options.allowResearcher.study })
    : { version: 1, studies: [] };
  validatePolicy(policy, { file: join(dir, POLICY_FILE) });
  writeFileAtomic(join(dir, SECRET_KEY_FILE), toHex(secretKey) + "\n", { mode: 0o600 });
  writeFileAtomic(join(dir, PUBLIC_KEY_FILE), publicKey + "\n");
  const tls = writeStationTls(dir, { name: options.name });
  writeFileAtomic(join(dir, POLICY_FILE), JSON.stringify(policy, null, 2) + "\n");
  // station.json last: its presence marks a complete station folder.
  writeFileAtomic(join(dir, CONFIG_FILE), JSON.stringify(config, null, 2) + "\n");
  return { config, publicKey, tlsFingerprint: tls.fingerprint };
}

export function saveConfig(dir: string, config: StationConfig): void {
  validateConfig(config, join(dir, CONFIG_FILE));
  writeFileAtomic(join(resolve(dir), CONFIG_FILE), JSON.stringify(config, null, 2) + "\n");
}

export function loadConfig(dir: string): StationConfig {
  const file = join(resolve(dir), CONFIG_FILE);
  if (!existsSync(file)) throw new ConfigInvalid(`${file} not found: is ${dir} a station folder? (werkplaats station init)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ConfigInvalid(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  return validateConfig(raw, file);
}

export function loadIdentity(dir: string): { secretKey: Uint8Array; publicKey: Uint8Array } {
  const file = join(resolve(dir), SECRET_KEY_FILE);
  if (!existsSync(file)) throw new ConfigInvalid(`${file} not found`);
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    // An identity key others can read is an identity others can use.
    throw new ConfigInvalid(`${file} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${file}`);
  }
  const secretKey = fromHex(readFileSync(file, "utf8").trim(), file, 32);
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
}

export function datasetPath(dir: string, source: DatasetSource): string {
  return isAbsolute(source.file) ? source.file : join(resolve(dir), source.file);
}

const KNOWN_KEYS = ["name", "listen", "datasets", "roster", "minStations"];

/** Errors name the file and the field, so a steward can fix a typo without guessing. */
export function validateConfig(raw: unknown, file: string): StationConfig {
  const fail = (field: string, why: string): never => {
    throw new ConfigInvalid(`${file}: field "${field}" ${why}`);
  };
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigInvalid(`${file}: must be a JSON object`);
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) if (!KNOWN_KEYS.includes(key)) fail(key, `is not a known field (known: ${KNOWN_KEYS.join(", ")})`);
  if (typeof r.name !== "string" || !NAME_PATTERN.test(r.name)) fail("name", "must be 1-64 letters, digits, '_', '.', '-'");
  if (typeof r.listen !== "string" || !/^(127\.0\.0\.1|localhost|\[::1\]|[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):\d{1,5}$/.test(r.listen)) {
    fail("listen", "must be host:port, e.g. 127.0.0.1:7443");
  }
  if (!Array.isArray(r.datasets) || r.datasets.length === 0) fail("datasets", "must list at least one dataset");
  const datasets = (r.datasets as unknown[]).map((d, i) => {
    const o = d as Record<string, unknown>;
    if (!o || typeof o !== "object") fail(`datasets[${i}]`, "must be an object");
    if (typeof o.name !== "string" || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(o.name)) fail(`datasets[${i}].name`, "must be an identifier (letters, digits, '_')");
    if (typeof o.file !== "string" || o.file.length === 0) fail(`datasets[${i}].file`, "must be a file path");
    if (o.format !== undefined && o.format !== "csv") fail(`datasets[${i}].format`, `"${String(o.format)}" is not supported (csv)`);
    return { name: o.name as string, file: o.file as string, format: "csv" as const };
  });
  const names = datasets.map((d) => d.name);
  if (new Set(names).size !== names.length) fail("datasets", "has two datasets with the same name");
  if (!Array.isArray(r.roster)) fail("roster", "must be a list of { name, identityKey }");
  const roster = (r.roster as unknown[]).map((e, i) => {
    const o = e as Record<string, unknown>;
    if (!o || typeof o !== "object") fail(`roster[${i}]`, "must be an object");
    if (typeof o.name !== "string" || !NAME_PATTERN.test(o.name)) fail(`roster[${i}].name`, "must be a station name");
    if (typeof o.identityKey !== "string" || !/^[0-9a-f]{64}$/i.test(o.identityKey)) fail(`roster[${i}].identityKey`, "must be 64 hex digits");
    return { name: o.name as string, identityKey: (o.identityKey as string).toLowerCase() };
  });
  if (new Set(roster.map((e) => e.name)).size !== roster.length) fail("roster", "lists a station name twice");
  const minStations = r.minStations === undefined ? 3 : r.minStations;
  if (typeof minStations !== "number" || !Number.isInteger(minStations) || minStations < 3) fail("minStations", "must be a whole number of at least 3");
  return { name: r.name as string, listen: r.listen as string, datasets, roster, minStations: minStations as number };
}


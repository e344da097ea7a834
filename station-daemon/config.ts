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

/**
 * Where a dataset's rows live. Files (CSV, Parquet) are read into memory at start; a PostgreSQL
 * table or view stays in the database, and the station pushes its computations into SQL there.
 *
 *   { "name": "fall_risk", "file": "clients.csv", "format": "csv" }
 *   { "name": "fall_risk", "file": "clients.parquet", "format": "parquet" }
 *   { "name": "fall_risk", "source": "postgres", "table": "zorg.clients",
 *     "connection": { "env": "WERKPLAATS_PG_URL" } }        // or { "file": "pg.url" }
 *
 * The connection string (a postgresql:// URL, as node-postgres reads it) is never written into station.json:
 * it names an environment variable or a file (relative to the station folder, mode 0600), so
 * that the configuration can be shown, versioned and logged without the password.
 */
export type DatasetSource = FileDatasetSource | PostgresDatasetSource;

export type FileFormat = "csv" | "parquet";
export const FILE_FORMATS: readonly FileFormat[] = ["csv", "parquet"];

export interface FileDatasetSource {
  name: string;
  /** Path to the data file, relative to the station folder unless absolute. */
  file: string;
  format: FileFormat;
}

export type PostgresConnection = { env: string } | { file: string };

export interface PostgresDatasetSource {
  name: string;
  source: "postgres";
  /** `table` or `schema.table` (a table or view), as named in the database. */
  table: string;
  connection: PostgresConnection;
  /**
   * Most distinct values a text column may have to be released as a categorical column with
   * levels (default 1000); a column with more stops the station, naming it (leave it out with a
   * view).
   */
  maxLevels?: number;
}

export const DEFAULT_POSTGRES_MAX_LEVELS = 1000;

export function isFileSource(source: DatasetSource): source is FileDatasetSource {
  return !("source" in source);
}

/** The format a data file's extension implies: `.parquet` / `.parq` → parquet, else csv. */
export function formatOfFile(file: string): FileFormat {
  const ext = extname(file).toLowerCase();
  return ext === ".parquet" || ext === ".parq" ? "parquet" : "csv";
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

export function parseDataArgument(arg: string): { name: string; file: string; format: FileFormat } {
  const eq = arg.indexOf("=");
  if (eq > 0) return { name: arg.slice(0, eq), file: arg.slice(eq + 1), format: formatOfFile(arg.slice(eq + 1)) };
  return { name: basename(arg, extname(arg)).replace(/[^A-Za-z0-9_]/g, "_"), file: arg, format: formatOfFile(arg) };
}

export interface InitOptions {
  dir: string;
  name: string;
  /** Data files; the format follows the extension unless given. */
  data: Array<{ name: string; file: string; format?: FileFormat }>;
  /** Datasets that are not files (PostgreSQL tables), written to station.json as given. */
  sources?: PostgresDatasetSource[];
  listen?: string;
  roster?: RosterEntry[];
  minStations?: number;
  /**
   * A researcher allowed everything under a default policy (study `study`, default "demo");
   * without one the policy has no studies and the station refuses every request.
   */
  allowResearcher?: { key: string; name?: string; study?: string; purpose?: string; dpia?: string };
}

/**
 * Where `werkplaats station init` makes a station listen unless told otherwise: loopback only (a
 * new station is not reachable from the network until its steward says so) on a fixed port, so
 * that the address in the federation file is known before the station first starts.
 */
export const DEFAULT_LISTEN = "127.0.0.1:7443";

/** True for an address only this machine can reach. */
export function isLoopbackListen(listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(":")).replace(/^\[(.*)\]$/, "$1");
  return host === "localhost" || host === "::1" || /^127\./.test(host);
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
    return { name: d.name, file: rel.startsWith("..") ? abs : rel, format: d.format ?? formatOfFile(d.file) };
  });
  datasets.push(...(options.sources ?? []));
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
  if (options.allowResearcher?.purpose || options.allowResearcher?.dpia) {
    const study = (policy.studies as Array<Record<string, unknown>>)[0];
    if (options.allowResearcher.purpose) study.purpose = options.allowResearcher.purpose;
    if (options.allowResearcher.dpia) study.dpia = options.allowResearcher.dpia;
  }
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

/** The data file of a file dataset; ConfigInvalid for a database dataset, which has none. */
export function datasetPath(dir: string, source: DatasetSource): string {
  if (!isFileSource(source)) throw new ConfigInvalid(`dataset ${source.name} is the PostgreSQL table ${source.table}, not a file`);
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
  const datasets = (r.datasets as unknown[]).map((d, i) => validateDataset(d, `datasets[${i}]`, fail));
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


const FILE_KEYS = ["name", "file", "format"];
const POSTGRES_KEYS = ["name", "source", "table", "connection", "maxLevels"];
/** `table` or `schema.table`: plain SQL identifiers, matched against the catalog at start. */
const TABLE_PATTERN = /^(?:[A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const ENV_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

function validateDataset(d: unknown, field: string, fail: (field: string, why: string) => never): DatasetSource {
  const o = d as Record<string, unknown>;
  if (!o || typeof o !== "object" || Array.isArray(o)) fail(field, "must be an object");
  if (typeof o.name !== "string" || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(o.name)) fail(`${field}.name`, "must be an identifier (letters, digits, '_')");
  const name = o.name as string;
  if (o.source === undefined) {
    for (const key of Object.keys(o)) if (!FILE_KEYS.includes(key)) fail(`${field}.${key}`, `is not a known field of a file dataset (known: ${FILE_KEYS.join(", ")}; or "source": "postgres")`);
    if (typeof o.file !== "string" || o.file.length === 0) fail(`${field}.file`, "must be a file path");
    const file = o.file as string;
    if (o.format !== undefined && !FILE_FORMATS.includes(o.format as FileFormat)) fail(`${field}.format`, `"${String(o.format)}" is not supported (${FILE_FORMATS.join(", ")})`);
    return { name, file, format: (o.format as FileFormat | undefined) ?? formatOfFile(file) };
  }
  if (o.source !== "postgres") fail(`${field}.source`, `"${String(o.source)}" is not supported (postgres; leave it out for a file)`);
  for (const key of Object.keys(o)) if (!POSTGRES_KEYS.includes(key)) fail(`${field}.${key}`, `is not a known field of a postgres dataset (known: ${POSTGRES_KEYS.join(", ")})`);
  if (typeof o.table !== "string" || !TABLE_PATTERN.test(o.table)) fail(`${field}.table`, "must be a table or view name, table or schema.table (letters, digits, '_')");
  const c = o.connection as Record<string, unknown>;
  if (!c || typeof c !== "object" || Array.isArray(c)) fail(`${field}.connection`, 'must be { "env": "VARIABLE" } or { "file": "path" } (never the connection string itself)');
  const keys = Object.keys(c);
  let connection: PostgresConnection;
  if (keys.length === 1 && keys[0] === "env") {
    if (typeof c.env !== "string" || !ENV_PATTERN.test(c.env)) fail(`${field}.connection.env`, "must name an environment variable");
    connection = { env: c.env as string };
  } else if (keys.length === 1 && keys[0] === "file") {
    if (typeof c.file !== "string" || c.file.length === 0) fail(`${field}.connection.file`, "must be a file path");
    connection = { file: c.file as string };
  } else {
    return fail(`${field}.connection`, 'must be exactly one of { "env": "VARIABLE" } or { "file": "path" } (never the connection string itself)');
  }
  let maxLevels: number | undefined;
  if (o.maxLevels !== undefined) {
    if (typeof o.maxLevels !== "number" || !Number.isInteger(o.maxLevels) || o.maxLevels < 1 || o.maxLevels > 100_000) fail(`${field}.maxLevels`, "must be a whole number from 1 to 100000");
    maxLevels = o.maxLevels as number;
  }
  return { name, source: "postgres", table: o.table as string, connection, ...(maxLevels !== undefined ? { maxLevels } : {}) };
}

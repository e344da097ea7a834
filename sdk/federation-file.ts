import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { ConfigInvalid } from "../common/errors.js";
import { writeFileAtomic } from "../common/files.js";
import type { StationEntry } from "./station-client.js";

/**
 * The analyst's view of a federation: which stations exist, where, under which identity key and
 * TLS certificate fingerprint. Stations hold the same roster in their own configuration.
 */
export interface FederationFile {
  name?: string;
  stations: StationEntry[];
  /** Jobs with fewer stations are refused (never below 3). */
  minStations?: number;
  /** The study requests fall under, when the caller does not name one. */
  study?: string;
  /** The researcher's key (researcher.key or its folder); relative to the federation file. */
  key?: string;
}

const FIELDS = ["name", "stations", "minStations", "study", "key"];
const STATION_FIELDS = ["name", "address", "identityKey", "tlsFingerprint", "certificate"];

export function readFederationFile(path: string): FederationFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigInvalid(`cannot read federation file ${path}: ${(err as Error).message}`);
  }
  const file = validateFederation(raw, path);
  if (file.key && !isAbsolute(file.key) && !file.key.startsWith("~/")) file.key = resolve(dirname(path), file.key);
  return file;
}

/**
 * What is wrong with a key or fingerprint as typed, in words a steward can act on; undefined when
 * it is 64 hex digits (for a fingerprint also openssl's AA:BB:… form, 32 colon-separated pairs).
 * Checked when the file is read, so a typo never surfaces later as a refused signature or an
 * "impostor".
 */
export function hexProblem(value: unknown, options: { colons: boolean }): string | undefined {
  if (typeof value !== "string") return `got ${value === undefined ? "nothing" : typeof value}`;
  const text = value.trim();
  if (options.colons && /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})*$/.test(text)) {
    const pairs = text.split(":").length;
    return pairs === 32 ? undefined : `has ${pairs} colon-separated pairs, a SHA-256 has 32`;
  }
  if (text.includes(":")) return options.colons ? "has colons, but not between every pair of digits (write AA:BB:… or 64 digits without colons)" : "has colons; write the 64 digits without them";
  const bad = /[^0-9a-fA-F]/.exec(text);
  if (bad) return `has the character "${bad[0]}" at position ${bad.index + 1}, which is not a hex digit (0-9, a-f)`;
  if (text.length !== 64) return `has ${text.length} hex digits, not 64`;
  if (text !== value) return "has spaces around it";
  return undefined;
}

export function validateFederation(raw: unknown, source = "federation"): FederationFile {
  const fail = (field: string, why: string): never => {
    throw new ConfigInvalid(`${source}: field "${field}" ${why}`);
  };
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigInvalid(`${source}: must be a JSON object`);
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) if (!FIELDS.includes(key)) fail(key, `is not a known field (${FIELDS.join(", ")})`);
  if (!Array.isArray(r.stations) || r.stations.length === 0) fail("stations", "must list the federation's stations");
  const stations = (r.stations as unknown[]).map((s, i) => {
    const o = (s ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(o)) if (!STATION_FIELDS.includes(key)) fail(`stations[${i}].${key}`, `is not a known field (${STATION_FIELDS.join(", ")})`);
    if (typeof o.name !== "string" || o.name.length === 0) fail(`stations[${i}].name`, "must be a station name");
    if (typeof o.address !== "string" || !/^.+:\d{1,5}$/.test(o.address)) fail(`stations[${i}].address`, "must be host:port");
    const keyProblem = hexProblem(o.identityKey, { colons: false });
    if (keyProblem) fail(`stations[${i}].identityKey`, `must be 64 hex digits (the station's identity.pub, printed by station init): ${keyProblem}`);
    const pinProblem = hexProblem(o.tlsFingerprint, { colons: true });
    if (pinProblem) {
      fail(`stations[${i}].tlsFingerprint`, `must be the SHA-256 fingerprint of the station's TLS certificate, 64 hex digits (printed by station init): ${pinProblem}`);
    }
    if (o.certificate !== undefined && (typeof o.certificate !== "string" || !o.certificate.includes("BEGIN CERTIFICATE"))) fail(`stations[${i}].certificate`, "must be a PEM certificate");
    return {
      name: o.name as string,
      address: o.address as string,
      identityKey: (o.identityKey as string).toLowerCase(),
      tlsFingerprint: (o.tlsFingerprint as string).trim().replace(/:/g, "").toLowerCase(),
      ...(o.certificate ? { certificate: o.certificate as string } : {}),
    };
  });
  if (new Set(stations.map((s) => s.name)).size !== stations.length) fail("stations", "lists a station name twice");
  if (new Set(stations.map((s) => s.identityKey)).size !== stations.length) fail("stations", "lists one identity key under two names");
  if (r.minStations !== undefined && (typeof r.minStations !== "number" || !Number.isInteger(r.minStations) || r.minStations < 3)) {
    fail("minStations", "must be a whole number of at least 3");
  }
  if (r.study !== undefined && (typeof r.study !== "string" || r.study.length === 0)) fail("study", "must be a study id");
  if (r.key !== undefined && (typeof r.key !== "string" || r.key.length === 0)) fail("key", "must be a path to researcher.key");
  return {
    ...(typeof r.name === "string" ? { name: r.name } : {}),
    stations,
    ...(r.minStations !== undefined ? { minStations: r.minStations as number } : {}),
    ...(typeof r.study === "string" ? { study: r.study } : {}),
    ...(typeof r.key === "string" ? { key: r.key } : {}),
  };
}

/**
 * Adds stations (each the `--json` output of `werkplaats station init`) to a federation file,
 * creating it when absent. An entry with a name already listed under the same identity key
 * updates that station's address and fingerprint; a name listed under another key, or a key under
 * another name, is refused unless `replace` (a station that was set up again). Written atomically:
 * a reader sees the old file or the new one, never half of it.
 */
export function addToFederationFile(
  path: string,
  entries: Array<{ entry: unknown; source: string }>,
  options: { name?: string; study?: string; key?: string; replace?: boolean } = {},
): { file: FederationFile; added: string[]; updated: string[] } {
  let raw: Record<string, unknown> = {};
  if (existsSync(path)) {
    try {
      raw = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigInvalid(`cannot read federation file ${path}: ${(err as Error).message}`);
    }
    validateFederation(raw, path);
  }
  const stations = [...((raw.stations as Array<Record<string, unknown>> | undefined) ?? [])];
  const added: string[] = [];
  const updated: string[] = [];
  for (const { entry, source } of entries) {
    // Validated on its own first, so an error names the entry's file and field, not the result's.
    const [station] = validateFederation({ stations: [entry] }, source).stations;
    const sameName = stations.findIndex((s) => s.name === station.name);
    const sameKey = stations.findIndex((s) => String(s.identityKey).toLowerCase() === station.identityKey);
    if (sameKey >= 0 && sameKey !== sameName && !options.replace) {
      throw new ConfigInvalid(`${source}: identity key ${station.identityKey.slice(0, 16)}… is listed in ${path} already, as station ${String(stations[sameKey].name)} (stations[${sameKey}].identityKey)`);
    }
    if (sameName >= 0 && sameKey !== sameName && !options.replace) {
      throw new ConfigInvalid(
        `${source}: ${path} lists a station ${station.name} already, with another identity key (stations[${sameName}].identityKey); ` +
          `if that station was set up again, add it with --replace`,
      );
    }
    if (options.replace && sameKey >= 0 && sameKey !== sameName) stations.splice(sameKey, 1);
    const at = stations.findIndex((s) => s.name === station.name);
    const { certificate, ...plain } = station;
    const written = { ...plain, ...(certificate ? { certificate } : {}) };
    if (at >= 0) {
      stations[at] = written;
      updated.push(station.name);
    } else {
      stations.push(written);
      added.push(station.name);
    }
  }
  const next: Record<string, unknown> = {
    ...(options.name ?? raw.name ? { name: options.name ?? raw.name } : {}),
    ...(options.study ?? raw.study ? { study: options.study ?? raw.study } : {}),
    ...(options.key ?? raw.key ? { key: options.key ?? raw.key } : {}),
    ...(raw.minStations !== undefined ? { minStations: raw.minStations } : {}),
    stations,
  };
  const file = validateFederation(next, path);
  writeFileAtomic(path, JSON.stringify(next, null, 2) + "\n");
  return { file, added, updated };
}

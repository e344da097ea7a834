import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { ConfigInvalid } from "../common/errors.js";
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
    if (typeof o.identityKey !== "string" || !/^[0-9a-fA-F]{64}$/.test(o.identityKey)) fail(`stations[${i}].identityKey`, "must be 64 hex digits (the station's identity.pub)");
    if (typeof o.tlsFingerprint !== "string" || !/^[0-9a-fA-F:]{64,95}$/.test(o.tlsFingerprint)) {
      fail(`stations[${i}].tlsFingerprint`, "must be the SHA-256 fingerprint of the station's TLS certificate (printed by station init)");
    }
    if (o.certificate !== undefined && (typeof o.certificate !== "string" || !o.certificate.includes("BEGIN CERTIFICATE"))) fail(`stations[${i}].certificate`, "must be a PEM certificate");
    return {
      name: o.name as string,
      address: o.address as string,
      identityKey: (o.identityKey as string).toLowerCase(),
      tlsFingerprint: (o.tlsFingerprint as string).replace(/:/g, "").toLowerCase(),
      ...(o.certificate ? { certificate: o.certificate as string } : {}),
    };
  });
  if (new Set(stations.map((s) => s.name)).size !== stations.length) fail("stations", "lists a station name twice");
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

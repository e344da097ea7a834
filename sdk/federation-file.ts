import { readFileSync } from "node:fs";
import { ConfigInvalid } from "../common/errors.js";
import type { StationEntry } from "./station-client.js";

/**
 * The analyst's view of a federation: which stations exist, where, and under which identity
 * key. Stations hold the same roster in their own configuration.
 */
export interface FederationFile {
  name?: string;
  stations: StationEntry[];
  /** Jobs with fewer stations are refused (never below 3). */
  minStations?: number;
}

export function readFederationFile(path: string): FederationFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigInvalid(`cannot read federation file ${path}: ${(err as Error).message}`);
  }
  return validateFederation(raw, path);
}

export function validateFederation(raw: unknown, source = "federation"): FederationFile {
  const fail = (field: string, why: string): never => {
    throw new ConfigInvalid(`${source}: field "${field}" ${why}`);
  };
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigInvalid(`${source}: must be a JSON object`);
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) if (!["name", "stations", "minStations"].includes(key)) fail(key, "is not a known field (name, stations, minStations)");
  if (!Array.isArray(r.stations) || r.stations.length === 0) fail("stations", "must list the federation's stations");
  const stations = (r.stations as unknown[]).map((s, i) => {
    const o = (s ?? {}) as Record<string, unknown>;
    if (typeof o.name !== "string" || o.name.length === 0) fail(`stations[${i}].name`, "must be a station name");
    if (typeof o.address !== "string" || !/^.+:\d{1,5}$/.test(o.address)) fail(`stations[${i}].address`, "must be host:port");
    if (typeof o.identityKey !== "string" || !/^[0-9a-fA-F]{64}$/.test(o.identityKey)) fail(`stations[${i}].identityKey`, "must be 64 hex digits (the station's identity.pub)");
    return { name: o.name as string, address: o.address as string, identityKey: (o.identityKey as string).toLowerCase() };
  });
  if (new Set(stations.map((s) => s.name)).size !== stations.length) fail("stations", "lists a station name twice");
  if (r.minStations !== undefined && (typeof r.minStations !== "number" || !Number.isInteger(r.minStations) || r.minStations < 3)) {
    fail("minStations", "must be a whole number of at least 3");
  }
  return { ...(typeof r.name === "string" ? { name: r.name } : {}), stations, ...(r.minStations !== undefined ? { minStations: r.minStations as number } : {}) };
}

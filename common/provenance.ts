/**
 * Provenance: how a result or model was obtained — enough to run it again and to tell what
 * changed if it does not come out the same (sdk/replay.ts). Plain JSON, so that it travels in
 * `--json` output and saved models and reads back unchanged.
 */
import type { Expr } from "./expression.js";
import type { JobSpec } from "./job.js";

export const PROVENANCE_FORMAT = "werkplaats.provenance.v1";

/** A station that took part, as it described itself (GetInfo) when the result was computed. */
export interface StationProvenance {
  name: string;
  softwareVersion: string;
  protocolVersion: string;
  /** Fingerprint of the station's snapshot of the dataset; absent when it offers none. */
  fingerprint?: string;
}

/**
 * The analyst's call, with everything the SDK derived from the federation at the time pinned
 * (group-by and factor levels, the summary shift, the quantile range), so that a replay sends the
 * same jobs even where the stations' schemas have since changed.
 */
export interface ProvenanceCall {
  /** A DatasetQuery method: count, mean, summary, crosstab, histogram, quantile, proportion, standardisedRate, indicators, glm. */
  method: string;
  /** Its arguments, JSON. */
  args: unknown[];
}

export interface Provenance {
  format: typeof PROVENANCE_FORMAT;
  /** When the result was computed (ISO 8601, UTC). */
  time: string;
  /** The SDK that computed it. */
  sdk: { softwareVersion: string; protocolVersion: string };
  /** Which federation: its name, and how to reach it again when known. */
  federation: {
    name: string;
    /** Absolute path of the federation file it was connected from. */
    file?: string;
    /** `werkplaats glm --local`: the files each station served (station name → dataset → file). */
    local?: { name: string; datasets: Record<string, string> }[];
  };
  dataset: string;
  /** The where-expression as a syntax tree (absent: every row), and as text for people. */
  where?: Expr;
  whereText?: string;
  call: ProvenanceCall;
  /**
   * The exact job specifications sent, in order (a model: the first and the last iteration's,
   * which differ only in the coefficients; `jobCount` says how many there were).
   */
  jobs: JobSpec[];
  jobCount: number;
  /** The stations whose rows are in the result. */
  stations: StationProvenance[];
}

export function isProvenance(value: unknown): value is Provenance {
  const p = value as Provenance | undefined;
  return Boolean(p && typeof p === "object" && p.format === PROVENANCE_FORMAT && p.call && typeof p.call.method === "string" && Array.isArray(p.stations));
}

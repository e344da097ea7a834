/**
 * Replay: run a saved result's or model's job again and say whether it came out the same.
 *
 * What can make a replay differ is named, not guessed at: a station missing or added, a
 * station's dataset snapshot changed (its fingerprint, station-daemon/data/fingerprint.ts), a
 * software or protocol version changed (of the SDK or of a station), and every number that moved
 * by more than the tolerance, with its absolute and relative difference.
 *
 * The replay sends the jobs the provenance pins — the same dataset, filter syntax tree, group-by
 * and factor levels, summary shift and quantile range — not jobs re-derived from today's schemas,
 * so that on unchanged data the secure sums, and therefore every number, come out bit for bit.
 */
import { readFileSync } from "node:fs";
import { BadInput } from "../common/errors.js";
import { type Provenance, type StationProvenance, isProvenance } from "../common/provenance.js";
import { PROTOCOL_VERSION } from "../common/schema.js";
import { SOFTWARE_VERSION } from "../common/version.js";
import type { ConnectOptions, Federation } from "./federation.js";
import type { FederationFile } from "./federation-file.js";
import type { GlmIterationInfo } from "./glm/index.js";
import { DatasetQuery, type GlmOptions } from "./query/dataset-query.js";

/** A result or model object, its JSON (a `--json` output or a saved model), or the path of that file. */
export type Replayable = { provenance?: Provenance; toJSON(): object } | Record<string, unknown> | string;

export interface ReplayOptions {
  /**
   * Where to run it: a connected Federation (left open), a federation file or its path. Default:
   * the federation file the provenance names, or — for a `werkplaats glm --local` result — the
   * same files served again by local stations.
   */
  federation?: Federation | FederationFile | string;
  /** Connection options when this function connects (timeout, study, key). */
  connect?: ConnectOptions;
  /**
   * Numbers a and b are equal when |a − b| ≤ tolerance · max(1, |a|, |b|): an absolute tolerance
   * below 1, a relative one above. Default 1e-9.
   */
  tolerance?: number;
  /** Progress of a model's refit. */
  onIteration?: (info: GlmIterationInfo & { stations: string[] }) => void;
  /** Progress messages (connecting, local stations starting). */
  onProgress?: (message: string) => void;
}

/** A difference that is not a number: who took part, on what data, with what software. */
export type ReplayDifference =
  | { kind: "station_missing"; station: string }
  | { kind: "station_added"; station: string }
  | { kind: "snapshot_changed"; station: string; dataset: string; original: string; replayed: string }
  | { kind: "software_version"; station: string | null; original: string; replayed: string }
  | { kind: "protocol_version"; station: string | null; original: string; replayed: string }
  /** A value that is not a pair of numbers and differs: a cell withheld in one run, a level, a count of cells. */
  | { kind: "value"; path: string; original: unknown; replayed: unknown };

/** One number that moved by more than the tolerance. */
export interface NumericDifference {
  /** Where in the result: `coefficients[age].estimate`, `cells[sex=M].count`. */
  path: string;
  original: number;
  replayed: number;
  absolute: number;
  /** |a − b| / max(|a|, |b|). */
  relative: number;
}

export interface ReplayReport {
  /** True when nothing differs: same stations, snapshots and versions, every number within tolerance. */
  identical: boolean;
  tolerance: number;
  differences: ReplayDifference[];
  /** Every number beyond the tolerance, in the result's order. */
  numeric: NumericDifference[];
  /**
   * The same numbers per estimate or cell (`coefficients[age]`, `cells[sex=M]`; a top-level number
   * is its own item): the largest absolute and relative difference among its numbers.
   */
  items: { item: string; absolute: number; relative: number; differences: NumericDifference[] }[];
  /** The largest absolute and relative differences over all numbers (0 when none). */
  largest: { absolute: number; absolutePath?: string; relative: number; relativePath?: string };
  /** Things that could not be checked, such as a station that offers no snapshot fingerprint. */
  notes: string[];
  original: Provenance;
  replayed: Provenance;
  /** The replayed result's JSON, with its own provenance. */
  result: Record<string, unknown>;
}

export const DEFAULT_REPLAY_TOLERANCE = 1e-9;

/** Members of a result's JSON that say how or when, not what: never compared as numbers. */
const NOT_COMPARED = new Set(["provenance", "comparison", "stations", "warnings", "covariance"]);

/** Reads a result's JSON and its provenance, or says why it cannot be replayed. */
export function loadReplayable(source: Replayable): { json: Record<string, unknown>; provenance: Provenance } {
  let json: Record<string, unknown>;
  if (typeof source === "string") {
    let text: string;
    try {
      text = readFileSync(source, "utf8");
    } catch (err) {
      throw new BadInput(`cannot read ${source}: ${(err as Error).message}`);
    }
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new BadInput(`${source} is not JSON: ${(err as Error).message}`);
    }
  } else if (typeof (source as { toJSON?: unknown }).toJSON === "function") {
    json = JSON.parse(JSON.stringify((source as { toJSON(): object }).toJSON())) as Record<string, unknown>;
  } else {
    json = source as Record<string, unknown>;
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new BadInput("a result to replay must be a JSON object");
  if (!isProvenance(json.provenance)) {
    throw new BadInput(`${typeof source === "string" ? source : "the result"} carries no provenance (werkplaats.provenance.v1); only results and models computed by werkplaats 0.1 or later can be replayed`);
  }
  return { json, provenance: json.provenance };
}

export async function replay(source: Replayable, options: ReplayOptions = {}): Promise<ReplayReport> {
  const tolerance = options.tolerance ?? DEFAULT_REPLAY_TOLERANCE;
  if (!(tolerance >= 0 && Number.isFinite(tolerance))) throw new BadInput(`the tolerance must be a non-negative number, not ${tolerance}`);
  const { json, provenance } = loadReplayable(source);
  const { federation, release } = await federationFor(provenance, options);
  let replayed: { toJSON(): object; provenance?: Provenance };
  try {
    replayed = await runCall(new DatasetQuery({ federation, dataset: provenance.dataset, ...(provenance.where ? { filter: provenance.where } : {}) }), provenance, options);
  } finally {
    await release();
  }
  const result = JSON.parse(JSON.stringify(replayed.toJSON())) as Record<string, unknown>;
  const now = replayed.provenance!;
  const differences = compareProvenance(provenance, now);
  const numeric: NumericDifference[] = [];
  compareValues(strip(json), strip(result), "", tolerance, numeric, differences);
  const notes = provenance.stations.concat(now.stations).flatMap((s) => (s.fingerprint ? [] : [s.name]));
  const largest: ReplayReport["largest"] = { absolute: 0, relative: 0 };
  for (const d of numeric) {
    if (d.absolute > largest.absolute) Object.assign(largest, { absolute: d.absolute, absolutePath: d.path });
    if (d.relative > largest.relative) Object.assign(largest, { relative: d.relative, relativePath: d.path });
  }
  const items = new Map<string, ReplayReport["items"][number]>();
  for (const d of numeric) {
    const item = itemOf(d.path);
    const entry = items.get(item) ?? { item, absolute: 0, relative: 0, differences: [] };
    entry.absolute = Math.max(entry.absolute, d.absolute);
    entry.relative = Math.max(entry.relative, d.relative);
    entry.differences.push(d);
    items.set(item, entry);
  }
  return {
    identical: differences.length === 0 && numeric.length === 0,
    tolerance,
    differences,
    numeric,
    items: [...items.values()],
    largest,
    notes: [...new Set(notes)].map((s) => `station ${s} offers no fingerprint of its "${provenance.dataset}" snapshot (a database table, or an older station): whether its data changed is known only from the numbers`),
    original: provenance,
    replayed: now,
    result,
  };
}

/** Stations, snapshots and versions: what differs between two runs' provenance. */
export function compareProvenance(original: Provenance, replayed: Provenance): ReplayDifference[] {
  const out: ReplayDifference[] = [];
  const version = (station: string | null, a: { softwareVersion: string; protocolVersion: string }, b: { softwareVersion: string; protocolVersion: string }) => {
    if (a.softwareVersion !== b.softwareVersion) out.push({ kind: "software_version", station, original: a.softwareVersion, replayed: b.softwareVersion });
    if (a.protocolVersion !== b.protocolVersion) out.push({ kind: "protocol_version", station, original: a.protocolVersion, replayed: b.protocolVersion });
  };
  version(null, original.sdk, replayed.sdk);
  const now = new Map<string, StationProvenance>(replayed.stations.map((s) => [s.name, s]));
  const then = new Map<string, StationProvenance>(original.stations.map((s) => [s.name, s]));
  for (const s of original.stations) if (!now.has(s.name)) out.push({ kind: "station_missing", station: s.name });
  for (const s of replayed.stations) if (!then.has(s.name)) out.push({ kind: "station_added", station: s.name });
  for (const a of original.stations) {
    const b = now.get(a.name);
    if (!b) continue;
    if (a.fingerprint && b.fingerprint && a.fingerprint !== b.fingerprint) {
      out.push({ kind: "snapshot_changed", station: a.name, dataset: original.dataset, original: a.fingerprint, replayed: b.fingerprint });
    }
    version(a.name, a, b);
  }
  return out;
}

/** The versions this SDK would record: for a quick check before replaying. */
export const SDK_VERSIONS = { softwareVersion: SOFTWARE_VERSION, protocolVersion: PROTOCOL_VERSION } as const;

async function federationFor(provenance: Provenance, options: ReplayOptions): Promise<{ federation: Federation; release: () => Promise<void> }> {
  const { Federation } = await import("./federation.js");
  const given = options.federation;
  if (given instanceof Federation) return { federation: given, release: async () => {} };
  if (given !== undefined || provenance.federation.file) {
    const federation = await Federation.connect((given ?? provenance.federation.file)!, options.connect ?? {});
    return { federation, release: async () => federation.close() };
  }
  if (provenance.federation.local && provenance.federation.local.length > 0) {
    const { LocalFederation } = await import("./local-federation.js");
    options.onProgress?.(`starting ${provenance.federation.local.length} local stations on the recorded files`);
    const local = await LocalFederation.start({ stations: provenance.federation.local, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    try {
      const federation = await local.connect(options.connect);
      return { federation, release: async () => { federation.close(); await local.stop(); } };
    } catch (err) {
      await local.stop();
      throw err;
    }
  }
  throw new BadInput(`the result does not say where federation "${provenance.federation.name}" is (it was not connected from a file): give the federation to replay on`);
}

type QueryMethod = (...args: unknown[]) => Promise<{ toJSON(): object; provenance?: Provenance }>;

const REPLAYABLE = new Set(["count", "mean", "summary", "crosstab", "histogram", "quantile", "proportion", "standardisedRate", "indicators", "glm"]);

function runCall(query: DatasetQuery, provenance: Provenance, options: ReplayOptions): Promise<{ toJSON(): object; provenance?: Provenance }> {
  const { method, args } = provenance.call;
  if (!REPLAYABLE.has(method) || !Array.isArray(args)) throw new BadInput(`cannot replay "${method}": not a werkplaats query or model`);
  if (method === "glm") {
    const [formula, glmOptions] = args as [string, GlmOptions];
    return query.glm(formula, { ...glmOptions, ...(options.onIteration ? { onIteration: options.onIteration } : {}) });
  }
  return (query[method as keyof DatasetQuery] as unknown as QueryMethod).apply(query, args);
}

function strip(json: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(json).filter(([k]) => !NOT_COMPARED.has(k)));
}

/** Walks two JSON values side by side, collecting numbers beyond the tolerance and other changes. */
function compareValues(a: unknown, b: unknown, path: string, tolerance: number, numeric: NumericDifference[], other: ReplayDifference[]): void {
  if (typeof a === "number" && typeof b === "number") {
    if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return;
    const absolute = Math.abs(a - b);
    if (absolute <= tolerance * Math.max(1, Math.abs(a), Math.abs(b))) return;
    const scale = Math.max(Math.abs(a), Math.abs(b));
    numeric.push({ path, original: a, replayed: b, absolute, relative: scale > 0 ? absolute / scale : 0 });
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) {
      other.push({ kind: "value", path: `${path}.length`, original: a.length, replayed: b.length });
      return;
    }
    a.forEach((x, i) => compareValues(x, b[i], `${path}[${label(x, i)}]`, tolerance, numeric, other));
    return;
  }
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    for (const key of new Set([...Object.keys(ao), ...Object.keys(bo)])) {
      if (NOT_COMPARED.has(key) && path === "") continue;
      compareValues(ao[key], bo[key], path ? `${path}.${key}` : key, tolerance, numeric, other);
    }
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) other.push({ kind: "value", path, original: a ?? null, replayed: b ?? null });
}

/** A readable key for an array element: a coefficient's term, a cell's group, an indicator's name. */
function label(x: unknown, index: number): string {
  if (x && typeof x === "object") {
    const o = x as Record<string, unknown>;
    if (typeof o.term === "string") return o.term;
    if (o.group && typeof o.group === "object") {
      const parts = Object.entries(o.group as Record<string, unknown>).map(([k, v]) => `${k}=${String(v)}`);
      const more = typeof o.indicator === "string" ? [`indicator=${o.indicator}`] : typeof o.name === "string" ? [`name=${o.name}`] : [];
      return [...more, ...parts].join(",") || "all";
    }
    if (typeof o.name === "string") return o.name;
    if (typeof o.label === "string") return o.label;
    if (typeof o.p === "number") return `p=${o.p}`;
  }
  return String(index);
}

/** The report for people: "identical", or one line per difference. */
export function formatReplayReport(report: ReplayReport, options: { maxNumbers?: number } = {}): string {
  const lines: string[] = [];
  const p = report.original;
  lines.push(`replayed ${p.call.method} on ${p.dataset}${p.whereText ? ` where ${p.whereText}` : ""} (computed ${p.time}) on ${report.replayed.stations.map((s) => s.name).join(", ")}`);
  if (report.identical) {
    lines.push(`identical (every number within ${report.tolerance})`);
  } else {
    lines.push("DIFFERS:");
    for (const d of report.differences) lines.push(`  ${describeDifference(d)}`);
    const max = options.maxNumbers ?? 50;
    if (report.numeric.length > 0) {
      lines.push(`  ${report.numeric.length} number${report.numeric.length === 1 ? "" : "s"} in ${report.items.length} estimate${report.items.length === 1 ? "" : "s"} or cell${report.items.length === 1 ? "" : "s"} differ beyond ${report.tolerance}:`);
      for (const item of report.items.slice(0, max)) {
        const values = item.differences.map((n) => `${n.path.slice(item.item.length).replace(/^\./, "") || "value"} ${fmt(n.original)} → ${fmt(n.replayed)}`);
        lines.push(`    ${item.item}: largest absolute ${item.absolute.toExponential(2)}, relative ${item.relative.toExponential(2)}; ${values.slice(0, 3).join(", ")}${values.length > 3 ? ", …" : ""}`);
      }
      if (report.items.length > max) lines.push(`    … and ${report.items.length - max} more (--json lists all)`);
      lines.push(`  largest absolute difference ${report.largest.absolute.toExponential(2)} (${report.largest.absolutePath}), largest relative ${report.largest.relative.toExponential(2)} (${report.largest.relativePath})`);
    }
  }
  for (const n of report.notes) lines.push(`note: ${n}`);
  return lines.join("\n") + "\n";
}

export function describeDifference(d: ReplayDifference): string {
  switch (d.kind) {
    case "station_missing":
      return `station ${d.station} is missing (it took part in the original)`;
    case "station_added":
      return `station ${d.station} was added (it did not take part in the original)`;
    case "snapshot_changed":
      return `station ${d.station}: dataset snapshot changed (${d.dataset} fingerprint ${d.original.slice(0, 12)}… → ${d.replayed.slice(0, 12)}…)`;
    case "software_version":
      return `${d.station === null ? "SDK" : `station ${d.station}`}: software version ${d.original} → ${d.replayed}`;
    case "protocol_version":
      return `${d.station === null ? "SDK" : `station ${d.station}`}: protocol version ${d.original} → ${d.replayed}`;
    case "value":
      return `${d.path}: ${JSON.stringify(d.original)} → ${JSON.stringify(d.replayed)}`;
  }
}

/** The estimate or cell a number belongs to: its path up to the last `[…]`, or itself at the top level. */
function itemOf(path: string): string {
  const end = path.lastIndexOf("]");
  return end < 0 ? path : path.slice(0, end + 1);
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(10)));
}

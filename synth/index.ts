/**
 * Realistic synthetic station datasets with known true effects, for the demo, the notebooks,
 * the benchmarks and the tests. Each scenario writes one CSV per station and a truth.json
 * with the models the outcomes were drawn from (see synth/types.ts), so that a fitted model
 * can be checked against the truth.
 *
 * Reproducible: the same scenario, station count, row count and seed give byte-identical
 * files. Each station has its own random stream (derived from seed, scenario and station
 * index), so a station's rows do not depend on how many other stations are generated.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { BadInput } from "../common/errors.js";
import { csvHeader } from "./csv.js";
import { FALL_RISK } from "./fall-risk.js";
import { GGZ_WAITLIST } from "./ggz-waitlist.js";
import { NEIGHBOURHOOD } from "./neighbourhood.js";
import { Rng } from "./random.js";
import type { ScenarioDefinition, Truth } from "./types.js";

export type { DerivedOutcome, OutcomeModel, SynthColumn, Truth, TruthStation } from "./types.js";
export { Rng } from "./random.js";

const DEFINITIONS: readonly ScenarioDefinition[] = [FALL_RISK, GGZ_WAITLIST, NEIGHBOURHOOD];

/** The scenarios, for `werkplaats synth --help`. */
export const SCENARIOS: ReadonlyArray<{ name: string; description: string; stations: readonly string[] }> =
  DEFINITIONS.map((d) => ({ name: d.name, description: d.description, stations: d.stationKinds }));

export const DEFAULT_STATIONS = 3;
export const DEFAULT_ROWS = 2000;
export const MAX_STATIONS = 100;
/** Per station, when written to disk (streamed). */
export const MAX_ROWS = 10_000_000;
/** Per station, when returned as strings: V8 strings top out around 512 MiB. */
export const MAX_ROWS_IN_MEMORY = 2_000_000;

const GENERATOR = "werkplaats-synth/1";

export interface GenerateOptions {
  scenario: string;
  /** Number of stations (default 3). Numeric strings are accepted, for command lines. */
  stations?: number | string;
  /** Rows per station (default 2000). */
  rows?: number | string;
  /** Any non-negative safe integer. */
  seed: number | string;
}

export interface GeneratedStation {
  name: string;
  csv: string;
  rows: number;
}

interface Plan {
  definition: ScenarioDefinition;
  seed: number;
  rows: number;
  stations: Array<{ name: string; kind: string; index: number }>;
}

/**
 * Station names: the scenario's three organisation types for the default three stations;
 * beyond three the types repeat with a suffix (`gp`, `homecare`, `hospital`, `gp-2`, …).
 */
export function stationNames(scenario: string, count: number): string[] {
  return plan({ scenario, stations: count, seed: 0 }).stations.map((s) => s.name);
}

function parseCount(value: number | string | undefined, what: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > max) {
    throw new BadInput(`${what} must be a whole number from 1 to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function parseSeed(value: number | string | undefined): number {
  const n = typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw new BadInput(`seed must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function plan(options: GenerateOptions, maxRows = MAX_ROWS): Plan {
  const definition = DEFINITIONS.find((d) => d.name === options.scenario);
  if (definition === undefined) {
    throw new BadInput(`unknown scenario ${JSON.stringify(options.scenario)} (scenarios: ${DEFINITIONS.map((d) => d.name).join(", ")})`);
  }
  const count = parseCount(options.stations, "stations", DEFAULT_STATIONS, MAX_STATIONS);
  const rows = parseCount(options.rows, "rows per station", DEFAULT_ROWS, maxRows);
  const seed = parseSeed(options.seed);
  const kinds = definition.stationKinds;
  const stations = Array.from({ length: count }, (_, index) => {
    const kind = kinds[index % kinds.length];
    const round = Math.floor(index / kinds.length);
    return { name: round === 0 ? kind : `${kind}-${round + 1}`, kind, index };
  });
  return { definition, seed, rows, stations };
}

function stationChunks(p: Plan, station: Plan["stations"][number]): Iterable<string> {
  const rng = new Rng(p.seed, p.definition.name, station.index);
  return p.definition.rows({ rng, kind: station.kind, rows: p.rows });
}

function truthOf(p: Plan): Truth {
  const d = p.definition;
  return {
    generator: GENERATOR,
    scenario: d.name,
    description: d.description,
    seed: p.seed,
    stations: p.stations.map((s) => ({ name: s.name, kind: s.kind, rows: p.rows, file: `${s.name}.csv` })),
    columns: d.columns.map((c) => ({ ...c })),
    models: d.models.map((m) => structuredClone(m)),
    derived: d.derived.map((m) => structuredClone(m)),
    parameters: structuredClone(d.parameters),
  };
}

/** Generate a scenario in memory: one CSV string per station, and its truth. */
export function generateScenario(options: GenerateOptions): { stations: GeneratedStation[]; truth: Truth } {
  const p = plan(options, MAX_ROWS_IN_MEMORY);
  const header = csvHeader(p.definition.columns);
  const stations = p.stations.map((s) => {
    const parts = [header];
    for (const chunk of stationChunks(p, s)) parts.push(chunk);
    return { name: s.name, csv: parts.join(""), rows: p.rows };
  });
  return { stations, truth: truthOf(p) };
}

/**
 * Write `<out>/<station>.csv` for every station and `<out>/truth.json`, creating `out`.
 * Each file is streamed to a temporary sibling, synced, then renamed into place, so a reader
 * never sees a half-written file. Existing files of the same names are replaced.
 */
export async function writeScenario(options: GenerateOptions & { out: string }): Promise<{ files: string[]; truthFile: string }> {
  const p = plan(options);
  if (typeof options.out !== "string" || options.out.trim() === "") throw new BadInput("out must name a folder");
  try {
    await mkdir(options.out, { recursive: true });
  } catch (err) {
    throw new BadInput(`cannot create output folder ${options.out}: ${(err as Error).message}`, { cause: err });
  }
  const header = csvHeader(p.definition.columns);
  const files: string[] = [];
  for (const s of p.stations) {
    const file = join(options.out, `${s.name}.csv`);
    await writeChunksAtomic(file, prepend(header, stationChunks(p, s)));
    files.push(file);
  }
  const truthFile = join(options.out, "truth.json");
  await writeChunksAtomic(truthFile, [JSON.stringify(truthOf(p), null, 2) + "\n"]);
  return { files, truthFile };
}

function* prepend(first: string, rest: Iterable<string>): Iterable<string> {
  yield first;
  yield* rest;
}

async function writeChunksAtomic(file: string, chunks: Iterable<string>): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(tmp, "wx", 0o644);
  try {
    // Batch small chunks into ~1 MiB writes.
    let pending: string[] = [];
    let pendingLength = 0;
    for (const chunk of chunks) {
      pending.push(chunk);
      pendingLength += chunk.length;
      if (pendingLength >= 1 << 20) {
        await handle.writeFile(pending.join(""));
        pending = [];
        pendingLength = 0;
      }
    }
    if (pending.length > 0) await handle.writeFile(pending.join(""));
    await handle.sync();
    await handle.close();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await rename(tmp, file);
}

/**
 * A station's policy, DIR/policy.json: which studies may use this station, who works on them,
 * which datasets, columns and computations each may use, and the disclosure limits that protect
 * small groups. The data steward writes it; the station reads it at start and refuses to start on
 * a policy it does not fully understand — an unknown field is an error, never ignored, because a
 * typo ("reseachers", "colums") must not silently widen or narrow access.
 *
 * Schema (version 1):
 *
 *   {
 *     "version": 1,
 *     "requestWindowSeconds": 300,          // optional: how far a request's signed time may be
 *                                           //   from the station's clock (default 300 = ±5 min)
 *     "disclosure": { … },                  // optional: station-wide limits (see below)
 *     "studies": [ {
 *       "id": "fall-prevention-2026",       // letters, digits, '_', '.', '-'; unique
 *       "purpose": "…",                     // required, free text: why the data are used
 *       "dpia": "DPIA-2026-014",            // required: reference to the data-protection impact assessment
 *       "expires": "2026-12-31",            // required: ISO date (valid through that day, UTC) or date-time
 *       "researchers": [ { "name": "A. Jansen", "key": "<64 hex digits: researcher.pub>" } ],
 *       "stations": ["gp", "homecare", "hospital"],
 *                                           // optional: the stations that take part in every job of
 *                                           //   this study (default: every member of this station's
 *                                           //   roster, station.json)
 *       "datasets": [ { "name": "fall_risk", "columns": ["age", "sex", "fell_12m"],
 *                       "stations": ["gp", "hospital", "homecare"] } ]
 *                                           //   "columns": "*" releases every column of that dataset;
 *                                           //   "stations" (optional) overrides the study's list for
 *                                           //   jobs on this dataset;
 *                                           //   "datasets": "*" every column of every dataset
 *       "computations": ["count", "moments", "glm"],   // or "*": every known computation
 *       "disclosure": { "minCellSize": 20 }, // optional: this study's limits, which may only be
 *                                           //   stricter than the station-wide ones
 *       "perturbation": { "maxNoise": 2, "variance": 1 }  // optional, off by default: cell-key
 *                                           //   perturbation of released counts (or the name of a
 *                                           //   published table: "werkplaats-d2-v1")
 *     } ]
 *   }
 *
 * Disclosure limits (defaults follow DataSHIELD's, or are stricter; looser values than DataSHIELD's
 * defaults are refused):
 *
 *   minCellSize          10   a combined count cell, or a cell's n for means, of 1 … minCellSize−1 is
 *                             withheld (DataSHIELD nfilter.tab, default 3)
 *   minSubsetSize        10   a where-filter selecting 1 … minSubsetSize−1 rows is refused
 *                             (DataSHIELD nfilter.subset, default 3)
 *   maxParametersPerRow  0.33 a model whose parameters exceed this × its rows is refused
 *                             (DataSHIELD nfilter.glm, default 0.33)
 *   maxLevels            40   a group-by or factor with more levels is refused
 *                             (DataSHIELD nfilter.levels.max, default 40)
 *   maxLeverage          0.5  a model job (glm, glm_evaluate) is refused when one of the
 *                             station's own rows has leverage h_i = W_i x_iᵀ I⁻¹ x_i above this,
 *                             from the job's own information matrix I at this station: such a
 *                             row dominates the fit, and the fit then tells its values (a model
 *                             like num_medications ~ I(exp(50*(age-102))) over the over-90s has
 *                             h = 1 for the one person aged 102). Leverages sum to the model's
 *                             rank, so honest models over n rows average p/n (≤ maxParametersPerRow).
 *                             Measured (largest over stations and iterations, synthetic data): the
 *                             README's model 0.010, test/e2e-glm's fall-risk 0.010, medicines 0.008,
 *                             waiting-list Poisson 0.036, the notebook's fall-risk model 0.014;
 *                             num_medications ~ age over the gp's 34 over-90s 0.34. The isolating
 *                             models of test/privacy/ reach 0.97–1.00 (exp(50·(age−102)),
 *                             exp(2·(age−102)), steps either way, 1/(age−101.9), ((age−90)/12)^20,
 *                             rare-level interactions). 0.5 lies between: a row above it carries
 *                             more of its own fitted value than all other rows together. May be set
 *                             from 0.05 to 0.9 (no DataSHIELD counterpart).
 *   maxReleasedRowSets   10000 how many distinct row sets the station remembers per study,
 *                             dataset and snapshot to refuse differencing (governance/released-rows.ts);
 *                             when full, jobs that would add a new set are refused (fail closed)
 *                             until the steward archives the record. From 100 to 1 000 000.
 *   perStationCells   false   also refuse a job when a cell of this station's *own* part is
 *                             1 … minCellSize−1 (DataSHIELD's rule). Off by default: the
 *                             stations decide on the *combined* table instead, after secure
 *                             aggregation and before anything reaches the analyst
 *                             (station-daemon/release/): combined cells of 1 … minCellSize−1
 *                             are withheld, with enough others that none can be recovered from
 *                             the totals released with them. A study may turn it on, not off.
 *
 * The fixed station set: a job's station list must be exactly the expected set for its (study,
 * dataset) — the dataset's "stations", else the study's, else the whole roster — or the station
 * refuses it at StartJob, naming the missing and extra stations. With no dropout recovery in
 * secure aggregation, every result of a dataset in a study then covers the same stations, so no
 * two results can differ by one station's part (a federation file that leaves a station out, or
 * lists one more, gets a refusal instead of a second, differenceable result). Every name must be
 * on the roster; the station checks that when it starts.
 *
 * Perturbation (per study; off when absent). Cell-key perturbation as in the ABS TableBuilder and
 * the European census 2021 (common/perturbation.ts): every row holds a random record key kept in
 * the station folder (record-keys/), a cell's key is the sum of its rows' keys, and a published
 * table maps (count, cell key) to a small integer noise, the same for the same cell every time.
 * It is what answers differencing between tables (two counts differing by one person).
 *
 *   "perturbation": { "maxNoise": 2, "variance": 1 }   |D| ≤ maxNoise (1 … 20), variance in
 *                                                       (0, maxNoise²)
 *   "perturbation": "default"                          a named table: "default" (±3, variance 2),
 *                                                       werkplaats-d2-v1, werkplaats-d3-v2,
 *                                                       werkplaats-d5-v3
 *
 * Released counts (count cells and margins, histogram bins, indicator numerators and
 * denominators) are perturbed; results say so. Moments, model fits, quantiles and evaluation
 * measures are not. Databases (PostgreSQL sources) have no record keys: a study with
 * perturbation refuses their tables.
 *
 * String values are never released: a categorical column may be grouped by (its levels are
 * released metadata) or compared with in a filter, but no computation sums or returns it.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigInvalid } from "../../common/errors.js";
import { NAMED_PERTURBATION_TABLES, type PerturbationSettings, checkPerturbation } from "../../common/perturbation.js";

export const POLICY_FILE = "policy.json";
export const POLICY_VERSION = 1;

/**
 * Every computation kind a policy may name. A policy may allow a kind before the station can run
 * it; a kind the station runs but the policy does not allow is refused.
 */
export const KNOWN_COMPUTATIONS = ["count", "moments", "crosstab", "histogram", "quantile", "indicators", "glm", "glm_evaluate"] as const;
export type ComputationKind = (typeof KNOWN_COMPUTATIONS)[number];

export interface DisclosureSettings {
  minCellSize: number;
  minSubsetSize: number;
  maxParametersPerRow: number;
  maxLevels: number;
  maxLeverage: number;
  maxReleasedRowSets: number;
  /** Refuse when a cell of the station's own part is small (default false: combined rule only). */
  perStationCells?: boolean;
}

export const DEFAULT_DISCLOSURE: Readonly<DisclosureSettings> = Object.freeze({
  minCellSize: 10,
  minSubsetSize: 10,
  maxParametersPerRow: 0.33,
  maxLevels: 40,
  maxLeverage: 0.5,
  maxReleasedRowSets: 10_000,
  perStationCells: false,
});

/** DataSHIELD's defaults: the loosest values a policy may set. */
export const DATASHIELD_LIMITS: Readonly<DisclosureSettings> = Object.freeze({
  minCellSize: 3,
  minSubsetSize: 3,
  maxParametersPerRow: 0.33,
  maxLevels: 40,
  // No DataSHIELD counterpart: the loosest values this station accepts.
  maxLeverage: 0.9,
  maxReleasedRowSets: 1_000_000,
});

export const DEFAULT_REQUEST_WINDOW_SECONDS = 300;

export interface Researcher {
  name: string;
  /** Ed25519 public key, 64 lower-case hex digits. */
  key: string;
}

export interface DatasetRelease {
  name: string;
  /** "*" releases every column of the dataset. */
  columns: "*" | string[];
  /** The stations of every job on this dataset in this study, when they differ from the study's. */
  stations?: string[];
}

export interface StudyPolicy {
  id: string;
  purpose: string;
  dpia: string;
  /** As written in the file. */
  expires: string;
  /** The first millisecond at which the study has expired. */
  expiresAt: number;
  researchers: Researcher[];
  /** The stations of every job of this study; absent: every member of the station's roster. */
  stations?: string[];
  /** "*" releases every column of every dataset. */
  datasets: "*" | DatasetRelease[];
  computations: "*" | ComputationKind[];
  /** The effective limits: station-wide, tightened by the study's own. */
  disclosure: DisclosureSettings;
  /** Cell-key perturbation of released counts; absent: off. */
  perturbation?: PerturbationSettings;
}

export interface StationPolicy {
  version: 1;
  requestWindowMs: number;
  disclosure: DisclosureSettings;
  studies: StudyPolicy[];
}

/** What the station knows of its datasets, so that a policy naming a dataset or column it lacks is an error. */
export type KnownDatasets = ReadonlyMap<string, readonly string[]>;

const STUDY_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const TOP_FIELDS = ["version", "requestWindowSeconds", "disclosure", "studies"];
const STUDY_FIELDS = ["id", "purpose", "dpia", "expires", "researchers", "stations", "datasets", "computations", "disclosure", "perturbation"];
const RESEARCHER_FIELDS = ["name", "key"];
const DATASET_FIELDS = ["name", "columns", "stations"];
const DISCLOSURE_FIELDS = ["minCellSize", "minSubsetSize", "maxParametersPerRow", "maxLevels", "maxLeverage", "maxReleasedRowSets", "perStationCells"];
const PERTURBATION_FIELDS = ["maxNoise", "variance"];

class PolicyReader {
  constructor(private readonly file: string) {}

  fail(field: string, why: string): never {
    throw new ConfigInvalid(`${this.file}: ${field}: ${why}`);
  }

  object(value: unknown, field: string, known: readonly string[]): Record<string, unknown> {
    if (!value || typeof value !== "object" || Array.isArray(value)) this.fail(field, "must be a JSON object");
    const o = value as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (!known.includes(key)) {
        const near = closest(key, known);
        this.fail(`${field}.${key}`.replace(/^\(policy\)\./, ""), `is not a known field${near ? ` (did you mean "${near}"?)` : ""} (known: ${known.join(", ")})`);
      }
    }
    return o;
  }

  text(value: unknown, field: string): string {
    if (typeof value !== "string" || value.trim().length === 0) this.fail(field, "must be a non-empty string");
    return value as string;
  }

  list(value: unknown, field: string): unknown[] {
    if (!Array.isArray(value)) this.fail(field, "must be a list");
    return value as unknown[];
  }

  /** An optional list of distinct station names, at least one. */
  stations(value: unknown, field: string): string[] | undefined {
    if (value === undefined) return undefined;
    const names = this.list(value, field).map((v, i) => this.text(v, `${field}[${i}]`));
    if (names.length === 0) this.fail(field, "must name at least one station");
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i) this.fail(`${field}[${i}]`, `"${n}" is listed twice`);
    });
    return names;
  }
}

/**
 * The stations a job on `dataset` in `study` must have, exactly: the dataset release's list, else
 * the study's, else every member of the roster.
 */
export function expectedStations(study: StudyPolicy, dataset: string, roster: readonly string[]): string[] {
  const release = study.datasets === "*" ? undefined : study.datasets.find((d) => d.name === dataset);
  return [...(release?.stations ?? study.stations ?? roster)];
}

/**
 * Checks that every station list of the policy names only roster members. (A list without this
 * station is allowed: the study's jobs then run without it, and it refuses any that lists it.)
 */
export function checkPolicyStations(policy: StationPolicy, options: { roster: readonly string[]; file?: string }): void {
  const r = new PolicyReader(options.file ?? POLICY_FILE);
  policy.studies.forEach((study, i) => {
    const lists: Array<[string, string[] | undefined]> = [[`studies[${i}].stations`, study.stations]];
    if (study.datasets !== "*") study.datasets.forEach((d, j) => lists.push([`studies[${i}].datasets[${j}].stations`, d.stations]));
    for (const [field, names] of lists) {
      if (names === undefined) continue;
      const strangers = names.filter((n) => !options.roster.includes(n));
      if (strangers.length > 0) r.fail(field, `names stations that are not on this station's roster: ${strangers.join(", ")}`);
    }
  });
}

/** Levenshtein-closest known word within distance 2, to suggest a fix for a typo. */
function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

function readDisclosure(r: PolicyReader, value: unknown, field: string, base: DisclosureSettings, strictOnly: boolean): DisclosureSettings {
  if (value === undefined) return { ...base };
  const o = r.object(value, field, DISCLOSURE_FIELDS);
  const out = { ...base };
  const whole = (key: "minCellSize" | "minSubsetSize" | "maxLevels" | "maxReleasedRowSets", lo: number, hi: number): void => {
    const v = o[key];
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
      r.fail(`${field}.${key}`, `must be a whole number from ${lo} to ${hi}, got ${JSON.stringify(v)}`);
    }
    out[key] = v as number;
  };
  whole("minCellSize", DATASHIELD_LIMITS.minCellSize, 1_000_000);
  whole("minSubsetSize", DATASHIELD_LIMITS.minSubsetSize, 1_000_000);
  whole("maxLevels", 2, DATASHIELD_LIMITS.maxLevels);
  whole("maxReleasedRowSets", 100, DATASHIELD_LIMITS.maxReleasedRowSets);
  const leverage = o.maxLeverage;
  if (leverage !== undefined) {
    if (typeof leverage !== "number" || !(leverage >= 0.05) || leverage > DATASHIELD_LIMITS.maxLeverage) {
      r.fail(`${field}.maxLeverage`, `must be a number from 0.05 to ${DATASHIELD_LIMITS.maxLeverage}, got ${JSON.stringify(leverage)}`);
    }
    out.maxLeverage = leverage as number;
  }
  const ratio = o.maxParametersPerRow;
  if (ratio !== undefined) {
    if (typeof ratio !== "number" || !(ratio > 0) || ratio > DATASHIELD_LIMITS.maxParametersPerRow) {
      r.fail(`${field}.maxParametersPerRow`, `must be a number above 0 and at most ${DATASHIELD_LIMITS.maxParametersPerRow}, got ${JSON.stringify(ratio)}`);
    }
    out.maxParametersPerRow = ratio as number;
  }
  if (o.perStationCells !== undefined) {
    if (typeof o.perStationCells !== "boolean") r.fail(`${field}.perStationCells`, `must be true or false, got ${JSON.stringify(o.perStationCells)}`);
    out.perStationCells = o.perStationCells as boolean;
  }
  if (strictOnly) {
    if (base.perStationCells && !out.perStationCells) r.fail(`${field}.perStationCells`, "may not be turned off when the station turns it on");
    // A study may tighten the station's limits, never loosen them.
    if (out.minCellSize < base.minCellSize) r.fail(`${field}.minCellSize`, `may not be below the station-wide ${base.minCellSize}`);
    if (out.minSubsetSize < base.minSubsetSize) r.fail(`${field}.minSubsetSize`, `may not be below the station-wide ${base.minSubsetSize}`);
    if (out.maxParametersPerRow > base.maxParametersPerRow) r.fail(`${field}.maxParametersPerRow`, `may not exceed the station-wide ${base.maxParametersPerRow}`);
    if (out.maxLevels > base.maxLevels) r.fail(`${field}.maxLevels`, `may not exceed the station-wide ${base.maxLevels}`);
    if (out.maxLeverage > base.maxLeverage) r.fail(`${field}.maxLeverage`, `may not exceed the station-wide ${base.maxLeverage}`);
  }
  return out;
}

/** Parses "2026-12-31" (valid through that day, UTC) or a full ISO date-time. */
function readExpiry(r: PolicyReader, value: unknown, field: string): { expires: string; expiresAt: number } {
  const text = r.text(value, field);
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const start = Date.parse(`${text}T00:00:00Z`);
    if (Number.isNaN(start) || new Date(start).toISOString().slice(0, 10) !== text) r.fail(field, `"${text}" is not a calendar date`);
    return { expires: text, expiresAt: start + 86_400_000 };
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) {
    const at = Date.parse(text);
    if (!Number.isNaN(at)) return { expires: text, expiresAt: at };
  }
  return r.fail(field, `"${text}" is not an ISO date (2026-12-31) or date-time with a zone (2026-12-31T17:00:00Z)`);
}

/**
 * Checks a parsed policy.json and returns it with defaults filled in. Errors name the file and
 * the field (`studies[0].computations[2]: "regression" is not a known computation …`). With
 * `datasets`, datasets and columns the station does not have are errors too.
 */
export function validatePolicy(raw: unknown, options: { file?: string; datasets?: KnownDatasets } = {}): StationPolicy {
  const r = new PolicyReader(options.file ?? POLICY_FILE);
  const top = r.object(raw, "(policy)", TOP_FIELDS);
  if (top.version !== POLICY_VERSION) r.fail("version", `must be ${POLICY_VERSION}, got ${JSON.stringify(top.version)}`);
  let requestWindowSeconds = DEFAULT_REQUEST_WINDOW_SECONDS;
  if (top.requestWindowSeconds !== undefined) {
    const w = top.requestWindowSeconds;
    if (typeof w !== "number" || !Number.isInteger(w) || w < 1 || w > 3600) r.fail("requestWindowSeconds", `must be a whole number of seconds from 1 to 3600, got ${JSON.stringify(w)}`);
    requestWindowSeconds = w as number;
  }
  const stationDisclosure = readDisclosure(r, top.disclosure, "disclosure", { ...DEFAULT_DISCLOSURE }, false);
  const studies = r.list(top.studies, "studies").map((s, i) => readStudy(r, s, `studies[${i}]`, stationDisclosure, options.datasets));
  const ids = new Set<string>();
  studies.forEach((s, i) => {
    if (ids.has(s.id)) r.fail(`studies[${i}].id`, `"${s.id}" is used by another study too`);
    ids.add(s.id);
  });
  return { version: 1, requestWindowMs: requestWindowSeconds * 1000, disclosure: stationDisclosure, studies };
}

function readStudy(r: PolicyReader, value: unknown, field: string, stationDisclosure: DisclosureSettings, known?: KnownDatasets): StudyPolicy {
  const o = r.object(value, field, STUDY_FIELDS);
  const id = r.text(o.id, `${field}.id`);
  if (!STUDY_ID.test(id)) r.fail(`${field}.id`, `"${id}" must be 1-64 letters, digits, '_', '.', '-'`);
  const purpose = r.text(o.purpose, `${field}.purpose`);
  const dpia = r.text(o.dpia, `${field}.dpia`);
  const { expires, expiresAt } = readExpiry(r, o.expires, `${field}.expires`);
  const researchers = r.list(o.researchers, `${field}.researchers`).map((e, j) => {
    const f = `${field}.researchers[${j}]`;
    const ro = r.object(e, f, RESEARCHER_FIELDS);
    const name = r.text(ro.name, `${f}.name`);
    const key = r.text(ro.key, `${f}.key`).trim();
    if (!/^[0-9a-fA-F]{64}$/.test(key)) r.fail(`${f}.key`, "must be the researcher's public key: 64 hex digits (researcher.pub)");
    return { name, key: key.toLowerCase() };
  });
  const keys = researchers.map((x) => x.key);
  keys.forEach((k, j) => {
    if (keys.indexOf(k) !== j) r.fail(`${field}.researchers[${j}].key`, "lists the same key twice");
  });
  let datasets: StudyPolicy["datasets"];
  if (o.datasets === "*") datasets = "*";
  else {
    datasets = r.list(o.datasets, `${field}.datasets`).map((d, j) => {
      const f = `${field}.datasets[${j}]`;
      const dobj = r.object(d, f, DATASET_FIELDS);
      const name = r.text(dobj.name, `${f}.name`);
      const columnsKnown = known?.get(name);
      if (known && !columnsKnown) r.fail(`${f}.name`, `"${name}" is not a dataset of this station (datasets: ${[...known.keys()].join(", ") || "none"})`);
      const stations = r.stations(dobj.stations, `${f}.stations`);
      if (dobj.columns === "*") return { name, columns: "*" as const, ...(stations ? { stations } : {}) };
      const columns = r.list(dobj.columns, `${f}.columns`).map((c, k) => {
        const column = r.text(c, `${f}.columns[${k}]`);
        if (columnsKnown && !columnsKnown.includes(column)) {
          const near = closest(column, columnsKnown);
          r.fail(`${f}.columns[${k}]`, `"${column}" is not a column of dataset ${name}${near ? ` (did you mean "${near}"?)` : ""}`);
        }
        return column;
      });
      return { name, columns, ...(stations ? { stations } : {}) };
    });
    const names = datasets.map((d) => d.name);
    names.forEach((n, j) => {
      if (names.indexOf(n) !== j) r.fail(`${field}.datasets[${j}].name`, `"${n}" is listed twice`);
    });
  }
  let computations: StudyPolicy["computations"];
  if (o.computations === "*") computations = "*";
  else {
    computations = r.list(o.computations, `${field}.computations`).map((c, j) => {
      if (typeof c !== "string" || !(KNOWN_COMPUTATIONS as readonly string[]).includes(c)) {
        r.fail(`${field}.computations[${j}]`, `${JSON.stringify(c)} is not a known computation (known: ${KNOWN_COMPUTATIONS.join(", ")})`);
      }
      return c as ComputationKind;
    });
  }
  const disclosure = readDisclosure(r, o.disclosure, `${field}.disclosure`, stationDisclosure, true);
  const stations = r.stations(o.stations, `${field}.stations`);
  const perturbation = readPerturbation(r, o.perturbation, `${field}.perturbation`);
  return { id, purpose, dpia, expires, expiresAt, researchers, ...(stations ? { stations } : {}), datasets, computations, disclosure, ...(perturbation ? { perturbation } : {}) };
}

function readPerturbation(r: PolicyReader, value: unknown, field: string): PerturbationSettings | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string") {
    const named = NAMED_PERTURBATION_TABLES[value];
    if (!named) r.fail(field, `"${value}" is not a published perturbation table (known: ${Object.keys(NAMED_PERTURBATION_TABLES).join(", ")})`);
    return { ...named };
  }
  const o = r.object(value, field, PERTURBATION_FIELDS);
  const settings = { maxNoise: o.maxNoise as number, variance: o.variance as number };
  if (typeof o.maxNoise !== "number") r.fail(`${field}.maxNoise`, "must be a whole number from 1 to 20");
  if (typeof o.variance !== "number") r.fail(`${field}.variance`, "must be a number");
  try {
    checkPerturbation(settings);
  } catch (err) {
    r.fail(field, (err as Error).message);
  }
  return settings;
}

/** Reads and checks DIR/policy.json; ConfigInvalid naming the file and field when it is wrong. */
export function loadPolicy(dir: string, options: { datasets?: KnownDatasets } = {}): StationPolicy {
  const file = join(resolve(dir), POLICY_FILE);
  if (!existsSync(file)) {
    throw new ConfigInvalid(`${file} not found: a station serves no one without a policy (werkplaats station init writes a starting one)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ConfigInvalid(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  return validatePolicy(raw, { file, datasets: options.datasets });
}

/**
 * The starting policy for `station init`, the demo and `--local`: one study "demo" in which the
 * given researcher may run every computation on every column of every dataset, with the default
 * disclosure limits. Returns the JSON-ready object (write it as DIR/policy.json).
 */
export function defaultPolicy(options: { researcherKey: string; researcherName?: string; study?: string; expires?: string; now?: Date }): Record<string, unknown> {
  const now = options.now ?? new Date();
  const inAYear = new Date(now.getTime() + 365 * 86_400_000).toISOString().slice(0, 10);
  const policy = {
    version: POLICY_VERSION,
    requestWindowSeconds: DEFAULT_REQUEST_WINDOW_SECONDS,
    disclosure: { ...DEFAULT_DISCLOSURE },
    studies: [
      {
        id: options.study ?? "demo",
        purpose: "Demonstration and local analysis: every dataset, column and computation, default disclosure limits",
        dpia: "none (synthetic or local data only)",
        expires: options.expires ?? inAYear,
        researchers: [{ name: options.researcherName ?? "researcher", key: options.researcherKey.toLowerCase() }],
        datasets: "*",
        computations: "*",
      },
    ],
  };
  validatePolicy(policy, { file: "default policy" });
  return policy;
}

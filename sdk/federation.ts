/**
 * The analyst's entry point: `const fed = await Federation.connect("federation.json")`.
 */
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { ConfigInvalid, StationUnreachable, TooFewStations } from "../common/errors.js";
import type { JobSpec } from "../common/job.js";
import type { Provenance, StationProvenance } from "../common/provenance.js";
import type { StationInfo } from "../common/schema.js";
import { type AggregateResult, aggregate } from "./aggregation.js";
import { type FederationFile, readFederationFile, validateFederation } from "./federation-file.js";
import { DatasetQuery } from "./query/dataset-query.js";
import { type FederatedDataset, findDataset, mergeSchemas } from "./schemas.js";
import { loadResearcherKeys } from "./auth/researcher-keys.js";
import { type Researcher, StationClient, StationMismatch } from "./station-client.js";
import { type ReplayOptions, type ReplayReport, type Replayable, replay } from "./replay.js";

export interface ConnectOptions {
  /** Deadline of every call to a station, in ms (default 30 000). */
  timeoutMs?: number;
  /** The study requests fall under (default: the federation file's `study`). */
  study?: string;
  /**
   * The researcher's signing key: a path to researcher.key (or its folder), or the 32-byte
   * secret key. Default: the federation file's `key`, then $WERKPLAATS_KEY.
   */
  key?: string | Uint8Array;
}

export class Federation {
  readonly name: string;
  readonly minStations: number;
  readonly timeoutMs: number;
  /** Absolute path of the federation file, when connected from one (recorded in provenance). */
  readonly file?: string;
  private readonly clients: StationClient[];
  private infos: StationInfo[];
  private merged: FederatedDataset[];

  private constructor(options: { name: string; file?: string; minStations: number; timeoutMs: number; clients: StationClient[]; infos: StationInfo[] }) {
    this.name = options.name;
    if (options.file !== undefined) this.file = options.file;
    this.minStations = options.minStations;
    this.timeoutMs = options.timeoutMs;
    this.clients = options.clients;
    this.infos = options.infos;
    this.merged = mergeSchemas(options.infos);
  }

  /**
   * Reads the federation file (or object), asks every station who it is, and checks that each
   * answers under the identity key the file lists. Unreachable stations are named in the error.
   */
  static async connect(source: string | FederationFile, options: ConnectOptions = {}): Promise<Federation> {
    const file = typeof source === "string" ? readFederationFile(source) : validateFederation(source);
    const timeoutMs = options.timeoutMs ?? 30_000;
    const minStations = file.minStations ?? 3;
    const researcher = researcherFrom(file, options);
    const origin = typeof source === "string" ? source : "the federation";
    const created = await Promise.allSettled(file.stations.map((s, index) => StationClient.create(s, researcher, timeoutMs, { file: origin, index })));
    const unreachable = created.flatMap((c) => (c.status === "rejected" ? [c.reason as Error] : []));
    if (unreachable.length > 0) {
      created.forEach((c) => c.status === "fulfilled" && c.value.close());
      // A mismatch is a mistake in the file: said as it is, before any station that is merely down.
      const mismatch = unreachable.find((e) => e instanceof StationMismatch);
      if (unreachable.length === 1 || mismatch) throw mismatch ?? unreachable[0];
      throw new StationUnreachable(
        file.stations.filter((_, i) => created[i].status === "rejected").map((s) => s.name).join(", "),
        file.stations.filter((_, i) => created[i].status === "rejected").map((s) => s.address).join(", "),
        unreachable.map((e) => e.message).join("; "),
      );
    }
    const clients = created.map((c) => (c as PromiseFulfilledResult<StationClient>).value);
    const answers = await Promise.allSettled(clients.map((c) => c.getInfo(timeoutMs)));
    const failures = answers.flatMap((a, i) => (a.status === "rejected" ? [{ station: clients[i], reason: a.reason as Error }] : []));
    if (failures.length > 0) {
      clients.forEach((c) => c.close());
      // A refusal (policy, protocol) says more than "unreachable": report the first one as it is.
      const refusal = failures.find((f) => !(f.reason instanceof StationUnreachable));
      if (failures.length === 1 || refusal) throw (refusal ?? failures[0]).reason;
      throw new StationUnreachable(
        failures.map((f) => f.station.name).join(", "),
        failures.map((f) => f.station.address).join(", "),
        failures.map((f) => f.reason.message).join("; "),
      );
    }
    const infos = answers.map((a) => (a as PromiseFulfilledResult<StationInfo>).value);
    infos.forEach((info, i) => {
      const expected = clients[i];
      if (info.identityKey !== expected.identityKey || info.name !== expected.name) {
        clients.forEach((c) => c.close());
        throw new StationUnreachable(expected.name, expected.address, `it answers as ${info.name} with identity key ${info.identityKey.slice(0, 16)}…, not the key in the federation file`);
      }
    });
    if (clients.length < minStations) {
      clients.forEach((c) => c.close());
      throw new TooFewStations(`the federation lists ${clients.length} stations; jobs need at least ${minStations}`);
    }
    return new Federation({ name: file.name ?? "federation", ...(typeof source === "string" ? { file: resolve(source) } : {}), minStations, timeoutMs, clients, infos });
  }

  get stations(): string[] {
    return this.clients.map((c) => c.name);
  }

  /** What the stations offer: datasets, the stations holding each, merged columns and levels. */
  async datasets(): Promise<FederatedDataset[]> {
    await this.refresh();
    return this.merged;
  }

  /** Start a query on one dataset: `fed.dataset("fall_risk").where("age >= 65").count()`. */
  dataset(name: string): DatasetQuery {
    findDataset(this.merged, name);
    return new DatasetQuery({ federation: this, dataset: name });
  }

  /** @internal the merged schema of one dataset, as last fetched. */
  schemaOf(name: string): FederatedDataset {
    return findDataset(this.merged, name);
  }

  /** @internal runs one job on every station holding the dataset and returns only the sum. */
  async run(job: JobSpec, vectorLength: number): Promise<AggregateResult> {
    const holders = new Set(this.schemaOf(job.dataset).stations);
    return aggregate({
      job,
      stations: this.clients.filter((c) => holders.has(c.name)),
      vectorLength,
      minStations: this.minStations,
      timeoutMs: this.timeoutMs,
    });
  }

  /**
   * @internal what provenance records of the federation and of the named stations: their
   * versions and their snapshot fingerprint of `dataset`, as they described themselves.
   */
  provenanceOf(
    dataset: string,
    stations: readonly string[],
    /** The fingerprints the stations reported for the job itself, which beat what they said at connect. */
    jobFingerprints: Readonly<Record<string, string>> = {},
  ): { federation: Provenance["federation"]; stations: StationProvenance[] } {
    return {
      federation: { name: this.name, ...(this.file ? { file: this.file } : {}) },
      stations: [...stations].sort().map((name) => {
        const info = this.infos.find((i) => i.name === name);
        const fingerprint = jobFingerprints[name] ?? info?.datasets.find((d) => d.name === dataset)?.fingerprint;
        return {
          name,
          softwareVersion: info?.softwareVersion ?? "",
          protocolVersion: info?.protocolVersion ?? "",
          ...(fingerprint ? { fingerprint } : {}),
        };
      }),
    };
  }

  /**
   * Runs a saved result's or model's job again on this federation and says whether it came out
   * identical (within `tolerance`) or exactly what differs: stations, snapshots, versions, numbers.
   */
  replay(result: Replayable, options: Omit<ReplayOptions, "federation"> = {}): Promise<ReplayReport> {
    return replay(result, { ...options, federation: this });
  }

  /**
   * Replays on the federation the result's provenance names (its federation file), or on
   * `options.federation` (a Federation, a federation file or its path).
   */
  static replay(result: Replayable, options: ReplayOptions = {}): Promise<ReplayReport> {
    return replay(result, options);
  }

  async refresh(): Promise<void> {
    this.infos = await Promise.all(this.clients.map((c) => c.getInfo(this.timeoutMs)));
    this.merged = mergeSchemas(this.infos);
  }

  close(): void {
    this.clients.forEach((c) => c.close());
  }
}

function researcherFrom(file: FederationFile, options: ConnectOptions): Researcher {
  const study = options.study ?? file.study;
  if (!study) throw new ConfigInvalid("no study named: pass { study } to Federation.connect or put \"study\" in the federation file");
  const key = options.key ?? file.key ?? process.env.WERKPLAATS_KEY;
  if (key === undefined) {
    throw new ConfigInvalid("no researcher key: pass { key } to Federation.connect, put \"key\" in the federation file, or set WERKPLAATS_KEY (werkplaats keys new)");
  }
  const path = typeof key === "string" && key.startsWith("~/") ? join(homedir(), key.slice(2)) : key;
  return { study, secretKey: typeof path === "string" ? loadResearcherKeys(path).secretKey : path };
}

/**
 * A running station: its configuration, identity, datasets in memory, policy, audit log, and
 * the gRPC service (over TLS) through which the federation's coordinator reaches it.
 *
 * Every call goes through one gate (`guarded`): the researcher's signature is verified against
 * the policy, the handler runs, and the request with its outcome is appended to the audit log
 * and flushed to disk before the answer leaves the station.
 */
import * as grpc from "@grpc/grpc-js";
import { BadInput, ConfigInvalid, PolicyRefused, ProtocolViolation, UnknownDataset, WerkplaatsError } from "../common/errors.js";
import { columnsOf } from "../common/expression.js";
import { toHex, fromHex } from "../common/hex.js";
import type { JobSpec } from "../common/job.js";
import { MAX_MESSAGE_BYTES, stationServiceDefinition } from "../common/protos.js";
import { AUDIENCE_METADATA } from "../common/request-statement.js";
import { requestAuthFromMetadata } from "../sdk/auth/sign-request.js";
import { formatWhere } from "../sdk/query/where.js";
import { PROTOCOL_VERSION, type DatasetInfo, type StationInfo } from "../common/schema.js";
import { SOFTWARE_VERSION } from "../common/version.js";
import { type StationConfig, loadConfig, loadIdentity } from "./config.js";
import type { Column, Table } from "./data/table.js";
import { tableFingerprint } from "./data/fingerprint.js";
import { type DatasetSource, MemorySource, openDatasetSource } from "./sources/index.js";
import { UndecodableRequest, auditingUndecodable, toServiceError } from "./errors-to-grpc.js";
import {
  type AuditRecord,
  AuditLog,
  type StationPolicy,
  type StudyPolicy,
  checkDisclosure,
  checkPolicyStations,
  checkRequest,
  expectedStations,
  loadPolicy,
  loadStationTls,
  stationServerCredentials,
  verifyRequest,
} from "./governance/index.js";
import type { StationTls } from "./governance/tls.js";
import { ReleasedRows } from "./governance/released-rows.js";
import { SecureJobs } from "./secure-jobs.js";
import { evaluateWhere } from "./compute/filter.js";
import { attachRecordKeys, decideRelease, releaseExtras } from "./release/index.js";
import type { ReleaseBody } from "../secagg/index.js";
import { type StationState, openStationState } from "./governance/station-state.js";

export interface StationLog {
  info(message: string): void;
  error(message: string): void;
}

const quietLog: StationLog = { info: () => {}, error: () => {} };

/** What an audit line says about the job a request belongs to. */
type AuditDetails = Pick<AuditRecord, "computation" | "dataset" | "columns" | "where">;
type HandlerResult = { response: unknown; audit: AuditDetails };

interface Caller {
  researcherKey: string;
  study: string;
}

/** What the audit log says about the job a round belongs to. */
type JobAudit = Pick<AuditRecord, "computation" | "dataset" | "columns" | "where"> & Caller;

export class Station {
  readonly config: StationConfig;
  readonly dir: string;
  /** Each dataset's schema (and, for files, rows): what policy checks and info() read. */
  private readonly tables: Map<string, Table>;
  /** Where each dataset's rows are and where its jobs are computed (memory or database). */
  private readonly sources: Map<string, DatasetSource>;
  private readonly identity: { secretKey: Uint8Array; publicKey: Uint8Array };
  private readonly policy: StationPolicy;
  private readonly tls: StationTls;
  private readonly audit: AuditLog;
  /** Nonces, job ids and the fingerprint secret, kept across restarts (governance/station-state.ts). */
  private readonly state: StationState;
  /** Row sets released per study, against differencing (governance/released-rows.ts). */
  private readonly releasedRows: ReleasedRows;
  private readonly log: StationLog;
  private readonly jobs: SecureJobs;
  /** Who started each job: later rounds must come from the same researcher and study. */
  private readonly jobOwners = new Map<string, JobAudit & { expiresAt: number }>();
  private server?: grpc.Server;
  private boundAddress?: string;

  private constructor(options: {
    dir: string;
    config: StationConfig;
    sources: Map<string, DatasetSource>;
    identity: { secretKey: Uint8Array; publicKey: Uint8Array };
    policy: StationPolicy;
    tls: StationTls;
    audit: AuditLog;
    log: StationLog;
    state: StationState;
  }) {
    this.state = options.state;
    this.dir = options.dir;
    this.config = options.config;
    this.sources = options.sources;
    this.tables = new Map([...options.sources].map(([name, source]) => [name, source.table]));
    this.identity = options.identity;
    this.policy = options.policy;
    this.tls = options.tls;
    this.audit = options.audit;
    this.log = options.log;
    this.releasedRows = new ReleasedRows(options.dir);
    this.jobs = new SecureJobs({
      name: options.config.name,
      identitySecretKey: options.identity.secretKey,
      // A station without a roster yet (just initialised) still starts and answers GetInfo, so its
      // steward can check it; it is its own only member, and startJob refuses jobs with the reason.
      roster: (options.config.roster.length > 0 ? options.config.roster : [{ name: options.config.name, identityKey: toHex(options.identity.publicKey) }]).map((e) => ({
        name: e.name,
        identityKey: fromHex(e.identityKey, `roster key of ${e.name}`, 32),
      })),
      minStations: options.config.minStations,
      log: (message) => options.log.info(message),
    });
  }

  /** Loads and checks everything before serving: a bad file stops the station, naming the file. */
  static async open(dir: string, options: { log?: StationLog } = {}): Promise<Station> {
    const config = loadConfig(dir);
    const identity = loadIdentity(dir);
    const own = config.roster.find((e) => e.name === config.name);
    if (own && own.identityKey !== toHex(identity.publicKey)) {
      throw new ConfigInvalid(`roster entry for ${config.name} does not match this station's identity.pub`);
    }
    const log = options.log ?? quietLog;
    const sources = new Map<string, DatasetSource>();
    try {
      for (const dataset of config.datasets) sources.set(dataset.name, await openDatasetSource(dataset, { dir, log }));
      // Record keys for cell-key perturbation live beside the data they key (made on first use).
      for (const source of sources.values()) if (source.table.rowCount > 0) attachRecordKeys({ dir, table: source.table });
      const policy = loadPolicy(dir, { datasets: new Map([...sources].map(([n, s]) => [n, [...s.table.columns.keys()]])) });
      checkPolicyStations(policy, { roster: config.roster.map((e) => e.name) });
      const tls = loadStationTls(dir);
      const audit = await AuditLog.open({ dir, identity });
      let state: StationState | undefined;
      try {
        state = openStationState({ dir, identity, audit });
        return new Station({ dir, config, sources, identity, policy, tls, audit, log, state });
      } catch (err) {
        // The log is open and locked: close it (sealed), so that the folder is not left "running".
        state?.close();
        await audit.close();
        throw err;
      }
    } catch (err) {
      await Promise.all([...sources.values()].map((s) => s.close()));
      throw err;
    }
  }

  /** The fingerprint a study sees of a dataset held in memory (as GetInfo gives it); "" for a database table. */
  private snapshotFingerprint(dataset: string, study: StudyPolicy): string {
    const source = this.sources.get(dataset);
    const columns = source ? releasedColumns(source.table, study) : undefined;
    return source instanceof MemorySource && columns ? tableFingerprint(source.table, columns, this.state.fingerprintKey) : "";
  }

  /** The station's datasets as a study may see them: only released datasets and columns. */
  info(study: StudyPolicy | undefined): StationInfo {
    const released = (t: Table): DatasetInfo | undefined => {
      const columns = releasedColumns(t, study);
      if (!columns) return undefined;
      // Only a table held in memory is a snapshot; a database table can change under any query.
      const snapshot = this.sources.get(t.name) instanceof MemorySource;
      return {
        name: t.name,
        columns: columns.map((c) => ({
          ...(c.kind === "categorical" ? { name: c.name, type: c.kind, levels: [...c.levels] } : { name: c.name, type: c.kind, ...integerLevels(c.values) }),
          ...(snapshot && isComplete(c) ? { complete: true } : {}),
        })),
        ...(snapshot ? { fingerprint: tableFingerprint(t, columns, this.state.fingerprintKey) } : {}),
      };
    };
    return {
      name: this.config.name,
      protocolVersion: PROTOCOL_VERSION,
      softwareVersion: SOFTWARE_VERSION,
      identityKey: toHex(this.identity.publicKey),
      datasets: [...this.tables.values()].flatMap((t) => released(t) ?? []),
    };
  }

  get tlsFingerprint(): string {
    return this.tls.fingerprint;
  }

  /** Serves on the configured address (port 0: a free one) and resolves with host:port. */
  async start(): Promise<string> {
    const server = new grpc.Server({
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    });
    server.addService(auditingUndecodable(stationServiceDefinition()), {
      GetInfo: this.guarded("GetInfo", (_req, caller) => ({
        response: this.info(this.studyOf(caller)),
        audit: { computation: null, dataset: null, columns: [], where: null },
      })),
      StartJob: this.guarded("StartJob", (req: Parameters<SecureJobs["acceptJob"]>[0], caller, details) => this.startJob(req, caller, details)),
      ShareKeys: this.guarded("ShareKeys", (req: Parameters<SecureJobs["shareKeys"]>[0], caller, details) =>
        this.round(req.jobId, caller, details, () => this.jobs.shareKeys(req)),
      ),
      MaskedInput: this.guarded("MaskedInput", (req: Parameters<SecureJobs["maskedInput"]>[0], caller, details) =>
        this.round(req.jobId, caller, details, () => this.jobs.maskedInput(req)),
      ),
      Release: this.guarded("Release", (req: Parameters<SecureJobs["release"]>[0], caller, details) => {
        try {
          return this.round(req.jobId, caller, details, () => this.jobs.release(req));
        } finally {
          this.jobOwners.delete(req.jobId);
        }
      }),
    });
    const [host, portText] = splitHostPort(this.config.listen);
    const port = await new Promise<number>((resolvePort, reject) =>
      server.bindAsync(`${host}:${portText}`, stationServerCredentials(this.tls), (err, p) => (err ? reject(err) : resolvePort(p))),
    );
    this.server = server;
    this.boundAddress = `${host}:${port}`;
    this.log.info(`station ${this.config.name} listening on ${this.boundAddress} (TLS ${this.tls.fingerprint.slice(0, 16)}…)`);
    return this.boundAddress;
  }

  get address(): string | undefined {
    return this.boundAddress;
  }

  /** Finishes calls in flight (up to a grace period), stops, and seals the audit log. */
  async stop(graceMs = 2000): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      await new Promise<void>((done) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          done();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          done();
        });
      });
    }
    this.jobs.close();
    await Promise.all([...this.sources.values()].map((s) => s.close()));
    this.state.close();
    await this.audit.close();
  }

  /** The caller's study, if it exists, lists the caller, and has not expired; refused otherwise. */
  private studyOf(caller: Caller): StudyPolicy {
    const study = this.policy.studies.find((s) => s.id === caller.study);
    if (!study) throw new PolicyRefused(`unknown study "${caller.study}"`, this.config.name);
    if (!study.researchers.some((r) => r.key === caller.researcherKey)) {
      throw new PolicyRefused(`researcher ${caller.researcherKey.slice(0, 16)}… is not in study "${study.id}"`, this.config.name);
    }
    if (Date.now() >= study.expiresAt) throw new PolicyRefused(`study "${study.id}" expired on ${study.expires}`, this.config.name);
    return study;
  }

  /**
   * Round 0: policy, computation and disclosure checks, all before any key leaves the station.
   * The computation may run in a database, so it is awaited here and its result handed to the
   * secure-aggregation participant, which re-decodes the job and checks its digest again.
   */
  private async startJob(req: Parameters<SecureJobs["acceptJob"]>[0], caller: Caller, details: AuditDetails): Promise<{ response: unknown; audit: JobAudit }> {
    if (this.config.roster.length === 0) {
      throw new ConfigInvalid(`station ${this.config.name} has no roster yet: its steward must run werkplaats station roster DIR --federation FEDERATION.json and restart it`);
    }
    const accepted = this.jobs.acceptJob(req);
    const { job } = accepted;
    Object.assign(details, { computation: job.computation.kind, dataset: job.dataset, columns: job.where ? columnsOf(job.where) : [], where: job.where ? formatWhere(job.where) : null });
    const source = this.sources.get(job.dataset);
    if (!source) throw new UnknownDataset(job.dataset, [...this.sources.keys()]);
    const table = source.table;
    const checked = checkRequest({ policy: this.policy, study: caller.study, researcherKey: caller.researcherKey, job, table, now: Date.now(), station: this.config.name });
    details.columns = checked.columns;
    // Before any computation: the job must cover exactly this study's stations for this dataset.
    this.checkJobStations(accepted.secagg.stations, checked.study, job.dataset);
    // The source applies the subset rule before computing, then model isolation and differencing.
    const guard = { study: checked.study.id, disclosure: checked.disclosure, station: this.config.name, releasedRows: this.releasedRows };
    const { contribution, rowsSelected, recordReleased } = await source.compute(job, guard);
    checkDisclosure({ disclosure: checked.disclosure, job, table, rowsSelected, contribution, station: this.config.name });
    // A job id is used once, also across restarts of this station (governance/request-auth.ts SeenJobs).
    this.state.seenJobs.remember(accepted.secagg.jobId, accepted.secagg.deadlineMs, Date.now(), this.config.name);
    // Rows of the filter are known for a table in memory; a database source computes in the
    // database and holds no rows here, so its release extras see none.
    const rows = source instanceof MemorySource ? evaluateWhere(table, job.where) : new Uint8Array(0);
    const extras = releaseExtras({ job, study: checked.study, table, rows });
    const vector = jobVector(contribution, rowsSelected > 0, extras);
    const stations = accepted.secagg.stations.length;
    const decide = (sum: Float64Array): ReleaseBody => {
      const release = releaseCombined({ job, study: checked.study, sum, publicLength: contribution.length, stations, station: this.config.name });
      // Only what is released restricts later jobs (differencing record, governance/released-rows.ts).
      recordReleased?.();
      return release;
    };
    const response = { secagg: this.jobs.startJob(accepted, vector, decide), datasetFingerprint: this.snapshotFingerprint(job.dataset, checked.study) };
    const audit: JobAudit = { ...caller, ...details };
    this.jobOwners.set(accepted.secagg.jobId, { ...audit, expiresAt: accepted.secagg.deadlineMs });
    return { response, audit };
  }

  /**
   * A job's station list must be exactly the expected set for (study, dataset): then every result
   * of that dataset in that study covers the same stations, and no two can be differenced down to
   * one station's part. The refusal names stations, never data.
   */
  private checkJobStations(stations: unknown, study: StudyPolicy, dataset: string): void {
    const listed = Array.isArray(stations) ? stations.map(String) : [];
    const expected = expectedStations(study, dataset, this.config.roster.map((e) => e.name));
    const missing = expected.filter((n) => !listed.includes(n));
    const extra = listed.filter((n) => !expected.includes(n));
    if (missing.length > 0 || extra.length > 0) {
      throw new PolicyRefused(
        `a job on dataset "${dataset}" in study "${study.id}" must include exactly the stations ${expected.join(", ")}` +
          `${missing.length > 0 ? `; missing: ${missing.join(", ")}` : ""}${extra.length > 0 ? `; not expected: ${extra.join(", ")}` : ""}`,
        this.config.name,
      );
    }
  }

  private round<T>(jobId: string, caller: Caller, details: AuditDetails, run: () => T): { response: T; audit: JobAudit } {
    const now = Date.now();
    for (const [id, owner] of this.jobOwners) if (owner.expiresAt < now) this.jobOwners.delete(id);
    const owner = this.jobOwners.get(this.jobs.checkJobId(jobId));
    if (!owner) throw new ProtocolViolation(`job ${jobId} is unknown here or has expired`);
    Object.assign(details, { computation: owner.computation, dataset: owner.dataset, columns: owner.columns, where: owner.where });
    if (owner.researcherKey !== caller.researcherKey || owner.study !== caller.study) {
      throw new PolicyRefused(`job ${jobId} belongs to another researcher or study`, this.config.name);
    }
    return { response: run(), audit: owner };
  }

  /**
   * Verify → handle → audit → answer. The audit line is on disk before the answer leaves; if the
   * log cannot be written, the station answers with an error instead of answering unlogged.
   */
  private guarded<Req>(
    method: string,
    handler: (req: Req, caller: Caller, details: AuditDetails) => HandlerResult | Promise<HandlerResult>,
  ): grpc.handleUnaryCall<Req, unknown> {
    const definition = stationServiceDefinition()[method];
    return (call, callback) => {
      let caller: Caller | undefined;
      // Filled in by the handler as it learns what the job is, so a refusal is logged with it too.
      let auditBase: AuditDetails = { computation: null, dataset: null, columns: [], where: null };
      const finish = (record: AuditRecord, answer: () => void) =>
        this.audit.append(record).then(answer, (err: unknown) => {
          this.log.error(`audit log write failed: ${(err as Error).message}`);
          callback(toServiceError(new WerkplaatsError("INTERNAL", "the station's audit log cannot be written; refusing to answer")) as grpc.ServiceError);
        });
      const fail = (err: unknown) => {
        const refused = err instanceof WerkplaatsError;
        if (refused) this.log.info(`${method} refused: ${err.code} ${err.message}`);
        else this.log.error(`${method} failed: ${(err as Error)?.stack ?? String(err)}`);
        void finish(
          {
            researcher: caller?.researcherKey ?? null,
            study: caller?.study ?? null,
            method,
            ...auditBase,
            outcome: refused ? "refused" : "error",
            reason: refused ? `${err.code}: ${err.message}` : "internal error",
            bytes: 0,
          },
          () => callback(toServiceError(err) as grpc.ServiceError),
        );
      };
      const answer = ({ response, audit }: HandlerResult) => {
        auditBase = audit;
        const bytes = definition.responseSerialize(response).length;
        void finish({ researcher: caller!.researcherKey, study: caller!.study, method, ...audit, outcome: "allowed", reason: null, bytes }, () => callback(null, response));
      };
      try {
        if (call.request instanceof UndecodableRequest) {
          throw new BadInput(`the ${method} request (${call.request.bytes} bytes) is not a werkplaats.v1 message: ${call.request.reason}`);
        }
        caller = verifyRequest({
          auth: requestAuthFromMetadata(call.metadata),
          method: call.getPath(),
          body: definition.requestSerialize(call.request),
          station: toHex(this.identity.publicKey),
          policy: this.policy,
          now: Date.now(),
          replayCache: this.state.replayCache,
          stationName: this.config.name,
          audience: call.metadata.get(AUDIENCE_METADATA)[0]?.toString(),
        });
        const result = handler(call.request, caller, auditBase);
        if (result instanceof Promise) result.then(answer, fail);
        else answer(result);
      } catch (err) {
        fail(err);
      }
    };
  }
}

/**
 * The vector this station contributes to a job: [public part | control | extras]
 * (RELEASE-INTERFACE.md). control = 1 if the filter selects a row here; summed over the stations it
 * is the number of stations with rows, which the release round checks and never releases.
 */
function jobVector(contribution: Float64Array, hasRows: boolean, extras: Float64Array): Float64Array {
  const out = new Float64Array(contribution.length + 1 + extras.length);
  out.set(contribution, 0);
  out[contribution.length] = hasRows ? 1 : 0;
  out.set(extras, contribution.length + 1);
  return out;
}

/**
 * The release round at this station, on the combined vector: the stations-with-rows rule, then
 * disclosure control (release/index.ts). A filter that selects rows at exactly one station would
 * make that station's part the whole result, so nothing is released.
 */
function releaseCombined(options: { job: JobSpec; study: StudyPolicy; sum: Float64Array; publicLength: number; stations: number; station: string }): ReleaseBody {
  const { sum, publicLength, stations } = options;
  const stationsWithRows = sum[publicLength];
  // Each honest station adds 0 or 1; anything else means a station sent a malformed control.
  if (!Number.isInteger(stationsWithRows) || stationsWithRows < 0 || stationsWithRows > stations) {
    throw new ProtocolViolation(`the combined control element is not a count of stations from 0 to ${stations}: a station broke the job layout`);
  }
  if (stationsWithRows === 1) {
    throw new PolicyRefused("the filter selects rows at fewer than two stations: no station's part may be the whole result", options.station);
  }
  return decideRelease({
    job: options.job,
    study: options.study,
    sum: sum.subarray(0, publicLength),
    extras: sum.subarray(publicLength + 1),
    stations,
    stationsWithRows,
  });
}

/** The columns of a table a study may see; undefined when the dataset is not released to it. */
function releasedColumns(table: Table, study: StudyPolicy | undefined): Column[] | undefined {
  let allowed: "*" | string[] = "*";
  if (study && study.datasets !== "*") {
    const release = study.datasets.find((d) => d.name === table.name);
    if (!release) return undefined;
    allowed = release.columns;
  }
  return [...table.columns.values()].filter((c) => allowed === "*" || allowed.includes(c.name));
}

/**
 * Numeric columns holding a few whole numbers (quintiles, counts of 1–5) release those values as
 * levels, so analysts can group by them and models can use factor(); other numeric columns
 * release nothing beyond their type.
 */
function integerLevels(values: Float64Array): { levels?: string[] } {
  const seen = new Set<number>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) continue;
    if (!Number.isInteger(v)) return {};
    seen.add(v);
    if (seen.size > 40) return {};
  }
  return seen.size > 0 ? { levels: [...seen].sort((a, b) => a - b).map(String) } : {};
}

/** No missing value in the column (a group-by over it then needs no missing-value cell). */
function isComplete(c: Column): boolean {
  if (c.kind === "categorical") return c.codes.every((code) => code >= 0);
  for (let i = 0; i < c.values.length; i++) if (Number.isNaN(c.values[i])) return false;
  return true;
}

function splitHostPort(listen: string): [string, string] {
  const i = listen.lastIndexOf(":");
  return [listen.slice(0, i), listen.slice(i + 1)];
}

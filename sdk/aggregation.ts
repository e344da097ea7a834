/**
 * The single place where stations' contributions become one sum: a secure-aggregation job
 * (secagg/) over gRPC. Everything above it (query builders, model fitting) asks for a sum;
 * nothing above it, and nothing in it, sees a single station's vector.
 */
import { StationUnreachable, TooFewStations, WerkplaatsError } from "../common/errors.js";
import { fromHex } from "../common/hex.js";
import type { JobSpec } from "../common/job.js";
import { jobDigest } from "../common/job-digest.js";
import { jobToWire } from "../common/wire.js";
import { type AdvertiseKeysResponse, type DroppedStation, type PhaseReport, type SecAggStation, minimumThreshold, runSecureAggregation } from "../secagg/index.js";
import type { StationClient } from "./station-client.js";

export interface AggregateOptions {
  job: JobSpec;
  stations: readonly StationClient[];
  vectorLength: number;
  minStations: number;
  /** Deadline of each protocol phase, ms. */
  timeoutMs: number;
  /** Shamir threshold; default a majority of the job's stations, never below 2. */
  threshold?: number;
  onPhase?: (report: PhaseReport) => void;
}

export interface AggregateResult {
  sum: Float64Array;
  /** Stations whose contribution is in the sum. */
  stations: string[];
  /** Stations that dropped out, in which phase and why. */
  dropped: DroppedStation[];
  /** Each included station's dataset snapshot fingerprint for this job (file-backed datasets). */
  fingerprints: Record<string, string>;
  jobId: string;
  bytesSent: number;
  bytesReceived: number;
  phaseMs: Record<string, number>;
}

export async function aggregate(options: AggregateOptions): Promise<AggregateResult> {
  const { job, stations, vectorLength, minStations, timeoutMs } = options;
  if (stations.length < minStations) {
    throw new TooFewStations(
      `a job needs at least ${minStations} stations; ${stations.length} hold dataset "${job.dataset}" (${stations.map((s) => s.name).join(", ")})`,
    );
  }
  const wireJob = jobToWire(job);
  // A station that refuses the job (policy, unknown column, bad input) must stop the whole job:
  // carrying on without it would silently change the population the result describes.
  const refusals = new Map<string, Error>();
  const fingerprints = new Map<string, string>();
  const call = (client: StationClient, method: string) => async (request: unknown) => {
    try {
      return (await client.call(method, request, timeoutMs)) as never;
    } catch (err) {
      if (err instanceof WerkplaatsError && !(err instanceof StationUnreachable) && method === "StartJob") refusals.set(client.name, err);
      throw err;
    }
  };
  const participants: SecAggStation[] = stations.map((client) => ({
    name: client.name,
    advertiseKeys: async (req) => {
      const started = (await call(client, "StartJob")({ job: wireJob, secagg: req })) as { secagg?: AdvertiseKeysResponse; datasetFingerprint?: string };
      if (started.datasetFingerprint) fingerprints.set(client.name, started.datasetFingerprint);
      return started.secagg as AdvertiseKeysResponse;
    },
    shareKeys: call(client, "ShareKeys"),
    maskedInput: call(client, "MaskedInput"),
    consistencyCheck: call(client, "ConsistencyCheck"),
    unmask: call(client, "Unmask"),
  }));
  const result = await runSecureAggregation({
    context: jobDigest(job),
    stations: participants,
    threshold: options.threshold ?? minimumThreshold(stations.length),
    vectorLength,
    phaseTimeoutMs: timeoutMs,
    minStations,
    // Lets the coordinator drop a station whose advertisement does not verify before it spoils
    // the round for everyone.
    roster: stations.map((s) => ({ name: s.name, identityKey: fromHex(s.identityKey, `identity key of ${s.name}`, 32) })),
    onPhase: (report) => {
      if (report.phase === "advertiseKeys" && refusals.size > 0) throw [...refusals.values()][0];
      options.onPhase?.(report);
    },
  }).catch((err: unknown) => {
    if (refusals.size > 0) throw [...refusals.values()][0];
    throw err;
  });
  return {
    sum: result.sum,
    stations: result.survivors,
    dropped: result.dropped,
    fingerprints: Object.fromEntries(result.survivors.filter((s) => fingerprints.has(s)).map((s) => [s, fingerprints.get(s)!])),
    jobId: result.jobId,
    bytesSent: result.bytesSent,
    bytesReceived: result.bytesReceived,
    phaseMs: result.phaseMs,
  };
}

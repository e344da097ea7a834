/**
 * The single place where stations' contributions become one result: a secure-aggregation job
 * (secagg/, protocol v2) over gRPC. Everything above it (query builders, model fitting) asks for
 * a sum; nothing above it, and nothing in it, sees a single station's vector — nor the combined
 * vector itself: the stations unmask it, decide what may be released, and all sign the same
 * release, which is what this returns.
 */
import { TooFewStations, WerkplaatsError } from "../common/errors.js";
import { fromHex } from "../common/hex.js";
import type { JobSpec } from "../common/job.js";
import { jobDigest } from "../common/job-digest.js";
import { jobToWire } from "../common/wire.js";
import { type AdvertiseKeysResponse, IncompleteJob, type PhaseReport, type SecAggStation, runSecureAggregation } from "../secagg/index.js";
import type { StationClient } from "./station-client.js";

/**
 * How many times a job is started again, as a new job with a fresh id, after stations failed to
 * answer (unreachable, timed out). Two: a restart or a network blip is over by then, and a
 * station that is down for longer should be named to the analyst rather than waited for. A
 * refusal is never retried: asking again would get the same answer.
 */
export const JOB_RETRIES = 2;

export interface AggregateOptions {
  job: JobSpec;
  stations: readonly StationClient[];
  /** Elements of the public part the caller expects (a lower bound; stations append more). */
  vectorLength: number;
  minStations: number;
  /** Deadline of each protocol phase, ms. */
  timeoutMs: number;
  /** Attempts after the first when stations fail to answer; default JOB_RETRIES. */
  retries?: number;
  onPhase?: (report: PhaseReport) => void;
}

export interface AggregateResult {
  /** The released values (RELEASE-INTERFACE.md: `release.values`); a withheld entry holds 0. */
  sum: Float64Array;
  /** Per entry of `sum`: 0 released, 1 withheld (primary), 2 withheld (secondary). */
  withheld: Uint8Array;
  /** What the stations say about the release: perturbation, why entries are withheld, … */
  notes: string[];
  /** Stations whose contribution is behind the release: always every station of the job. */
  stations: string[];
  /** Each station's dataset snapshot fingerprint for this job (file-backed datasets). */
  fingerprints: Record<string, string>;
  jobId: string;
  bytesSent: number;
  bytesReceived: number;
  phaseMs: Record<string, number>;
}

export async function aggregate(options: AggregateOptions): Promise<AggregateResult> {
  const { job, stations, minStations } = options;
  if (stations.length < minStations) {
    throw new TooFewStations(
      `a job needs at least ${minStations} stations; ${stations.length} hold dataset "${job.dataset}" (${stations.map((s) => s.name).join(", ")})`,
    );
  }
  const retries = options.retries ?? JOB_RETRIES;
  for (let attempt = 0; ; attempt++) {
    try {
      return await attemptOnce(options);
    } catch (error) {
      const transportOnly = error instanceof IncompleteJob && error.failures.every((f) => f.kind === "transport");
      if (!transportOnly || attempt >= retries) {
        if (error instanceof IncompleteJob && transportOnly) {
          throw new IncompleteJob({ phase: error.phase, failures: error.failures, attempts: attempt + 1 });
        }
        throw error;
      }
    }
  }
}

async function attemptOnce(options: AggregateOptions): Promise<AggregateResult> {
  const { job, stations, vectorLength, minStations, timeoutMs } = options;
  const wireJob = jobToWire(job);
  const fingerprints = new Map<string, string>();
  const call = (client: StationClient, method: string) => async (request: unknown) => (await client.call(method, request, timeoutMs)) as never;
  const participants: SecAggStation[] = stations.map((client) => ({
    name: client.name,
    advertiseKeys: async (req) => {
      const started = (await call(client, "StartJob")({ job: wireJob, secagg: req })) as { secagg?: AdvertiseKeysResponse; datasetFingerprint?: string };
      if (started.datasetFingerprint) fingerprints.set(client.name, started.datasetFingerprint);
      return started.secagg as AdvertiseKeysResponse;
    },
    shareKeys: call(client, "ShareKeys"),
    maskedInput: call(client, "MaskedInput"),
    release: call(client, "Release"),
  }));
  const result = await runSecureAggregation({
    context: jobDigest(job),
    stations: participants,
    vectorLength,
    phaseTimeoutMs: timeoutMs,
    minStations,
    roster: stations.map((s) => ({ name: s.name, identityKey: fromHex(s.identityKey, `identity key of ${s.name}`, 32) })),
    onPhase: options.onPhase,
  }).catch((err: unknown) => {
    // A station's own refusal (policy, unknown column, bad input) says more than "the job stopped":
    // surface it as it is, with its code. Failures to answer stay an IncompleteJob naming them.
    if (err instanceof IncompleteJob) {
      const refusal = err.failures.find((f) => f.kind === "refused" && f.error instanceof WerkplaatsError);
      if (refusal) throw refusal.error;
    }
    throw err;
  });
  return {
    sum: result.release.values,
    withheld: result.release.withheld,
    notes: result.release.notes,
    stations: result.stations,
    fingerprints: Object.fromEntries(result.stations.filter((s) => fingerprints.has(s)).map((s) => [s, fingerprints.get(s)!])),
    jobId: result.jobId,
    bytesSent: result.bytesSent,
    bytesReceived: result.bytesReceived,
    phaseMs: result.phaseMs,
  };
}

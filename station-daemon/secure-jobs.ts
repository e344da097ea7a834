/**
 * The station's side of a job: the secure-aggregation participant wrapped around the compute
 * kernels. The kernels know nothing of masking; this is the only place their output is held,
 * and it leaves the station only as a masked vector.
 */
import { ProtocolViolation } from "../common/errors.js";
import { toHex } from "../common/hex.js";
import type { JobSpec } from "../common/job.js";
import { jobDigest } from "../common/job-digest.js";
import { jobFromWire } from "../common/wire.js";
import {
  type AdvertiseKeysRequest,
  type AdvertiseKeysResponse,
  type ConsistencyCheckRequest,
  type ConsistencyCheckResponse,
  type MaskedInputRequest,
  type MaskedInputResponse,
  SecAggParticipant,
  type ShareKeysRequest,
  type ShareKeysResponse,
  type UnmaskRequest,
  type UnmaskResponse,
} from "../secagg/index.js";

interface PendingJob {
  contribution: Float64Array;
  expiresAt: number;
}

export interface SecureJobsOptions {
  name: string;
  identitySecretKey: Uint8Array;
  roster: ReadonlyArray<{ name: string; identityKey: Uint8Array }>;
  minStations: number;
}

export class SecureJobs {
  private readonly participant: SecAggParticipant;
  private readonly pending = new Map<string, PendingJob>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: SecureJobsOptions) {
    this.participant = new SecAggParticipant({
      name: options.name,
      identitySecretKey: options.identitySecretKey,
      roster: options.roster,
      minStations: options.minStations,
    });
    // A job's secrets and its unmasked contribution must not outlive its deadline.
    this.sweeper = setInterval(() => this.dropExpired(), 5_000);
    this.sweeper.unref();
  }

  /**
   * Round 0: decode the job, let `compute` check it against policy and compute the contribution,
   * then advertise fresh keys.
   */
  startJob(request: { job?: unknown; secagg?: AdvertiseKeysRequest }, compute: (job: JobSpec) => Float64Array): AdvertiseKeysResponse {
    this.dropExpired();
    const job = jobFromWire(request.job);
    const secagg = request.secagg;
    if (!secagg) throw new ProtocolViolation("StartJob carries no secure-aggregation terms");
    const digest = jobDigest(job);
    if (toHex(secagg.context ?? new Uint8Array()) !== toHex(digest)) {
      throw new ProtocolViolation("the job's context is not the digest of the job it carries");
    }
    const contribution = compute(job);
    const response = this.participant.advertiseKeys({ ...secagg, context: digest });
    this.pending.set(secagg.jobId, { contribution, expiresAt: secagg.deadlineMs });
    return response;
  }

  shareKeys(request: ShareKeysRequest): ShareKeysResponse {
    return this.participant.shareKeys(request);
  }

  /** Round 2: the only moment the contribution is used, and then forgotten. */
  maskedInput(request: MaskedInputRequest): MaskedInputResponse {
    const job = this.pending.get(request.jobId);
    if (!job) throw new ProtocolViolation(`job ${request.jobId} is unknown here or has expired`);
    this.pending.delete(request.jobId);
    try {
      return this.participant.maskedInput(request, job.contribution);
    } finally {
      job.contribution.fill(0);
    }
  }

  consistencyCheck(request: ConsistencyCheckRequest): ConsistencyCheckResponse {
    return this.participant.consistencyCheck(request);
  }

  unmask(request: UnmaskRequest): UnmaskResponse {
    return this.participant.unmask(request);
  }

  get activeJobs(): string[] {
    return this.participant.activeJobs;
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const job of this.pending.values()) job.contribution.fill(0);
    this.pending.clear();
  }

  private dropExpired(): void {
    const now = Date.now();
    for (const [id, job] of this.pending) {
      if (job.expiresAt < now) {
        job.contribution.fill(0);
        this.pending.delete(id);
      }
    }
    this.participant.dropExpiredJobs();
  }
}

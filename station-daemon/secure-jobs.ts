/**
 * The station's side of a job: the secure-aggregation participant wrapped around the compute
 * kernels. The kernels know nothing of masking; this is the only place their output is held,
 * and it leaves the station only as a masked vector. The combined vector of all stations exists
 * here only inside the release round, where the station's release rule decides what leaves.
 */
import { BadInput, Overflow, ProtocolViolation } from "../common/errors.js";
import { toHex } from "../common/hex.js";
import type { JobSpec } from "../common/job.js";
import { jobDigest } from "../common/job-digest.js";
import { jobFromWire } from "../common/wire.js";
import {
  type AdvertiseKeysRequest,
  type AdvertiseKeysResponse,
  type MaskedInputRequest,
  type MaskedInputResponse,
  type ReleaseRequest,
  type ReleaseResponse,
  type ReleaseRule,
  SecAggParticipant,
  type ShareKeysRequest,
  type ShareKeysResponse,
  checkJobId,
  maxMagnitude,
} from "../secagg/index.js";

interface PendingJob {
  /** This station's vector until round 2 masks it; then wiped. */
  contribution: Float64Array;
  /** What this station releases of the combined vector in round 3. */
  decide: ReleaseRule;
  expiresAt: number;
}

/** A decoded job whose secure-aggregation terms were checked to belong to it. */
export interface AcceptedJob {
  job: JobSpec;
  secagg: AdvertiseKeysRequest;
  digest: Uint8Array;
}

export interface SecureJobsOptions {
  name: string;
  identitySecretKey: Uint8Array;
  roster: ReadonlyArray<{ name: string; identityKey: Uint8Array }>;
  minStations: number;
  /**
   * Where the station says that it wiped jobs that never finished (a coordinator that went away):
   * "dropped N expired jobs (…); M jobs active". The operator's evidence that secrets do not linger.
   */
  log?: (message: string) => void;
}

export class SecureJobs {
  private readonly participant: SecAggParticipant;
  private readonly pending = new Map<string, PendingJob>();
  /** Deadlines of the jobs started here that have not finished or been aborted yet. */
  private readonly open = new Map<string, { deadlineMs: number; timer: NodeJS.Timeout }>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly log: (message: string) => void;

  constructor(options: SecureJobsOptions) {
    this.participant = new SecAggParticipant({
      name: options.name,
      identitySecretKey: options.identitySecretKey,
      roster: options.roster,
      minStations: options.minStations,
    });
    this.log = options.log ?? (() => {});
    // A job's secrets and its unmasked contribution must not outlive its deadline.
    this.sweeper = setInterval(() => this.dropExpired(), 5_000);
    this.sweeper.unref();
  }

  /**
   * Round 0, first: decode the job and check that the secure-aggregation terms were made for
   * exactly this job (their context is its digest), before the station does any work for it.
   */
  acceptJob(request: { job?: unknown; secagg?: AdvertiseKeysRequest }): AcceptedJob {
    const job = jobFromWire(request.job);
    const secagg = request.secagg;
    if (!secagg) throw new ProtocolViolation("StartJob carries no secure-aggregation terms");
    const digest = jobDigest(job);
    if (toHex(secagg.context ?? new Uint8Array()) !== toHex(digest)) {
      throw new ProtocolViolation("the job's context is not the digest of the job it carries");
    }
    return { job, secagg, digest };
  }

  /**
   * Round 0, then: hold the (policy-checked) contribution until round 2 and the release rule until
   * round 3; advertise fresh keys.
   */
  startJob(accepted: AcceptedJob, contribution: Float64Array, decide: ReleaseRule): AdvertiseKeysResponse {
    this.dropExpired();
    const { secagg, digest } = accepted;
    // Refuse now, in round 0, what could not be masked in round 2: a refusal here stops the job
    // with its reason, while a failure in round 2 would only look like this station dropping out.
    checkMaskable(contribution, Array.isArray(secagg.stations) ? secagg.stations.length : 0);
    const response = this.participant.advertiseKeys({ ...secagg, context: digest });
    this.pending.set(secagg.jobId, { contribution, decide, expiresAt: secagg.deadlineMs });
    const timer = setTimeout(() => this.dropExpired(), Math.max(0, secagg.deadlineMs - Date.now()) + 1);
    timer.unref();
    this.open.set(secagg.jobId, { deadlineMs: secagg.deadlineMs, timer });
    return response;
  }

  shareKeys(request: ShareKeysRequest): ShareKeysResponse {
    return this.tracked(request, () => this.participant.shareKeys(request));
  }

  /** Round 2: the only moment the contribution is used, and then forgotten. */
  maskedInput(request: MaskedInputRequest): MaskedInputResponse {
    return this.tracked(request, () => {
      const job = this.pending.get(request.jobId);
      if (!job) throw new ProtocolViolation(`job ${request.jobId} is unknown here or has expired`);
      try {
        return this.participant.maskedInput(request, job.contribution);
      } finally {
        job.contribution.fill(0);
      }
    });
  }

  /** Round 3: the combined vector, unmasked here, through the release rule; then the job is gone. */
  release(request: ReleaseRequest): ReleaseResponse {
    return this.tracked(request, () => {
      const job = this.pending.get(request.jobId);
      if (!job) throw new ProtocolViolation(`job ${request.jobId} is unknown here or has expired`);
      this.pending.delete(request.jobId);
      return this.participant.release(request, job.decide);
    });
  }

  /** A job id as the protocol allows it (printable, at most 128 characters), or a refusal. */
  checkJobId(jobId: unknown): string {
    return checkJobId(jobId);
  }

  get activeJobs(): string[] {
    return this.participant.activeJobs;
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const { timer } of this.open.values()) clearTimeout(timer);
    this.open.clear();
    for (const job of this.pending.values()) job.contribution.fill(0);
    this.pending.clear();
  }

  /** Runs a round; once the participant no longer holds the job (finished or aborted), stops tracking it. */
  private tracked<T>(request: { jobId?: unknown }, run: () => T): T {
    const jobId = typeof request?.jobId === "string" ? request.jobId : undefined;
    try {
      return run();
    } finally {
      if (jobId !== undefined && this.open.has(jobId) && !this.participant.activeJobs.includes(jobId)) {
        clearTimeout(this.open.get(jobId)!.timer);
        this.open.delete(jobId);
        const pending = this.pending.get(jobId);
        pending?.contribution.fill(0);
        this.pending.delete(jobId);
      }
    }
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
    const expired = [...this.open].filter(([, j]) => j.deadlineMs < now).map(([id]) => id);
    for (const id of expired) {
      clearTimeout(this.open.get(id)!.timer);
      this.open.delete(id);
    }
    if (expired.length > 0) {
      const shown = expired.slice(0, 5).join(", ") + (expired.length > 5 ? ", …" : "");
      this.log(
        `dropped ${expired.length} expired job${expired.length === 1 ? "" : "s"} (${shown}) that never finished: ` +
          `keys, pad seeds and contributions wiped; ${this.participant.activeJobs.length} jobs active`,
      );
    }
  }
}

/** Every element finite and small enough that the sum over `stations` cannot wrap the ring. */
function checkMaskable(contribution: Float64Array, stations: number): void {
  let limit = Infinity;
  try {
    limit = maxMagnitude(stations);
  } catch {
    // a station count no job can have: round 0 refuses the terms themselves, with that reason
  }
  for (let i = 0; i < contribution.length; i++) {
    const x = contribution[i];
    if (Number.isNaN(x)) throw new BadInput(`this station's result has an undefined value (NaN) at element ${i}; nothing can be aggregated`);
    if (!(Math.abs(x) <= limit)) {
      throw new Overflow(`this station's result has element ${i} = ${x}, beyond what secure aggregation over ${stations} stations can sum without wrapping`);
    }
  }
}

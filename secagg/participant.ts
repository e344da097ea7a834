/**
 * The station's side of secure aggregation: one object per station, holding the state of each job
 * it takes part in, with one method per round. Every method takes and returns plain messages
 * (messages.ts), so a transport only has to carry them.
 *
 * Lifecycle of a job: its state exists from round 0 until the station answers round 3 (release),
 * refuses a message, or reaches the job's deadline — then its secrets (key pairs, its own and its
 * peers' pad seeds) are wiped and dropped. A job id is accepted once per participant, ever: a
 * replayed round-0 message is refused.
 */
import { BadInput, ProtocolViolation } from "../common/errors.js";
import { acceptJobTerms, advertiseKeys, buildRoster, checkJobId, type JobTerms, type Roster } from "./advertise-keys.js";
import { equalBytes } from "./encoding.js";
import type { KeyPair } from "./keyagreement.js";
import { maskedVectorDigest, maskInput, openPadSeeds, signMaskedInput } from "./masked-input.js";
import type {
  AdvertiseKeysRequest,
  AdvertiseKeysResponse,
  KeyAdvertisement,
  MaskedInputRequest,
  MaskedInputResponse,
  ReleaseRequest,
  ReleaseResponse,
  SecAggPhase,
  ShareKeysRequest,
  ShareKeysResponse,
} from "./messages.js";
import { expectObject } from "./messages.js";
import { ENDED_JOB_MEMORY_MS, MAX_STATIONS, MAX_VECTOR_ELEMENTS, MIN_STATIONS } from "./params.js";
import { acceptMaskedInputs, releaseToMessage, signRelease, unmaskSum, type ReleaseBody } from "./release.js";
import { acceptAdvertisements, shareKeys } from "./share-keys.js";
import { identityPublicKey } from "./signing.js";

/**
 * The station's release rule, given the decoded combined vector (the sum over every station of
 * the job, in this station's own input layout). Returns what may go to the analyst, or throws to
 * release nothing. Must be deterministic: every station must come to the same bytes.
 */
export type ReleaseRule = (sum: Float64Array) => ReleaseBody;

export interface ParticipantOptions {
  /** This station's name on the roster. */
  name: string;
  /** Ed25519 secret key (32-byte seed) of this station's long-term identity. */
  identitySecretKey: Uint8Array;
  /** Every federation member's identity key, from this station's own configuration. */
  roster: ReadonlyArray<{ name: string; identityKey: Uint8Array }>;
  /** Smallest job this station joins; at least MIN_STATIONS. */
  minStations?: number;
  /** Clock in ms since the epoch (tests pass a fake one). */
  now?: () => number;
}

/** Per-job state; each field is set by the round named beside it and wiped when the job ends. */
interface Job {
  terms: JobTerms;
  /** The round this job expects next. */
  next: SecAggPhase;
  timer: NodeJS.Timeout;
  encryptionKeys: KeyPair; // round 0
  maskingKeys: KeyPair; // round 0
  advertisement: KeyAdvertisement; // round 0
  peers?: Map<string, KeyAdvertisement>; // round 1: every station of the job
  padSeeds?: Map<string, Uint8Array>; // round 1: own g_i; round 2: every peer's g_j too
  ownDigest?: Uint8Array; // round 2: SHA-256 of the y_i this station sent
  elements?: number; // round 2: length of this station's input, which every y_j must share
}

type Ended = "finished" | "aborted" | "expired";

export class SecAggParticipant {
  readonly name: string;
  readonly #identitySecretKey: Uint8Array;
  readonly #roster: Roster;
  readonly #minStations: number;
  readonly #now: () => number;
  readonly #jobs = new Map<string, Job>();
  /**
   * Job ids accepted and how they ended, until shortly after their deadline: the memory that
   * refuses a reused id. After the deadline nothing signed for the old job verifies any more (the
   * deadline is in every signed statement), so the id can be forgotten and the memory stays bounded.
   */
  readonly #ended = new Map<string, { how: Ended; deadlineMs: number }>();

  constructor(options: ParticipantOptions) {
    this.name = options.name;
    this.#roster = buildRoster(options.roster);
    this.#identitySecretKey = new Uint8Array(options.identitySecretKey);
    const ownKey = this.#roster.get(options.name);
    if (ownKey === undefined) throw new BadInput(`station ${options.name} is not on its own roster`);
    if (!equalBytes(identityPublicKey(this.#identitySecretKey), ownKey)) {
      throw new BadInput(`the identity secret key of ${options.name} does not match its roster entry`);
    }
    this.#minStations = options.minStations ?? MIN_STATIONS;
    if (!Number.isInteger(this.#minStations) || this.#minStations < MIN_STATIONS || this.#minStations > MAX_STATIONS) {
      throw new BadInput(`minStations must be an integer in ${MIN_STATIONS}..${MAX_STATIONS}, got ${options.minStations}`);
    }
    this.#now = options.now ?? Date.now;
  }

  /** Round 0: accept the job's terms and advertise two fresh, signed public keys. */
  advertiseKeys(request: AdvertiseKeysRequest): AdvertiseKeysResponse {
    this.dropExpiredJobs();
    const jobId = checkJobId(expectObject(request, "AdvertiseKeysRequest").jobId);
    if (this.#jobs.has(jobId) || this.#ended.has(jobId)) {
      throw new ProtocolViolation(`job ${jobId} was already seen by ${this.name}; refusing a replayed or reused job id`);
    }
    const now = this.#now();
    const terms = acceptJobTerms(request, { self: this.name, roster: this.#roster, minStations: this.#minStations, now });
    const { advertisement, encryptionKeys, maskingKeys } = advertiseKeys(terms, { self: this.name, identitySecretKey: this.#identitySecretKey });
    // Secrets must not outlive the deadline even if no further message ever arrives.
    const timer = setTimeout(() => this.dropExpiredJobs(), terms.deadlineMs - now + 1);
    timer.unref();
    this.#jobs.set(jobId, { terms, next: "shareKeys", timer, encryptionKeys, maskingKeys, advertisement });
    return { advertisement };
  }

  /** Round 1: verify every station's advertisement against the roster; send each peer this station's sealed pad seed. */
  shareKeys(request: ShareKeysRequest): ShareKeysResponse {
    return this.#round(request, "shareKeys", (job, message) => {
      const peers = acceptAdvertisements({
        terms: job.terms,
        roster: this.#roster,
        own: job.advertisement,
        advertisements: message.advertisements,
      });
      const shared = shareKeys({ terms: job.terms, self: this.name, peers, encryptionKeys: job.encryptionKeys });
      job.peers = peers;
      job.padSeeds = new Map([[this.name, shared.padSeed]]);
      job.next = "maskedInput";
      return { encryptedShares: shared.encryptedShares };
    });
  }

  /**
   * Round 2: open every peer's pad seed and return the signed masked input. `input` is this
   * station's own contribution, never on the wire.
   */
  maskedInput(request: MaskedInputRequest, input: Float64Array): MaskedInputResponse {
    return this.#round(request, "maskedInput", (job, message) => {
      if (!(input instanceof Float64Array) || input.length === 0 || input.length > MAX_VECTOR_ELEMENTS) {
        throw new BadInput(`the input to mask must be a Float64Array of 1..${MAX_VECTOR_ELEMENTS} elements`);
      }
      const seeds = openPadSeeds({
        terms: job.terms,
        self: this.name,
        peers: job.peers!,
        encryptionSecretKey: job.encryptionKeys.secretKey,
        encryptedShares: message.encryptedShares,
      });
      for (const [sender, seed] of seeds) job.padSeeds!.set(sender, seed);
      const maskedVector = maskInput({
        terms: job.terms,
        self: this.name,
        input,
        padSeed: job.padSeeds!.get(this.name)!,
        maskingSecretKey: job.maskingKeys.secretKey,
        peers: [...job.peers!.values()].filter((ad) => ad.station !== this.name),
      });
      // Only the pad seeds are needed from here on; the key pairs go now.
      job.maskingKeys.secretKey.fill(0);
      job.encryptionKeys.secretKey.fill(0);
      job.ownDigest = maskedVectorDigest(maskedVector);
      job.elements = input.length;
      job.next = "release";
      const signature = signMaskedInput({ terms: job.terms, self: this.name, maskedVector, identitySecretKey: this.#identitySecretKey });
      return { maskedVector, signature };
    });
  }

  /**
   * Round 3: given every station's signed masked input, remove the pads, apply `decide` to the
   * combined vector, and sign what it releases; then forget the job. A refusal by `decide` ends
   * the job like any other refusal.
   */
  release(request: ReleaseRequest, decide: ReleaseRule): ReleaseResponse {
    return this.#round(request, "release", (job, message) => {
      const maskedVectors = acceptMaskedInputs({
        terms: job.terms,
        roster: this.#roster,
        self: this.name,
        ownDigest: job.ownDigest!,
        elements: job.elements!,
        maskedInputs: message.maskedInputs,
      });
      const sum = unmaskSum({ elements: job.elements!, maskedVectors, padSeeds: job.padSeeds! });
      let release;
      try {
        release = releaseToMessage(decide(sum));
      } finally {
        sum.fill(0);
      }
      const signature = signRelease({ terms: job.terms, self: this.name, release, identitySecretKey: this.#identitySecretKey });
      this.#end(job, "finished");
      return { release, signature };
    });
  }

  /** Wipes every job whose deadline has passed. Runs before each call and on each job's timer. */
  dropExpiredJobs(): void {
    const now = this.#now();
    for (const job of this.#jobs.values()) if (now > job.terms.deadlineMs) this.#end(job, "expired");
    for (const [id, ended] of this.#ended) if (now > ended.deadlineMs + ENDED_JOB_MEMORY_MS) this.#ended.delete(id);
  }

  /** How many ended job ids this participant still remembers. */
  get rememberedJobIds(): number {
    return this.#ended.size;
  }

  /** Jobs currently holding secrets (for monitoring and tests). */
  get activeJobs(): string[] {
    return [...this.#jobs.keys()];
  }

  /**
   * Runs one round for an active job in the right state. Any refusal ends the job: a coordinator
   * that broke the protocol once gets no second try with the same secrets.
   */
  #round<T>(request: unknown, phase: SecAggPhase, body: (job: Job, message: Record<string, unknown>) => T): T {
    this.dropExpiredJobs();
    const message = expectObject(request, `${phase} request`);
    const jobId = checkJobId(message.jobId);
    const job = this.#jobs.get(jobId);
    if (job === undefined) {
      const ended = this.#ended.get(jobId)?.how;
      const why = ended === "expired" ? "its deadline passed" : ended === "finished" ? "it already finished" : ended === "aborted" ? "it was aborted after a refusal" : "it was never started here";
      throw new ProtocolViolation(`${this.name} has no active job ${jobId} for ${phase}: ${why}`);
    }
    if (job.next !== phase) {
      this.#end(job, "aborted");
      throw new ProtocolViolation(`job ${jobId}: ${this.name} expected ${job.next}, got ${phase}; job aborted`);
    }
    try {
      return body(job, message);
    } catch (error) {
      this.#end(job, "aborted");
      throw error;
    }
  }

  #end(job: Job, how: Ended): void {
    clearTimeout(job.timer);
    job.encryptionKeys.secretKey.fill(0);
    job.maskingKeys.secretKey.fill(0);
    for (const seed of job.padSeeds?.values() ?? []) seed.fill(0);
    this.#jobs.delete(job.terms.jobId);
    this.#ended.set(job.terms.jobId, { how, deadlineMs: job.terms.deadlineMs });
  }
}

/**
 * The station's side of secure aggregation: one object per station, holding the state of each job
 * it takes part in, with one method per round. Every method takes and returns plain messages
 * (messages.ts), so a transport only has to carry them.
 *
 * Lifecycle of a job: its state exists from round 0 until the station answers round 4, refuses
 * a message, or reaches the job's deadline — then its secrets are wiped and dropped. A job id
 * is accepted once per participant, ever: a replayed round-0 message is refused.
 */
import { BadInput, ProtocolViolation } from "../common/errors.js";
import { acceptJobTerms, advertiseKeys, buildRoster, checkJobId, type JobTerms, type Roster } from "./advertise-keys.js";
import { acceptSurvivors, signSurvivors } from "./consistency-check.js";
import { equalBytes } from "./encoding.js";
import type { KeyPair } from "./keyagreement.js";
import { maskInput, openInbox } from "./masked-input.js";
import type {
  AdvertiseKeysResponse,
  ConsistencyCheckRequest,
  ConsistencyCheckResponse,
  AdvertiseKeysRequest,
  KeyAdvertisement,
  MaskedInputRequest,
  MaskedInputResponse,
  SecAggPhase,
  ShareKeysRequest,
  ShareKeysResponse,
  UnmaskRequest,
  UnmaskResponse,
} from "./messages.js";
import { expectObject } from "./messages.js";
import { ENDED_JOB_MEMORY_MS, MAX_STATIONS, MAX_VECTOR_ELEMENTS, MIN_STATIONS } from "./params.js";
import { acceptAdvertisements, shareKeys, type SharePair } from "./share-keys.js";
import { identityPublicKey } from "./signing.js";
import { revealShares, verifySurvivorSignatures } from "./unmask.js";

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
  peers?: Map<string, KeyAdvertisement>; // round 1: U1
  selfMaskSeed?: Uint8Array; // round 1: b
  held?: Map<string, SharePair>; // rounds 1–2: shares of U2's secrets, own included
  survivors?: string[]; // round 3: the U3 this station signed
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

  /** Round 1: verify U1's advertisements against the roster; send encrypted shares of b and s_sk. */
  shareKeys(request: ShareKeysRequest): ShareKeysResponse {
    return this.#round(request, "shareKeys", (job, message) => {
      const peers = acceptAdvertisements({
        terms: job.terms,
        roster: this.#roster,
        own: job.advertisement,
        advertisements: message.advertisements,
      });
      const shared = shareKeys({ terms: job.terms, self: this.name, peers, encryptionKeys: job.encryptionKeys, maskingKeys: job.maskingKeys });
      job.peers = peers;
      job.selfMaskSeed = shared.selfMaskSeed;
      job.held = new Map([[this.name, shared.ownShares]]);
      job.next = "maskedInput";
      return { encryptedShares: shared.encryptedShares };
    });
  }

  /**
   * Round 2: keep the shares addressed to this station (their senders and this station form U2)
   * and return the masked input. `input` is this station's own contribution, never on the wire.
   */
  maskedInput(request: MaskedInputRequest, input: Float64Array): MaskedInputResponse {
    return this.#round(request, "maskedInput", (job, message) => {
      if (!(input instanceof Float64Array) || input.length === 0 || input.length > MAX_VECTOR_ELEMENTS) {
        throw new BadInput(`the input to mask must be a Float64Array of 1..${MAX_VECTOR_ELEMENTS} elements`);
      }
      const inbox = openInbox({
        terms: job.terms,
        self: this.name,
        peers: job.peers!,
        encryptionSecretKey: job.encryptionKeys.secretKey,
        encryptedShares: message.encryptedShares,
      });
      const maskedVector = maskInput({
        terms: job.terms,
        self: this.name,
        input,
        selfMaskSeed: job.selfMaskSeed!,
        maskingSecretKey: job.maskingKeys.secretKey,
        u2Peers: [...inbox.keys()].map((name) => job.peers!.get(name)!),
      });
      for (const [sender, pair] of inbox) job.held!.set(sender, pair);
      // Only the shares are needed from here on; the station's own mask secrets go now.
      job.selfMaskSeed!.fill(0);
      job.maskingKeys.secretKey.fill(0);
      job.encryptionKeys.secretKey.fill(0);
      job.next = "consistencyCheck";
      return { maskedVector };
    });
  }

  /** Round 3: sign the survivor set U3 — once per job. */
  consistencyCheck(request: ConsistencyCheckRequest): ConsistencyCheckResponse {
    return this.#round(request, "consistencyCheck", (job, message) => {
      const survivors = acceptSurvivors({
        terms: job.terms,
        self: this.name,
        u2: new Set(job.held!.keys()),
        survivors: message.survivors,
      });
      job.survivors = survivors;
      job.next = "unmask";
      return { signature: signSurvivors({ terms: job.terms, survivors, identitySecretKey: this.#identitySecretKey }) };
    });
  }

  /** Round 4: given ≥ t signatures over the U3 this station signed, reveal one share per peer; then forget the job. */
  unmask(request: UnmaskRequest): UnmaskResponse {
    return this.#round(request, "unmask", (job, message) => {
      verifySurvivorSignatures({
        terms: job.terms,
        roster: this.#roster,
        survivors: job.survivors!,
        signatures: message.signatures,
      });
      const response = revealShares({ held: job.held!, survivors: job.survivors! });
      this.#end(job, "finished");
      return response;
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
    job.selfMaskSeed?.fill(0);
    for (const pair of job.held?.values() ?? []) {
      pair.maskingKeyShare.fill(0);
      pair.selfMaskShare.fill(0);
    }
    this.#jobs.delete(job.terms.jobId);
    this.#ended.set(job.terms.jobId, { how, deadlineMs: job.terms.deadlineMs });
  }
}

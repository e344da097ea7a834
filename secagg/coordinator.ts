/**
 * The coordinator's side (the paper's server), run by the SDK: it relays messages between
 * stations through the five rounds, tracks who drops out where, and finally removes the masks
 * from the sum. It never holds a secret of a station whose input is in the sum, and it reveals
 * nothing when fewer than t stations remain.
 *
 * Transport-agnostic: a station is anything with the five round methods returning promises.
 */
import { randomBytes } from "node:crypto";
import { BadInput, ProtocolViolation, TooFewStations, WerkplaatsError } from "../common/errors.js";
import { buildRoster, parseAdvertisement, verifyAdvertisement, type JobTerms, type Roster } from "./advertise-keys.js";
import { checkConsistencyCheckResponse } from "./consistency-check.js";
import { decode } from "./fixedpoint.js";
import { checkMaskedInputResponse } from "./masked-input.js";
import {
  expectObject,
  PHASES,
  type AdvertiseKeysRequest,
  type AdvertiseKeysResponse,
  type ConsistencyCheckRequest,
  type ConsistencyCheckResponse,
  type EncryptedShares,
  type KeyAdvertisement,
  type MaskedInputRequest,
  type MaskedInputResponse,
  type SecAggPhase,
  type ShareKeysRequest,
  type ShareKeysResponse,
  type SurvivorSignature,
  type UnmaskRequest,
  type UnmaskResponse,
} from "./messages.js";
import {
  CLOCK_SKEW_ALLOWANCE_MS,
  JOB_ID_PATTERN,
  MAX_CONTEXT_BYTES,
  MAX_JOB_LIFETIME_MS,
  MAX_STATIONS,
  MAX_VECTOR_ELEMENTS,
  MIN_STATIONS,
  minimumThreshold,
} from "./params.js";
import { checkShareKeysResponse } from "./share-keys.js";
import { checkUnmaskResponse, reconstructSum, type RevealedShares } from "./unmask.js";

/** A station as the coordinator sees it: a name and the five rounds (over gRPC, or in-process). */
export interface SecAggStation {
  name: string;
  advertiseKeys(request: AdvertiseKeysRequest): Promise<AdvertiseKeysResponse>;
  shareKeys(request: ShareKeysRequest): Promise<ShareKeysResponse>;
  maskedInput(request: MaskedInputRequest): Promise<MaskedInputResponse>;
  consistencyCheck(request: ConsistencyCheckRequest): Promise<ConsistencyCheckResponse>;
  unmask(request: UnmaskRequest): Promise<UnmaskResponse>;
}

export interface SecureAggregationOptions {
  /** Fresh random unless given; stations refuse a job id they have seen before. */
  jobId?: string;
  /** Digest of the job spec, bound into every station signature and share encryption. */
  context: Uint8Array;
  stations: readonly SecAggStation[];
  /** Default and minimum: a strict majority of `stations`, at least 2 (params.ts). */
  threshold?: number;
  /** Elements in every station's input vector. */
  vectorLength: number;
  /** A station that has not answered a round within this many ms is dropped from the job. */
  phaseTimeoutMs: number;
  /** When stations wipe the job; default: now + one phase timeout per round + clock-skew allowance. */
  deadlineMs?: number;
  /** Default and floor MIN_STATIONS. */
  minStations?: number;
  /**
   * Identity keys of the federation, if the coordinator has them: it then drops a station whose
   * advertisement or survivor signature does not verify, instead of relaying it to the others
   * (who would refuse the whole round).
   */
  roster?: ReadonlyArray<{ name: string; identityKey: Uint8Array }>;
  /** Called after each round, e.g. for progress logs. */
  onPhase?: (report: PhaseReport) => void;
  /** Cancels the aggregation between rounds. */
  signal?: AbortSignal;
  /** Clock in ms since the epoch for the default deadline. */
  now?: () => number;
}

export interface DroppedStation {
  station: string;
  phase: SecAggPhase;
  reason: string;
}

export interface PhaseReport {
  phase: SecAggPhase;
  ms: number;
  answered: string[];
  dropped: DroppedStation[];
}

export interface SecureAggregationResult {
  jobId: string;
  /** Σ of the inputs of `survivors`, decoded from fixed point. */
  sum: Float64Array;
  /** Stations whose input is in `sum` (U3): all that sent masked input, even if they dropped later. */
  survivors: string[];
  /** Every station that failed a round, with the round and why; later-round drops may be survivors too. */
  dropped: DroppedStation[];
  threshold: number;
  /** Payload bytes of requests and responses (message fields, not transport framing). */
  bytesSent: number;
  bytesReceived: number;
  phaseMs: Record<SecAggPhase | "reconstruct", number>;
}

/** Too few stations left to finish; says where and why the others dropped. Nothing was unmasked. */
export class TooFewSurvivors extends TooFewStations {
  readonly phase: SecAggPhase;
  readonly dropped: DroppedStation[];
  constructor(options: { phase: SecAggPhase; remaining: number; threshold: number; dropped: DroppedStation[] }) {
    const who = options.dropped.map((d) => `${d.station} (${d.phase}: ${d.reason})`).join("; ");
    super(
      `secure aggregation stopped after ${options.phase}: ${options.remaining} stations remain, ` +
        `threshold is ${options.threshold}; dropped: ${who || "none"}`,
    );
    this.phase = options.phase;
    this.dropped = options.dropped;
  }
}

export async function runSecureAggregation(options: SecureAggregationOptions): Promise<SecureAggregationResult> {
  const now = options.now ?? Date.now;
  const { terms, roster, elements } = checkOptions(options, now());
  const byName = new Map(options.stations.map((s) => [s.name, s]));
  const dropped: DroppedStation[] = [];
  const phaseMs = { advertiseKeys: 0, shareKeys: 0, maskedInput: 0, consistencyCheck: 0, unmask: 0, reconstruct: 0 };
  const traffic = { sent: 0, received: 0 };

  /**
   * One round: ask every station in `targets` in parallel; a throw, a timeout or an answer that
   * fails `check` drops that station for the rest of the job, with the reason on record.
   */
  async function round<Req, Res, Out>(
    phase: SecAggPhase,
    targets: readonly string[],
    request: (name: string) => Req,
    call: (station: SecAggStation, request: Req) => Promise<Res>,
    check: (name: string, response: unknown) => Out,
  ): Promise<Map<string, Out>> {
    options.signal?.throwIfAborted();
    const started = performance.now();
    const answers = new Map<string, Out>();
    const droppedHere: DroppedStation[] = [];
    await Promise.all(
      targets.map(async (name) => {
        const req = request(name);
        traffic.sent += payloadBytes(req);
        try {
          const response: unknown = await withTimeout(
            Promise.resolve().then(() => call(byName.get(name)!, req)),
            options.phaseTimeoutMs,
          );
          traffic.received += payloadBytes(response);
          answers.set(name, check(name, response));
        } catch (error) {
          droppedHere.push({ station: name, phase, reason: describe(error) });
        }
      }),
    );
    phaseMs[phase] = performance.now() - started;
    // Keep the caller's station order, so results do not depend on who answered first.
    const ordered = new Map(targets.filter((n) => answers.has(n)).map((n) => [n, answers.get(n)!]));
    droppedHere.sort((a, b) => targets.indexOf(a.station) - targets.indexOf(b.station));
    dropped.push(...droppedHere);
    options.onPhase?.({ phase, ms: phaseMs[phase], answered: [...ordered.keys()], dropped: droppedHere });
    if (ordered.size < terms.threshold) {
      throw new TooFewSurvivors({ phase, remaining: ordered.size, threshold: terms.threshold, dropped: [...dropped] });
    }
    return ordered;
  }

  // Round 0: terms out, signed ephemeral public keys back (U1).
  const advertisements = await round(
    "advertiseKeys",
    terms.stations,
    () => ({ jobId: terms.jobId, context: terms.context, stations: [...terms.stations], threshold: terms.threshold, deadlineMs: terms.deadlineMs }),
    (s, req) => s.advertiseKeys(req),
    (name, response) => {
      const value = expectObject(response, "AdvertiseKeysResponse").advertisement;
      const ad = roster ? verifyAdvertisement(terms, roster, value) : parseAdvertisement(value, "advertisement");
      if (ad.station !== name) throw new ProtocolViolation(`advertisement names ${ad.station}`);
      return ad;
    },
  );
  const u1 = [...advertisements.keys()];
  const allAdvertisements: KeyAdvertisement[] = [...advertisements.values()];

  // Round 1: every advertisement to everyone; encrypted shares back (U2 = who answered).
  const outboxes = await round(
    "shareKeys",
    u1,
    () => ({ jobId: terms.jobId, advertisements: allAdvertisements }),
    (s, req) => s.shareKeys(req),
    (name, response) => checkShareKeysResponse(response, { station: name, u1 }),
  );
  const u2 = [...outboxes.keys()];
  // Shares addressed to stations that fell out in this round are simply not delivered.
  const inboxes = new Map<string, EncryptedShares[]>(u2.map((name) => [name, []]));
  for (const shares of outboxes.values()) {
    for (const item of shares) inboxes.get(item.receiver)?.push(item);
  }

  // Round 2: each station's shares from U2, masked vectors back (U3 = whose input is summed).
  const maskedVectors = await round(
    "maskedInput",
    u2,
    (name) => ({ jobId: terms.jobId, encryptedShares: inboxes.get(name)! }),
    (s, req) => s.maskedInput(req),
    (_name, response) => checkMaskedInputResponse(response, elements),
  );
  const u3 = [...maskedVectors.keys()];

  // Round 3: U3 out, signatures over it back (U4).
  const signatures = await round(
    "consistencyCheck",
    u3,
    () => ({ jobId: terms.jobId, survivors: [...u3] }),
    (s, req) => s.consistencyCheck(req),
    (name, response) => checkConsistencyCheckResponse(response, { station: name, terms, survivors: u3, roster }),
  );
  const signatureList: SurvivorSignature[] = [...signatures].map(([station, signature]) => ({ station, signature }));

  // Round 4: the signatures out, one share per peer back (U5).
  const revealed = await round<UnmaskRequest, UnmaskResponse, RevealedShares>(
    "unmask",
    [...signatures.keys()],
    () => ({ jobId: terms.jobId, signatures: signatureList }),
    (s, req) => s.unmask(req),
    (_name, response) => checkUnmaskResponse(response, { u2, u3 }),
  );

  const started = performance.now();
  const ring = reconstructSum({
    terms,
    elements,
    maskedVectors,
    u2,
    maskingPublicKeys: new Map(allAdvertisements.map((ad) => [ad.station, ad.maskingPublicKey])),
    revealed,
  });
  const sum = decode(ring);
  phaseMs.reconstruct = performance.now() - started;

  return {
    jobId: terms.jobId,
    sum,
    survivors: u3,
    dropped,
    threshold: terms.threshold,
    bytesSent: traffic.sent,
    bytesReceived: traffic.received,
    phaseMs,
  };
}

function checkOptions(options: SecureAggregationOptions, now: number): { terms: JobTerms; roster?: Roster; elements: number } {
  const names = options.stations.map((s) => s.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) throw new BadInput(`station ${duplicate} is listed twice`);
  if (names.some((name) => typeof name !== "string" || name.length === 0)) throw new BadInput("every station needs a name");
  const minStations = options.minStations ?? MIN_STATIONS;
  if (!Number.isInteger(minStations) || minStations < MIN_STATIONS) throw new BadInput(`minStations must be an integer ≥ ${MIN_STATIONS}`);
  if (names.length < minStations) {
    throw new TooFewStations(`secure aggregation needs at least ${minStations} stations, got ${names.length}: ${names.join(", ") || "none"}`);
  }
  if (names.length > MAX_STATIONS) throw new BadInput(`at most ${MAX_STATIONS} stations per job, got ${names.length}`);
  const threshold = options.threshold ?? minimumThreshold(names.length);
  if (!Number.isInteger(threshold) || threshold < minimumThreshold(names.length) || threshold > names.length) {
    throw new BadInput(`threshold must be an integer in ${minimumThreshold(names.length)}..${names.length} for ${names.length} stations, got ${threshold}`);
  }
  const jobId = options.jobId ?? randomBytes(16).toString("hex");
  if (!JOB_ID_PATTERN.test(jobId)) throw new BadInput(`job id ${JSON.stringify(jobId)} is not of the form ${JOB_ID_PATTERN}`);
  if (!(options.context instanceof Uint8Array) || options.context.length === 0 || options.context.length > MAX_CONTEXT_BYTES) {
    throw new BadInput(`context must be 1..${MAX_CONTEXT_BYTES} bytes`);
  }
  const elements = options.vectorLength;
  if (!Number.isInteger(elements) || elements < 1 || elements > MAX_VECTOR_ELEMENTS) {
    throw new BadInput(`vectorLength must be an integer in 1..${MAX_VECTOR_ELEMENTS}, got ${elements}`);
  }
  if (!Number.isFinite(options.phaseTimeoutMs) || options.phaseTimeoutMs <= 0) {
    throw new BadInput(`phaseTimeoutMs must be a positive number, got ${options.phaseTimeoutMs}`);
  }
  const deadlineMs = options.deadlineMs ?? now + PHASES.length * options.phaseTimeoutMs + CLOCK_SKEW_ALLOWANCE_MS;
  if (!(deadlineMs > now) || deadlineMs > now + MAX_JOB_LIFETIME_MS) {
    throw new BadInput(`the job deadline must lie within ${MAX_JOB_LIFETIME_MS / 60000} minutes from now; lower phaseTimeoutMs or deadlineMs`);
  }
  const roster = options.roster ? buildRoster(options.roster) : undefined;
  const terms: JobTerms = { jobId, context: new Uint8Array(options.context), stations: names, threshold, deadlineMs };
  return { terms, roster, elements };
}

class PhaseTimeout extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PhaseTimeout(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describe(error: unknown): string {
  if (error instanceof PhaseTimeout) return error.message;
  if (error instanceof WerkplaatsError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Approximate payload size: bytes of binary and string fields, 8 per number. */
function payloadBytes(value: unknown, depth = 0): number {
  if (value instanceof Uint8Array) return value.length;
  if (typeof value === "string") return Buffer.byteLength(value);
  if (typeof value === "number") return 8;
  if (typeof value === "boolean") return 1;
  if (depth > 8 || typeof value !== "object" || value === null) return 0;
  let total = 0;
  for (const item of Array.isArray(value) ? value : Object.values(value)) total += payloadBytes(item, depth + 1);
  return total;
}

/**
 * The coordinator's side (the paper's server), run by the SDK. In v2 it only relays: round 0 terms
 * out, advertisements back; round 1 advertisements out, sealed pad seeds back; round 2 each
 * station's sealed seeds out, signed masked inputs back; round 3 all signed masked inputs out,
 * signed releases back. It never holds a pad seed, so it never sees the combined vector; it sees
 * only what the stations agreed to release.
 *
 * There is no dropout recovery: a station that fails any round (error, timeout, bad answer) ends
 * the job without a result, and the error names it. A result needs all n releases, byte-identical,
 * each validly signed under the roster (from the federation file).
 *
 * Transport-agnostic: a station is anything with the four round methods returning promises.
 */
import { randomBytes } from "node:crypto";
import { BadInput, ProtocolViolation, StationUnreachable, TooFewStations, WerkplaatsError } from "../common/errors.js";
import { buildRoster, verifyAdvertisement, type JobTerms, type Roster } from "./advertise-keys.js";
import { equalBytes } from "./encoding.js";
import { checkMaskedInputResponse } from "./masked-input.js";
import {
  expectObject,
  PHASES,
  type AdvertiseKeysRequest,
  type AdvertiseKeysResponse,
  type EncryptedShares,
  type KeyAdvertisement,
  type MaskedInputRequest,
  type MaskedInputResponse,
  type ReleaseRequest,
  type ReleaseResponse,
  type SecAggPhase,
  type ShareKeysRequest,
  type ShareKeysResponse,
  type SignedMaskedInput,
} from "./messages.js";
import {
  CLOCK_SKEW_ALLOWANCE_MS,
  JOB_ID_PATTERN,
  MAX_CONTEXT_BYTES,
  MAX_JOB_LIFETIME_MS,
  MAX_STATIONS,
  MIN_STATIONS,
} from "./params.js";
import { checkReleaseResponse, type ReleaseBody } from "./release.js";
import { checkShareKeysResponse } from "./share-keys.js";

/** A station as the coordinator sees it: a name and the four rounds (over gRPC, or in-process). */
export interface SecAggStation {
  name: string;
  advertiseKeys(request: AdvertiseKeysRequest): Promise<AdvertiseKeysResponse>;
  shareKeys(request: ShareKeysRequest): Promise<ShareKeysResponse>;
  maskedInput(request: MaskedInputRequest): Promise<MaskedInputResponse>;
  release(request: ReleaseRequest): Promise<ReleaseResponse>;
}

export interface SecureAggregationOptions {
  /** Fresh random unless given; stations refuse a job id they have seen before. */
  jobId?: string;
  /** Digest of the job spec, bound into every station signature and seed encryption. */
  context: Uint8Array;
  /** Every station of the job; each must contribute, or nothing is released. */
  stations: readonly SecAggStation[];
  /**
   * Identity keys of the federation (from the federation file): every advertisement, masked
   * input and release is checked against them, so a forged answer fails its station at once.
   */
  roster: ReadonlyArray<{ name: string; identityKey: Uint8Array }>;
  /**
   * Optional lower bound on the elements of every masked vector (the public part the caller
   * expects). Stations append a control element and release extras, and the release itself may
   * have another length (a derived vector), so this is not the release length.
   */
  vectorLength?: number;
  /** A station that has not answered a round within this many ms fails the job. */
  phaseTimeoutMs: number;
  /** When stations wipe the job; default: now + one phase timeout per round + clock-skew allowance. */
  deadlineMs?: number;
  /** Default and floor MIN_STATIONS. */
  minStations?: number;
  /** Called after each round, e.g. for progress logs. */
  onPhase?: (report: PhaseReport) => void;
  /** Cancels the aggregation between rounds. */
  signal?: AbortSignal;
  /** Clock in ms since the epoch for the default deadline. */
  now?: () => number;
}

/** A station that failed a round, where and why. */
export interface StationFailure {
  station: string;
  phase: SecAggPhase;
  reason: string;
  /**
   * "transport": it did not answer in time or could not be reached (worth retrying the whole job
   * as a new one); "refused": it answered with an error of its own (a policy refusal, a protocol
   * refusal); "invalid": its answer failed the coordinator's checks. Only transport is retried.
   */
  kind: "transport" | "refused" | "invalid";
  /** The error as raised (a station's own refusal keeps its type and code). */
  error: unknown;
}

export interface PhaseReport {
  phase: SecAggPhase;
  ms: number;
  answered: string[];
  failed: StationFailure[];
}

export interface SecureAggregationResult {
  jobId: string;
  /** What every station of the job released, identically. */
  release: ReleaseBody;
  /** The stations of the job: every one of them is in the sum behind the release. */
  stations: string[];
  /** Payload bytes of requests and responses (message fields, not transport framing). */
  bytesSent: number;
  bytesReceived: number;
  phaseMs: Record<SecAggPhase, number>;
}

/**
 * The job ended without a result because stations failed a round; names them, the round and why.
 * Nothing was released. (Code TOO_FEW_STATIONS: the job lacks a station it needs.)
 */
export class IncompleteJob extends TooFewStations {
  readonly phase: SecAggPhase;
  readonly failures: StationFailure[];
  readonly attempts: number;
  constructor(options: { phase: SecAggPhase; failures: StationFailure[]; attempts?: number }) {
    const who = options.failures.map((f) => `${f.station} (${f.reason})`).join("; ");
    const attempts = options.attempts ?? 1;
    super(
      `secure aggregation stopped in ${options.phase}, without a result${attempts > 1 ? ` (${attempts} attempts)` : ""}: ` +
        `every station of a job must take part, and ${options.failures.map((f) => f.station).join(", ")} did not: ${who}`,
    );
    this.attempts = attempts;
    this.phase = options.phase;
    this.failures = options.failures;
  }

  /** The stations that failed. */
  get stations(): string[] {
    return this.failures.map((f) => f.station);
  }
}

export async function runSecureAggregation(options: SecureAggregationOptions): Promise<SecureAggregationResult> {
  const now = options.now ?? Date.now;
  const { terms, roster } = checkOptions(options, now());
  const byName = new Map(options.stations.map((s) => [s.name, s]));
  const phaseMs = { advertiseKeys: 0, shareKeys: 0, maskedInput: 0, release: 0 };
  const traffic = { sent: 0, received: 0 };
  const stations = terms.stations;

  /**
   * One round: ask every station in parallel; a throw, a timeout or an answer that fails `check`
   * fails that station, and any failure ends the job (after the round, so that every failing
   * station is named, not only the first).
   */
  async function round<Req, Res, Out>(
    phase: SecAggPhase,
    request: (name: string) => Req,
    call: (station: SecAggStation, request: Req) => Promise<Res>,
    check: (name: string, response: unknown) => Out,
  ): Promise<Map<string, Out>> {
    options.signal?.throwIfAborted();
    const started = performance.now();
    const answers = new Map<string, Out>();
    const failed: StationFailure[] = [];
    await Promise.all(
      stations.map(async (name) => {
        const req = request(name);
        traffic.sent += payloadBytes(req);
        let response: unknown;
        try {
          response = await withTimeout(Promise.resolve().then(() => call(byName.get(name)!, req)), options.phaseTimeoutMs);
        } catch (error) {
          failed.push({ station: name, phase, reason: describe(error), kind: isTransportFailure(error) ? "transport" : "refused", error });
          return;
        }
        traffic.received += payloadBytes(response);
        try {
          answers.set(name, check(name, response));
        } catch (error) {
          failed.push({ station: name, phase, reason: `invalid answer: ${describe(error)}`, kind: "invalid", error });
        }
      }),
    );
    phaseMs[phase] = performance.now() - started;
    failed.sort((a, b) => stations.indexOf(a.station) - stations.indexOf(b.station));
    options.onPhase?.({ phase, ms: phaseMs[phase], answered: stations.filter((n) => answers.has(n)), failed });
    if (failed.length > 0) throw new IncompleteJob({ phase, failures: failed });
    // The job's station order, so results do not depend on who answered first.
    return new Map(stations.map((n) => [n, answers.get(n)!]));
  }

  // Round 0: terms out, signed ephemeral public keys back.
  const advertisements = await round(
    "advertiseKeys",
    () => ({ jobId: terms.jobId, context: terms.context, stations: [...stations], deadlineMs: terms.deadlineMs }),
    (s, req) => s.advertiseKeys(req),
    (name, response) => {
      const ad = verifyAdvertisement(terms, roster, expectObject(response, "AdvertiseKeysResponse").advertisement);
      if (ad.station !== name) throw new ProtocolViolation(`advertisement names ${ad.station}`);
      return ad;
    },
  );
  const allAdvertisements: KeyAdvertisement[] = [...advertisements.values()];

  // Round 1: every advertisement to everyone; sealed pad seeds back.
  const outboxes = await round(
    "shareKeys",
    () => ({ jobId: terms.jobId, advertisements: allAdvertisements }),
    (s, req) => s.shareKeys(req),
    (name, response) => checkShareKeysResponse(response, { station: name, stations }),
  );
  const inboxes = new Map<string, EncryptedShares[]>(stations.map((name) => [name, []]));
  for (const sealed of outboxes.values()) for (const item of sealed) inboxes.get(item.receiver)!.push(item);

  // Round 2: each station's sealed seeds, signed masked inputs back.
  const masked = await round(
    "maskedInput",
    (name) => ({ jobId: terms.jobId, encryptedShares: inboxes.get(name)! }),
    (s, req) => s.maskedInput(req),
    (name, response) => {
      const checked = checkMaskedInputResponse(response, { station: name, terms, roster });
      if (options.vectorLength !== undefined && checked.elements < options.vectorLength) {
        throw new ProtocolViolation(`masked vector of ${checked.elements} elements, expected at least ${options.vectorLength}`);
      }
      return checked;
    },
  );
  const lengths = new Set([...masked.values()].map((m) => m.elements));
  if (lengths.size > 1) {
    const shown = [...masked].map(([name, m]) => `${name} ${m.elements}`).join(", ");
    throw new ProtocolViolation(`stations sent masked vectors of different lengths (${shown}): they did not compute the same job`);
  }
  const maskedInputs: SignedMaskedInput[] = [...masked].map(([station, m]) => ({ station, maskedVector: m.maskedVector, signature: m.signature }));

  // Round 3: every signed masked input to everyone; signed releases back.
  const releases = await round(
    "release",
    () => ({ jobId: terms.jobId, maskedInputs }),
    (s, req) => s.release(req),
    (name, response) => checkReleaseResponse(response, { station: name, terms, roster }),
  );
  const [first, ...rest] = [...releases.values()];
  if (rest.some((r) => !equalBytes(r.bytes, first.bytes))) {
    const groups = new Map<string, string[]>();
    for (const [name, r] of releases) {
      const key = Buffer.from(r.bytes).toString("base64");
      groups.set(key, [...(groups.get(key) ?? []), name]);
    }
    throw new ProtocolViolation(
      `the stations released different results, so none is returned: ${[...groups.values()].map((g) => g.join(" + ")).join(" vs ")}`,
    );
  }

  return {
    jobId: terms.jobId,
    release: first.body,
    stations: [...stations],
    bytesSent: traffic.sent,
    bytesReceived: traffic.received,
    phaseMs,
  };
}

function checkOptions(options: SecureAggregationOptions, now: number): { terms: JobTerms; roster: Roster } {
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
  const jobId = options.jobId ?? randomBytes(16).toString("hex");
  if (!JOB_ID_PATTERN.test(jobId)) throw new BadInput(`job id ${JSON.stringify(jobId)} is not of the form ${JOB_ID_PATTERN}`);
  if (!(options.context instanceof Uint8Array) || options.context.length === 0 || options.context.length > MAX_CONTEXT_BYTES) {
    throw new BadInput(`context must be 1..${MAX_CONTEXT_BYTES} bytes`);
  }
  if (options.vectorLength !== undefined && (!Number.isInteger(options.vectorLength) || options.vectorLength < 1)) {
    throw new BadInput(`vectorLength must be a positive integer, got ${options.vectorLength}`);
  }
  if (!Number.isFinite(options.phaseTimeoutMs) || options.phaseTimeoutMs <= 0) {
    throw new BadInput(`phaseTimeoutMs must be a positive number, got ${options.phaseTimeoutMs}`);
  }
  const deadlineMs = options.deadlineMs ?? now + PHASES.length * options.phaseTimeoutMs + CLOCK_SKEW_ALLOWANCE_MS;
  if (!(deadlineMs > now) || deadlineMs > now + MAX_JOB_LIFETIME_MS) {
    throw new BadInput(`the job deadline must lie within ${MAX_JOB_LIFETIME_MS / 60000} minutes from now; lower phaseTimeoutMs or deadlineMs`);
  }
  if (!Array.isArray(options.roster)) throw new BadInput("the coordinator needs the federation's roster (identity keys) to check the stations' signatures");
  const roster = buildRoster(options.roster);
  const strangers = names.filter((name) => !roster.has(name));
  if (strangers.length > 0) throw new BadInput(`stations without an identity key in the roster: ${strangers.join(", ")}`);
  const terms: JobTerms = { jobId, context: new Uint8Array(options.context), stations: names, deadlineMs };
  return { terms, roster };
}

class PhaseTimeout extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PhaseTimeout(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Unreachable or silent, as opposed to refusing: only these failures are worth a fresh attempt. */
function isTransportFailure(error: unknown): boolean {
  if (error instanceof PhaseTimeout || error instanceof StationUnreachable) return true;
  return !(error instanceof WerkplaatsError);
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

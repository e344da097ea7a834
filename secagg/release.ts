/**
 * Round 3, Release (new in v2; it replaces v1's consistency check and unmask). The coordinator
 * sends every station all n signed masked inputs. Each station
 *
 *   1. checks that they are exactly the job's stations, each once, each signed by that station's
 *      roster key over this job and this very vector, its own among them unchanged, all of one
 *      length — so every station sums the same n vectors, or refuses;
 *   2. computes S = Σ_j y_j − Σ_j PRG(g_j) = Σ_j encode(x_j) (pairwise masks cancel; it holds
 *      every g_j from round 2) and decodes it;
 *   3. hands the decoded vector to its release rule (the caller's `decide`: the station daemon's
 *      stations-with-rows rule and disclosure control), which returns what may be released or
 *      refuses;
 *   4. signs (job terms, station, canonical bytes of the release).
 *
 * The coordinator accepts a result only when all n releases are byte-identical and validly
 * signed: a coordinator that showed stations different vectors gets refusals or disagreeing
 * releases, never a partial or altered sum. There is no dropout recovery: a missing y_j means no
 * release at all, so two results can never differ by one station's part.
 */
import { ProtocolViolation } from "../common/errors.js";
import { termFields, type JobTerms, type Roster } from "./advertise-keys.js";
import { encodeFields, equalBytes } from "./encoding.js";
import { decode, ringAccumulate, ringFromBytes } from "./fixedpoint.js";
import { maskedElements, maskedVectorDigest, verifyMaskedInput } from "./masked-input.js";
import { expectArray, expectBytes, expectObject, expectString, type ReleaseMessage, type SignedMaskedInput } from "./messages.js";
import { LIMBS_PER_ELEMENT, PROTOCOL_LABEL, SIGNATURE_BYTES } from "./params.js";
import { expandMask } from "./prg.js";
import { signStatement, STATEMENT, verifyStatement } from "./signing.js";

/** What a release rule returns: the numbers for the analyst, which are withheld, and why. */
export interface ReleaseBody {
  values: Float64Array;
  /** Per value: 0 released, 1 withheld (primary), 2 withheld (secondary). */
  withheld: Uint8Array;
  notes: string[];
}

/** The largest withheld code (secondary suppression). */
const MAX_WITHHELD_CODE = 2;
const RELEASE_BYTES_LABEL = `${PROTOCOL_LABEL}/release-bytes`;
const BYTES_PER_VALUE = 8;

/** A release in its wire form; values as binary64 little-endian, so equal releases are equal bytes. */
export function releaseToMessage(body: ReleaseBody): ReleaseMessage {
  checkReleaseShape(body.values.length, body.withheld, body.notes);
  const values = new Uint8Array(body.values.length * BYTES_PER_VALUE);
  const view = new DataView(values.buffer);
  body.values.forEach((v, i) => view.setFloat64(i * BYTES_PER_VALUE, v, true));
  return { values, withheld: new Uint8Array(body.withheld), notes: [...body.notes] };
}

export function releaseFromMessage(value: unknown, what: string): ReleaseBody & { message: ReleaseMessage } {
  const message = expectObject(value, what);
  const values = expectBytes(message.values ?? new Uint8Array(), `${what}.values`);
  const withheld = expectBytes(message.withheld ?? new Uint8Array(), `${what}.withheld`);
  const notes = expectArray(message.notes, `${what}.notes`).map((n, i) => {
    if (typeof n !== "string") throw new ProtocolViolation(`${what}.notes[${i}] must be a string`);
    return n;
  });
  if (values.length % BYTES_PER_VALUE !== 0) throw new ProtocolViolation(`${what}.values is ${values.length} bytes, not whole binary64 values`);
  const count = values.length / BYTES_PER_VALUE;
  checkReleaseShape(count, withheld, notes);
  const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
  const decoded = Float64Array.from({ length: count }, (_, i) => view.getFloat64(i * BYTES_PER_VALUE, true));
  return { values: decoded, withheld, notes, message: { values, withheld, notes } };
}

function checkReleaseShape(count: number, withheld: Uint8Array, notes: readonly string[]): void {
  if (withheld.length !== count) throw new ProtocolViolation(`a release has ${count} values but ${withheld.length} withheld flags`);
  for (let i = 0; i < withheld.length; i++) {
    if (withheld[i] > MAX_WITHHELD_CODE) throw new ProtocolViolation(`withheld flag ${i} is ${withheld[i]}, not 0, 1 or 2`);
  }
  if (notes.some((n) => typeof n !== "string")) throw new ProtocolViolation("release notes must be strings");
}

/** The canonical bytes of a release: what is signed, and what the coordinator compares. */
export function releaseBytes(message: ReleaseMessage): Uint8Array {
  return encodeFields(RELEASE_BYTES_LABEL, [message.values, message.withheld, message.notes]);
}

function releaseFields(terms: JobTerms, station: string, message: ReleaseMessage) {
  return [...termFields(terms), station, releaseBytes(message)];
}

export function signRelease(options: { terms: JobTerms; self: string; release: ReleaseMessage; identitySecretKey: Uint8Array }): Uint8Array {
  return signStatement({ label: STATEMENT.release, fields: releaseFields(options.terms, options.self, options.release), secretKey: options.identitySecretKey });
}

export function verifyRelease(options: { terms: JobTerms; roster: Roster; station: string; release: ReleaseMessage; signature: Uint8Array }): boolean {
  const identityKey = options.roster.get(options.station);
  if (identityKey === undefined) return false;
  return verifyStatement({
    label: STATEMENT.release,
    fields: releaseFields(options.terms, options.station, options.release),
    signature: options.signature,
    publicKey: identityKey,
  });
}

/**
 * Step 1 above. Returns the masked vectors in the job's station order. `ownDigest` is SHA-256 of
 * the vector this station sent in round 2: its own entry must be exactly that.
 */
export function acceptMaskedInputs(options: {
  terms: JobTerms;
  roster: Roster;
  self: string;
  ownDigest: Uint8Array;
  elements: number;
  maskedInputs: unknown;
}): Map<string, Uint8Array> {
  const { terms } = options;
  const got = new Map<string, Uint8Array>();
  expectArray(options.maskedInputs, `job ${terms.jobId}: maskedInputs`).forEach((value, i) => {
    const what = `job ${terms.jobId}: maskedInputs[${i}]`;
    const entry = expectObject(value, what);
    const station = expectString(entry.station, `${what}.station`);
    const maskedVector = expectBytes(entry.maskedVector, `${what} (${station}).maskedVector`);
    const signature = expectBytes(entry.signature, `${what} (${station}).signature`, SIGNATURE_BYTES);
    if (!terms.stations.includes(station)) throw new ProtocolViolation(`job ${terms.jobId}: a masked input from ${station}, who is not a station of this job`);
    if (got.has(station)) throw new ProtocolViolation(`job ${terms.jobId}: two masked inputs from ${station}`);
    if (maskedElements(maskedVector, `${what} (${station})`) !== options.elements) {
      throw new ProtocolViolation(`job ${terms.jobId}: the masked input of ${station} has another length than this station's`);
    }
    if (!verifyMaskedInput({ terms, roster: options.roster, station, maskedVector, signature })) {
      throw new ProtocolViolation(
        `job ${terms.jobId}: the masked input of ${station} has no valid signature by ${station} for this job (altered, swapped or forged)`,
      );
    }
    if (station === options.self && !equalBytes(maskedVectorDigest(maskedVector), options.ownDigest)) {
      throw new ProtocolViolation(`job ${terms.jobId}: the masked input under this station's name is not the one it sent`);
    }
    got.set(station, maskedVector);
  });
  const missing = terms.stations.filter((name) => !got.has(name));
  if (missing.length > 0) {
    throw new ProtocolViolation(`job ${terms.jobId}: no masked input from ${missing.join(", ")}; nothing is released without every station`);
  }
  return new Map(terms.stations.map((name) => [name, got.get(name)!]));
}

/** Step 2 above: Σ y_j − Σ PRG(g_j), decoded. Wipes its ring intermediates. */
export function unmaskSum(options: { elements: number; maskedVectors: ReadonlyMap<string, Uint8Array>; padSeeds: ReadonlyMap<string, Uint8Array> }): Float64Array {
  const { elements } = options;
  const sum = new Uint32Array(elements * LIMBS_PER_ELEMENT);
  const terms: Array<{ vector: Uint32Array; sign: 1 | -1 }> = [];
  for (const bytes of options.maskedVectors.values()) terms.push({ vector: ringFromBytes(bytes, elements), sign: 1 });
  for (const seed of options.padSeeds.values()) terms.push({ vector: expandMask(seed, elements), sign: -1 });
  ringAccumulate(sum, terms);
  for (const t of terms) t.vector.fill(0);
  const decoded = decode(sum);
  sum.fill(0);
  return decoded;
}

/** Coordinator side: a release of the right shape under a valid signature of the station named. */
export function checkReleaseResponse(
  response: unknown,
  options: { station: string; terms: JobTerms; roster: Roster },
): { body: ReleaseBody; message: ReleaseMessage; bytes: Uint8Array; signature: Uint8Array } {
  const message = expectObject(response, "ReleaseResponse");
  const parsed = releaseFromMessage(message.release, "release");
  const signature = expectBytes(message.signature, "signature", SIGNATURE_BYTES);
  if (!verifyRelease({ terms: options.terms, roster: options.roster, station: options.station, release: parsed.message, signature })) {
    throw new ProtocolViolation(`the signature of ${options.station} over its release does not verify`);
  }
  const { message: wire, ...body } = parsed;
  return { body, message: wire, bytes: releaseBytes(wire), signature };
}

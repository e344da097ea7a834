/**
 * Hostile and malformed input against a real station process. Every RPC gets a few hundred
 * malformed, truncated, oversized and type-confused messages as raw bytes (unsigned, signed over
 * the bytes sent, and signed over what the station decodes, so that some reach the handlers), and
 * then structurally valid but semantically hostile jobs and rounds, properly signed by the
 * federation's researcher. The station must answer each with an error status — never crash, hang
 * or grow without bound — record them in its audit log, and still serve a normal query after.
 *
 * Inputs come from a seeded PRNG (test/helpers/random.ts), so a failure reproduces.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Expr } from "../common/expression.js";
import type { JobSpec } from "../common/job.js";
import { jobDigest } from "../common/job-digest.js";
import { jobFromWire, jobToWire } from "../common/wire.js";
import { loadResearcherKeys } from "../sdk/auth/researcher-keys.js";
import { Federation } from "../sdk/federation.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { StationClient, type StationEntry } from "../sdk/station-client.js";
import { writeScenario } from "../synth/index.js";
import { seededRandom } from "./helpers/random.js";
import { RPCS, type RawAnswer, RawStationClient, type Rpc, type Signing, auditTally, inBatches, rssMb } from "./helpers/station-probe.js";

let work: string;
let local: LocalFederation;
let target: StationEntry & { certificate: string };
let researcher: { secretKey: Uint8Array; study: string };
let raw: RawStationClient;
let signed: StationClient;
let pid: number;
let rssBefore: number;
let names: string[];
const random = seededRandom(20260501);

const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-fuzz-"));
  const data = await writeScenario({ scenario: "fall-risk", stations: 3, rows: 300, seed: 5, out: join(work, "data") });
  local = await LocalFederation.start({ dir: join(work, "stations"), stations: data.files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })) });
  names = local.federation.stations.map((s) => s.name);
  target = local.federation.stations[0] as StationEntry & { certificate: string };
  researcher = { secretKey: loadResearcherKeys(local.federation.key!).secretKey, study: local.federation.study! };
  raw = new RawStationClient(target, researcher);
  signed = await StationClient.create(target, researcher, 20_000);
  pid = local.process(target.name)!.pid!;
  // Warm up (JIT, TLS session, first audit lines) before taking the baseline.
  const fed = await local.connect({ timeoutMs: 20_000 });
  await fed.dataset("fall_risk").count();
  fed.close();
  rssBefore = rssMb(pid);
});

afterAll(async () => {
  raw?.close();
  signed?.close();
  await local?.stop();
  rmSync(work, { recursive: true, force: true });
});

// ---- well-formed requests, the seeds that raw fuzzing mutates ----

const countJob: JobSpec = { dataset: "fall_risk", computation: { kind: "count", by: [{ column: "sex", levels: ["F", "M"] }] } };

function validRequest(rpc: Rpc): unknown {
  const jobId = randomBytes(8).toString("hex");
  const key = () => randomBytes(32);
  const ad = (station: string) => ({ station, encryptionPublicKey: key(), maskingPublicKey: key(), signature: randomBytes(64) });
  switch (rpc) {
    case "GetInfo":
      return {};
    case "StartJob":
      return { job: jobToWire(countJob), secagg: { jobId, context: jobDigest(countJob), stations: names, deadlineMs: Date.now() + 60_000 } };
    case "ShareKeys":
      return { jobId, advertisements: names.map(ad) };
    case "MaskedInput":
      return { jobId, encryptedShares: names.map((n) => ({ sender: n, receiver: names[0], ciphertext: randomBytes(180) })) };
    case "Release":
      return { jobId, maskedInputs: names.map((station) => ({ station, maskedVector: randomBytes(64), signature: randomBytes(64) })) };
  }
}

/** One malformed body for `rpc`: random, truncated, bit-flipped, another RPC's, or with lying lengths. */
function malformed(rpc: Rpc): { kind: string; body: Buffer } {
  const base = raw.encode(rpc, validRequest(rpc));
  switch (int(7)) {
    case 0:
      return { kind: "random bytes", body: randomBytesSeeded(int(2048)) };
    case 1:
      return { kind: "truncated", body: base.subarray(0, int(base.length)) };
    case 2: {
      const b = Buffer.from(base);
      for (let k = 0, flips = 1 + int(8); k < flips && b.length > 0; k++) b[int(b.length)] ^= 1 << int(8);
      return { kind: "bit flips", body: b };
    }
    case 3: {
      const other = pick(RPCS.filter((r) => r !== rpc));
      return { kind: `a ${other} message`, body: raw.encode(other, validRequest(other)) };
    }
    case 4:
      // field 1, length-delimited, claiming up to 2^31 bytes that never come
      return { kind: "lying length", body: Buffer.concat([Buffer.from([0x0a]), varint(2 ** (20 + int(12))), randomBytesSeeded(int(64))]) };
    case 5:
      // unknown fields of every wire type, then the valid message
      return { kind: "unknown fields", body: Buffer.concat([varint((1000 + int(1000)) * 8 + int(6)), randomBytesSeeded(int(32)), base]) };
    default:
      // deep nesting of length-delimited field 1 (a message inside a message inside …)
      return { kind: "nested", body: nest(1 + int(3000)) };
  }
}

function randomBytesSeeded(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = int(256);
  return b;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}

function nest(depth: number): Buffer {
  let b = Buffer.alloc(0);
  for (let i = 0; i < depth; i++) b = Buffer.concat([Buffer.from([0x12]), varint(b.length), b]);
  return b;
}

function signedAsDecoded(rpc: Rpc, body: Buffer, signing: Signing): boolean {
  try {
    const again = raw.encode(rpc, raw.decode(rpc, body));
    return signing === "canonical" || again.equals(body);
  } catch {
    return false;
  }
}

// ---- structurally valid, semantically hostile jobs ----

const col = (name: string): Expr => ({ kind: "column", name });
const ageOver = (v: number): Expr => ({ kind: "compare", column: "age", op: ">=", value: { kind: "number", value: v } });

/** Wire-form jobs (some deliberately not expressible as a JobSpec) with a name for the failure message. */
function hostileJobs(): Array<{ name: string; job: Record<string, unknown> }> {
  let deep: Record<string, unknown> = { column: "lives_alone" };
  for (let i = 0; i < 5000; i++) deep = { negate: deep };
  let deepOk: Expr = col("lives_alone");
  for (let i = 0; i < 60; i++) deepOk = { kind: "not", arg: deepOk };
  const wide: Expr = { kind: "and", args: Array.from({ length: 20_000 }, (_, i) => ageOver(i % 100)) };
  const hugeIn: Expr = { kind: "in", column: "district", values: Array.from({ length: 50_000 }, (_, i) => ({ kind: "string", value: `WK${i}` })) };
  const glm = (over: Record<string, unknown>) => ({
    dataset: "fall_risk",
    glm: { formula: "fell_12m ~ age + sex", family: "binomial", link: "logit", levels: { sex: { values: ["F", "M"] } }, beta: [], weights: "", ...over },
  });
  const nestedFormula = "fell_12m ~ " + "(".repeat(20_000) + "age" + ")".repeat(20_000);
  const hugeFormula = "fell_12m ~ " + Array.from({ length: 50_000 }, (_, i) => `I(age^${i % 7})`).join(" + ");
  const numeric = ["age", "num_medications"];
  const manyLevels = Array.from({ length: 100_000 }, (_, i) => `L${i}`);
  const forty = Array.from({ length: 40 }, (_, i) => `L${i}`);
  return [
    { name: "where nested 5000 deep", job: { dataset: "fall_risk", where: deep, count: { by: [] } } },
    { name: "where nested 60 deep (legitimate)", job: jobToWire({ dataset: "fall_risk", where: deepOk, computation: { kind: "count", by: [] } }) },
    { name: "where with 20 000 operands", job: jobToWire({ dataset: "fall_risk", where: wide, computation: { kind: "count", by: [] } }) },
    { name: "in-list of 50 000 values", job: jobToWire({ dataset: "fall_risk", where: hugeIn, computation: { kind: "count", by: [] } }) },
    { name: "where on a 10 000-character column name", job: { dataset: "fall_risk", where: { column: "x".repeat(10_000) }, count: { by: [] } } },
    { name: "compare with an unknown operator", job: { dataset: "fall_risk", where: { compare: { column: "age", op: "=~", value: { number: 1 } } }, count: { by: [] } } },
    { name: "compare with no literal", job: { dataset: "fall_risk", where: { compare: { column: "age", op: "==" } }, count: { by: [] } } },
    { name: "empty and", job: { dataset: "fall_risk", where: { all: { args: [] } }, count: { by: [] } } },
    { name: "expression without a node", job: { dataset: "fall_risk", where: {}, count: { by: [] } } },
    { name: "no computation (unknown oneof case)", job: { dataset: "fall_risk" } },
    { name: "empty dataset name", job: { dataset: "", count: { by: [] } } },
    { name: "unknown dataset", job: { dataset: "no_such_thing", count: { by: [] } } },
    { name: "count by six 40-level group-bys (4·10^9 cells)", job: { dataset: "fall_risk", count: { by: Array.from({ length: 6 }, () => ({ column: "sex", levels: forty })) } } },
    {
      name: "count by four 40-level group-bys that all match (2.6·10^6 cells)",
      job: {
        dataset: "fall_risk",
        count: {
          by: [
            { column: "num_medications", levels: Array.from({ length: 40 }, (_, i) => String(i)) },
            { column: "income_quintile", levels: Array.from({ length: 40 }, (_, i) => String(i)) },
            { column: "age", levels: Array.from({ length: 40 }, (_, i) => String(60 + i)) },
            { column: "sex", levels: ["F", "M", ...forty.slice(2)] },
          ],
        },
      },
    },
    { name: "count by the same column five times", job: { dataset: "fall_risk", count: { by: Array.from({ length: 5 }, () => ({ column: "num_medications", levels: Array.from({ length: 40 }, (_, i) => String(i)) })) } } },
    { name: "glm with factor interactions of 64 000 columns", job: glm({ formula: "fell_12m ~ factor(num_medications):factor(income_quintile):factor(age)", levels: Object.fromEntries(["num_medications", "income_quintile", "age"].map((c) => [c, { values: Array.from({ length: 40 }, (_, i) => String(i)) }])) }) },
    { name: "count by a group-by with 100 000 levels", job: { dataset: "fall_risk", count: { by: [{ column: "sex", levels: manyLevels }] } } },
    { name: "count by a group-by with no levels", job: { dataset: "fall_risk", count: { by: [{ column: "sex", levels: [] }] } } },
    { name: "count by an unknown column", job: { dataset: "fall_risk", count: { by: [{ column: "nope", levels: ["a"] }] } } },
    { name: "moments of six 40-level group-bys", job: { dataset: "fall_risk", moments: { column: "age", by: Array.from({ length: 6 }, () => ({ column: "district", levels: forty })) } } },
    { name: "moments of a categorical column", job: { dataset: "fall_risk", moments: { column: "sex", by: [] } } },
    { name: "moments with NaN shift", job: { dataset: "fall_risk", moments: { column: "age", by: [], shift: NaN } } },
    { name: "histogram with 10^5 edges", job: { dataset: "fall_risk", histogram: { column: "age", by: [], edges: Array.from({ length: 100_000 }, (_, i) => i) } } },
    { name: "histogram with unsorted edges", job: { dataset: "fall_risk", histogram: { column: "age", by: [], edges: [3, 2, 1] } } },
    { name: "histogram with Infinity edge", job: { dataset: "fall_risk", histogram: { column: "age", by: [], edges: [0, Infinity] } } },
    { name: "quantile with 2^32−1 bins", job: { dataset: "fall_risk", quantile: { column: "age", by: [], lower: 0, upper: 1, bins: 4294967295 } } },
    { name: "indicators: 10^4 of them", job: { dataset: "fall_risk", indicators: { indicators: Array.from({ length: 10_000 }, () => ({ numerator: { column: "lives_alone" }, by: [] })) } } },
    { name: "indicator without numerator", job: { dataset: "fall_risk", indicators: { indicators: [{ by: [] }] } } },
    { name: "glm with a 20 000-deep formula", job: glm({ formula: nestedFormula }) },
    { name: "glm with a 500 kB formula", job: glm({ formula: hugeFormula }) },
    { name: "glm with an unknown function", job: glm({ formula: "fell_12m ~ system(age)" }) },
    { name: "glm with a formula of 2^20 interactions", job: glm({ formula: `fell_12m ~ (${Array.from({ length: 20 }, (_, i) => (i % 2 ? "age" : "num_medications") + `:I(age^${i})`).join(" + ")})^20` }) },
    { name: "glm with (a + … + t)^20 over numeric columns", job: glm({ formula: `fell_12m ~ (${Array.from({ length: 20 }, (_, i) => `I(age^${i + 1})`).join(" + ")})^20` }) },
    // R reads (a + b)^1e9 as a + b + a:b: legitimate, and must not loop 10^9 times.
    { name: "glm with an exponent of 10^9 (legitimate)", job: glm({ formula: "fell_12m ~ (age + num_medications)^1000000000" }) },
    { name: "glm with levels of 10^5 entries", job: glm({ levels: { sex: { values: manyLevels } } }) },
    { name: "glm with levels for 10^4 columns", job: glm({ levels: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`c${i}`, { values: ["a", "b"] }])) }) },
    { name: "glm with a beta of the wrong length", job: glm({ beta: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7] }) },
    { name: "glm with a beta of 10^5 entries", job: glm({ beta: Array.from({ length: 100_000 }, () => 0) }) },
    { name: "glm with a NaN beta", job: glm({ beta: [NaN, 0, 0] }) },
    { name: "glm with an Infinity beta", job: glm({ beta: [Infinity, 0, 0] }) },
    { name: "glm with a huge finite beta (legitimate: the family clamps μ)", job: glm({ beta: [1e308, 1e308, -1e308] }) },
    { name: "glm with an unknown family", job: glm({ family: "cauchy" }) },
    // exp(1000 · age) overflows: a contribution that cannot be masked is refused in round 0, with
    // its reason, instead of failing in round 2 where it would look like the station dropping out.
    { name: "poisson glm whose mean overflows", job: glm({ formula: "num_medications ~ age", family: "poisson", link: "log", levels: {}, beta: [0, 1000] }) },
    { name: "glm with a weights column that is categorical", job: glm({ weights: "sex" }) },
    { name: "glm_evaluate with 2^32−1 bins", job: { dataset: "fall_risk", glmEvaluate: { model: glm({ beta: [0, 0, 0] }).glm, bins: 4294967295, riskCutpoints: [0.2] } } },
    { name: "glm_evaluate with 10^5 cut-points", job: { dataset: "fall_risk", glmEvaluate: { model: glm({ beta: [0, 0, 0] }).glm, bins: 100, riskCutpoints: Array.from({ length: 100_000 }, (_, i) => i / 1e5) } } },
    { name: "glm_evaluate without a model", job: { dataset: "fall_risk", glmEvaluate: { bins: 100, riskCutpoints: [] } } },
    ...numeric.map((c) => ({ name: `count with a where comparing ${c} to text`, job: { dataset: "fall_risk", where: { compare: { column: c, op: "<", value: { text: "x" } } }, count: { by: [] } } })),
  ];
}

/** Round-0 terms for a wire job: the context the station will recompute, when it can decode the job. */
function termsFor(job: Record<string, unknown>, over: Record<string, unknown> = {}): Record<string, unknown> {
  let context: Uint8Array = randomBytes(32);
  try {
    context = jobDigest(jobFromWire(decodeLikeStation(job)));
  } catch {
    // undecodable here too: the station will refuse it before looking at the context
  }
  return { jobId: randomBytes(8).toString("hex"), context, stations: names, deadlineMs: Date.now() + 60_000, ...over };
}

/** The job as the station's gRPC layer will hand it over (proto round trip). */
function decodeLikeStation(job: Record<string, unknown>): unknown {
  return (raw.decode("StartJob", raw.encode("StartJob", { job })) as { job?: unknown }).job;
}

interface Outcome {
  name: string;
  error?: string;
  code?: string;
  ms: number;
}

async function signedCall(name: string, method: Rpc, request: unknown, timeoutMs = 20_000): Promise<Outcome> {
  const started = performance.now();
  try {
    await signed.call(method, request, timeoutMs);
    return { name, ms: performance.now() - started };
  } catch (err) {
    return { name, error: (err as Error).message, code: (err as { code?: string }).code, ms: performance.now() - started };
  }
}

describe("a station under hostile and malformed input", () => {
  it("answers a few hundred malformed messages per RPC with an error status, unsigned and signed", async () => {
    const signings: Signing[] = ["none", "raw", "canonical"];
    const tasks: Array<() => Promise<{ rpc: Rpc; kind: string; signing: Signing; verifiable: boolean; answer: RawAnswer }>> = [];
    for (const rpc of RPCS) {
      for (let i = 0; i < 200; i++) {
        const { kind, body } = malformed(rpc);
        const signing = signings[i % 3];
        // Signed over exactly what the station will verify: the request is then genuinely the
        // researcher's, and a mutation that still forms a valid request may be answered.
        const verifiable = signing !== "none" && signedAsDecoded(rpc, body, signing);
        tasks.push(async () => ({ rpc, kind, signing, verifiable, answer: await raw.call(rpc, body, { signing, timeoutMs: 15_000 }) }));
      }
    }
    const auditBefore = auditTally(join(local.dir, target.name));
    const started = performance.now();
    const results = await inBatches(tasks, 16);
    const elapsed = performance.now() - started;
    // Oversized: beyond the station's 64 MB cap, refused by the transport before any handler.
    const oversized = await raw.call("StartJob", Buffer.alloc(65 * 1024 * 1024, 0x0a), { signing: "none", timeoutMs: 30_000 });
    expect(oversized.code).toBe(grpc.status.RESOURCE_EXHAUSTED);

    const hung = results.filter((r) => r.answer.code === grpc.status.DEADLINE_EXCEEDED || r.answer.code === grpc.status.UNAVAILABLE);
    expect(hung.map((r) => `${r.rpc} ${r.kind} ${r.signing}: ${r.answer.details}`)).toEqual([]);
    // Only a request signed over what the station decodes may be answered (e.g. a GetInfo whose
    // body decodes to the empty request, or a bit flip inside a key that still forms a valid round 0).
    const answeredOk = results.filter((r) => r.answer.code === grpc.status.OK);
    expect(answeredOk.filter((r) => !r.verifiable).map((r) => `${r.rpc} ${r.kind} ${r.signing}`)).toEqual([]);
    if (process.env.FUZZ_VERBOSE) {
      const tally = new Map<string, number>();
      for (const r of results) {
        const key = `${r.rpc} ${r.kind} ${r.signing} → ${grpc.status[r.answer.code]} ${r.answer.werkplaatsCode ?? ""} ${r.answer.werkplaatsCode ? "" : r.answer.details.slice(0, 60)}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
      }
      for (const [k, n] of [...tally].sort()) console.log(`${String(n).padStart(4)} ${k}`);
    }
    const internal = results.filter((r) => r.answer.werkplaatsCode === "INTERNAL");
    expect(internal.map((r) => `${r.rpc} ${r.kind} ${r.signing}: ${r.answer.details}`)).toEqual([]);

    // Every message reaches the station's gate — undecodable ones too — and is in its audit log
    // with its outcome. (Only the oversized one is refused by the transport, before any decoding.)
    const reached = results.filter((r) => r.answer.werkplaatsCode !== undefined || r.answer.code === grpc.status.OK).length;
    expect(reached).toBe(results.length);
    const audit = auditTally(join(local.dir, target.name));
    const logged = audit.lines.length - auditBefore.lines.length;
    expect(logged).toBeGreaterThanOrEqual(reached);
    expect(audit.refused + audit.error - auditBefore.refused - auditBefore.error).toBeGreaterThanOrEqual(reached - answeredOk.length);
    console.log(
      `fuzz: ${results.length} raw messages in ${(elapsed / 1000).toFixed(1)} s, all answered with a status and audited ` +
        `(${answeredOk.length} validly signed ones answered); slowest ${Math.max(...results.map((r) => r.answer.ms)).toFixed(0)} ms`,
    );
  });

  it("refuses structurally valid but hostile jobs at StartJob, each with a clear error", async () => {
    const outcomes: Outcome[] = [];
    for (const { name, job } of hostileJobs()) {
      const o = await signedCall(name, "StartJob", { job, secagg: termsFor(job) });
      if (process.env.FUZZ_VERBOSE) console.log(`  ${name}: ${o.code ?? "answered"} (${o.ms.toFixed(0)} ms) ${o.error?.slice(0, 200) ?? ""}`);
      outcomes.push(o);
    }
    const slow = outcomes.filter((o) => o.ms > 10_000);
    expect(slow.map((o) => `${o.name}: ${o.ms.toFixed(0)} ms`)).toEqual([]);
    const unreachable = outcomes.filter((o) => o.code === "STATION_UNREACHABLE" || o.code === "INTERNAL" || o.code === "STATION_ERROR");
    expect(unreachable.map((o) => `${o.name}: ${o.code} ${o.error}`)).toEqual([]);
    expect(outcomes.find((o) => o.name === "poisson glm whose mean overflows")?.code).toMatch(/OVERFLOW|BAD_INPUT/);
    const answered = outcomes.filter((o) => o.error === undefined).map((o) => o.name);
    expect(answered.filter((n) => !/legitimate/.test(n))).toEqual([]);
    for (const o of outcomes) console.log(`  ${o.name}: ${o.code ?? "answered"} (${o.ms.toFixed(0)} ms) ${o.error?.slice(0, 140) ?? ""}`);
  });

  it("refuses a where-expression nested 5000 deep, sent as raw bytes the SDK would never encode", async () => {
    let expr = Buffer.concat([Buffer.from([0x0a]), varint(11), Buffer.from("lives_alone")]); // Expr.column
    for (let i = 0; i < 5000; i++) expr = Buffer.concat([Buffer.from([0x2a]), varint(expr.length), expr]); // Expr.negate
    const job = Buffer.concat([Buffer.from([0x0a]), varint(9), Buffer.from("fall_risk"), Buffer.from([0x12]), varint(expr.length), expr, Buffer.from([0x1a, 0x00])]);
    const body = Buffer.concat([Buffer.from([0x0a]), varint(job.length), job, raw.encode("StartJob", { secagg: termsFor({ dataset: "fall_risk", count: { by: [] } }) })]);
    for (const signing of ["none", "canonical"] as const) {
      const answer = await raw.call("StartJob", body, { signing, timeoutMs: 10_000 });
      // protobuf's own recursion limit refuses to decode it; the station audits it as bad input
      expect(answer.werkplaatsCode, answer.details).toBe("BAD_INPUT");
    }
  });

  it("refuses hostile round messages for a live job, and the job's secrets go with the refusal", async () => {
    const round = (rpc: Rpc, body: (jobId: string) => unknown) => async (): Promise<Outcome> => {
      const secagg = termsFor(jobToWire(countJob));
      const start = await signedCall("start", "StartJob", { job: jobToWire(countJob), secagg });
      expect(start.error).toBeUndefined();
      const hostile = await signedCall(`${rpc} hostile`, rpc, body(secagg.jobId as string));
      // The refusal ended the job: a well-formed next message finds nothing to continue.
      const after = await signedCall("after", "ShareKeys", { jobId: secagg.jobId, advertisements: [] });
      expect(after.error).toMatch(/aborted after a refusal|unknown here/);
      return hostile;
    };
    const key = () => randomBytes(32);
    const cases: Array<[string, () => Promise<Outcome>]> = [
      ["ShareKeys with 2·10^4 advertisements", round("ShareKeys", (jobId) => ({ jobId, advertisements: Array.from({ length: 20_000 }, (_, i) => ({ station: `s${i}`, encryptionPublicKey: key(), maskingPublicKey: key(), signature: randomBytes(64) })) }))],
      ["ShareKeys with wrong-length keys", round("ShareKeys", (jobId) => ({ jobId, advertisements: names.map((station) => ({ station, encryptionPublicKey: randomBytes(31), maskingPublicKey: randomBytes(4096), signature: randomBytes(3) })) }))],
      ["ShareKeys with forged signatures", round("ShareKeys", (jobId) => ({ jobId, advertisements: names.map((station) => ({ station, encryptionPublicKey: key(), maskingPublicKey: key(), signature: randomBytes(64) })) }))],
      ["MaskedInput before ShareKeys", round("MaskedInput", (jobId) => ({ jobId, encryptedShares: [] }))],
      // Names only (empty vectors and signatures); each entry is a nested message, dearer to decode
      // than v1's plain survivor names, so 5·10^4 of them rather than 2·10^5.
      ["Release with 5·10^4 masked inputs", round("Release", (jobId) => ({ jobId, maskedInputs: Array.from({ length: 50_000 }, (_, i) => ({ station: `s${i}`, maskedVector: Buffer.alloc(0), signature: Buffer.alloc(0) })) }))],
      ["Release with garbage signatures", round("Release", (jobId) => ({ jobId, maskedInputs: Array.from({ length: 2_000 }, () => ({ station: names[1], maskedVector: randomBytes(32), signature: randomBytes(64) })) }))],
      ["ShareKeys with a 10 kB job id", async () => signedCall("long job id", "ShareKeys", { jobId: "j".repeat(10_000), advertisements: [] })],
      ["Release for a job never started", async () => signedCall("never started", "Release", { jobId: "never-started", maskedInputs: [] })],
    ];
    for (const [name, run] of cases) {
      const o = await run();
      console.log(`  ${name}: ${o.code ?? "answered"} (${o.ms.toFixed(0)} ms) ${o.error?.slice(0, 140) ?? ""}`);
      expect(o.error, name).toBeDefined();
      expect(["BAD_INPUT", "PROTOCOL_VIOLATION"], `${name}: ${o.code} ${o.error}`).toContain(o.code);
      expect(o.ms, name).toBeLessThan(10_000);
      // Refusals never echo unbounded input (it would land in logs and the audit log as it is).
      expect(o.error!.length, name).toBeLessThan(1_000);
    }
  });

  it("is still up, answers a normal query, and its memory stayed bounded", async () => {
    expect(local.process(target.name)!.exitCode).toBeNull();
    const fed = await Federation.connect(local.federation, { timeoutMs: 20_000 });
    try {
      // Not "age >= 65": at a 300-row station, its rows differ from an all-rows job by fewer than
      // 10 people aged 60–64, which the station refuses as differencing.
      const result = await fed.dataset("fall_risk").where("age >= 80").count({ by: ["sex"] });
      expect(result.total).toBeGreaterThan(0);
    } finally {
      fed.close();
    }
    const rssAfter = rssMb(pid);
    console.log(`station RSS: ${rssBefore.toFixed(0)} MB before, ${rssAfter.toFixed(0)} MB after`);
    // Generous: a few hundred MB of transient buffers are fine, unbounded growth is not.
    expect(rssAfter).toBeLessThan(rssBefore + 400);
  });
});

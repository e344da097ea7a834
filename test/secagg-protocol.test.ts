import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { BadInput, PolicyRefused, ProtocolViolation, TooFewStations } from "../common/errors.js";
import {
  IncompleteJob,
  runSecureAggregation,
  SecAggParticipant,
  type ReleaseBody,
  type SecAggPhase,
  type SecAggStation,
  type SecureAggregationOptions,
} from "../secagg/index.js";
import { seededRandom as prng } from "./helpers/random.js";
import { BYTES_PER_ELEMENT } from "../secagg/params.js";

const context = new Uint8Array(32).fill(0x5a);

function federation(n: number) {
  const names = Array.from({ length: n }, (_, i) => `station-${String.fromCharCode(97 + (i % 26))}${Math.floor(i / 26) || ""}`);
  const identities = names.map((name) => ({ name, ...ed25519.keygen() }));
  const roster = identities.map(({ name, publicKey }) => ({ name, identityKey: publicKey }));
  const participants = new Map(
    identities.map(({ name, secretKey }) => [name, new SecAggParticipant({ name, identitySecretKey: secretKey, roster })]),
  );
  return { names, roster, participants };
}

const releaseAll = (sum: Float64Array): ReleaseBody => ({ values: new Float64Array(sum), withheld: new Uint8Array(sum.length), notes: [] });

type Fault = { phase: SecAggPhase; kind: "throw" | "hang" | "tamper" };

/** In-process stations: each wraps its participant and its own input; `faults` simulate failures. */
function stations(
  fed: ReturnType<typeof federation>,
  inputs: Map<string, Float64Array>,
  faults: Record<string, Fault> = {},
  calls: string[] = [],
  decide: (sum: Float64Array) => ReleaseBody = releaseAll,
): SecAggStation[] {
  return fed.names.map((name) => {
    const p = fed.participants.get(name)!;
    const step = async <T>(phase: SecAggPhase, run: () => T, tamper?: (value: T) => T): Promise<T> => {
      calls.push(`${phase}:${name}`);
      const fault = faults[name];
      if (fault?.phase === phase && fault.kind === "throw") throw new Error(`${name} crashed`);
      if (fault?.phase === phase && fault.kind === "hang") return new Promise<T>(() => {});
      const value = run();
      return fault?.phase === phase && fault.kind === "tamper" && tamper ? tamper(value) : value;
    };
    return {
      name,
      advertiseKeys: (req) => step("advertiseKeys", () => p.advertiseKeys(req), (r) => ({ advertisement: { ...r.advertisement, station: "someone-else" } })),
      shareKeys: (req) => step("shareKeys", () => p.shareKeys(req)),
      maskedInput: (req) => step("maskedInput", () => p.maskedInput(req, inputs.get(name)!), (r) => ({ ...r, maskedVector: r.maskedVector.subarray(BYTES_PER_ELEMENT) })),
      release: (req) => step("release", () => p.release(req, decide)),
    };
  });
}

function randomInputs(names: string[], d: number, seed: number, integers = false): Map<string, Float64Array> {
  const rand = prng(seed);
  return new Map(
    names.map((name) => [
      name,
      Float64Array.from({ length: d }, () => (integers ? Math.floor(rand() * 1e6) : (rand() - 0.5) * 2000)),
    ]),
  );
}

function expectedSum(inputs: Map<string, Float64Array>, included: string[]): Float64Array {
  const d = inputs.values().next().value!.length;
  const out = new Float64Array(d);
  for (const name of included) inputs.get(name)!.forEach((x, i) => (out[i] += x));
  return out;
}

function expectClose(actual: Float64Array, expected: Float64Array, n: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > n * 2 ** -32 + Math.abs(expected[i]) * 1e-15) {
      expect.fail(`element ${i}: ${actual[i]} vs ${expected[i]}`);
    }
  }
}

function run(fed: ReturnType<typeof federation>, list: SecAggStation[], d: number, extra: Partial<SecureAggregationOptions> = {}) {
  return runSecureAggregation({ context, stations: list, roster: fed.roster, vectorLength: d, phaseTimeoutMs: 10_000, ...extra });
}

describe("secure aggregation v2: honest runs", () => {
  it.each([3, 4, 7, 12, 20])("releases the exact sum of integer inputs over %i stations", async (n) => {
    const fed = federation(n);
    const inputs = randomInputs(fed.names, 7, n, true);
    const result = await run(fed, stations(fed, inputs), 7);
    expect(Array.from(result.release.values)).toEqual(Array.from(expectedSum(inputs, fed.names)));
    expect(Array.from(result.release.withheld)).toEqual(new Array(7).fill(0));
    expect(result.stations).toEqual(fed.names);
  });

  it.each([1, 7, 1000])("sums real vectors of length %i within fixed-point resolution", async (d) => {
    const fed = federation(5);
    const inputs = randomInputs(fed.names, d, d);
    const result = await run(fed, stations(fed, inputs), d);
    expectClose(result.release.values, expectedSum(inputs, fed.names), 5);
  });

  it("sums a vector of 100000 elements", async () => {
    const fed = federation(4);
    const inputs = randomInputs(fed.names, 100_000, 99);
    const result = await run(fed, stations(fed, inputs), 100_000);
    expectClose(result.release.values, expectedSum(inputs, fed.names), 4);
    // Round 3 carries all n masked vectors to each of the n stations.
    expect(result.bytesSent).toBeGreaterThan(4 * 4 * 100_000 * BYTES_PER_ELEMENT);
  });

  it("reports a fresh job id, timings per phase, traffic and progress, and leaves no job state behind", async () => {
    const fed = federation(3);
    const phases: string[] = [];
    const result = await run(fed, stations(fed, randomInputs(fed.names, 3, 1)), 3, { onPhase: (r) => phases.push(r.phase) });
    expect(result.jobId).toMatch(/^[0-9a-f]{32}$/);
    expect(phases).toEqual(["advertiseKeys", "shareKeys", "maskedInput", "release"]);
    expect(Object.keys(result.phaseMs).sort()).toEqual(["advertiseKeys", "maskedInput", "release", "shareKeys"]);
    expect(result.bytesSent).toBeGreaterThan(0);
    for (const p of fed.participants.values()) expect(p.activeJobs).toEqual([]);
  });

  it("returns what the stations' release rule decided, withheld entries and notes included", async () => {
    const fed = federation(3);
    const inputs = randomInputs(fed.names, 4, 2, true);
    const rule = (sum: Float64Array): ReleaseBody => ({
      values: Float64Array.from(sum, (v, i) => (i === 2 ? 0 : v)),
      withheld: Uint8Array.from(sum, (_, i) => (i === 2 ? 1 : 0)),
      notes: ["cell 2 withheld"],
    });
    const result = await run(fed, stations(fed, inputs, {}, [], rule), 4);
    const expected = expectedSum(inputs, fed.names);
    expected[2] = 0;
    expect(Array.from(result.release.values)).toEqual(Array.from(expected));
    expect(Array.from(result.release.withheld)).toEqual([0, 0, 1, 0]);
    expect(result.release.notes).toEqual(["cell 2 withheld"]);
  });

  it("a refusal by the release rule releases nothing, and the refusal reaches the coordinator", async () => {
    const fed = federation(3);
    const refuse = () => {
      throw new PolicyRefused("nothing today");
    };
    const error = await run(fed, stations(fed, randomInputs(fed.names, 2, 3), {}, [], refuse), 2).catch((e) => e);
    expect(error).toBeInstanceOf(IncompleteJob);
    expect(error.phase).toBe("release");
    expect(error.failures.map((f: { kind: string }) => f.kind)).toEqual(["refused", "refused", "refused"]);
    expect(error.failures[0].error).toBeInstanceOf(PolicyRefused);
  });
});

describe("secure aggregation v2: no dropout recovery", () => {
  it.each(["advertiseKeys", "shareKeys", "maskedInput", "release"] as SecAggPhase[])(
    "a station crashing in %s ends the job with no result, naming it, and nothing later is asked",
    async (phase) => {
      const fed = federation(6);
      const calls: string[] = [];
      const victim = fed.names[2];
      const error = await run(fed, stations(fed, randomInputs(fed.names, 20, 5, true), { [victim]: { phase, kind: "throw" } }, calls), 20).catch((e) => e);
      expect(error).toBeInstanceOf(IncompleteJob);
      expect(error).toBeInstanceOf(TooFewStations);
      expect(error.code).toBe("TOO_FEW_STATIONS");
      expect(error.stations).toEqual([victim]);
      expect(error.failures).toMatchObject([{ station: victim, phase, reason: `${victim} crashed`, kind: "transport" }]);
      expect(error.message).toContain(victim);
      const later = ["advertiseKeys", "shareKeys", "maskedInput", "release"].slice(["advertiseKeys", "shareKeys", "maskedInput", "release"].indexOf(phase) + 1);
      expect(calls.filter((call) => later.includes(call.split(":")[0]))).toEqual([]);
    },
  );

  it("a station that hangs fails the job at the phase timeout, naming it; two failures are both named", async () => {
    const fed = federation(5);
    const [a, , c] = fed.names;
    const list = stations(fed, randomInputs(fed.names, 4, 6), { [a]: { phase: "maskedInput", kind: "hang" }, [c]: { phase: "maskedInput", kind: "throw" } });
    const error = await run(fed, list, 4, { phaseTimeoutMs: 300 }).catch((e) => e);
    expect(error).toBeInstanceOf(IncompleteJob);
    expect(error.failures).toMatchObject([
      { station: a, phase: "maskedInput", reason: "no answer within 300 ms", kind: "transport" },
      { station: c, phase: "maskedInput", reason: `${c} crashed`, kind: "transport" },
    ]);
  });

  it("refuses a job with fewer than the minimum stations without contacting any", async () => {
    const fed = federation(2);
    const calls: string[] = [];
    await expect(run(fed, stations(fed, randomInputs(fed.names, 1, 1), {}, calls), 1)).rejects.toThrow(TooFewStations);
    expect(calls).toEqual([]);
  });

  it("needs the roster: a station without an identity key is a bad request", async () => {
    const fed = federation(3);
    await expect(run(fed, stations(fed, randomInputs(fed.names, 1, 1)), 1, { roster: fed.roster.slice(1) })).rejects.toThrow(BadInput);
  });
});

describe("secure aggregation v2: the coordinator fails stations that break the protocol", () => {
  it("a masked vector of another length fails its station (invalid answer), and nothing is released", async () => {
    const fed = federation(5);
    const bad = fed.names[1];
    const error = await run(fed, stations(fed, randomInputs(fed.names, 9, 10, true), { [bad]: { phase: "maskedInput", kind: "tamper" } }), 9).catch((e) => e);
    expect(error).toBeInstanceOf(IncompleteJob);
    expect(error.failures).toMatchObject([{ station: bad, phase: "maskedInput", kind: "invalid" }]);
    expect(error.failures[0].reason).toMatch(/signature .* does not verify/);
  });

  it("an advertisement under another name, or with a forged signature, fails its station", async () => {
    const fed = federation(4);
    const bad = fed.names[3];
    const renamed = await run(fed, stations(fed, randomInputs(fed.names, 2, 11, true), { [bad]: { phase: "advertiseKeys", kind: "tamper" } }), 2).catch((e) => e);
    expect(renamed.failures).toMatchObject([{ station: bad, phase: "advertiseKeys", kind: "invalid" }]);

    const forging = stations(fed, randomInputs(fed.names, 2, 12, true)).map((s) =>
      s.name !== fed.names[0]
        ? s
        : {
            ...s,
            advertiseKeys: async (req: Parameters<SecAggStation["advertiseKeys"]>[0]) => {
              const { advertisement } = await s.advertiseKeys(req);
              const signature = advertisement.signature.slice();
              signature[5] ^= 1;
              return { advertisement: { ...advertisement, signature } };
            },
          },
    );
    const forged = await run(fed, forging, 2).catch((e) => e);
    expect(forged.failures[0].reason).toMatch(/no valid signature/);
  });

  it("a station's own protocol refusal is recorded as a refusal with its code, not as a crash", async () => {
    const fed = federation(3);
    const list = stations(fed, randomInputs(fed.names, 1, 13)).map((s, i) =>
      i !== 0 ? s : { ...s, shareKeys: async () => { throw new ProtocolViolation("refused"); } },
    );
    const error = await run(fed, list, 1).catch((e) => e);
    expect(error.failures).toMatchObject([{ station: fed.names[0], phase: "shareKeys", reason: "PROTOCOL_VIOLATION: refused", kind: "refused" }]);
  });

  it("releases that differ between stations are no result, naming the groups", async () => {
    const fed = federation(3);
    const inputs = randomInputs(fed.names, 2, 14, true);
    const list = stations(fed, inputs).map((s, i) =>
      i !== 2
        ? s
        : {
            ...s,
            release: (req: Parameters<SecAggStation["release"]>[0]) =>
              Promise.resolve(fed.participants.get(s.name)!.release(req, (sum) => ({ ...releaseAll(sum), notes: ["other"] }))),
          },
    );
    const error = await run(fed, list, 2).catch((e) => e);
    expect(error).toBeInstanceOf(ProtocolViolation);
    expect(error.message).toContain(`${fed.names[0]} + ${fed.names[1]} vs ${fed.names[2]}`);
  });
});

describe("secure aggregation v2: what the coordinator sees", () => {
  /** Runs one job and returns the masked vector that `who` sent. */
  async function captureMasked(fed: ReturnType<typeof federation>, input: Float64Array, who: string): Promise<Uint8Array> {
    let captured: Uint8Array | undefined;
    const list = stations(fed, new Map(fed.names.map((n) => [n, input]))).map((s) =>
      s.name !== who
        ? s
        : {
            ...s,
            maskedInput: async (req: Parameters<SecAggStation["maskedInput"]>[0]) => {
              const response = await s.maskedInput(req);
              captured = response.maskedVector;
              return response;
            },
          },
    );
    await run(fed, list, input.length);
    return captured!;
  }

  it("a station's masked vector looks uniform even for an all-zero input (chi-square on bytes)", async () => {
    const fed = federation(3);
    const masked = await captureMasked(fed, new Float64Array(10_000), fed.names[0]);
    const counts = new Array<number>(256).fill(0);
    for (const byte of masked) counts[byte]++;
    const expected = masked.length / 256;
    const chiSquare = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    // 255 degrees of freedom: mean 255, sd 22.6; 400 is > 6 sd, a false alarm about once in 10^9 runs.
    expect(chiSquare).toBeLessThan(400);
    // The top bit of each element's high limb (its sign) is balanced too.
    let negatives = 0;
    for (let i = BYTES_PER_ELEMENT - 1; i < masked.length; i += BYTES_PER_ELEMENT) negatives += masked[i] >> 7;
    expect(Math.abs(negatives - 5000)).toBeLessThan(400); // sd 50
  });

  it("the sum of all masked vectors is not the sum of the inputs: the pads stay in until the stations remove them", async () => {
    const fed = federation(3);
    const input = new Float64Array(1000);
    const seen: Uint8Array[] = [];
    const list = stations(fed, new Map(fed.names.map((n) => [n, input]))).map((s) => ({
      ...s,
      maskedInput: async (req: Parameters<SecAggStation["maskedInput"]>[0]) => {
        const response = await s.maskedInput(req);
        seen.push(response.maskedVector);
        return response;
      },
    }));
    await run(fed, list, 1000);
    // All inputs are zero, so without pads Σ y_j would be all zero bytes.
    const { ringAccumulate, ringFromBytes } = await import("../secagg/fixedpoint.js");
    const { LIMBS_PER_ELEMENT } = await import("../secagg/params.js");
    const sum = new Uint32Array(1000 * LIMBS_PER_ELEMENT);
    ringAccumulate(sum, seen.map((bytes) => ({ vector: ringFromBytes(bytes, 1000), sign: 1 as const })));
    expect(sum.filter((limb) => limb === 0).length).toBeLessThan(sum.length / 100);
  });

  it("two jobs over the same input give different masked vectors", async () => {
    const fed = federation(3);
    const input = Float64Array.from({ length: 100 }, (_, i) => i);
    const first = await captureMasked(fed, input, fed.names[1]);
    const second = await captureMasked(fed, input, fed.names[1]);
    expect(Buffer.from(first).equals(Buffer.from(second))).toBe(false);
  });
});

describe("property: v2 releases equal the plain sum", () => {
  it("for random vectors over 3..7 stations (seeded)", async () => {
    const rand = prng(2026);
    for (let trial = 0; trial < 15; trial++) {
      const n = 3 + Math.floor(rand() * 5);
      const d = 1 + Math.floor(rand() * 200);
      const fed = federation(n);
      const inputs = new Map(
        fed.names.map((name) => [
          name,
          // Mixed: exact integers, and reals with a wide range of magnitudes and signs.
          Float64Array.from({ length: d }, (_, i) => (i % 2 === 0 ? Math.round((rand() - 0.5) * 1e9) : (rand() - 0.5) * 10 ** Math.floor(rand() * 10))),
        ]),
      );
      const result = await run(fed, stations(fed, inputs), d);
      const expected = expectedSum(inputs, fed.names);
      for (let i = 0; i < d; i++) {
        if (i % 2 === 0) {
          expect(result.release.values[i]).toBe(expected[i]);
          continue;
        }
        // Fixed-point rounding per station, plus the float rounding of the plain sum itself.
        const largest = Math.max(...fed.names.map((name) => Math.abs(inputs.get(name)![i])));
        const tolerance = n * 2 ** -32 + n * largest * 2 ** -52;
        if (Math.abs(result.release.values[i] - expected[i]) > tolerance) expect.fail(`trial ${trial}, element ${i}: ${result.release.values[i]} vs ${expected[i]}`);
      }
    }
  });
});

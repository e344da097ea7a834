import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { BadInput, ProtocolViolation, TooFewStations } from "../common/errors.js";
import {
  runSecureAggregation,
  SecAggParticipant,
  TooFewSurvivors,
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

type Fault = { phase: SecAggPhase; kind: "throw" | "hang" | "tamper" };

/** In-process stations: each wraps its participant and its own input; `faults` simulate failures. */
function stations(
  fed: ReturnType<typeof federation>,
  inputs: Map<string, Float64Array>,
  faults: Record<string, Fault> = {},
  calls: string[] = [],
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
      maskedInput: (req) => step("maskedInput", () => p.maskedInput(req, inputs.get(name)!), (r) => ({ maskedVector: r.maskedVector.subarray(16) })),
      consistencyCheck: (req) => step("consistencyCheck", () => p.consistencyCheck(req)),
      unmask: (req) => step("unmask", () => p.unmask(req)),
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

function run(list: SecAggStation[], d: number, extra: Partial<SecureAggregationOptions> = {}) {
  return runSecureAggregation({ context, stations: list, vectorLength: d, phaseTimeoutMs: 10_000, ...extra });
}

describe("secure aggregation: honest runs", () => {
  it.each([3, 4, 7, 12, 20])("sums integer inputs exactly over %i stations", async (n) => {
    const fed = federation(n);
    const inputs = randomInputs(fed.names, 7, n, true);
    const result = await run(stations(fed, inputs), 7);
    expect(Array.from(result.sum)).toEqual(Array.from(expectedSum(inputs, fed.names)));
    expect(result.survivors).toEqual(fed.names);
    expect(result.dropped).toEqual([]);
    expect(result.threshold).toBe(Math.floor(n / 2) + 1);
  });

  it.each([1, 7, 1000])("sums real vectors of length %i within fixed-point resolution", async (d) => {
    const fed = federation(5);
    const inputs = randomInputs(fed.names, d, d);
    const result = await run(stations(fed, inputs), d);
    expectClose(result.sum, expectedSum(inputs, fed.names), 5);
  });

  it("sums a vector of 100000 elements", async () => {
    const fed = federation(4);
    const inputs = randomInputs(fed.names, 100_000, 99);
    const result = await run(stations(fed, inputs), 100_000);
    expectClose(result.sum, expectedSum(inputs, fed.names), 4);
    expect(result.bytesReceived).toBeGreaterThan(4 * 100_000 * BYTES_PER_ELEMENT);
  });

  it("reports a fresh job id, timings per phase, traffic and progress", async () => {
    const fed = federation(3);
    const phases: string[] = [];
    const result = await run(stations(fed, randomInputs(fed.names, 3, 1)), 3, { onPhase: (r) => phases.push(r.phase) });
    expect(result.jobId).toMatch(/^[0-9a-f]{32}$/);
    expect(phases).toEqual(["advertiseKeys", "shareKeys", "maskedInput", "consistencyCheck", "unmask"]);
    expect(Object.keys(result.phaseMs).sort()).toEqual(["advertiseKeys", "consistencyCheck", "maskedInput", "reconstruct", "shareKeys", "unmask"]);
    expect(result.bytesSent).toBeGreaterThan(0);
    for (const p of fed.participants.values()) expect(p.activeJobs).toEqual([]);
  });
});

describe("secure aggregation: dropouts", () => {
  // Six stations, threshold 4: up to two may drop.
  const cases: Array<[SecAggPhase, boolean]> = [
    ["advertiseKeys", false],
    ["shareKeys", false],
    ["maskedInput", false],
    ["consistencyCheck", true],
    ["unmask", true],
  ];
  it.each(cases)("a station crashing in %s: its input is included = %s", async (phase, included) => {
    const fed = federation(6);
    const inputs = randomInputs(fed.names, 20, 5, true);
    const victim = fed.names[2];
    const result = await run(stations(fed, inputs, { [victim]: { phase, kind: "throw" } }), 20);
    const expectedIncluded = included ? fed.names : fed.names.filter((n) => n !== victim);
    expect(result.survivors).toEqual(expectedIncluded);
    expect(Array.from(result.sum)).toEqual(Array.from(expectedSum(inputs, expectedIncluded)));
    expect(result.dropped).toEqual([{ station: victim, phase, reason: `${victim} crashed` }]);
  });

  it("survives two drops in different rounds, one of them a timeout", async () => {
    const fed = federation(6);
    const inputs = randomInputs(fed.names, 50, 6);
    const [a, , , d] = fed.names;
    const list = stations(fed, inputs, { [a]: { phase: "maskedInput", kind: "hang" }, [d]: { phase: "unmask", kind: "throw" } });
    const result = await run(list, 50, { phaseTimeoutMs: 300 });
    const included = fed.names.filter((n) => n !== a);
    expect(result.survivors).toEqual(included);
    expectClose(result.sum, expectedSum(inputs, included), 6);
    expect(result.dropped).toEqual([
      { station: a, phase: "maskedInput", reason: "no answer within 300 ms" },
      { station: d, phase: "unmask", reason: `${d} crashed` },
    ]);
  });

  it("the station with the smallest and the largest name may both drop (mask signs)", async () => {
    const fed = federation(7);
    const inputs = randomInputs(fed.names, 10, 7, true);
    const first = fed.names[0];
    const last = fed.names[6];
    const result = await run(stations(fed, inputs, { [first]: { phase: "maskedInput", kind: "throw" }, [last]: { phase: "maskedInput", kind: "throw" } }), 10);
    const included = fed.names.slice(1, 6);
    expect(Array.from(result.sum)).toEqual(Array.from(expectedSum(inputs, included)));
  });

  it.each(["maskedInput", "consistencyCheck", "unmask"] as SecAggPhase[])(
    "throws TooFewStations when fewer than t remain after %s, naming who dropped and why",
    async (phase) => {
      const fed = federation(5); // threshold 3
      const calls: string[] = [];
      const [a, b, c] = fed.names;
      const faults = { [a]: { phase, kind: "throw" as const }, [b]: { phase, kind: "throw" as const }, [c]: { phase, kind: "throw" as const } };
      const error = await run(stations(fed, randomInputs(fed.names, 4, 8), faults, calls), 4).catch((e) => e);
      expect(error).toBeInstanceOf(TooFewStations);
      expect(error).toBeInstanceOf(TooFewSurvivors);
      expect(error.code).toBe("TOO_FEW_STATIONS");
      expect(error.message).toContain(`${a} (${phase}: ${a} crashed)`);
      expect(error.message).toContain("2 stations remain, threshold is 3");
      expect(error.dropped.map((d: { station: string }) => d.station)).toEqual([a, b, c]);
      // Nothing beyond the failed round was asked: no shares are requested once the job is lost.
      const later = ["advertiseKeys", "shareKeys", "maskedInput", "consistencyCheck", "unmask"].slice(
        ["advertiseKeys", "shareKeys", "maskedInput", "consistencyCheck", "unmask"].indexOf(phase) + 1,
      );
      expect(calls.filter((call) => later.includes(call.split(":")[0]))).toEqual([]);
    },
  );

  it("refuses a job with fewer than the minimum stations without contacting any", async () => {
    const fed = federation(2);
    const calls: string[] = [];
    await expect(run(stations(fed, randomInputs(fed.names, 1, 1), {}, calls), 1)).rejects.toThrow(TooFewStations);
    expect(calls).toEqual([]);
  });

  it("refuses a threshold below a majority", async () => {
    const fed = federation(6);
    await expect(run(stations(fed, randomInputs(fed.names, 1, 1)), 1, { threshold: 3 })).rejects.toThrow(BadInput);
  });
});

describe("secure aggregation: the coordinator drops stations that break the protocol", () => {
  it("drops a station whose masked vector has the wrong length, and removes its masks", async () => {
    const fed = federation(5);
    const inputs = randomInputs(fed.names, 9, 10, true);
    const bad = fed.names[1];
    const result = await run(stations(fed, inputs, { [bad]: { phase: "maskedInput", kind: "tamper" } }), 9);
    expect(result.dropped).toHaveLength(1);
    expect(result.dropped[0].reason).toMatch(/PROTOCOL_VIOLATION: masked vector has the wrong length/);
    const included = fed.names.filter((n) => n !== bad);
    expect(Array.from(result.sum)).toEqual(Array.from(expectedSum(inputs, included)));
  });

  it("drops a station that advertises under another name", async () => {
    const fed = federation(4);
    const inputs = randomInputs(fed.names, 2, 11, true);
    const bad = fed.names[3];
    const result = await run(stations(fed, inputs, { [bad]: { phase: "advertiseKeys", kind: "tamper" } }), 2);
    expect(result.dropped[0]).toMatchObject({ station: bad, phase: "advertiseKeys" });
    expect(Array.from(result.sum)).toEqual(Array.from(expectedSum(inputs, fed.names.slice(0, 3))));
  });

  it("with a roster, drops a station whose advertisement signature is forged; without one, honest stations refuse the round", async () => {
    const fed = federation(4);
    const inputs = randomInputs(fed.names, 2, 12, true);
    const bad = fed.names[0];
    const forging = stations(fed, inputs).map((s) =>
      s.name !== bad
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
    const result = await run(forging, 2, { roster: fed.roster });
    expect(result.dropped[0].reason).toMatch(/no valid signature/);
    expect(Array.from(result.sum)).toEqual(Array.from(expectedSum(inputs, fed.names.slice(1))));

    const fed2 = federation(4);
    const forging2 = stations(fed2, inputs).map((s) =>
      s.name !== fed2.names[0]
        ? s
        : {
            ...s,
            advertiseKeys: async (req: Parameters<SecAggStation["advertiseKeys"]>[0]) => {
              const { advertisement } = await s.advertiseKeys(req);
              return { advertisement: { ...advertisement, signature: new Uint8Array(64) } };
            },
          },
    );
    const error = await run(forging2, 2).catch((e) => e);
    expect(error).toBeInstanceOf(TooFewStations);
    expect(error.message).toMatch(/PROTOCOL_VIOLATION: job .*advertisement of station-a has no valid signature/);
  });
});

describe("secure aggregation: what the coordinator sees", () => {
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
    await run(list, input.length);
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

  it("two jobs over the same input give different masked vectors", async () => {
    const fed = federation(3);
    const input = Float64Array.from({ length: 100 }, (_, i) => i);
    const first = await captureMasked(fed, input, fed.names[1]);
    const second = await captureMasked(fed, input, fed.names[1]);
    expect(Buffer.from(first).equals(Buffer.from(second))).toBe(false);
  });

  it("a protocol violation from a station surfaces as ProtocolViolation in the drop reason, not as a crash", async () => {
    const fed = federation(3);
    const inputs = randomInputs(fed.names, 1, 13);
    const list = stations(fed, inputs).map((s, i) =>
      i !== 0 ? s : { ...s, shareKeys: async () => { throw new ProtocolViolation("refused"); } },
    );
    const result = await run(list, 1);
    expect(result.dropped).toEqual([{ station: fed.names[0], phase: "shareKeys", reason: "PROTOCOL_VIOLATION: refused" }]);
  });
});

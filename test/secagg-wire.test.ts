/**
 * The proto contract: every message of secagg/messages.ts survives protobuf serialisation with
 * @grpc/proto-loader's default field naming (keepCase: false), and a whole aggregation runs with
 * every request and response going through the wire format.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSync, type MethodDefinition, type Options } from "@grpc/proto-loader";
import { ed25519 } from "@noble/curves/ed25519.js";
import { afterAll, describe, expect, it } from "vitest";
import { IncompleteJob, runSecureAggregation, SecAggParticipant, type ReleaseBody, type SecAggStation } from "../secagg/index.js";

const ROUNDS = ["AdvertiseKeys", "ShareKeys", "MaskedInput", "Release"] as const;

const releaseAll = (sum: Float64Array): ReleaseBody => ({ values: new Float64Array(sum), withheld: new Uint8Array(sum.length), notes: ["released as computed"] });

// A throwaway service over the real secagg.proto, only to get proto-loader's (de)serialisers.
const dir = mkdtempSync(join(tmpdir(), "secagg-wire-"));
writeFileSync(
  join(dir, "secagg_test_service.proto"),
  `syntax = "proto3";
package secaggtest;
import "werkplaats/v1/secagg.proto";
service Rounds {
${ROUNDS.map((r) => `  rpc ${r}(werkplaats.v1.${r}Request) returns (werkplaats.v1.${r}Response);`).join("\n")}
}
`,
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Method = MethodDefinition<object, object>;

function load(options: Options) {
  const definition = loadSync(join(dir, "secagg_test_service.proto"), {
    includeDirs: [dir, join(process.cwd(), "protos")],
    ...options,
  });
  const service = definition["secaggtest.Rounds"] as unknown as Record<string, Method>;
  return { definition, method: (round: (typeof ROUNDS)[number]) => service[round] };
}

function overWire(method: Method, kind: "request" | "response", message: object): object {
  return kind === "request"
    ? method.requestDeserialize(method.requestSerialize(message))
    : method.responseDeserialize(method.responseSerialize(message));
}

function federation(n: number) {
  const names = Array.from({ length: n }, (_, i) => `station-${i}`);
  const identities = names.map((name) => ({ name, ...ed25519.keygen() }));
  const roster = identities.map(({ name, publicKey }) => ({ name, identityKey: publicKey }));
  return { roster, participants: identities.map(({ name, secretKey }) => new SecAggParticipant({ name, identitySecretKey: secretKey, roster })) };
}

/** Stations whose every request and response crosses protobuf, and which log the messages seen. */
function wiredStations(
  participants: SecAggParticipant[],
  inputs: Float64Array[],
  method: (round: (typeof ROUNDS)[number]) => Method,
  seen: Map<string, object>,
): SecAggStation[] {
  return participants.map((p, i) => {
    const relay = async (round: (typeof ROUNDS)[number], request: object, answer: (req: never) => object) => {
      seen.set(`${round}Request`, request);
      const received = overWire(method(round), "request", request);
      const response = answer(received as never);
      seen.set(`${round}Response`, response);
      return overWire(method(round), "response", response) as never;
    };
    return {
      name: p.name,
      advertiseKeys: (req) => relay("AdvertiseKeys", req, (r) => p.advertiseKeys(r)),
      shareKeys: (req) => relay("ShareKeys", req, (r) => p.shareKeys(r)),
      maskedInput: (req) => relay("MaskedInput", req, (r) => p.maskedInput(r, inputs[i])),
      release: (req) => relay("Release", req, (r) => p.release(r, releaseAll)),
    };
  });
}

describe.each([
  { name: "defaults: true", options: { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true } },
  { name: "proto-loader defaults", options: {} },
])("secagg.proto with $name", ({ options }) => {
  it("carries a whole aggregation through protobuf, and a station dropping out ends it", async () => {
    const { method } = load(options);
    const { roster, participants } = federation(4);
    const inputs = participants.map((_, i) => Float64Array.from([i, -0.5 * i, 1e6 + i]));
    const seen = new Map<string, object>();
    const stations = wiredStations(participants, inputs, method, seen);
    const result = await runSecureAggregation({ context: new Uint8Array(32).fill(1), stations, roster, vectorLength: 3, phaseTimeoutMs: 10_000 });
    expect(Array.from(result.release.values)).toEqual([6, -3, 4e6 + 6]);
    expect(result.release.notes).toEqual(["released as computed"]);
    expect(result.stations).toEqual(["station-0", "station-1", "station-2", "station-3"]);

    const again = wiredStations(participants, inputs, method, seen);
    again[3] = { ...again[3], maskedInput: async () => { throw new Error("gone"); } };
    await expect(runSecureAggregation({ context: new Uint8Array(32).fill(1), stations: again, roster, vectorLength: 3, phaseTimeoutMs: 10_000 })).rejects.toThrow(IncompleteJob);
  });
});

describe("secagg.proto field names", () => {
  it("equal the TypeScript message field names after camelCase conversion", async () => {
    const { definition, method } = load({});
    const { roster, participants } = federation(3);
    const seen = new Map<string, object>();
    const stations = wiredStations(participants, participants.map(() => new Float64Array(2)), method, seen);
    await runSecureAggregation({ context: new Uint8Array(32).fill(1), stations, roster, vectorLength: 2, phaseTimeoutMs: 10_000 });

    const fieldsOf = (type: string) => {
      const message = definition[`werkplaats.v1.${type}`] as unknown as { type: { field: Array<{ name: string }> } };
      return message.type.field.map((f) => f.name).sort();
    };
    for (const [type, message] of seen) expect([type, fieldsOf(type)]).toEqual([type, Object.keys(message).sort()]);
    const nested: Array<[string, object]> = [
      ["KeyAdvertisement", (seen.get("AdvertiseKeysResponse") as { advertisement: object }).advertisement],
      ["EncryptedShares", (seen.get("ShareKeysResponse") as { encryptedShares: object[] }).encryptedShares[0]],
      ["SignedMaskedInput", (seen.get("ReleaseRequest") as { maskedInputs: object[] }).maskedInputs[0]],
      ["Release", (seen.get("ReleaseResponse") as { release: object }).release],
    ];
    for (const [type, message] of nested) expect([type, fieldsOf(type)]).toEqual([type, Object.keys(message).sort()]);
    expect(seen.size).toBe(8);
  });
});

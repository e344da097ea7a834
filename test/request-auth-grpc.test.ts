/**
 * The integration recipe for signed requests over a real gRPC call: the SDK signs the bytes the
 * method's requestSerialize makes of its request; the station re-serializes the request it
 * decoded with the same definition and verifies over those bytes and call.getPath().
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toHex } from "../common/hex.js";
import { stationClientConstructor, stationServiceDefinition } from "../common/protos.js";
import { jobToWire } from "../common/wire.js";
import { requestAuthFromMetadata, requestAuthToMetadata, signRequest } from "../sdk/auth/sign-request.js";
import { toServiceError } from "../station-daemon/errors-to-grpc.js";
import { defaultPolicy, validatePolicy } from "../station-daemon/governance/policy.js";
import { ReplayCache, verifyRequest } from "../station-daemon/governance/request-auth.js";

const researcher = ed25519.utils.randomSecretKey();
const stationKey = toHex(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
const policy = validatePolicy(defaultPolicy({ researcherKey: toHex(ed25519.getPublicKey(researcher)) }));
const service = stationServiceDefinition();
const startJob = service.StartJob;

const request = {
  secagg: { jobId: "job-1", context: Buffer.alloc(32, 7), stations: ["gp", "homecare", "hospital"], deadlineMs: 1_800_000_000_123.5 },
  job: jobToWire({
    dataset: "fall_risk",
    where: { kind: "and", args: [{ kind: "compare", column: "age", op: ">=", value: { kind: "number", value: 65 } }, { kind: "in", column: "sex", values: [{ kind: "string", value: "F" }] }] },
    computation: { kind: "glm", formula: "fell_12m ~ age + sex", family: "binomial", link: "logit", levels: { sex: ["F", "M"] }, beta: [0.1, -0.25, 1e-9] },
  }),
};

describe("signed requests over gRPC", () => {
  let server: grpc.Server;
  let client: grpc.Client & Record<string, (...args: unknown[]) => void>;
  const replayCache = new ReplayCache();

  beforeAll(async () => {
    server = new grpc.Server();
    server.addService(service, {
      GetInfo: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
      StartJob: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        try {
          verifyRequest({
            auth: requestAuthFromMetadata(call.metadata),
            method: call.getPath(),
            body: startJob.requestSerialize(call.request),
            station: stationKey,
            policy,
            now: Date.now(),
            replayCache,
          });
          cb(null, {});
        } catch (err) {
          cb(toServiceError(err) as grpc.ServiceError);
        }
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const Client = stationClientConstructor();
    client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as typeof client;
  });
  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  function call(metadata: grpc.Metadata): Promise<unknown> {
    return new Promise((resolve, reject) => client.StartJob(request, metadata, { deadline: Date.now() + 5000 }, (err: unknown, res: unknown) => (err ? reject(err) : resolve(res))));
  }

  function signed(): grpc.Metadata {
    const auth = signRequest({ secretKey: researcher, station: stationKey, method: startJob.path, body: startJob.requestSerialize(request), study: "demo" });
    const metadata = new grpc.Metadata();
    requestAuthToMetadata(auth, metadata);
    return metadata;
  }

  it("verifies a signature over the serialized request and the method path", async () => {
    expect(await call(signed())).toBeTruthy();
  });

  it("refuses the same metadata replayed, and an unsigned call, as PERMISSION_DENIED with the reason", async () => {
    const metadata = signed();
    await call(metadata);
    const replay = (await call(metadata).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(replay.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(replay.details).toMatch(/nonce was used before/);
    const unsigned = (await call(new grpc.Metadata()).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(unsigned.details).toMatch(/not signed/);
  });
});

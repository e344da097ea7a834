import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { PolicyRefused } from "../common/errors.js";
import { toHex } from "../common/hex.js";
import { REQUEST_AUTH_METADATA, type RequestAuth } from "../common/request-statement.js";
import { requestAuthFromMetadata, requestAuthToMetadata, signRequest } from "../sdk/auth/sign-request.js";
import { defaultPolicy, validatePolicy } from "../station-daemon/governance/policy.js";
import { ReplayCache, verifyRequest } from "../station-daemon/governance/request-auth.js";

const researcher = ed25519.utils.randomSecretKey();
const researcherKey = toHex(ed25519.getPublicKey(researcher));
const stranger = ed25519.utils.randomSecretKey();
const station = toHex(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
const otherStation = toHex(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
const policy = validatePolicy(defaultPolicy({ researcherKey }));
const METHOD = "/werkplaats.v1.Station/StartJob";
const body = new TextEncoder().encode('{"job":{"dataset":"fall_risk"}}');
const NOW = 1_800_000_000_000;

function sign(overrides: Partial<Parameters<typeof signRequest>[0]> = {}): RequestAuth {
  return signRequest({ secretKey: researcher, station, method: METHOD, body, study: "demo", now: NOW, ...overrides });
}

function verify(auth: Partial<RequestAuth> | undefined, overrides: Partial<Parameters<typeof verifyRequest>[0]> = {}) {
  return verifyRequest({ auth, method: METHOD, body, station, policy, now: NOW, replayCache: new ReplayCache(), ...overrides });
}

function refusal(fn: () => unknown): PolicyRefused {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyRefused);
    return err as PolicyRefused;
  }
  throw new Error("expected a refusal");
}

describe("signed requests", () => {
  it("accepts a request signed by a researcher of the policy, for this station, method and message", () => {
    expect(verify(sign())).toEqual({ researcherKey, study: "demo" });
  });

  it("refuses an unsigned request", () => {
    expect(refusal(() => verify(undefined)).message).toMatch(/not signed/);
  });

  it("refuses a key that is in no study of the policy", () => {
    expect(refusal(() => verify(sign({ secretKey: stranger }))).message).toMatch(/is not listed in any study/);
  });

  it("refuses a forged signature: a researcher's key with someone else's signature", () => {
    const forged = { ...sign({ secretKey: stranger }), researcherKey };
    expect(refusal(() => verify(forged)).message).toMatch(/signature does not verify/);
  });

  it("refuses a signature over another message, method, study or station", () => {
    const auth = sign();
    expect(refusal(() => verify(auth, { body: new TextEncoder().encode('{"job":{"dataset":"other"}}') })).message).toMatch(/does not verify/);
    expect(refusal(() => verify(auth, { method: "/werkplaats.v1.Station/GetInfo" })).message).toMatch(/does not verify/);
    expect(refusal(() => verify({ ...auth, study: "other" })).message).toMatch(/does not verify/);
    expect(refusal(() => verify(auth, { station: otherStation })).message).toMatch(/does not verify/);
    const flipped = auth.signature.slice(0, 10) + (auth.signature[10] === "0" ? "1" : "0") + auth.signature.slice(11);
    expect(refusal(() => verify({ ...auth, signature: flipped })).message).toMatch(/does not verify/);
  });

  it("refuses a request signed outside the clock window, either way, and honours a configured window", () => {
    expect(refusal(() => verify(sign({ now: NOW - 5 * 60_000 - 1 }))).message).toMatch(/before this station's clock.*±300 s/);
    expect(refusal(() => verify(sign({ now: NOW + 5 * 60_000 + 1 }))).message).toMatch(/after this station's clock/);
    expect(verify(sign({ now: NOW - 5 * 60_000 }))).toBeTruthy();
    const narrow = { ...policy, requestWindowMs: 10_000 };
    expect(refusal(() => verify(sign({ now: NOW - 11_000 }), { policy: narrow })).message).toMatch(/±10 s/);
  });

  it("refuses a replayed request, and forgets the nonce only once the request is outside the window", () => {
    const cache = new ReplayCache();
    const auth = sign();
    expect(verify(auth, { replayCache: cache })).toBeTruthy();
    expect(refusal(() => verify(auth, { replayCache: cache })).message).toMatch(/nonce was used before/);
    expect(refusal(() => verify(auth, { replayCache: cache, now: NOW + 299_000 })).message).toMatch(/nonce was used before/);
    // Later it is refused as expired rather than remembered for ever.
    expect(refusal(() => verify(auth, { replayCache: cache, now: NOW + 301_000 })).message).toMatch(/clock/);
    verify(sign({ now: NOW + 302_000 }), { replayCache: cache, now: NOW + 302_000 });
    expect(cache.size).toBeLessThanOrEqual(1 + 1);
  });

  it("does not let forged requests fill the replay cache, and refuses rather than forgets when it is full", () => {
    const cache = new ReplayCache(2);
    const forged = { ...sign({ secretKey: stranger }), researcherKey };
    for (let i = 0; i < 5; i++) refusal(() => verify({ ...forged }, { replayCache: cache }));
    expect(cache.size).toBe(0);
    verify(sign(), { replayCache: cache });
    verify(sign(), { replayCache: cache });
    expect(refusal(() => verify(sign(), { replayCache: cache })).message).toMatch(/too many requests/);
  });

  it("refuses malformed fields with a reason", () => {
    const auth = sign();
    expect(refusal(() => verify({ ...auth, nonce: "xyz" })).message).toMatch(/nonce/);
    expect(refusal(() => verify({ ...auth, time: undefined })).message).toMatch(/signing time/);
    expect(refusal(() => verify({ ...auth, researcherKey: "ab" })).message).toMatch(/researcher key/);
  });

  it("travels in gRPC metadata under the werkplaats-* keys", () => {
    const auth = sign();
    const metadata = new grpc.Metadata();
    requestAuthToMetadata(auth, metadata);
    expect(Object.keys(metadata.getMap()).sort()).toEqual(Object.values(REQUEST_AUTH_METADATA).sort());
    expect(requestAuthFromMetadata(metadata)).toEqual(auth);
    expect(verify(requestAuthFromMetadata(metadata))).toBeTruthy();
    expect(requestAuthFromMetadata(new grpc.Metadata())).toBeUndefined();
  });
});

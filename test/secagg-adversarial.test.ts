/**
 * A malicious coordinator drives the stations by hand and tries what the active-adversary variant
 * of Bonawitz et al. must withstand. Every attempt must be refused with ProtocolViolation.
 */
import { randomBytes } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { BadInput, ProtocolViolation } from "../common/errors.js";
import {
  SecAggParticipant,
  type AdvertiseKeysRequest,
  type EncryptedShares,
  type KeyAdvertisement,
  type SurvivorSignature,
  type UnmaskResponse,
} from "../secagg/index.js";
import { generateKeyPair } from "../secagg/keyagreement.js";
import { encodeFields } from "../secagg/encoding.js";
import { ENDED_JOB_MEMORY_MS } from "../secagg/params.js";

const context = new Uint8Array(32).fill(0x33);

function federation(names: string[], now?: () => number) {
  const identities = names.map((name) => ({ name, ...ed25519.keygen() }));
  const roster = identities.map(({ name, publicKey }) => ({ name, identityKey: publicKey }));
  const participants = new Map(
    identities.map(({ name, secretKey }) => [name, new SecAggParticipant({ name, identitySecretKey: secretKey, roster, now })]),
  );
  return { names, roster, identities, p: (name: string) => participants.get(name)! };
}

type Federation = ReturnType<typeof federation>;

/** An honest job, one round at a time, so that each test can deviate where it wants. */
function job(fed: Federation, overrides: Partial<AdvertiseKeysRequest> = {}) {
  const terms: AdvertiseKeysRequest = {
    jobId: randomBytes(8).toString("hex"),
    context,
    stations: fed.names,
    threshold: Math.floor(fed.names.length / 2) + 1,
    deadlineMs: Date.now() + 60_000,
    ...overrides,
  };
  const jobId = terms.jobId;
  return {
    terms,
    jobId,
    advertise: (names = terms.stations): KeyAdvertisement[] => names.map((n) => fed.p(n).advertiseKeys(terms).advertisement),
    share: (ads: KeyAdvertisement[], names = ads.map((a) => a.station)): EncryptedShares[] =>
      names.flatMap((n) => fed.p(n).shareKeys({ jobId, advertisements: ads }).encryptedShares),
    mask: (all: EncryptedShares[], names: string[], input = new Float64Array([1, 2, 3])) =>
      names.map((n) => fed.p(n).maskedInput({ jobId, encryptedShares: all.filter((c) => c.receiver === n) }, input)),
    sign: (survivors: string[], names = survivors): SurvivorSignature[] =>
      names.map((n) => ({ station: n, signature: fed.p(n).consistencyCheck({ jobId, survivors }).signature })),
  };
}

const FIVE = ["a", "b", "c", "d", "e"];

describe("a station refuses job terms it must not accept", () => {
  it("refuses a station list naming a station that is not on its roster", () => {
    const fed = federation(FIVE);
    expect(() => job(fed, { stations: [...FIVE, "mallory"] }).advertise(["a"])).toThrow(ProtocolViolation);
    expect(() => job(fed, { stations: [...FIVE, "mallory"] }).advertise(["a"])).toThrow(/not on this station's roster: mallory/);
  });

  it("refuses a station list without itself, with duplicates, or below the minimum", () => {
    const fed = federation(FIVE);
    expect(() => fed.p("a").advertiseKeys(job(fed, { stations: ["b", "c", "d"] }).terms)).toThrow(/does not include this station/);
    expect(() => fed.p("a").advertiseKeys(job(fed, { stations: ["a", "b", "b", "c"] }).terms)).toThrow(/names b twice/);
    expect(() => fed.p("a").advertiseKeys(job(fed, { stations: ["a", "b"], threshold: 2 }).terms)).toThrow(/requires at least 3/);
  });

  it("refuses a threshold below a majority, or above the number of stations", () => {
    const fed = federation(FIVE);
    expect(() => fed.p("a").advertiseKeys(job(fed, { threshold: 2 }).terms)).toThrow(/threshold 2 is outside 3..5/);
    expect(() => fed.p("a").advertiseKeys(job(fed, { threshold: 6 }).terms)).toThrow(ProtocolViolation);
  });

  it("refuses a deadline in the past or beyond the maximum job lifetime", () => {
    const fed = federation(FIVE);
    expect(() => fed.p("a").advertiseKeys(job(fed, { deadlineMs: Date.now() - 1 }).terms)).toThrow(/has passed/);
    expect(() => fed.p("a").advertiseKeys(job(fed, { deadlineMs: Date.now() + 48 * 3600_000 }).terms)).toThrow(/minutes ahead/);
  });

  it("refuses a reused job id, while the job runs and after it ended", () => {
    const fed = federation(FIVE);
    const j = job(fed);
    j.advertise(["a"]);
    expect(() => j.advertise(["a"])).toThrow(/already seen by a; refusing a replayed or reused job id/);
    const honest = job(fed);
    const ads = honest.advertise();
    const shares = honest.share(ads);
    honest.mask(shares, FIVE);
    const sigs = honest.sign(FIVE);
    for (const n of FIVE) fed.p(n).unmask({ jobId: honest.jobId, signatures: sigs });
    expect(() => honest.advertise(["b"])).toThrow(ProtocolViolation);
  });

  it("forgets an ended job id after its deadline, and the old job's signatures never verify again", () => {
    let clock = Date.now();
    const fed = federation(FIVE, () => clock);
    const old = job(fed, { deadlineMs: clock + 60_000 });
    const oldAds = old.advertise();
    old.share(oldAds);
    for (const n of FIVE) fed.p(n).dropExpiredJobs();
    expect(fed.p("a").rememberedJobIds).toBe(0); // still running: held as an active job instead
    clock += 61_000 + ENDED_JOB_MEMORY_MS;
    for (const n of FIVE) fed.p(n).dropExpiredJobs();
    expect(fed.p("a").rememberedJobIds).toBe(0);
    // The id may come again, with a new deadline; the old advertisements, signed with the old
    // deadline, do not verify under the new terms.
    const again = job(fed, { jobId: old.jobId, deadlineMs: clock + 60_000 });
    const newAds = again.advertise();
    const replayed = newAds.map((ad, i) => (i === 2 ? oldAds[2] : ad));
    expect(() => fed.p("a").shareKeys({ jobId: again.jobId, advertisements: replayed })).toThrow(/advertisement of c has no valid signature/);
  });

  it("remembers an ended job id until shortly after its deadline", () => {
    let clock = Date.now();
    const fed = federation(FIVE, () => clock);
    const j = job(fed, { deadlineMs: clock + 60_000 });
    j.advertise(["a"]);
    expect(() => fed.p("a").shareKeys({ jobId: j.jobId, advertisements: [] })).toThrow(ProtocolViolation);
    expect(fed.p("a").rememberedJobIds).toBe(1);
    expect(() => j.advertise(["a"])).toThrow(/already seen/);
    clock += 61_000;
    fed.p("a").dropExpiredJobs();
    expect(fed.p("a").rememberedJobIds).toBe(1);
    clock += ENDED_JOB_MEMORY_MS;
    fed.p("a").dropExpiredJobs();
    expect(fed.p("a").rememberedJobIds).toBe(0);
  });

  it("will not start with an identity key that does not match its roster entry", () => {
    const fed = federation(FIVE);
    expect(() => new SecAggParticipant({ name: "a", identitySecretKey: ed25519.keygen().secretKey, roster: fed.roster })).toThrow(BadInput);
    expect(() => new SecAggParticipant({ name: "a", identitySecretKey: fed.identities[0].secretKey, roster: fed.roster, minStations: 2 })).toThrow(BadInput);
  });
});

describe("round 1: advertisements are checked against the station's own roster", () => {
  it("refuses a forged advertisement signature", () => {
    const fed = federation(FIVE);
    const j = job(fed);
    const ads = j.advertise();
    ads[1] = { ...ads[1], signature: ads[1].signature.map((b, i) => (i === 0 ? b ^ 1 : b)) };
    expect(() => j.share(ads, ["a"])).toThrow(ProtocolViolation);
    expect(() => fed.p("c").shareKeys({ jobId: j.jobId, advertisements: ads })).toThrow(/advertisement of b has no valid signature by b's identity key/);
  });

  it("refuses an advertisement whose keys the coordinator replaced", () => {
    const fed = federation(FIVE);
    const j = job(fed);
    const ads = j.advertise();
    ads[2] = { ...ads[2], maskingPublicKey: generateKeyPair().publicKey };
    expect(() => j.share(ads, ["a"])).toThrow(/advertisement of c has no valid signature/);
  });

  it("refuses an advertisement signed with a key that is not on the roster", () => {
    const fed = federation(FIVE);
    // The coordinator makes its own keys for "b" and signs them like b would, with a key of its own.
    const impersonate = (signingKey: Uint8Array) => {
      const j = job(fed);
      const ads = j.advertise();
      const fake = { station: "b", encryptionPublicKey: generateKeyPair().publicKey, maskingPublicKey: generateKeyPair().publicKey };
      const statement = encodeFields("werkplaats/secagg/v1/advertise-keys", [context, j.jobId, FIVE, 3, j.terms.deadlineMs, "b", fake.encryptionPublicKey, fake.maskingPublicKey]);
      ads[1] = { ...fake, signature: ed25519.sign(statement, signingKey) };
      return () => j.share(ads, ["a"]);
    };
    expect(impersonate(ed25519.keygen().secretKey)).toThrow(/advertisement of b has no valid signature/);
    // Not vacuous: the same statement signed with b's real identity key is accepted.
    expect(impersonate(fed.identities[1].secretKey)).not.toThrow();
  });

  it("refuses an advertisement from a station not on the roster", () => {
    const fed = federation(FIVE);
    const j = job(fed);
    const ads = j.advertise();
    const mallory = { ...ads[1], station: "mallory" };
    expect(() => j.share([...ads, mallory], ["a"])).toThrow(/advertisement from mallory, who is not on the roster/);
  });

  it("refuses duplicate advertisements, a missing own advertisement, and fewer than t", () => {
    const fed = federation(FIVE);
    const j1 = job(fed);
    const ads1 = j1.advertise();
    expect(() => j1.share([...ads1, ads1[3]], ["a"])).toThrow(/two advertisements from d/);
    const j2 = job(fed);
    const ads2 = j2.advertise();
    expect(() => fed.p("a").shareKeys({ jobId: j2.jobId, advertisements: ads2.slice(1) })).toThrow(/own advertisement is missing/);
    const j3 = job(fed);
    const ads3 = j3.advertise();
    expect(() => j3.share(ads3.slice(0, 2), ["a"])).toThrow(/only 2 stations advertised keys, below the threshold 3/);
  });

  it("refuses advertisements replayed from an earlier job", () => {
    const fed = federation(FIVE);
    const earlier = job(fed);
    const oldAds = earlier.advertise();
    const later = job(fed);
    const newAds = later.advertise();
    const replayed = newAds.map((ad, i) => (i === 3 ? oldAds[3] : ad));
    expect(() => fed.p("a").shareKeys({ jobId: later.jobId, advertisements: replayed })).toThrow(/advertisement of d has no valid signature .*other job terms/);
  });

  it("refuses advertisements signed for a different threshold or station list (split view)", () => {
    const fed = federation(FIVE);
    const jobId = randomBytes(8).toString("hex");
    const base = { jobId, context, stations: FIVE, deadlineMs: Date.now() + 60_000 };
    const adA = fed.p("a").advertiseKeys({ ...base, threshold: 3 }).advertisement;
    const others = ["b", "c", "d", "e"].map((n) => fed.p(n).advertiseKeys({ ...base, threshold: 4 }).advertisement);
    expect(() => fed.p("a").shareKeys({ jobId, advertisements: [adA, ...others] })).toThrow(/no valid signature/);
  });
});

describe("round 2: encrypted shares", () => {
  it("refuses a tampered ciphertext, and aborts the job", () => {
    const fed = federation(FIVE);
    const j = job(fed);
    const shares = j.share(j.advertise());
    const toA = shares.filter((c) => c.receiver === "a");
    toA[0] = { ...toA[0], ciphertext: toA[0].ciphertext.map((b, i) => (i === 40 ? b ^ 0x80 : b)) };
    expect(() => fed.p("a").maskedInput({ jobId: j.jobId, encryptedShares: toA }, new Float64Array(1))).toThrow(/fail authentication/);
    expect(() => fed.p("a").maskedInput({ jobId: j.jobId, encryptedShares: toA }, new Float64Array(1))).toThrow(/aborted/);
    expect(fed.p("a").activeJobs).toEqual([]);
  });

  it("refuses a ciphertext redirected to another station", () => {
    const fed = federation(FIVE);
    const j = job(fed);
    const shares = j.share(j.advertise());
    const toA = shares.filter((c) => c.receiver === "a");
    const stolen = shares.find((c) => c.receiver === "c" && c.sender === "e")!;
    const redirected = toA.map((c) => (c.sender === "e" ? { ...stolen, receiver: "a" } : c));
    expect(() => fed.p("a").maskedInput({ jobId: j.jobId, encryptedShares: redirected }, new Float64Array(1))).toThrow(ProtocolViolation);
  });

  it("refuses ciphertexts replayed from an earlier job", () => {
    const fed = federation(FIVE);
    const earlier = job(fed);
    const oldShares = earlier.share(earlier.advertise());
    const later = job(fed);
    const newShares = later.share(later.advertise());
    const toA = newShares.filter((c) => c.receiver === "a").map((c) => (c.sender === "b" ? oldShares.find((o) => o.sender === "b" && o.receiver === "a")! : c));
    expect(() => fed.p("a").maskedInput({ jobId: later.jobId, encryptedShares: toA }, new Float64Array(1))).toThrow(/fail authentication/);
  });

  it("refuses shares from a station that did not advertise, duplicates, and fewer than t", () => {
    const fed = federation(FIVE);
    const j = job(fed);
    const ads = j.advertise();
    const shares = j.share(ads.filter((a) => a.station !== "e"));
    const toA = shares.filter((c) => c.receiver === "a");
    expect(() => fed.p("a").maskedInput({ jobId: j.jobId, encryptedShares: [...toA, toA[0]] }, new Float64Array(1))).toThrow(/two sets of encrypted shares from b/);
    const j1 = job(fed);
    const shares1 = j1.share(j1.advertise().filter((a) => a.station !== "e"));
    const claimed = shares1.filter((c) => c.receiver === "a").map((c) => (c.sender === "b" ? { ...c, sender: "e" } : c));
    expect(() => fed.p("a").maskedInput({ jobId: j1.jobId, encryptedShares: claimed }, new Float64Array(1))).toThrow(/from e, who did not advertise keys/);
    const j2 = job(fed);
    const shares2 = j2.share(j2.advertise());
    const fromOne = shares2.filter((c) => c.receiver === "a").slice(0, 1);
    expect(() => fed.p("a").maskedInput({ jobId: j2.jobId, encryptedShares: fromOne }, new Float64Array(1))).toThrow(/below the threshold 3/);
  });

  it("refuses rounds out of order", () => {
    const fed = federation(FIVE);
    const j = job(fed);
    j.advertise();
    expect(() => fed.p("a").maskedInput({ jobId: j.jobId, encryptedShares: [] }, new Float64Array(1))).toThrow(/expected shareKeys, got maskedInput/);
    expect(() => fed.p("b").unmask({ jobId: j.jobId, signatures: [] })).toThrow(/expected shareKeys, got unmask/);
    expect(() => fed.p("c").consistencyCheck({ jobId: "never-started", survivors: FIVE })).toThrow(/no active job never-started/);
  });
});

describe("rounds 3 and 4: a station never reveals both shares of a peer", () => {
  /** Honest run up to signatures, with `dropped` not sending masked input. */
  function upToUnmask(fed: Federation, dropped: string[]) {
    const j = job(fed);
    const shares = j.share(j.advertise());
    const survivors = FIVE.filter((n) => !dropped.includes(n));
    j.mask(shares, survivors);
    return { j, survivors, signatures: j.sign(survivors) };
  }

  it("reveals b-shares for survivors and s-shares for the dropped, never both", () => {
    const fed = federation(FIVE);
    const { j, survivors, signatures } = upToUnmask(fed, ["e"]);
    for (const n of survivors) {
      const revealed: UnmaskResponse = fed.p(n).unmask({ jobId: j.jobId, signatures });
      expect(revealed.selfMaskShares.map((s) => s.station).sort()).toEqual(survivors);
      expect(revealed.maskingKeyShares.map((s) => s.station)).toEqual(["e"]);
    }
  });

  it("refuses a second unmask request for the same job", () => {
    const fed = federation(FIVE);
    const { j, signatures } = upToUnmask(fed, ["e"]);
    fed.p("a").unmask({ jobId: j.jobId, signatures });
    expect(() => fed.p("a").unmask({ jobId: j.jobId, signatures })).toThrow(/no active job .*it already finished/);
  });

  it("signs only one survivor set per job", () => {
    const fed = federation(FIVE);
    const j = job(fed);
    j.mask(j.share(j.advertise()), FIVE);
    fed.p("a").consistencyCheck({ jobId: j.jobId, survivors: FIVE });
    expect(() => fed.p("a").consistencyCheck({ jobId: j.jobId, survivors: ["a", "b", "c"] })).toThrow(/expected unmask, got consistencyCheck/);
  });

  it("refuses an unmask whose signatures are over another survivor set (inconsistent views)", () => {
    // The coordinator tells a, b, c that everyone survived (to collect b_e shares) and tells d, e
    // that … well, e is the victim: it tells d that e dropped (to collect s_e shares).
    const fed = federation(FIVE);
    const j = job(fed);
    j.mask(j.share(j.advertise()), FIVE);
    const all = j.sign(FIVE, ["a", "b", "c"]);
    const withoutE = j.sign(["a", "b", "c", "d"], ["d"]);
    expect(() => fed.p("d").unmask({ jobId: j.jobId, signatures: [...all, ...withoutE] })).toThrow(
      /a's signature is not over the survivor set this station signed/,
    );
    // d alone cannot make t signatures over its view.
    const j2 = job(fed);
    j2.mask(j2.share(j2.advertise()), FIVE);
    const lone = j2.sign(["a", "b", "c", "d"], ["d"]);
    expect(() => fed.p("d").unmask({ jobId: j2.jobId, signatures: lone })).toThrow(/1 valid survivor signatures, below the threshold 3/);
  });

  it("refuses forged, duplicated or outsider survivor signatures", () => {
    const fed = federation(FIVE);
    const { j, survivors, signatures } = upToUnmask(fed, ["e"]);
    const forged = signatures.map((s, i) => (i === 1 ? { ...s, signature: new Uint8Array(64) } : s));
    expect(() => fed.p("a").unmask({ jobId: j.jobId, signatures: forged })).toThrow(ProtocolViolation);
    const { j: j2, signatures: s2 } = upToUnmask(fed, ["e"]);
    expect(() => fed.p("a").unmask({ jobId: j2.jobId, signatures: [...s2, s2[0]] })).toThrow(/two signatures from a/);
    const { j: j3, signatures: s3 } = upToUnmask(fed, ["e"]);
    expect(() => fed.p("a").unmask({ jobId: j3.jobId, signatures: [...s3, { station: "e", signature: s3[0].signature }] })).toThrow(
      /signature from e, who is not in the survivor set/,
    );
    expect(survivors).toHaveLength(4);
  });

  it("refuses a survivor set that leaves itself out, names strangers, or is below t", () => {
    const fed = federation(FIVE);
    const j = job(fed);
    const ads = j.advertise();
    const shares = j.share(ads.filter((a) => a.station !== "e"), ["a", "b", "c", "d"]);
    j.mask(shares, ["a", "b", "c", "d"]);
    expect(() => fed.p("a").consistencyCheck({ jobId: j.jobId, survivors: ["a", "b", "e"] })).toThrow(/did not share keys with this station: e/);
    expect(() => fed.p("b").consistencyCheck({ jobId: j.jobId, survivors: ["a", "c", "d"] })).toThrow(/leaves out this station/);
    expect(() => fed.p("c").consistencyCheck({ jobId: j.jobId, survivors: ["c", "d"] })).toThrow(/below the threshold 3/);
  });
});

describe("job lifetime", () => {
  it("drops a job's secrets at its deadline; a late call gets a clear error", () => {
    let clock = 1_000_000;
    const fed = federation(FIVE, () => clock);
    const j = job(fed, { deadlineMs: clock + 5_000 });
    const ads = j.advertise();
    expect(fed.p("a").activeJobs).toEqual([j.jobId]);
    clock += 5_001;
    expect(() => fed.p("a").shareKeys({ jobId: j.jobId, advertisements: ads })).toThrow(/its deadline passed/);
    expect(fed.p("a").activeJobs).toEqual([]);
    fed.p("b").dropExpiredJobs();
    expect(fed.p("b").activeJobs).toEqual([]);
  });

  it("makes fresh keys for every job", () => {
    const fed = federation(FIVE);
    const first = job(fed).advertise(["a"])[0];
    const second = job(fed).advertise(["a"])[0];
    expect(Buffer.from(first.maskingPublicKey).equals(Buffer.from(second.maskingPublicKey))).toBe(false);
    expect(Buffer.from(first.encryptionPublicKey).equals(Buffer.from(second.encryptionPublicKey))).toBe(false);
  });

  it("treats malformed messages as protocol violations", () => {
    const fed = federation(FIVE);
    expect(() => fed.p("a").advertiseKeys(null as unknown as AdvertiseKeysRequest)).toThrow(ProtocolViolation);
    expect(() => fed.p("a").advertiseKeys({ ...job(fed).terms, jobId: "has spaces" })).toThrow(/is not of the form/);
    expect(() => fed.p("a").advertiseKeys({ ...job(fed).terms, context: "x" as unknown as Uint8Array })).toThrow(/context must be bytes/);
    const j = job(fed);
    j.advertise();
    expect(() => fed.p("a").shareKeys({ jobId: j.jobId, advertisements: "all" as unknown as KeyAdvertisement[] })).toThrow(/must be a list/);
  });
});

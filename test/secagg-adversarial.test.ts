/**
 * A malicious coordinator drives the stations by hand and tries what the active-adversary variant
 * of Bonawitz et al. must withstand — and, in protocol v2, what the release round must: partial,
 * altered or swapped masked inputs. Every attempt must be refused with ProtocolViolation.
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
  type MaskedInputResponse,
  type ReleaseBody,
  type SignedMaskedInput,
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
    mask: (all: EncryptedShares[], names: string[], input = new Float64Array([1, 2, 3])): SignedMaskedInput[] =>
      names.map((n) => ({ station: n, ...(fed.p(n).maskedInput({ jobId, encryptedShares: all.filter((c) => c.receiver === n) }, input) as MaskedInputResponse) })),
    release: (n: string, maskedInputs: SignedMaskedInput[]) => fed.p(n).release({ jobId, maskedInputs }, releaseAll),
  };
}

const releaseAll = (sum: Float64Array): ReleaseBody => ({ values: new Float64Array(sum), withheld: new Uint8Array(sum.length), notes: [] });

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
    expect(() => fed.p("a").advertiseKeys(job(fed, { stations: ["a", "b"] }).terms)).toThrow(/requires at least 3/);
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
    const masked = honest.mask(shares, FIVE);
    for (const n of FIVE) honest.release(n, masked);
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
      const statement = encodeFields("werkplaats/secagg/v2/advertise-keys", [context, j.jobId, FIVE, j.terms.deadlineMs, "b", fake.encryptionPublicKey, fake.maskingPublicKey]);
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

  it("refuses duplicate advertisements, a missing own advertisement, and a missing station", () => {
    const fed = federation(FIVE);
    const j1 = job(fed);
    const ads1 = j1.advertise();
    expect(() => j1.share([...ads1, ads1[3]], ["a"])).toThrow(/two advertisements from d/);
    const j2 = job(fed);
    const ads2 = j2.advertise();
    expect(() => fed.p("a").shareKeys({ jobId: j2.jobId, advertisements: ads2.slice(1) })).toThrow(/own advertisement is missing/);
    const j3 = job(fed);
    const ads3 = j3.advertise();
    expect(() => j3.share(ads3.slice(0, 4), ["a"])).toThrow(/no advertisement from e; every station of the job must take part/);
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

  it("refuses advertisements signed for a different deadline (split view)", () => {
    const fed = federation(FIVE);
    const jobId = randomBytes(8).toString("hex");
    const base = { jobId, context, stations: FIVE };
    const adA = fed.p("a").advertiseKeys({ ...base, deadlineMs: Date.now() + 60_000 }).advertisement;
    const others = ["b", "c", "d", "e"].map((n) => fed.p(n).advertiseKeys({ ...base, deadlineMs: Date.now() + 61_000 }).advertisement);
    expect(() => fed.p("a").shareKeys({ jobId, advertisements: [adA, ...others] })).toThrow(/no valid signature/);
  });
});

describe("round 2: sealed pad seeds", () => {
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

  it("refuses duplicate seeds, seeds claimed by a stranger, and a missing seed (no partial sum)", () => {
    const fed = federation(FIVE);
    const j = job(fed);
    const shares = j.share(j.advertise());
    const toA = shares.filter((c) => c.receiver === "a");
    expect(() => fed.p("a").maskedInput({ jobId: j.jobId, encryptedShares: [...toA, toA[0]] }, new Float64Array(1))).toThrow(/two sealed pad seeds from b/);
    const j1 = job(fed);
    const shares1 = j1.share(j1.advertise());
    const claimed = shares1.filter((c) => c.receiver === "a").map((c) => (c.sender === "b" ? { ...c, sender: "mallory" } : c));
    expect(() => fed.p("a").maskedInput({ jobId: j1.jobId, encryptedShares: claimed }, new Float64Array(1))).toThrow(/from mallory, who is not another station of this job/);
    const j2 = job(fed);
    const shares2 = j2.share(j2.advertise());
    const withoutE = shares2.filter((c) => c.receiver === "a" && c.sender !== "e");
    expect(() => fed.p("a").maskedInput({ jobId: j2.jobId, encryptedShares: withoutE }, new Float64Array(1))).toThrow(/no pad seed from e; every station of the job must take part/);
  });

  it("refuses rounds out of order", () => {
    const fed = federation(FIVE);
    const j = job(fed);
    j.advertise();
    expect(() => fed.p("a").maskedInput({ jobId: j.jobId, encryptedShares: [] }, new Float64Array(1))).toThrow(/expected shareKeys, got maskedInput/);
    expect(() => fed.p("b").release({ jobId: j.jobId, maskedInputs: [] }, releaseAll)).toThrow(/expected shareKeys, got release/);
    expect(() => fed.p("c").release({ jobId: "never-started", maskedInputs: [] }, releaseAll)).toThrow(/no active job never-started/);
  });
});

describe("round 3: a station releases only the sum of every station's signed masked input", () => {
  function upToRelease(fed: Federation, input?: Float64Array) {
    const j = job(fed);
    const masked = j.mask(j.share(j.advertise()), FIVE, input);
    return { j, masked };
  }

  it("releases the exact sum when given every station's signed masked input, in any order", () => {
    const fed = federation(FIVE);
    const { j, masked } = upToRelease(fed, new Float64Array([1, 2, 3]));
    const first = j.release("a", masked);
    const second = j.release("b", [...masked].reverse());
    const values = new Float64Array(first.release.values.buffer.slice(0));
    expect(Array.from(new Float64Array(values.buffer))).toEqual([5, 10, 15]);
    expect(Buffer.from(first.release.values).equals(Buffer.from(second.release.values))).toBe(true);
  });

  it("refuses a partial set: a station's masked input left out (the differencing attack)", () => {
    const fed = federation(FIVE);
    const { j, masked } = upToRelease(fed);
    expect(() => j.release("a", masked.filter((m) => m.station !== "e"))).toThrow(/no masked input from e; nothing is released without every station/);
    expect(fed.p("a").activeJobs).toEqual([]);
  });

  it("refuses an altered, swapped, re-signed or replayed masked input", () => {
    const fed = federation(FIVE);
    const alter = (m: SignedMaskedInput) => ({ ...m, maskedVector: m.maskedVector.map((b, i) => (i === 0 ? b ^ 1 : b)) });
    const one = upToRelease(fed);
    expect(() => one.j.release("a", one.masked.map((m) => (m.station === "c" ? alter(m) : m)))).toThrow(/masked input of c has no valid signature by c/);
    const two = upToRelease(fed);
    const swapped = two.masked.map((m) => (m.station === "c" ? { ...m, maskedVector: two.masked[3].maskedVector, signature: two.masked[3].signature } : m));
    expect(() => two.j.release("a", swapped)).toThrow(/masked input of c has no valid signature/);
    // Re-signed by the coordinator with a key of its own.
    const three = upToRelease(fed);
    const resigned = three.masked.map((m) => (m.station === "d" ? { ...alter(m), signature: ed25519.sign(alter(m).maskedVector, ed25519.keygen().secretKey) } : m));
    expect(() => three.j.release("a", resigned)).toThrow(/masked input of d has no valid signature/);
    // From an earlier job of the same stations.
    const earlier = upToRelease(fed);
    const later = upToRelease(fed);
    expect(() => later.j.release("a", later.masked.map((m, i) => (i === 1 ? earlier.masked[1] : m)))).toThrow(/masked input of b has no valid signature/);
  });

  it("refuses duplicate or stranger masked inputs, and a second release", () => {
    const fed = federation(FIVE);
    const one = upToRelease(fed);
    expect(() => one.j.release("a", [...one.masked, one.masked[2]])).toThrow(/two masked inputs from c/);
    const two = upToRelease(fed);
    expect(() => two.j.release("a", [...two.masked, { ...two.masked[0], station: "mallory" }])).toThrow(/from mallory, who is not a station of this job/);
    const three = upToRelease(fed);
    three.j.release("a", three.masked);
    expect(() => three.j.release("a", three.masked)).toThrow(/no active job .*it already finished/);
  });

  it("a station's release signature binds the job and the release bytes", () => {
    const fed = federation(FIVE);
    const { j, masked } = upToRelease(fed);
    const a = j.release("a", masked);
    const b = j.release("b", masked);
    expect(Buffer.from(a.signature).equals(Buffer.from(b.signature))).toBe(false);
    expect(a.signature).toHaveLength(64);
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

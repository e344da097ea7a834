/**
 * Attack family: learning one station's part of a result (issue 14, attack 1), by a curious
 * analyst with a valid study key, against real station processes. The analyst runs the SDK, and
 * where the attack needs it, a coordinator of its own built from secagg/ that drives the rounds by
 * hand and deviates where it likes.
 *
 * Each test asserts that the attacker learns nothing: the stations refuse, or what they release
 * is the full sum it could have had anyway — never a partial sum, never one station's part.
 *
 * Data: four stations; only "gp" has clients under 65, so `age < 65` selects rows at one station.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WerkplaatsError } from "../../common/errors.js";
import type { JobSpec } from "../../common/job.js";
import { jobDigest } from "../../common/job-digest.js";
import { jobToWire } from "../../common/wire.js";
import { aggregate } from "../../sdk/aggregation.js";
import { loadResearcherKeys } from "../../sdk/auth/researcher-keys.js";
import { Federation } from "../../sdk/federation.js";
import { LocalFederation } from "../../sdk/local-federation.js";
import { StationClient } from "../../sdk/station-client.js";
import { releaseFromMessage, type AdvertiseKeysResponse, type KeyAdvertisement, type MaskedInputResponse, type ReleaseResponse, type ShareKeysResponse, type SignedMaskedInput } from "../../secagg/index.js";
import { seededRandom } from "../helpers/random.js";

const STATIONS = ["gp", "homecare", "hospital", "pharmacy"];
const TARGET = "hospital";
const TIMEOUT_MS = 20_000;

let work: string;
let local: LocalFederation;
let clients: StationClient[];
/** Per station, the rows as written: ages and medicines. */
const rows = new Map<string, Array<{ age: number; meds: number }>>();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-privacy-part-"));
  const rand = seededRandom(14);
  const files = STATIONS.map((name) => {
    const list = Array.from({ length: 120 }, (_, i) => {
      // gp: 100 clients of 40..64 and 20 of 65..99; elsewhere everyone is 65 or older.
      const age = name === "gp" && i < 100 ? 40 + Math.floor(rand() * 25) : 65 + Math.floor(rand() * 35);
      return { age, meds: Math.floor(rand() * 12) };
    });
    rows.set(name, list);
    const file = join(work, `${name}.csv`);
    writeFileSync(file, "age,num_medications\n" + list.map((r) => `${r.age},${r.meds}`).join("\n") + "\n");
    return { name, file };
  });
  local = await LocalFederation.start({ dir: join(work, "stations"), stations: files.map((f) => ({ name: f.name, datasets: { clients: f.file } })) });
  const researcher = { secretKey: loadResearcherKeys(local.federation.key!).secretKey, study: local.federation.study! };
  clients = await Promise.all(local.federation.stations.map((s) => StationClient.create(s, researcher, TIMEOUT_MS)));
}, 180_000);

afterAll(async () => {
  clients?.forEach((c) => c.close());
  await local?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Sum of medicines and count of rows with age ≥ 70, over the named stations: what the jobs compute. */
function plain(stations: readonly string[]): { count: number; meds: number } {
  let count = 0;
  let meds = 0;
  for (const s of stations) for (const r of rows.get(s)!) if (r.age >= 70) (count++, (meds += r.meds));
  return { count, meds };
}

const older: JobSpec = {
  dataset: "clients",
  where: { kind: "compare", column: "age", op: ">=", value: { kind: "number", value: 70 } },
  computation: { kind: "moments", column: "num_medications", by: [] },
};

let jobCounter = 0;

/** Outcome of one round at one station: its answer, or the refusal it gave. */
type Outcome<T> = { station: string; answer?: T; refusal?: WerkplaatsError };

async function ask<T>(list: readonly StationClient[], method: string, request: (name: string) => unknown): Promise<Array<Outcome<T>>> {
  return Promise.all(
    list.map(async (c) => {
      try {
        return { station: c.name, answer: (await c.call(method, request(c.name), TIMEOUT_MS)) as T };
      } catch (error) {
        if (error instanceof WerkplaatsError) return { station: c.name, refusal: error };
        throw error;
      }
    }),
  );
}

/**
 * The attacker's coordinator: honest rounds 0–2 over `stations` (unless `skipMasked` names a
 * station it never asks for masked input), then in round 3 it sends each station whatever
 * `tamper` makes of the signed masked inputs it has. Returns what each station answered.
 */
async function maliciousJob(options: {
  job: JobSpec;
  stations?: readonly string[];
  skipMasked?: string;
  releaseTo?: readonly string[];
  tamper?: (inputs: SignedMaskedInput[], receiver: string) => SignedMaskedInput[];
}) {
  const names = options.stations ?? STATIONS;
  const list = clients.filter((c) => names.includes(c.name));
  const jobId = `attack-${process.pid}-${++jobCounter}`;
  const terms = { jobId, context: jobDigest(options.job), stations: [...names], deadlineMs: Date.now() + 120_000 };
  const started = await ask<{ secagg: AdvertiseKeysResponse }>(list, "StartJob", () => ({ job: jobToWire(options.job), secagg: terms }));
  if (started.some((o) => o.refusal)) return { phase: "advertiseKeys" as const, outcomes: started };
  const ads: KeyAdvertisement[] = started.map((o) => o.answer!.secagg.advertisement);
  const shared = await ask<ShareKeysResponse>(list, "ShareKeys", () => ({ jobId, advertisements: ads }));
  if (shared.some((o) => o.refusal)) return { phase: "shareKeys" as const, outcomes: shared };
  const sealed = shared.flatMap((o) => o.answer!.encryptedShares);
  const maskedAt = list.filter((c) => c.name !== options.skipMasked);
  const masked = await ask<MaskedInputResponse>(maskedAt, "MaskedInput", (name) => ({ jobId, encryptedShares: sealed.filter((s) => s.receiver === name) }));
  if (masked.some((o) => o.refusal)) return { phase: "maskedInput" as const, outcomes: masked };
  const inputs: SignedMaskedInput[] = masked.map((o) => ({ station: o.station, maskedVector: o.answer!.maskedVector, signature: o.answer!.signature }));
  const releaseAt = list.filter((c) => (options.releaseTo ?? names).includes(c.name));
  const released = await ask<ReleaseResponse>(releaseAt, "Release", (name) => ({ jobId, maskedInputs: options.tamper ? options.tamper(inputs, name) : inputs }));
  return { phase: "release" as const, outcomes: released };
}

/** The attacker learns nothing from a round in which every station refused. */
function expectAllRefused(outcomes: Array<Outcome<unknown>>, pattern?: RegExp) {
  for (const o of outcomes) {
    expect(o.answer, `${o.station} answered`).toBeUndefined();
    expect(o.refusal).toBeInstanceOf(WerkplaatsError);
    if (pattern) expect(o.refusal!.message).toMatch(pattern);
  }
}

/** Moments layout: [n, Σx, Σx², …]; only n and Σx are compared. */
function releasedValues(outcome: Outcome<ReleaseResponse>): Float64Array {
  return releaseFromMessage(outcome.answer!.release, "release").values;
}

describe("(a) the same job twice, the second time without one station's masked input", () => {
  it("the honest job releases the full sum; the job that skips the hospital releases nothing at all", async () => {
    const full = await maliciousJob({ job: older });
    expect(full.phase).toBe("release");
    const expected = plain(STATIONS);
    for (const o of full.outcomes) {
      const v = releasedValues(o as Outcome<ReleaseResponse>);
      expect([v[0], v[1]]).toEqual([expected.count, expected.meds]);
    }

    // Never asking the hospital for masked input: the others refuse to unmask without it.
    const skipped = await maliciousJob({ job: older, skipMasked: TARGET });
    expect(skipped.phase).toBe("release");
    expect(skipped.outcomes.map((o) => o.station)).toEqual(STATIONS);
    expectAllRefused(skipped.outcomes);
    for (const o of skipped.outcomes.filter((x) => x.station !== TARGET)) expect(o.refusal!.message).toMatch(new RegExp(`no masked input from ${TARGET}`));
    // The hospital itself was never asked for masked input, so it refuses a release out of turn.
    expect(skipped.outcomes.find((o) => o.station === TARGET)!.refusal!.message).toMatch(/expected maskedInput, got release/);
  });

  it("leaving the hospital's masked input out of the release round only (it did send one) releases nothing either", async () => {
    const partial = await maliciousJob({ job: older, tamper: (inputs) => inputs.filter((i) => i.station !== TARGET) });
    expectAllRefused(partial.outcomes, new RegExp(`no masked input from ${TARGET}`));
  });

  it("not asking the hospital to release gets the others' releases of the full sum, never of a partial one", async () => {
    const without = await maliciousJob({ job: older, releaseTo: STATIONS.filter((s) => s !== TARGET) });
    const expected = plain(STATIONS);
    expect(without.outcomes).toHaveLength(3);
    for (const o of without.outcomes) {
      const v = releasedValues(o as Outcome<ReleaseResponse>);
      // The full sum again: differencing it against the first job gives zero, not the hospital's part.
      expect([v[0], v[1]]).toEqual([expected.count, expected.meds]);
    }
  });

  it("through the SDK, a hospital that is gone ends the job without any result, naming it", async () => {
    const error = await aggregate({
      job: older,
      stations: clients,
      vectorLength: 4,
      minStations: 3,
      timeoutMs: TIMEOUT_MS,
      retries: 0,
      // The attacker's own SDK could not do better: a station missing in any round means no result.
      onPhase: (report) => {
        if (report.phase === "shareKeys") local.kill(TARGET, "SIGSTOP");
      },
    }).catch((e: unknown) => e);
    local.kill(TARGET, "SIGCONT");
    expect(error).toBeInstanceOf(WerkplaatsError);
    expect((error as Error).message).toContain(TARGET);
    expect((error as { code: string }).code).toBe("TOO_FEW_STATIONS");
  }, 120_000);
});

describe("(b) three jobs, each over a different pair (or triple) of stations", () => {
  it("every station refuses at StartJob, naming the missing stations, before computing anything", async () => {
    const pairs = [
      ["gp", "homecare"],
      ["homecare", "hospital"],
      ["gp", "hospital"],
    ];
    for (const pair of pairs) {
      const attempt = await maliciousJob({ job: older, stations: pair });
      expect(attempt.phase).toBe("advertiseKeys");
      // Below the minimum of three stations, or not the study's set: refused either way.
      expectAllRefused(attempt.outcomes);
    }
    const triples = [
      ["gp", "homecare", "hospital"],
      ["homecare", "hospital", "pharmacy"],
      ["gp", "hospital", "pharmacy"],
    ];
    for (const triple of triples) {
      const attempt = await maliciousJob({ job: older, stations: triple });
      expect(attempt.phase).toBe("advertiseKeys");
      const missing = STATIONS.find((s) => !triple.includes(s))!;
      expectAllRefused(attempt.outcomes, new RegExp(`must include exactly the stations gp, homecare, hospital, pharmacy; missing: ${missing}`));
      for (const o of attempt.outcomes) expect(o.refusal!.code).toBe("POLICY_REFUSED");
    }
  });
});

describe("(c) a second federation file that leaves one station out", () => {
  it("the three stations it lists refuse the job, naming the set; the four-station file still works", async () => {
    const full = await Federation.connect(local.federation);
    const fewer = await Federation.connect({ ...local.federation, stations: local.federation.stations.filter((s) => s.name !== TARGET) });
    try {
      const all = await full.dataset("clients").where("age >= 70").count();
      expect(all.total).toBe(plain(STATIONS).count);
      const error = await fewer.dataset("clients").where("age >= 70").count().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WerkplaatsError);
      expect((error as WerkplaatsError).code).toBe("POLICY_REFUSED");
      expect((error as Error).message).toMatch(new RegExp(`must include exactly the stations gp, homecare, hospital, pharmacy; missing: ${TARGET}`));
      // The refusal names stations, never a value of the data.
      expect((error as Error).message).not.toMatch(/\d{2,}/);
    } finally {
      full.close();
      fewer.close();
    }
  }, 120_000);
});

describe("(d) a filter that selects rows at one station only", () => {
  it("age < 65 (rows only at the gp) gives no result; age < 80 (rows at every station) does", async () => {
    const fed = await Federation.connect(local.federation);
    try {
      const error = await fed.dataset("clients").where("age < 65").count().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WerkplaatsError);
      expect((error as WerkplaatsError).code).toBe("POLICY_REFUSED");
      expect((error as Error).message).toMatch(/fewer than two stations: no station's part may be the whole result/);
      const mean = await fed.dataset("clients").where("age < 65").mean("num_medications").catch((e: unknown) => e);
      expect((mean as WerkplaatsError).code).toBe("POLICY_REFUSED");

      // Not vacuous: the gp's 100 rows are enough for its own checks, and a filter with rows at
      // several stations is answered.
      const wider = await fed.dataset("clients").where("age < 80").count();
      let expected = 0;
      for (const list of rows.values()) expected += list.filter((r) => r.age < 80).length;
      expect(wider.total).toBe(expected);
    } finally {
      fed.close();
    }
  }, 120_000);

  it("a coordinator of its own gets refusals from every station in the release round, the gp included", async () => {
    // age < 60: rows at the gp only, and far from the row sets released above (age < 80), so that
    // the differencing record has nothing to say and the release round is reached.
    const young: JobSpec = { ...older, where: { kind: "compare", column: "age", op: "<", value: { kind: "number", value: 60 } } };
    const attempt = await maliciousJob({ job: young });
    expect(attempt.phase).toBe("release");
    expectAllRefused(attempt.outcomes, /fewer than two stations/);
  });
});

describe("(e) a coordinator that shows the stations different masked vectors", () => {
  const flip = (input: SignedMaskedInput): SignedMaskedInput => {
    const maskedVector = new Uint8Array(input.maskedVector);
    maskedVector[0] ^= 1;
    return { ...input, maskedVector };
  };

  it("an altered y_j, a y_j re-signed with the attacker's key, or another station's y: refused by every station that sees it", async () => {
    const altered = await maliciousJob({ job: older, tamper: (inputs) => inputs.map((i) => (i.station === TARGET ? flip(i) : i)) });
    expectAllRefused(altered.outcomes, new RegExp(`masked input of ${TARGET} has no valid signature`));

    const { ed25519 } = await import("@noble/curves/ed25519.js");
    const attackerKey = ed25519.keygen().secretKey;
    const resigned = await maliciousJob({
      job: older,
      tamper: (inputs) => inputs.map((i) => (i.station === TARGET ? { ...flip(i), signature: ed25519.sign(flip(i).maskedVector, attackerKey) } : i)),
    });
    expectAllRefused(resigned.outcomes, /no valid signature/);

    // Split view: each station is shown the true set except for its own neighbour's vector, which
    // is replaced by a copy of another station's (signed) vector.
    const split = await maliciousJob({
      job: older,
      tamper: (inputs, receiver) => {
        const victim = STATIONS[(STATIONS.indexOf(receiver) + 1) % STATIONS.length];
        const donor = inputs.find((i) => i.station !== victim)!;
        return inputs.map((i) => (i.station === victim ? { ...donor, station: victim } : i));
      },
    });
    expectAllRefused(split.outcomes, /no valid signature/);
  });

  it("the stations' release round never answers a partial vector, whatever order or duplicates the coordinator sends", async () => {
    const duplicated = await maliciousJob({
      job: older,
      tamper: (inputs) => [...inputs.filter((i) => i.station !== TARGET), inputs.find((i) => i.station === "gp")!],
    });
    expectAllRefused(duplicated.outcomes, /two masked inputs from gp/);
  });
});

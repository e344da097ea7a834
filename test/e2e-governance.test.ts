/**
 * Governance through real station processes: every refusal comes from the station's own policy,
 * over TLS and signed requests, and every request lands in a verifiable audit log.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ed25519 } from "@noble/curves/ed25519.js";
import { Federation, StationError } from "../sdk/index.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { verifyAuditLog } from "../station-daemon/governance/audit-log.js";
import { writeScenario } from "../synth/index.js";

let work: string;
let local: LocalFederation;
let fed: Federation;
let stations: string[];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-gov-"));
  const data = await writeScenario({ scenario: "fall-risk", stations: 3, rows: 1500, seed: 3, out: join(work, "data") });
  stations = data.files.map((f) => basename(f, ".csv"));
  local = await LocalFederation.start({
    dir: join(work, "stations"),
    stations: data.files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })),
    // A study that may count and average, but not fit models, and sees no income column.
    policy: (researcherKey) => ({
      version: 1,
      studies: [
        {
          id: "local",
          purpose: "governance test",
          dpia: "DPIA-TEST-1",
          expires: "2099-12-31",
          researchers: [{ name: "test analyst", key: researcherKey }],
          datasets: [{ name: "fall_risk", columns: ["age", "sex", "lives_alone", "diabetes", "neighbourhood", "district", "num_medications", "fell_12m"] }],
          computations: ["count", "moments"],
        },
      ],
    }),
  });
  fed = await local.connect({ timeoutMs: 10_000 });
});

afterAll(async () => {
  fed?.close();
  await local?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function refusal(promise: Promise<unknown>): Promise<StationError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(StationError);
  expect((err as StationError).code).toBe("POLICY_REFUSED");
  return err as StationError;
}

describe("station policy over the wire", () => {
  it("shows the study only the columns released to it", async () => {
    const ds = (await fed.datasets()).find((d) => d.name === "fall_risk")!;
    expect(ds.columns.map((c) => c.name)).not.toContain("income_quintile");
    expect(ds.columns.map((c) => c.name)).toContain("age");
  });

  it("allows what the study allows", async () => {
    const result = await fed.dataset("fall_risk").where("age >= 65").count({ by: ["sex"] });
    expect(result.total).toBeGreaterThan(100);
  });

  it("refuses a column the study was not given", async () => {
    const err = await refusal(fed.dataset("fall_risk").where("income_quintile >= 3").count());
    expect(err.message).toMatch(/income_quintile/);
  });

  it("refuses a computation the study was not given", async () => {
    const err = await refusal(fed.dataset("fall_risk").glm("fell_12m ~ age", { family: "binomial" }));
    expect(err.message).toMatch(/glm/);
  });

  it("withholds a combined cell between 1 and the minimum cell size, naming why but not its value", async () => {
    const r = await fed.dataset("fall_risk").where('age >= 65 and sex == "M" and lives_alone and diabetes').count({ by: ["neighbourhood"] });
    const withheld = r.cells.filter((c) => c.withheld);
    expect(withheld.length).toBeGreaterThan(0);
    for (const c of withheld) {
      expect(c.count).toBeNull();
      expect(c.reason ?? "").not.toMatch(/\b[1-9] (rows|people|clients)\b/);
    }
    expect(withheld.some((c) => c.withheld === "primary")).toBe(true);
  });

  it("refuses a subset smaller than the minimum subset size", async () => {
    const err = await refusal(fed.dataset("fall_risk").where("age >= 97").count());
    expect(err.message).toMatch(/subset/);
  });

  it("refuses an unknown study and an unknown researcher", async () => {
    await expect(Federation.connect(local.federation, { study: "other-study" })).rejects.toMatchObject({ code: "POLICY_REFUSED" });
    const stranger = ed25519.utils.randomSecretKey();
    await expect(Federation.connect(local.federation, { key: stranger })).rejects.toMatchObject({ code: "POLICY_REFUSED" });
  });

  it("refuses to talk to a station whose certificate is not the pinned one", async () => {
    const [first, ...rest] = local.federation.stations;
    const impostor = { ...first, tlsFingerprint: rest[0].tlsFingerprint, certificate: undefined };
    const err = await Federation.connect({ ...local.federation, stations: [impostor, ...rest] }).catch((e: unknown) => e);
    // A configuration mistake (exit 3) as much as an impostor: named as the file's field, nothing sent.
    expect(err).toMatchObject({ code: "CONFIG_INVALID" });
    expect((err as Error).message).toMatch(/presented a different TLS certificate than .*stations\[0\]\.tlsFingerprint.*pins/);
  });
});

describe("audit log", () => {
  it("records every request with its outcome, and verifies intact after the station stops", async () => {
    fed.close();
    await local.stop();
    for (const name of stations) {
      const file = join(work, "stations", name, "audit.log");
      const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      const requests = lines.filter((l) => l.type === "request");
      const refused = requests.find((l) => l.outcome === "refused" && String(l.reason).includes("income_quintile"));
      // A refusal is logged with what was asked, not only that something was refused.
      expect(refused).toMatchObject({ method: "StartJob", computation: "count", dataset: "fall_risk", where: "income_quintile >= 3" });
      expect(requests.some((l) => l.outcome === "allowed" && l.method === "MaskedInput" && Number(l.bytes) > 0)).toBe(true);
      expect(requests.every((l) => typeof l.time === "string" && "researcher" in l && "study" in l)).toBe(true);
      const stationKey = readFileSync(join(work, "stations", name, "identity.pub"), "utf8").trim();
      const verification = verifyAuditLog({ file, stationKey });
      expect(verification.problems).toEqual([]);
      expect(verification.ok).toBe(true);
    }
  });
});

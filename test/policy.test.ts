import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { stationPolicyCommand } from "../cli/commands/station-policy.js";
import { ConfigInvalid, PolicyRefused } from "../common/errors.js";
import type { JobSpec } from "../common/job.js";
import type { Column, Table } from "../station-daemon/data/table.js";
import { checkDisclosure, checkRequest } from "../station-daemon/governance/policy-check.js";
import { DEFAULT_DISCLOSURE, checkPolicyStations, defaultPolicy, expectedStations, loadPolicy, validatePolicy } from "../station-daemon/governance/policy.js";
import { tempDir } from "./helpers/temp.js";

const alice = "a".repeat(64);
const bob = "b".repeat(64);
const NOW = Date.parse("2026-06-01T12:00:00Z");

const n = 100;
const regions = Array.from({ length: 45 }, (_, i) => `R${String(i).padStart(2, "0")}`);
const columns: Column[] = [
  { kind: "numeric", name: "age", values: Float64Array.from({ length: n }, (_, i) => 60 + (i % 40)) },
  { kind: "numeric", name: "income", values: Float64Array.from({ length: n }, (_, i) => 1000 * i) },
  { kind: "categorical", name: "sex", codes: Int32Array.from({ length: n }, (_, i) => i % 2), levels: ["F", "M"] },
  { kind: "categorical", name: "region", codes: Int32Array.from({ length: n }, (_, i) => i % 45), levels: regions },
  { kind: "boolean", name: "fell_12m", values: Float64Array.from({ length: n }, (_, i) => i % 3 === 0 ? 1 : 0) },
];
const table: Table = { name: "fall_risk", rowCount: n, columns: new Map(columns.map((c) => [c.name, c])) };

function policyJson(study: Record<string, unknown> = {}, top: Record<string, unknown> = {}) {
  return {
    version: 1,
    ...top,
    studies: [
      {
        id: "falls",
        purpose: "Risk factors for falls",
        dpia: "DPIA-2026-014",
        expires: "2026-12-31",
        researchers: [{ name: "Alice", key: alice }],
        datasets: [{ name: "fall_risk", columns: ["age", "sex", "fell_12m", "region"] }],
        computations: ["count", "moments", "glm"],
        ...study,
      },
      { id: "other", purpose: "Other", dpia: "DPIA-2", expires: "2026-12-31", researchers: [{ name: "Bob", key: bob }], datasets: "*", computations: "*" },
    ],
  };
}
const policy = validatePolicy(policyJson());

const count = (by: Array<{ column: string; levels: string[] }> = [], where?: JobSpec["where"]): JobSpec => ({ dataset: "fall_risk", where, computation: { kind: "count", by } });
const glm = (formula: string, levels: Record<string, string[]> = {}): JobSpec => ({
  dataset: "fall_risk",
  computation: { kind: "glm", formula, family: "binomial", link: "logit", levels, beta: [] },
});

function refused(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyRefused);
    return (err as Error).message;
  }
  throw new Error("expected a refusal");
}
const check = (job: JobSpec, over: Partial<Parameters<typeof checkRequest>[0]> = {}) =>
  checkRequest({ policy, study: "falls", researcherKey: alice, job, table, now: NOW, ...over });

describe("policy.json validation", () => {
  it("fills in DataSHIELD-or-stricter defaults", () => {
    expect(policy.disclosure).toEqual({ minCellSize: 10, minSubsetSize: 10, maxParametersPerRow: 0.33, maxLevels: 40, maxLeverage: 0.5, maxReleasedRowSets: 10_000, perStationCells: false });
    expect(policy.studies[0].perturbation).toBeUndefined();
    expect(policy.requestWindowMs).toBe(300_000);
    expect(policy.studies[0].expiresAt).toBe(Date.parse("2027-01-01T00:00:00Z"));
  });

  it("names the field of an unknown computation", () => {
    expect(() => validatePolicy(policyJson({ computations: ["count", "moments", "regression"] }), { file: "policy.json" })).toThrow(
      'policy.json: studies[0].computations[2]: "regression" is not a known computation (known: count, moments, crosstab, histogram, quantile, indicators, glm, glm_evaluate)',
    );
  });

  it("refuses a misspelt field instead of ignoring it, and suggests the right one", () => {
    const typo = policyJson();
    (typo.studies[0] as Record<string, unknown>).reseachers = (typo.studies[0] as Record<string, unknown>).researchers;
    delete (typo.studies[0] as Record<string, unknown>).researchers;
    expect(() => validatePolicy(typo)).toThrow(/studies\[0\]\.reseachers: is not a known field \(did you mean "researchers"\?\)/);
    expect(() => validatePolicy(policyJson({ datasets: [{ name: "fall_risk", colums: ["age"] }] }))).toThrow(/studies\[0\]\.datasets\[0\]\.colums: is not a known field/);
    expect(() => validatePolicy(policyJson({}, { disclosure: { minCelSize: 5 } }))).toThrow(/disclosure\.minCelSize: is not a known field/);
  });

  it("refuses disclosure limits looser than DataSHIELD's, and a study loosening the station's", () => {
    expect(() => validatePolicy(policyJson({}, { disclosure: { minCellSize: 2 } }))).toThrow(/disclosure\.minCellSize: must be a whole number from 3/);
    expect(() => validatePolicy(policyJson({}, { disclosure: { maxParametersPerRow: 0.5 } }))).toThrow(/maxParametersPerRow: must be a number above 0 and at most 0.33/);
    expect(() => validatePolicy(policyJson({ disclosure: { minCellSize: 5 } }))).toThrow(/studies\[0\]\.disclosure\.minCellSize: may not be below the station-wide 10/);
    expect(validatePolicy(policyJson({ disclosure: { minCellSize: 20 } })).studies[0].disclosure.minCellSize).toBe(20);
  });

  it("checks keys, dates, duplicate ids and, when known, datasets and columns", () => {
    expect(() => validatePolicy(policyJson({ researchers: [{ name: "A", key: "abc" }] }))).toThrow(/studies\[0\]\.researchers\[0\]\.key: must be the researcher's public key/);
    expect(() => validatePolicy(policyJson({ expires: "2026-02-30" }))).toThrow(/studies\[0\]\.expires: "2026-02-30" is not a calendar date/);
    expect(() => validatePolicy(policyJson({ id: "other" }))).toThrow(/studies\[1\]\.id: "other" is used by another study/);
    const datasets = new Map([["fall_risk", ["age", "sex", "fell_12m", "region", "income"]]]);
    expect(() => validatePolicy(policyJson({ datasets: [{ name: "fall_risk", columns: ["agee"] }] }), { datasets })).toThrow(
      /studies\[0\]\.datasets\[0\]\.columns\[0\]: "agee" is not a column of dataset fall_risk \(did you mean "age"\?\)/,
    );
    expect(() => validatePolicy(policyJson({ datasets: [{ name: "falls", columns: "*" }] }), { datasets })).toThrow(/"falls" is not a dataset of this station/);
  });

  it("makes a default policy for the demo that allows everything for one researcher", () => {
    const p = validatePolicy(defaultPolicy({ researcherKey: alice, now: new Date(NOW) }));
    expect(p.studies).toHaveLength(1);
    expect(p.studies[0]).toMatchObject({ id: "demo", datasets: "*", computations: "*", disclosure: DEFAULT_DISCLOSURE });
    expect(checkRequest({ policy: p, study: "demo", researcherKey: alice, job: glm("fell_12m ~ age + income"), table, now: NOW }).columns).toEqual(["fell_12m", "age", "income"]);
  });
});

describe("the fixed station set of a study and dataset", () => {
  const roster = ["gp", "homecare", "hospital", "pharmacy"];

  it("is the dataset's list, else the study's, else the whole roster", () => {
    const none = validatePolicy(policyJson()).studies[0];
    expect(expectedStations(none, "fall_risk", roster)).toEqual(roster);
    const study = validatePolicy(policyJson({ stations: ["gp", "homecare", "hospital"] })).studies[0];
    expect(expectedStations(study, "fall_risk", roster)).toEqual(["gp", "homecare", "hospital"]);
    const perDataset = validatePolicy(
      policyJson({
        stations: ["gp", "homecare", "hospital"],
        datasets: [
          { name: "fall_risk", columns: "*", stations: ["gp", "hospital", "pharmacy"] },
          { name: "clients", columns: "*" },
        ],
      }),
    ).studies[0];
    expect(expectedStations(perDataset, "fall_risk", roster)).toEqual(["gp", "hospital", "pharmacy"]);
    expect(expectedStations(perDataset, "clients", roster)).toEqual(["gp", "homecare", "hospital"]);
  });

  it("refuses an empty list, a name listed twice, a non-string, and (at start) a name not on the roster", () => {
    expect(() => validatePolicy(policyJson({ stations: [] }))).toThrow(/studies\[0\]\.stations: must name at least one station/);
    expect(() => validatePolicy(policyJson({ stations: ["gp", "gp"] }))).toThrow(/stations\[1\]: "gp" is listed twice/);
    expect(() => validatePolicy(policyJson({ datasets: [{ name: "fall_risk", columns: "*", stations: [3] }] }))).toThrow(/datasets\[0\]\.stations\[0\]: must be a non-empty string/);
    const policy = validatePolicy(policyJson({ datasets: [{ name: "fall_risk", columns: "*", stations: ["gp", "mallory"] }] }));
    expect(() => checkPolicyStations(policy, { roster })).toThrow(ConfigInvalid);
    expect(() => checkPolicyStations(policy, { roster })).toThrow(/datasets\[0\]\.stations: names stations that are not on this station's roster: mallory/);
    expect(() => checkPolicyStations(validatePolicy(policyJson({ stations: ["gp", "hospital", "pharmacy"] })), { roster })).not.toThrow();
  });
});

describe("checkRequest refuses, with a reason", () => {
  it("allows a job within the policy and lists the columns it reads", () => {
    const ok = check(count([{ column: "sex", levels: ["F", "M"] }], { kind: "compare", column: "age", op: ">=", value: { kind: "number", value: 65 } }));
    expect(ok.columns).toEqual(["age", "sex"]);
    expect(ok.disclosure.minCellSize).toBe(10);
  });
  it("an unknown study", () => expect(refused(() => check(count(), { study: "nope" }))).toMatch(/unknown study "nope"/));
  it("a researcher who is not in the study", () => expect(refused(() => check(count(), { researcherKey: bob }))).toMatch(/is not a researcher of study "falls"/));
  it("an expired study", () => expect(refused(() => check(count(), { now: Date.parse("2027-01-01T00:00:00Z") }))).toMatch(/study "falls" expired on 2026-12-31/));
  it("a dataset not released", () => expect(refused(() => check({ ...count(), dataset: "clients" }))).toMatch(/dataset "clients" is not released to study "falls"/));
  it("a computation not allowed", () =>
    expect(refused(() => check({ dataset: "fall_risk", computation: { kind: "glm_evaluate", formula: "fell_12m ~ age", family: "binomial", link: "logit", levels: {}, beta: [0, 0], bins: 10, riskCutpoints: [0.2] } }))).toMatch(
      /computation "glm_evaluate" is not allowed in study "falls"/,
    ));
  it("a column not released in the where-expression", () =>
    expect(refused(() => check(count([], { kind: "compare", column: "income", op: ">", value: { kind: "number", value: 0 } })))).toMatch(/column "income" \(used in the where-expression\) is not released/));
  it("a column not released in a group-by", () =>
    expect(refused(() => check(count([{ column: "income", levels: ["1"] }])))).toMatch(/column "income" \(used in a group-by\) is not released/));
  it("a column not released as the measured value", () =>
    expect(refused(() => check({ dataset: "fall_risk", computation: { kind: "moments", column: "income", by: [] } }))).toMatch(/column "income" \(used in the measured value\)/));
  it("a column not released in a model formula, also inside a function", () => {
    expect(refused(() => check(glm("fell_12m ~ age + income")))).toMatch(/column "income" \(used in the glm formula or weights\)/);
    expect(refused(() => check(glm("fell_12m ~ age + log(income + 1)")))).toMatch(/column "income"/);
  });
  it("string values as a measured value", () =>
    expect(refused(() => check({ dataset: "fall_risk", computation: { kind: "moments", column: "sex", by: [] } }))).toMatch(/string values are never released/));
  it("a group-by or factor with more levels than allowed", () => {
    expect(refused(() => check(count([{ column: "region", levels: regions }])))).toMatch(/group-by "region" has 45 levels, more than the 40 allowed/);
    // the station's own levels count even when the job lists fewer
    expect(refused(() => check(count([{ column: "region", levels: ["R00"] }])))).toMatch(/45 levels/);
    expect(refused(() => check(glm("fell_12m ~ region", { region: regions })))).toMatch(/factor "region" has 45 levels/);
  });
  it("a computation the station has no rule for", () =>
    expect(refused(() => checkRequest({ policy, study: "other", researcherKey: bob, job: { dataset: "fall_risk", computation: { kind: "crosstab" } } as unknown as JobSpec, table, now: NOW }))).toMatch(
      /no policy rule for the computation "crosstab"/,
    ));
});

describe("checkDisclosure on the station's own contribution", () => {
  // The per-station cell rule is the steward's option; by default the combined table decides.
  const d = { ...DEFAULT_DISCLOSURE, perStationCells: true };
  const disclose = (job: JobSpec, contribution: number[], rowsSelected = 100) => checkDisclosure({ disclosure: d, job, table, rowsSelected, contribution, station: "gp" });
  const bySex = count([{ column: "sex", levels: ["F", "M"] }]);

  it("allows cells of 0 or at least the minimum", () => expect(() => disclose(bySex, [0, 12])).not.toThrow());
  it("refuses a subset smaller than the minimum subset size, but not an empty one", () => {
    expect(refused(() => disclose(count(), [9], 9))).toMatch(/station gp refused: the where-expression selects fewer rows than the minimum subset size of 10/);
    expect(() => disclose(count(), [0], 0)).not.toThrow();
  });
  it("refuses a small count cell, naming the cell but not its value", () => {
    const message = refused(() => disclose(bySex, [20, 7]));
    expect(message).toMatch(/a cell is below the minimum cell size of 10: cell \(sex = "M"\)/);
    expect(message).not.toMatch(/\b7\b/);
  });
  it("refuses a moments cell whose n is small", () =>
    expect(refused(() => disclose({ dataset: "fall_risk", computation: { kind: "moments", column: "age", by: [{ column: "sex", levels: ["F", "M"] }] } }, [3, 200, 13400, 40, 2600, 170000]))).toMatch(
      /cell \(sex = "F"\)/,
    ));
  it("by default lets a station's own small part through: it is hidden by the aggregation, the combined table decides", () => {
    expect(() => checkDisclosure({ disclosure: DEFAULT_DISCLOSURE, job: bySex, table, rowsSelected: 100, contribution: [20, 7], station: "gp" })).not.toThrow();
    expect(refused(() => checkDisclosure({ disclosure: DEFAULT_DISCLOSURE, job: count(), table, rowsSelected: 9, contribution: [9], station: "gp" }))).toMatch(/minimum subset size/);
  });
  it("refuses a model with more parameters than 0.33 per row", () => {
    const job = glm("fell_12m ~ age + sex + region", { sex: ["F", "M"], region: regions.slice(0, 10) });
    // p = 1 + 1 + 1 + 9 = 12 parameters: needs at least 12 / 0.33 ≈ 37 rows
    expect(refused(() => disclose(job, [30, 30], 30))).toMatch(/the model has 12 parameters, more than 0.33 per row/);
    expect(() => disclose(job, [40, 40], 40)).not.toThrow();
  });
});

describe("werkplaats station policy check", () => {
  afterEach(() => vi.restoreAllMocks());
  it("exits 0 for a valid policy and 3 naming the field for a typo", async () => {
    const dir = tempDir("wp-policy-");
    writeFileSync(join(dir, "fall.csv"), "age,sex,fell_12m,region\n70,F,true,R01\n");
    writeFileSync(join(dir, "station.json"), JSON.stringify({ name: "gp", listen: "127.0.0.1:0", datasets: [{ name: "fall_risk", file: "fall.csv", format: "csv" }], roster: [], minStations: 3 }));
    writeFileSync(join(dir, "policy.json"), JSON.stringify(policyJson({ datasets: [{ name: "fall_risk", columns: ["age", "sex"] }] })));
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    expect(await stationPolicyCommand(["check", dir])).toBe(0);
    expect(String(out.mock.calls[0][0])).toMatch(/is valid: 2 studies/);
    writeFileSync(join(dir, "policy.json"), JSON.stringify(policyJson({ datasets: [{ name: "fall_risk", columns: ["age", "sexe"] }] })));
    expect(await stationPolicyCommand(["check", dir])).toBe(3);
    expect(String(err.mock.calls[0][0])).toMatch(/studies\[0\]\.datasets\[0\]\.columns\[1\]: "sexe" is not a column of dataset fall_risk \(did you mean "sex"\?\)/);
    expect(() => loadPolicy(join(dir, "missing"))).toThrow(ConfigInvalid);
  });
});

describe("model and differencing limits", () => {
  const withDisclosure = (disclosure: Record<string, unknown>) =>
    ({ version: 1, disclosure, studies: [] }) as Record<string, unknown>;

  it("takes a stricter maxLeverage and a record cap, and refuses looser or malformed ones", () => {
    expect(validatePolicy(withDisclosure({ maxLeverage: 0.3, maxReleasedRowSets: 500 })).disclosure).toMatchObject({ maxLeverage: 0.3, maxReleasedRowSets: 500 });
    expect(() => validatePolicy(withDisclosure({ maxLeverage: 0.95 }))).toThrow(/disclosure.maxLeverage: must be a number from 0.05 to 0.9/);
    expect(() => validatePolicy(withDisclosure({ maxLeverage: "0.5" }))).toThrow(/disclosure.maxLeverage/);
    expect(() => validatePolicy(withDisclosure({ maxReleasedRowSets: 10 }))).toThrow(/disclosure.maxReleasedRowSets: must be a whole number from 100 to 1000000/);
  });
});

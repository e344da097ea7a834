/**
 * Attacks 2 and 3 of issue 14 against stations whose data is a PostgreSQL table: the subset rule
 * runs as its own count query before anything else, and the model-isolation check is computed in
 * the database (station-daemon/sources/sql-glm.ts) with the same verdict and words as the kernels.
 * Differencing is not covered for database tables (postgres.ts says why).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TemporaryPostgres } from "../../bench/postgres-server.js";
import type { Federation } from "../../sdk/index.js";
import { LocalFederation } from "../../sdk/local-federation.js";
import { fallRiskWithTarget, refusal, refusalReasons } from "./target.js";

const READER_ENV = "WERKPLAATS_PRIVACY_PG_READER";
let server: TemporaryPostgres;
let admin: pg.Client;
let work: string;
let local: LocalFederation;
let fed: Federation;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-privacy-pg-"));
  const data = await fallRiskWithTarget(work);
  server = await TemporaryPostgres.start();
  admin = await server.admin();
  await admin.query("CREATE ROLE data_owner LOGIN PASSWORD 'owner-privacy-pw'");
  await admin.query("CREATE ROLE station_reader LOGIN PASSWORD 'reader-privacy-pw'");
  await admin.query("CREATE SCHEMA zorg AUTHORIZATION data_owner");
  await admin.query("GRANT USAGE ON SCHEMA zorg TO station_reader");
  for (const file of data.files) {
    const table = `zorg.fall_risk_${basename(file, ".csv")}`;
    await server.loadCsv(admin, { table, file, owner: "data_owner" });
    await admin.query(`GRANT SELECT ON ${table} TO station_reader`);
  }
  process.env[READER_ENV] = server.url({ user: "station_reader", password: "reader-privacy-pw", database: "postgres" });
  local = await LocalFederation.start({
    dir: join(work, "stations"),
    stations: data.files.map((f) => ({
      name: basename(f, ".csv"),
      datasets: { fall_risk: { source: "postgres" as const, table: `zorg.fall_risk_${basename(f, ".csv")}`, connection: { env: READER_ENV } } },
    })),
  });
  fed = await local.connect({ timeoutMs: 30_000 });
}, 180_000);

afterAll(async () => {
  fed?.close();
  await local?.stop();
  await admin?.end().catch(() => {});
  await server?.stop();
  delete process.env[READER_ENV];
  if (work) rmSync(work, { recursive: true, force: true });
});

async function hospitalReason(where: string, formula: string, family: "binomial" | "gaussian"): Promise<string> {
  const before = refusalReasons(join(local.dir, "hospital")).length;
  const err = await refusal(fed.dataset("fall_risk").where(where).glm(formula, { family }));
  expect(err.message).not.toMatch(/\bfound\b/);
  const reasons = refusalReasons(join(local.dir, "hospital")).slice(before);
  expect(reasons.length, `the hospital did not refuse ${formula} where ${where}`).toBe(1);
  return reasons[0];
}

describe("PostgreSQL stations: models cannot isolate a person, errors carry no values", () => {
  it("refuses the issue's model and its variants, computed in the database", async () => {
    expect(await hospitalReason("age >= 90", "num_medications ~ I(exp(50 * (age - 102)))", "gaussian")).toBe(
      'POLICY_REFUSED: station hospital refused: the design column "I(exp(50 * (age - 102)))" is non-zero in fewer rows than the minimum cell size of 10: such a column singles out a few people',
    );
    const dominated = "POLICY_REFUSED: station hospital refused: one row dominates the model (its leverage at this station is above the limit of 0.5): the fit would reveal that row's values";
    expect(await hospitalReason("age >= 90", "num_medications ~ I(exp(2 * (age - 102)))", "gaussian")).toBe(dominated);
    expect(await hospitalReason("age >= 90", "dementia ~ I((age - 101.5) / abs(age - 101.5))", "binomial")).toBe(dominated);
    expect(await hospitalReason("age >= 90", "num_medications ~ I((abs(age - 101.5) - (age - 101.5)) / (2 * (101.5 - age)))", "gaussian")).toBe(dominated);
  });

  it("refuses a one-row subset before computing, whatever the row holds", async () => {
    const subset = "POLICY_REFUSED: station hospital refused: the where-expression selects fewer rows than the minimum subset size of 10";
    expect(await hospitalReason("age == 102", "num_medications ~ 1", "binomial")).toBe(subset);
    expect(await hospitalReason("age == 102", "fell_12m ~ I(1 / (dementia - 1))", "binomial")).toBe(subset);
    expect(await hospitalReason("age == 102", "fell_12m ~ I(1 / (dementia - 2))", "binomial")).toBe(subset);
  });

  it("names the response without a value, the same for one bad row as for many", async () => {
    const many = await hospitalReason("age >= 90", "num_medications ~ age", "binomial");
    const one = await hospitalReason("age >= 90", "I(10 * (abs(age - 101.5) + (age - 101.5))) ~ age", "binomial");
    const template = (reason: string) => reason.replace(/the response .* has/, "the response RESPONSE has");
    expect(template(many)).toBe("BAD_INPUT: a binomial response must be 0/1, a boolean, or a proportion in [0, 1] (with the trials as weights); the response RESPONSE has a value outside that at this station");
    expect(template(one)).toBe(template(many));
  });

  it("still fits the README's fall-risk model", async () => {
    const model = await fed.dataset("fall_risk").where("age >= 65").glm("fell_12m ~ age + sex + num_medications + prior_fall", { family: "binomial" });
    expect(model.converged).toBe(true);
  });
});

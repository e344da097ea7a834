/**
 * End to end over real station processes and real secure aggregation: three stations whose
 * datasets are PostgreSQL tables give the same counts, means and logistic model as three
 * stations reading the same rows from CSV files; a station configured with a role that can
 * write refuses to start, and says why without showing the connection string.
 */
import { MISSING_LEVEL } from "../common/job.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TemporaryPostgres } from "../bench/postgres-server.js";
import type { Federation } from "../sdk/federation.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { writeScenario } from "../synth/index.js";

let server: TemporaryPostgres;
let admin: pg.Client;
let work: string;
let files: string[];
let csvFederation: LocalFederation;
let pgFederation: LocalFederation;
let csv: Federation;
let db: Federation;

const READER_ENV = "WERKPLAATS_E2E_PG_READER";
const OWNER_ENV = "WERKPLAATS_E2E_PG_OWNER";

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-pg-e2e-"));
  server = await TemporaryPostgres.start();
  admin = await server.admin();
  await admin.query("CREATE ROLE data_owner LOGIN PASSWORD 'owner-e2e-pw'");
  await admin.query("CREATE ROLE station_reader LOGIN PASSWORD 'reader-e2e-pw'");
  await admin.query("CREATE SCHEMA zorg AUTHORIZATION data_owner");
  await admin.query("GRANT USAGE ON SCHEMA zorg TO station_reader");
  files = (await writeScenario({ scenario: "fall-risk", stations: 3, rows: 700, seed: 31, out: join(work, "data") })).files;
  for (const file of files) {
    const table = `zorg.fall_risk_${basename(file, ".csv").replace(/[^A-Za-z0-9_]/g, "_")}`;
    await server.loadCsv(admin, { table, file, owner: "data_owner" });
    await admin.query(`GRANT SELECT ON ${table} TO station_reader`);
  }
  // Station processes inherit the environment: the connection strings never touch station.json.
  process.env[READER_ENV] = server.url({ user: "station_reader", password: "reader-e2e-pw", database: "postgres" });
  process.env[OWNER_ENV] = server.url({ user: "data_owner", password: "owner-e2e-pw", database: "postgres" });
  csvFederation = await LocalFederation.start({
    dir: join(work, "csv"),
    stations: files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })),
  });
  pgFederation = await LocalFederation.start({
    dir: join(work, "pg"),
    stations: files.map((f) => ({
      name: basename(f, ".csv"),
      datasets: { fall_risk: { source: "postgres" as const, table: `zorg.fall_risk_${basename(f, ".csv").replace(/[^A-Za-z0-9_]/g, "_")}`, connection: { env: READER_ENV } } },
    })),
  });
  csv = await csvFederation.connect();
  db = await pgFederation.connect();
}, 180_000);

afterAll(async () => {
  csv?.close();
  db?.close();
  await csvFederation?.stop();
  await pgFederation?.stop();
  await admin?.end().catch(() => {});
  await server?.stop();
  delete process.env[READER_ENV];
  delete process.env[OWNER_ENV];
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("a federation of PostgreSQL-backed stations", () => {
  it("releases the same schema as the CSV stations", async () => {
    // A live database table can gain missing values at any time, so a PostgreSQL station never
    // says a column is complete; a CSV snapshot does. Everything else is the same.
    const strip = (ds: Awaited<ReturnType<Federation["datasets"]>>) =>
      ds.map((d) => ({ ...d, columns: d.columns.map(({ complete: _complete, ...c }) => c) }));
    expect(strip(await db.datasets())).toEqual(strip(await csv.datasets()));
  });

  it("counts exactly as the CSV federation does", async () => {
    const query = (f: Federation) => f.dataset("fall_risk").where("age >= 75 and not (income_quintile > 3)").count({ by: ["sex", "lives_alone"] });
    const [a, b] = await Promise.all([query(csv), query(db)]);
    // The database's group-bys also carry an (empty) missing-value cell: see the schema test.
    const asked = (cells: typeof a.cells) => cells.filter((c) => !(Object.values(c.group).includes(MISSING_LEVEL) && c.count === 0));
    expect(asked(b.cells)).toEqual(asked(a.cells));
    expect(b.total).toBe(a.total);
    expect(a.total).toBeGreaterThan(50);
  });

  it("gives the same means, over columns with missing values too", async () => {
    for (const [column, by] of [["num_medications", ["fell_12m"]], ["income_quintile", ["sex"]]] as const) {
      const [a, b] = await Promise.all([csv.dataset("fall_risk").mean(column, { by: [...by] }), db.dataset("fall_risk").mean(column, { by: [...by] })]);
      const shown = b.cells.filter((c) => !(Object.values(c.group).includes(MISSING_LEVEL) && c.n === 0));
      expect(shown.map((c) => c.n)).toEqual(a.cells.map((c) => c.n));
      shown.forEach((cell, i) => {
        expect(Math.abs(cell.mean - a.cells[i].mean)).toBeLessThan(1e-9);
        expect(Math.abs(cell.sd - a.cells[i].sd)).toBeLessThan(1e-9);
      });
    }
  });

  it("fits the same logistic model, in as many iterations", async () => {
    const formula = "fell_12m ~ age + sex + num_medications + prior_fall + dementia + factor(income_quintile)";
    const a = await csv.dataset("fall_risk").glm(formula, { family: "binomial" });
    const b = await db.dataset("fall_risk").glm(formula, { family: "binomial" });
    expect(b.names).toEqual(a.names);
    expect(b.iterations).toBe(a.iterations);
    expect(b.n).toBe(a.n);
    b.estimates.forEach((e, i) => expect(Math.abs(e - a.estimates[i])).toBeLessThan(1e-9));
    b.covariance.forEach((e, i) => expect(Math.abs(e - a.covariance[i])).toBeLessThan(1e-9));
    expect(Math.abs(b.deviance - a.deviance)).toBeLessThan(1e-9);
    expect(Math.abs(b.nullDeviance - a.nullDeviance)).toBeLessThan(1e-9);
  });

  it("treats an injection attempt in a where-literal as a string", async () => {
    const r = await db.dataset("fall_risk").where(`sex == "F' OR '1'='1" or district == "x'); DROP TABLE zorg.fall_risk_gp; --"`).count();
    expect(r.total).toBe(0);
    const tables = await admin.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'zorg'");
    expect(tables.rows[0].n).toBe(3);
  });

  it("refuses a computation it does not push down, clearly", async () => {
    const model = await csv.dataset("fall_risk").glm("fell_12m ~ age + prior_fall", { family: "binomial" });
    await expect(db.dataset("fall_risk").evaluateModel(model)).rejects.toThrow(/not supported for PostgreSQL datasets yet/);
  });
});

describe("a station whose role can write", () => {
  it("refuses to start, naming the role and privileges but never the connection string", async () => {
    const start = LocalFederation.start({
      dir: join(work, "writer"),
      startTimeoutMs: 30_000,
      stations: [{ name: "writer", datasets: { fall_risk: { source: "postgres", table: "zorg.fall_risk_gp", connection: { env: OWNER_ENV } } } }],
    });
    const err = await start.then(() => undefined, (e: Error) => e);
    expect(err).toBeDefined();
    expect(err!.message).toMatch(/role "data_owner" can write to zorg\.fall_risk_gp \(INSERT, UPDATE, DELETE, TRUNCATE\)/);
    expect(err!.message).not.toMatch(/owner-e2e-pw|postgresql:\/\//);
  });
});

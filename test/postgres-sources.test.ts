/**
 * The PostgreSQL data source against a real server: every computation pushed into SQL gives the
 * JS kernels' vector over the same rows (counts exactly, sums to 1e-9), missing values follow
 * the same three-valued logic, a role that can write is refused, and nothing a job carries is
 * ever executed as SQL.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TemporaryPostgres } from "../bench/postgres-server.js";
import { BadInput, ConfigInvalid, UnknownColumn } from "../common/errors.js";
import type { JobSpec } from "../common/job.js";
import { loadCsv } from "../station-daemon/data/csv.js";
import { type DatasetSource, MemorySource, PostgresSource, quoteIdentifier } from "../station-daemon/sources/index.js";
import { writeScenario } from "../synth/index.js";

let server: TemporaryPostgres;
let admin: pg.Client;
let work: string;
let fallRiskCsv: string;
let edgeCsv: string;
const opened: DatasetSource[] = [];

const EDGE_CSV = [
  "y,cnt,x,w,g,flag,q",
  "1,3,0.5,1,a,true,1",
  "0,0,1.5,2,b,false,2",
  "1,7,NaN,1,O'Brien,true,3",
  "0,1,-0.25,0,a,,1",
  ",2,2.25,1.5,\"x\"\"y\",false,",
  "1,4,,1,b,true,2",
  "0,0,3.5,0.5,,false,3",
  "1,5,0.75,2,a,true,1",
  "0,2,1.25,1,O'Brien,,2",
  "1,6,2.5,1,b,true,3",
  "0,1,0.125,3,a,false,1",
  "1,3,4,1,b,true,2",
].join("\n") + "\n";

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-pg-sources-"));
  // Fails the file (not skips it) when the server cannot start.
  server = await TemporaryPostgres.start();
  admin = await server.admin();
  await admin.query("CREATE ROLE data_owner LOGIN PASSWORD 'owner-secret-pw'");
  await admin.query("CREATE ROLE station_reader LOGIN PASSWORD 'reader-secret-pw'");
  await admin.query("CREATE ROLE column_writer LOGIN PASSWORD 'cw-secret-pw'");
  await admin.query("CREATE SCHEMA zorg AUTHORIZATION data_owner");
  await admin.query("GRANT USAGE ON SCHEMA zorg TO station_reader, column_writer");
  fallRiskCsv = (await writeScenario({ scenario: "fall-risk", stations: 1, rows: 2500, seed: 23, out: join(work, "data") })).files[0];
  edgeCsv = join(work, "edge.csv");
  writeFileSync(edgeCsv, EDGE_CSV);
  await server.loadCsv(admin, { table: "zorg.clients", file: fallRiskCsv, owner: "data_owner" });
  await server.loadCsv(admin, { table: "zorg.edge", file: edgeCsv, owner: "data_owner" });
  await admin.query("GRANT SELECT ON zorg.clients, zorg.edge TO station_reader, column_writer");
  await admin.query("GRANT UPDATE (age) ON zorg.clients TO column_writer");
  await admin.query("CREATE TABLE zorg.dated (id int, seen date)");
  await admin.query("GRANT SELECT ON zorg.dated TO station_reader");
  process.env.WERKPLAATS_TEST_PG_READER = server.url({ user: "station_reader", password: "reader-secret-pw", database: "postgres" });
  process.env.WERKPLAATS_TEST_PG_OWNER = server.url({ user: "data_owner", password: "owner-secret-pw", database: "postgres" });
  process.env.WERKPLAATS_TEST_PG_COLUMN = server.url({ user: "column_writer", password: "cw-secret-pw", database: "postgres" });
  await admin.query("ALTER ROLE postgres PASSWORD 'super-secret-pw'");
  process.env.WERKPLAATS_TEST_PG_SUPER = server.url({ user: "postgres", password: "super-secret-pw", database: "postgres" });
}, 120_000);

afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await admin?.end().catch(() => {});
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  for (const k of ["READER", "OWNER", "COLUMN", "SUPER"]) delete process.env[`WERKPLAATS_TEST_PG_${k}`];
});

async function pgSource(table: string, env = "WERKPLAATS_TEST_PG_READER", name = "fall_risk"): Promise<PostgresSource> {
  const source = await PostgresSource.open({ name, source: "postgres", table, connection: { env } }, { dir: work });
  opened.push(source);
  return source;
}

async function memorySource(file: string, name = "fall_risk"): Promise<MemorySource> {
  return new MemorySource(await loadCsv({ file, dataset: name }), file);
}

function expectSameContribution(a: { contribution: Float64Array; rowsSelected: number }, b: { contribution: Float64Array; rowsSelected: number }, exact: boolean): void {
  expect(b.rowsSelected).toBe(a.rowsSelected);
  expect(b.contribution.length).toBe(a.contribution.length);
  for (let i = 0; i < a.contribution.length; i++) {
    if (exact) expect(b.contribution[i]).toBe(a.contribution[i]);
    else expect(Math.abs(b.contribution[i] - a.contribution[i])).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(a.contribution[i])));
  }
}

const num = (value: number) => ({ kind: "number" as const, value });
const str = (value: string) => ({ kind: "string" as const, value });
const FALL_LEVELS = { sex: ["F", "M"], prior_fall: ["FALSE", "TRUE"], dementia: ["FALSE", "TRUE"], income_quintile: ["1", "2", "3", "4", "5"] };

describe("PostgreSQL source: the same vectors as the in-memory kernels", () => {
  const fallRiskJobs: Array<[string, JobSpec, boolean]> = [
    ["a filtered count by sex", { dataset: "fall_risk", where: { kind: "compare", column: "age", op: ">=", value: num(75) }, computation: { kind: "count", by: [{ column: "sex", levels: ["F", "M"] }] } }, true],
    [
      "a count by a numeric and a boolean column, with a negated filter on a column with missing values",
      {
        dataset: "fall_risk",
        where: { kind: "not", arg: { kind: "compare", column: "income_quintile", op: ">", value: num(2) } },
        computation: { kind: "count", by: [{ column: "income_quintile", levels: ["1", "2", "3", "4", "5"] }, { column: "diabetes", levels: ["false", "true"] }] },
      },
      true,
    ],
    ["rows with a missing value", { dataset: "fall_risk", where: { kind: "missing", column: "income_quintile" }, computation: { kind: "count", by: [] } }, true],
    [
      "moments with a shift, grouped",
      { dataset: "fall_risk", where: { kind: "and", args: [{ kind: "column", name: "lives_alone" }, { kind: "in", column: "district", values: [str("WK036301"), str("nowhere")] }] }, computation: { kind: "moments", column: "num_medications", by: [{ column: "fell_12m", levels: ["false", "true"] }], shift: 4 } },
      false,
    ],
    ["moments of a boolean", { dataset: "fall_risk", computation: { kind: "moments", column: "prior_fall", by: [{ column: "sex", levels: ["F", "M"] }] } }, true],
    ["a histogram", { dataset: "fall_risk", computation: { kind: "histogram", column: "age", edges: [60, 70, 80, 90, 102], by: [] } }, true],
    ["a quantile grid by sex", { dataset: "fall_risk", computation: { kind: "quantile", column: "num_medications", lower: 0, upper: 12, bins: 24, by: [{ column: "sex", levels: ["F", "M"] }] } }, true],
    [
      "an indicator set",
      {
        dataset: "fall_risk",
        where: { kind: "compare", column: "age", op: ">", value: num(70) },
        computation: {
          kind: "indicators",
          indicators: [
            { numerator: { kind: "column", name: "fell_12m" }, by: [{ column: "sex", levels: ["F", "M"] }] },
            { numerator: { kind: "compare", column: "income_quintile", op: "<=", value: num(2) }, denominator: { kind: "column", name: "lives_alone" }, by: [] },
          ],
        },
      },
      true,
    ],
    [
      "a logistic GLM's start round",
      { dataset: "fall_risk", computation: { kind: "glm", formula: "fell_12m ~ age + sex + num_medications + prior_fall + factor(income_quintile)", family: "binomial", link: "logit", levels: FALL_LEVELS, beta: [] } },
      false,
    ],
    [
      "a logistic GLM iteration within a filter",
      {
        dataset: "fall_risk",
        where: { kind: "compare", column: "sex", op: "==", value: str("F") },
        computation: { kind: "glm", formula: "fell_12m ~ age + num_medications + prior_fall * dementia", family: "binomial", link: "logit", levels: FALL_LEVELS, beta: [-4, 0.03, 0.15, 0.6, 0.4, -0.2] },
      },
      false,
    ],
    [
      "a Poisson GLM with an offset and log()",
      { dataset: "fall_risk", computation: { kind: "glm", formula: "num_medications ~ log(age) + sex + offset(log(age / 60))", family: "poisson", link: "log", levels: FALL_LEVELS, beta: [0.5, 0.1, -0.1] } },
      false,
    ],
    [
      "a Gaussian GLM with weights, an interaction and I()",
      { dataset: "fall_risk", computation: { kind: "glm", formula: "num_medications ~ age * sex + I(age^2)", family: "gaussian", link: "identity", levels: FALL_LEVELS, beta: [], weights: "income_quintile" } },
      false,
    ],
    [
      "a binomial GLM of cbind(successes, failures), start round and later",
      { dataset: "fall_risk", computation: { kind: "glm", formula: "cbind(num_medications, income_quintile) ~ age + sex", family: "binomial", link: "logit", levels: FALL_LEVELS, beta: [] } },
      false,
    ],
    [
      "a binomial GLM of cbind(successes, failures) with prior weights",
      { dataset: "fall_risk", computation: { kind: "glm", formula: "cbind(num_medications, income_quintile) ~ age + sex", family: "binomial", link: "logit", levels: FALL_LEVELS, beta: [-0.5, 0.01, 0.1], weights: "income_quintile" } },
      false,
    ],
    [
      "a binomial GLM of a proportion with the trials as weights",
      { dataset: "fall_risk", computation: { kind: "glm", formula: "I(num_medications / (num_medications + income_quintile)) ~ age", family: "binomial", link: "logit", levels: FALL_LEVELS, beta: [-0.5, 0.01], weights: "income_quintile" } },
      false,
    ],
  ];
  for (const [what, job, exact] of fallRiskJobs) {
    it(`computes ${what}`, async () => {
      const [mem, db] = [await memorySource(fallRiskCsv), await sharedFallRisk()];
      expectSameContribution(await mem.compute(job), await db.compute(job), exact);
    });
  }

  const edgeJobs: Array<[string, JobSpec, boolean]> = [
    ["a count over text with quotes, and a boolean with missing values", { dataset: "edge", where: { kind: "compare", column: "flag", op: "!=", value: { kind: "bool", value: true } }, computation: { kind: "count", by: [{ column: "g", levels: ["O'Brien", "a", "b", "x\"y"] }] } }, true],
    ["NaN in a float column as missing", { dataset: "edge", where: { kind: "or", args: [{ kind: "missing", column: "x" }, { kind: "not", arg: { kind: "compare", column: "x", op: ">", value: num(1) } }] }, computation: { kind: "moments", column: "x", by: [{ column: "q", levels: ["1", "2", "3"] }] } }, false],
    ["membership of quoted text", { dataset: "edge", where: { kind: "in", column: "g", values: [str("O'Brien"), str("x\"y"), str("'; DROP TABLE zorg.edge; --")] }, computation: { kind: "count", by: [] } }, true],
    [
      "a weighted logistic GLM with a factor and complete cases",
      { dataset: "edge", computation: { kind: "glm", formula: "y ~ x + flag + factor(q)", family: "binomial", link: "logit", levels: { flag: ["FALSE", "TRUE"], q: ["1", "2", "3"] }, beta: [0.1, 0.2, -0.3, 0.1, 0.05], weights: "w" } },
      false,
    ],
    [
      "a Poisson GLM whose log() and sqrt() leave rows out",
      { dataset: "edge", computation: { kind: "glm", formula: "cnt ~ log(x) + sqrt(x) + offset(log1p(w))", family: "poisson", link: "log", levels: {}, beta: [] } },
      false,
    ],
  ];
  for (const [what, job, exact] of edgeJobs) {
    it(`computes ${what}`, async () => {
      const mem = await memorySource(edgeCsv, "edge");
      const db = await sharedEdge();
      expectSameContribution(await mem.compute(job), await db.compute(job), exact);
    });
  }

  it("reads the schema: kinds, sorted levels and integer levels, as the CSV loader does", async () => {
    const mem = await memorySource(fallRiskCsv);
    const db = await sharedFallRisk();
    for (const [name, column] of mem.table.columns) {
      const other = db.table.columns.get(name)!;
      expect(other.kind).toBe(column.kind);
      if (column.kind === "categorical" && other.kind === "categorical") expect(other.levels).toEqual(column.levels);
    }
    const q = db.table.columns.get("income_quintile")!;
    expect(q.kind === "numeric" && [...q.values].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(db.table.rowCount).toBe(0);
  });

  it("refuses the same bad jobs with the same error classes", async () => {
    const mem = await memorySource(fallRiskCsv);
    const db = await sharedFallRisk();
    const bad: JobSpec[] = [
      { dataset: "fall_risk", computation: { kind: "count", by: [{ column: "sex", levels: ["F"] }] } },
      { dataset: "fall_risk", computation: { kind: "count", by: [{ column: "age", levels: ["60", "61"] }] } },
      { dataset: "fall_risk", computation: { kind: "moments", column: "sex", by: [] } },
      { dataset: "fall_risk", where: { kind: "compare", column: "sex", op: ">", value: str("F") }, computation: { kind: "count", by: [] } },
      { dataset: "fall_risk", computation: { kind: "glm", formula: "fell_12m ~ age", family: "binomial", link: "logit", levels: {}, beta: [1] } },
      { dataset: "fall_risk", computation: { kind: "glm", formula: "num_medications ~ age", family: "binomial", link: "logit", levels: {}, beta: [0, 0] } },
    ];
    for (const job of bad) {
      const a = await mem.compute(job).then(() => undefined, (e: Error) => e);
      const b = await db.compute(job).then(() => undefined, (e: Error) => e);
      expect(a).toBeInstanceOf(BadInput);
      expect(b).toBeInstanceOf(BadInput);
    }
  });

  it("answers a computation it does not push down with a clear BadInput, without loading rows", async () => {
    const db = await sharedFallRisk();
    const job: JobSpec = { dataset: "fall_risk", computation: { kind: "glm_evaluate", formula: "fell_12m ~ age", family: "binomial", link: "logit", levels: {}, beta: [0, 0], bins: 10, riskCutpoints: [0.2, 0.4] } };
    await expect(db.compute(job)).rejects.toThrow(/"glm_evaluate" is not supported for PostgreSQL datasets yet/);
  });
});

let fallRiskShared: Promise<PostgresSource> | undefined;
let edgeShared: Promise<PostgresSource> | undefined;
const sharedFallRisk = () => (fallRiskShared ??= pgSource("zorg.clients"));
const sharedEdge = () => (edgeShared ??= pgSource("zorg.edge", "WERKPLAATS_TEST_PG_READER", "edge"));

describe("PostgreSQL source: read-only role and secrets", () => {
  it("refuses to start with the table's owner, naming the privileges", async () => {
    await expect(pgSource("zorg.clients", "WERKPLAATS_TEST_PG_OWNER")).rejects.toThrow(/role "data_owner" can write to zorg\.clients \(INSERT, UPDATE, DELETE, TRUNCATE\)/);
  });

  it("refuses a role that may update a single column", async () => {
    await expect(pgSource("zorg.clients", "WERKPLAATS_TEST_PG_COLUMN")).rejects.toThrow(/role "column_writer" can write to zorg\.clients \(UPDATE\)/);
  });

  it("refuses a superuser", async () => {
    writeFileSync(join(work, "super.url"), process.env.WERKPLAATS_TEST_PG_SUPER!);
    chmodSync(join(work, "super.url"), 0o600);
    const open = PostgresSource.open({ name: "fall_risk", source: "postgres", table: "zorg.clients", connection: { file: "super.url" } }, { dir: work });
    await expect(open).rejects.toThrow(/is a superuser/);
  });

  it("runs every session read-only", async () => {
    const db = await sharedFallRisk();
    const pool = (db as unknown as { pool: pg.Pool }).pool;
    await expect(pool.query("CREATE TEMP TABLE t (x int)")).rejects.toThrow(/read-only transaction/);
  });

  it("never puts the connection string or its password into an error", async () => {
    process.env.WERKPLAATS_TEST_PG_WRONG = server.url({ user: "station_reader", password: "wrong-secret-pw", database: "postgres" });
    const err = await pgSource("zorg.clients", "WERKPLAATS_TEST_PG_WRONG").then(() => undefined, (e: Error) => e);
    delete process.env.WERKPLAATS_TEST_PG_WRONG;
    expect(err).toBeInstanceOf(ConfigInvalid);
    expect(err!.message).toMatch(/connection from environment variable WERKPLAATS_TEST_PG_WRONG/);
    expect(err!.message).not.toMatch(/wrong-secret-pw|postgresql:\/\//);
  });

  it("refuses a connection file others can read, and an unset variable", async () => {
    writeFileSync(join(work, "open.url"), process.env.WERKPLAATS_TEST_PG_READER!);
    chmodSync(join(work, "open.url"), 0o644);
    await expect(PostgresSource.open({ name: "x", source: "postgres", table: "zorg.clients", connection: { file: "open.url" } }, { dir: work })).rejects.toThrow(/readable by others.*chmod 600/);
    await expect(pgSource("zorg.clients", "WERKPLAATS_TEST_PG_NOT_SET")).rejects.toThrow(/WERKPLAATS_TEST_PG_NOT_SET .* is not set/);
  });

  it("names an unsupported column type and a missing table", async () => {
    await expect(pgSource("zorg.dated")).rejects.toThrow(/PostgreSQL table zorg\.dated, column "seen": type date is not supported/);
    await expect(pgSource("zorg.nothere")).rejects.toThrow(/no table or view "zorg\.nothere"/);
  });
});

describe("PostgreSQL source: injection attempts are data, never SQL", () => {
  it("quotes identifiers strictly", () => {
    expect(quoteIdentifier('a"; DROP TABLE x; --')).toBe('"a""; DROP TABLE x; --"');
    expect(() => quoteIdentifier("")).toThrow(BadInput);
    expect(() => quoteIdentifier("a\u0000b")).toThrow(BadInput);
  });

  it("treats a where-literal full of SQL as a string that matches nothing", async () => {
    const db = await sharedFallRisk();
    for (const value of ["F' OR '1'='1", "'; DROP TABLE zorg.clients; --", "F\\' OR 1=1 --", "$1", "F\u0000"]) {
      const r = await db.compute({ dataset: "fall_risk", where: { kind: "compare", column: "sex", op: "==", value: str(value) }, computation: { kind: "count", by: [] } }).catch((e: Error) => e);
      if (r instanceof Error) expect(r.message).not.toMatch(/syntax/);
      else expect(Array.from(r.contribution)).toEqual([0]);
    }
    const still = await admin.query("SELECT count(*)::int AS n FROM zorg.clients");
    expect(still.rows[0].n).toBe(2500);
  });

  it("refuses a column name carrying SQL as an unknown column, before any query", async () => {
    const db = await sharedFallRisk();
    const names = ['age" > 0 OR "1', "age; DROP TABLE zorg.clients", "t.age", '"age"'];
    for (const column of names) {
      await expect(db.compute({ dataset: "fall_risk", where: { kind: "compare", column, op: ">", value: num(1) }, computation: { kind: "count", by: [] } })).rejects.toThrow(UnknownColumn);
      await expect(db.compute({ dataset: "fall_risk", computation: { kind: "moments", column, by: [] } })).rejects.toThrow(UnknownColumn);
      await expect(db.compute({ dataset: "fall_risk", computation: { kind: "count", by: [{ column, levels: ["1"] }] } })).rejects.toThrow(UnknownColumn);
    }
    await expect(db.compute({ dataset: "fall_risk", computation: { kind: "glm", formula: "fell_12m ~ `age; DROP TABLE zorg.clients`", family: "binomial", link: "logit", levels: {}, beta: [0, 0] } })).rejects.toThrow(UnknownColumn);
    const still = await admin.query("SELECT count(*)::int AS n FROM zorg.clients");
    expect(still.rows[0].n).toBe(2500);
  });
});

/**
 * Rows whose group-by value is missing form their own "(missing)" level, so that the cells of a
 * count, summary, crosstab, proportion, indicator set and histogram add up to the rows selected
 * (they used to vanish: 253 of the 6 000 rows `werkplaats synth fall-risk` makes have no income
 * quintile). Checked against pandas with dropna=False on the pooled rows
 * (test/oracle/missing_groups_oracle.py), through real station processes reading CSV files and
 * real station processes reading the same rows from PostgreSQL.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TemporaryPostgres } from "../bench/postgres-server.js";
import { cellCount, MISSING_LEVEL } from "../common/job.js";
import type { Federation } from "../sdk/federation.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { withMissingLevels } from "../sdk/query/missing-levels.js";
import { writeScenario } from "../synth/index.js";

interface Oracle {
  rows: number;
  missing: number;
  count: Record<string, number>;
  crosstab: Record<string, number>;
  medications: Record<string, { n: number; mean: number; variance: number }>;
  fell: Record<string, { events: number; n: number }>;
  ageEdges: number[];
  ageHistogram: Record<string, number[]>;
}

const READER_ENV = "WERKPLAATS_MISSING_PG_READER";
let work: string;
let oracle: Oracle;
let server: TemporaryPostgres;
let admin: pg.Client;
const federations: LocalFederation[] = [];
const clients: Record<"csv" | "postgres", Federation> = {} as Record<"csv" | "postgres", Federation>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-missing-"));
  // What `werkplaats synth fall-risk` writes by default: three stations of 2 000 rows, seed 1.
  const { files } = await writeScenario({ scenario: "fall-risk", seed: 1, out: join(work, "data") });
  oracle = JSON.parse(execFileSync("/usr/bin/python3", [join(import.meta.dirname, "oracle", "missing_groups_oracle.py"), ...files], { encoding: "utf8" })) as Oracle;

  server = await TemporaryPostgres.start();
  admin = await server.admin();
  await admin.query("CREATE ROLE station_reader LOGIN PASSWORD 'reader-missing-pw'");
  await admin.query("CREATE SCHEMA zorg");
  await admin.query("GRANT USAGE ON SCHEMA zorg TO station_reader");
  const tableOf = (file: string) => `zorg.fall_risk_${basename(file, ".csv").replace(/[^A-Za-z0-9_]/g, "_")}`;
  for (const file of files) {
    await server.loadCsv(admin, { table: tableOf(file), file });
    await admin.query(`GRANT SELECT ON ${tableOf(file)} TO station_reader`);
  }
  process.env[READER_ENV] = server.url({ user: "station_reader", password: "reader-missing-pw", database: "postgres" });

  const csv = await LocalFederation.start({ dir: join(work, "csv"), stations: files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })) });
  federations.push(csv);
  const db = await LocalFederation.start({
    dir: join(work, "pg"),
    stations: files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: { source: "postgres" as const, table: tableOf(f), connection: { env: READER_ENV } } } })),
  });
  federations.push(db);
  clients.csv = await csv.connect();
  clients.postgres = await db.connect();
}, 240_000);

afterAll(async () => {
  clients.csv?.close();
  clients.postgres?.close();
  for (const f of federations) await f.stop();
  await admin?.end().catch(() => {});
  await server?.stop();
  delete process.env[READER_ENV];
  if (work) rmSync(work, { recursive: true, force: true });
});

const QUINTILES = ["1", "2", "3", "4", "5", MISSING_LEVEL];

describe.each(["csv", "postgres"] as const)("a group-by column with missing values, stations reading %s", (source) => {
  const fed = () => clients[source].dataset("fall_risk");

  it("counts the rows without an income quintile as the level (missing), and the cells add up to every row", async () => {
    expect(oracle.rows).toBe(6000);
    expect(oracle.missing).toBe(253);
    const r = await fed().count({ by: ["income_quintile"] });
    expect(r.cells.map((c) => c.group.income_quintile)).toEqual(QUINTILES);
    for (const level of QUINTILES) expect(r.get({ income_quintile: level }), level).toBe(oracle.count[level]);
    expect(r.total).toBe(oracle.rows);
    expect(String(r)).toMatch(/\(missing\)\s+253/);
  });

  it("cross-tabulates with (missing) as a row and as a column, margins as pandas gives them", async () => {
    const byRows = await fed().crosstab("income_quintile", "sex");
    expect(byRows.rowLevels).toEqual(QUINTILES);
    for (const c of byRows.cells) expect(c.count).toBe(oracle.crosstab[`${c.group.sex}|${c.group.income_quintile}`] ?? 0);
    expect(byRows.total.count).toBe(oracle.rows);
    expect(byRows.rowTotals.find((t) => t.group.income_quintile === MISSING_LEVEL)!.count).toBe(oracle.missing);
    const byColumns = await fed().crosstab("sex", "income_quintile");
    expect(byColumns.columnLevels).toEqual(QUINTILES);
    expect(byColumns.columnTotals.find((t) => t.group.income_quintile === MISSING_LEVEL)!.count).toBe(oracle.missing);
    expect(byColumns.total.count).toBe(oracle.rows);
  });

  it("summarises a column per quintile, (missing) included, to 1e-9 of pandas", async () => {
    const s = await fed().summary("num_medications", { by: ["income_quintile"] });
    expect(s.cells.map((c) => c.group.income_quintile)).toEqual(QUINTILES);
    for (const c of s.cells) {
      const ref = oracle.medications[c.group.income_quintile];
      expect(c.n).toBe(ref.n);
      expect(Math.abs(c.mean! - ref.mean)).toBeLessThan(1e-9);
      expect(Math.abs(c.variance! - ref.variance) / ref.variance).toBeLessThan(1e-9);
    }
    const m = await fed().mean("num_medications", { by: ["income_quintile"] });
    expect(m.cells.map((c) => c.group.income_quintile)).toEqual(QUINTILES);
  });

  it("gives proportions and indicator sets for the (missing) group, with denominators adding up", async () => {
    const p = await fed().proportion("fell_12m", { by: ["income_quintile"] });
    expect(p.cells.map((c) => c.group.income_quintile)).toEqual(QUINTILES);
    for (const c of p.cells) {
      expect(c.numerator).toBe(oracle.fell[c.group.income_quintile].events);
      expect(c.denominator).toBe(oracle.fell[c.group.income_quintile].n);
    }
    expect(p.cells.reduce((n, c) => n + c.denominator!, 0)).toBe(oracle.rows);
    const set = await fed().indicators([{ name: "fell", numerator: "fell_12m" }, { name: "overall", numerator: "fell_12m", by: [] }], { by: ["income_quintile"] });
    const fell = set.cells.filter((c) => c.indicator === "fell");
    expect(fell.map((c) => c.group.income_quintile)).toEqual(QUINTILES);
    expect(fell.map((c) => c.numerator)).toEqual(QUINTILES.map((q) => oracle.fell[q].events));
    expect(set.cells.find((c) => c.indicator === "overall")!.denominator).toBe(oracle.rows);
  });

  it("draws a histogram for the (missing) group with numpy's bins", async () => {
    const h = await fed().histogram("age", { edges: oracle.ageEdges, by: ["income_quintile"] });
    expect(h.cells.map((c) => c.group.income_quintile)).toEqual(QUINTILES);
    for (const c of h.cells) {
      const ref = oracle.ageHistogram[c.group.income_quintile];
      expect([c.below.count, ...c.bins.map((b) => b.count), c.above.count]).toEqual(ref);
    }
  });

  it("shows a (missing) level only for columns a station holds with missing values", async () => {
    const r = await fed().count({ by: ["sex"] });
    // A CSV station knows its column has no missing value (GetInfo "complete"); a database cannot
    // tell, so the job asks for the missing cell, which then holds 0.
    const missingSex = r.cells.find((c) => c.group.sex === MISSING_LEVEL);
    if (missingSex) expect(missingSex.count).toBe(0);
    expect(r.cells.filter((c) => c.group.sex !== MISSING_LEVEL).map((c) => c.group.sex)).toEqual(["F", "M"]);
    expect(r.total).toBe(oracle.rows);
    // income_quintile has missing values in the dataset: its (missing) cell is there, empty under a filter that excludes them.
    const twoWay = await fed().where("income_quintile >= 1").count({ by: ["sex", "income_quintile"] });
    for (const c of twoWay.cells.filter((c) => c.group.income_quintile === MISSING_LEVEL)) expect(c.count).toBe(0);
    expect(twoWay.total).toBe(oracle.rows - oracle.missing);
  });
});

describe("withMissingLevels", () => {
  it("shows a group-by's missing-value cell as its last level, (missing)", () => {
    const by = [
      { column: "a", levels: ["x", "y"], missing: true },
      { column: "b", levels: ["p"] },
    ];
    expect(cellCount(by)).toBe(3);
    expect(withMissingLevels(by)).toEqual([
      { column: "a", levels: ["x", "y", MISSING_LEVEL] },
      { column: "b", levels: ["p"] },
    ]);
  });
});

import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { TemporaryPostgres } from "../bench/postgres-server.js";
import { writeScenario } from "../synth/index.js";
import { loadCsv } from "../station-daemon/data/csv.js";
import { MemorySource, PostgresSource } from "../station-daemon/sources/index.js";

it("smoke", async () => {
  const t0 = Date.now();
  const server = await TemporaryPostgres.start();
  console.log("started", Date.now() - t0);
  try {
    const admin = await server.admin();
    await admin.query("CREATE ROLE station_ro LOGIN PASSWORD 'ro'");
    const work = mkdtempSync("/tmp/srcwork/w-");
    const { files } = await writeScenario({ scenario: "fall-risk", stations: 1, rows: 3000, seed: 5, out: work });
    await server.loadCsv(admin, { table: "public.clients", file: files[0] });
    await admin.query("GRANT SELECT ON public.clients TO station_ro");
    process.env.PG_SMOKE = server.url({ user: "station_ro", password: "ro", database: "postgres" });
    const src = await PostgresSource.open({ name: "fall_risk", source: "postgres", table: "clients", connection: { env: "PG_SMOKE" } }, { dir: work, log: console });
    const mem = new MemorySource(await loadCsv({ file: files[0], dataset: "fall_risk" }), files[0]);
    console.log([...src.table.columns.values()].map((c) => `${c.name}:${c.kind}:${c.kind === "categorical" ? c.levels.length : c.values.length}`).join(" "));
    const jobs: any[] = [
      { dataset: "fall_risk", computation: { kind: "count", by: [{ column: "sex", levels: ["F", "M"] }] }, where: { kind: "compare", column: "age", op: ">=", value: { kind: "number", value: 75 } } },
      { dataset: "fall_risk", computation: { kind: "count", by: [{ column: "income_quintile", levels: ["1", "2", "3", "4", "5"] }, { column: "diabetes", levels: ["false", "true"] }] }, where: { kind: "not", arg: { kind: "compare", column: "income_quintile", op: ">", value: { kind: "number", value: 2 } } } },
      { dataset: "fall_risk", computation: { kind: "moments", column: "num_medications", by: [{ column: "fell_12m", levels: ["false", "true"] }], shift: 4 } },
      { dataset: "fall_risk", computation: { kind: "histogram", column: "age", edges: [60, 70, 80, 90, 100], by: [] } },
      { dataset: "fall_risk", computation: { kind: "quantile", column: "num_medications", lower: 0, upper: 12, bins: 24, by: [{ column: "sex", levels: ["F", "M"] }] } },
      { dataset: "fall_risk", computation: { kind: "glm", formula: "fell_12m ~ age + sex + num_medications + prior_fall + factor(income_quintile)", family: "binomial", link: "logit", levels: { sex: ["F", "M"], income_quintile: ["1", "2", "3", "4", "5"], prior_fall: ["FALSE", "TRUE"] }, beta: [] } },
      { dataset: "fall_risk", computation: { kind: "glm", formula: "fell_12m ~ age + sex + num_medications + prior_fall + factor(income_quintile)", family: "binomial", link: "logit", levels: { sex: ["F", "M"], income_quintile: ["1", "2", "3", "4", "5"], prior_fall: ["FALSE", "TRUE"] }, beta: [-3, 0.03, 0.2, 0.1, 0.5, 0.1, -0.1, 0.2, 0.3] } },
      { dataset: "fall_risk", computation: { kind: "glm", formula: "num_medications ~ age + log(age) + sex + offset(log(age))", family: "poisson", link: "log", levels: { sex: ["F", "M"] }, beta: [0.1, 0.01, -0.2, 0.1] } },
      { dataset: "fall_risk", computation: { kind: "glm", formula: "num_medications ~ age * sex + I(age^2)", family: "gaussian", link: "identity", levels: { sex: ["F", "M"] }, beta: [], weights: "income_quintile" } },
    ];
    for (const job of jobs) {
      const t = Date.now();
      const a = await mem.compute(job);
      const b = await src.compute(job);
      console.log(job.computation.kind, Date.now() - t, a.rowsSelected, b.rowsSelected);
      const diff = Array.from(a.contribution).map((v, i) => Math.abs(v - b.contribution[i]) / Math.max(1, Math.abs(v)));
      console.log(" max rel diff", Math.max(...diff), a.contribution.length, b.contribution.length);
      if (Math.max(...diff) > 1e-9) console.log(Array.from(a.contribution).slice(0, 12), Array.from(b.contribution).slice(0, 12));
    }
    await src.close();
    await admin.end();
  } finally {
    await server.stop();
  }
}, 120_000);

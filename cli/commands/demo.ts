import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { WerkplaatsError } from "../../common/errors.js";
import { LocalFederation } from "../../sdk/local-federation.js";
import { writeScenario } from "../../synth/index.js";
import { parseArgs, wholeNumber } from "../args.js";

const HELP = `werkplaats demo [--rows N] [--seed S]

Generates synthetic fall-risk data for a GP practice, a home-care organisation and a hospital,
starts three stations as separate processes on loopback, runs a short federated analysis,
stops the stations and exits 0.
`;

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs(argv, { rows: { type: "string" }, seed: { type: "string" } }, "demo");
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const started = Date.now();
  const step = (m: string) => process.stderr.write(`[demo ${((Date.now() - started) / 1000).toFixed(1)}s] ${m}\n`);
  const work = mkdtempSync(join(tmpdir(), "werkplaats-demo-"));
  let local: LocalFederation | undefined;
  try {
    step("generating synthetic fall-risk data for 3 organisations");
    const data = await writeScenario({
      scenario: "fall-risk",
      stations: 3,
      rows: wholeNumber(values.rows, "rows", 3000),
      seed: wholeNumber(values.seed, "seed", 2026),
      out: join(work, "data"),
    });
    step("starting 3 stations (separate processes, loopback only)");
    local = await LocalFederation.start({
      dir: join(work, "stations"),
      stations: data.files.map((file) => ({ name: basename(file, ".csv"), datasets: { fall_risk: file } })),
      onProgress: step,
    });
    const fed = await local.connect();
    try {
      step(`connected to ${fed.stations.join(", ")}`);
      const out = (s = "") => process.stdout.write(s + "\n");
      const clients = fed.dataset("fall_risk");
      out();
      out("werkplaats demo: fall risk of older people, across a GP practice, home care and a hospital");
      out("Each station keeps its rows; only combined numbers leave them.");
      out();
      const all = await clients.count();
      out(`Clients in all three organisations: ${all.total}`);
      const older = clients.where("age >= 65");
      out();
      out((await older.count({ by: ["sex"] })).toString());
      out();
      const target = older.where('sex == "M" and lives_alone and diabetes');
      out("Single-living men of 65+ with diabetes, by neighbourhood (buurt):");
      out("(the stations withhold combined cells of 1 to 9 people, and enough others that none can be worked out from the totals)");
      try {
        out((await target.count({ by: ["neighbourhood"] })).toString());
      } catch (err) {
        if (!(err instanceof WerkplaatsError && err.code === "POLICY_REFUSED")) throw err;
        out(`  refused by disclosure control — ${err.message}`);
        out();
        out((await target.count({ by: ["district"] })).toString());
      }
      out();
      out((await older.mean("num_medications", { by: ["fell_12m"] })).toString());
      out();
      out((await older.where("num_medications >= 5").count({ by: ["fell_12m"] })).toString());
      out();
      step("fitting a logistic model of falls (one secure-aggregation job per iteration)");
      const model = await clients.glm("fell_12m ~ age + sex + num_medications + prior_fall + dementia + lives_alone", {
        family: "binomial",
        onIteration: (i) => step(`iteration ${i.iteration}: deviance ${i.deviance.toFixed(3)} (${i.stations.join(", ")})`),
      });
      out("Who falls? Odds ratios of a fall within 12 months (logistic model over all three organisations)");
      for (const r of model.ratios()) out(`  ${r.term.padEnd(18)} ${r.estimate.toFixed(2)}  (95% CI ${r.ci_low.toFixed(2)}–${r.ci_high.toFixed(2)})`);
      const evaluation = await model.evaluate(clients, { riskCutpoints: [0.3, 0.5] });
      out(`AUC ${evaluation.auc.toFixed(3)}; clients by predicted risk group:`);
      for (const g of evaluation.riskGroups) {
        out(`  ${g.label.padEnd(7)} ${String(g.n).padStart(5)} clients, ${String(g.observed).padStart(5)} fell (expected ${g.expected === null ? "withheld" : g.expected.toFixed(0)})`);
      }
      out();
    } finally {
      fed.close();
    }
    step("stopping stations");
    await local.stop();
    local = undefined;
    step("done");
    return 0;
  } finally {
    if (local) await local.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

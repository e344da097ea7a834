/**
 * `npm run bench -- glm`: the whole `werkplaats glm … --local a.csv b.csv c.csv --json` command
 * (three station processes that load their own CSV, TLS, gRPC, one secure-aggregation job per
 * Fisher-scoring iteration) against statsmodels fitting the pooled rows in one Python process —
 * each timed as a whole command including its start-up, and also the fit alone — measured in the
 * same run, on the same synthetic fall-risk data, with the estimates compared.
 *
 * The comparison is deliberately unfair to werkplaats in one way (statsmodels sees all rows in
 * one process; werkplaats keeps them at three stations and pays for the protocol) and that is
 * the point: it is the price of never pooling.
 */
import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cliEntryPoint } from "../common/package-root.js";
import { writeScenario } from "../synth/index.js";

const PYTHON = "/usr/bin/python3";

/** Eight covariates: the seven of the true model and diabetes, a true zero effect. */
const FORMULA = "fell_12m ~ age + sex + num_medications + prior_fall + dementia + mobility_aid + lives_alone + diabetes";

/** Reads the pooled CSV with pandas and fits it; prints its own timings as JSON on stdout. */
const STATSMODELS_SCRIPT = `
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
t_import = time.perf_counter()
data = pd.read_csv(sys.argv[1])
data["fell_12m"] = data["fell_12m"].astype(int)
t_read = time.perf_counter()
result = smf.glm(sys.argv[2], data=data, family=sm.families.Binomial()).fit()
t_fit = time.perf_counter()
def name(n):
    if n == "Intercept":
        return "(Intercept)"
    if "[T." in n:
        var, level = n[:-1].split("[T.")
        return var + ("TRUE" if level == "True" else "FALSE" if level == "False" else level)
    return n
json.dump({
    "params": {name(k): float(v) for k, v in result.params.items()},
    "bse": {name(k): float(v) for k, v in result.bse.items()},
    "deviance": float(result.deviance),
    "iterations": int(result.fit_history["iteration"]),
    "nobs": int(result.nobs),
    "import_s": t_import - t0, "read_s": t_read - t_import, "fit_s": t_fit - t_read,
}, sys.stdout)
`;

export interface GlmBenchOptions {
  rowsPerStation: number;
  stations: number;
  seed: number;
  /** Each command runs this many times; the fastest run is reported (all runs are printed). */
  repeats: number;
}

interface CommandRun {
  wallS: number;
  stdout: string;
  stderr: string;
}

function timeCommand(command: string, args: string[]): Promise<CommandRun> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.once("error", reject);
    child.once("exit", (code) => {
      const wallS = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`${command} ${args.slice(0, 2).join(" ")} … exited ${code}:\n${stderr}`));
      else resolve({ wallS, stdout, stderr });
    });
  });
}

async function pooledCsv(files: string[], out: string): Promise<void> {
  const stream = createWriteStream(out);
  files.forEach((file, i) => {
    const text = readFileSync(file, "utf8");
    stream.write(i === 0 ? text : text.slice(text.indexOf("\n") + 1));
  });
  await new Promise<void>((resolve, reject) => stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

const maxRelative = (a: Record<string, number>, b: Record<string, number>): number =>
  Math.max(...Object.keys(b).map((k) => Math.abs(a[k] - b[k]) / Math.max(Math.abs(b[k]), 1e-3)));

export async function benchGlm(options: GlmBenchOptions = { rowsPerStation: 100_000, stations: 3, seed: 2026, repeats: 3 }): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "werkplaats-bench-glm-"));
  const say = (m: string) => process.stderr.write(`[bench glm] ${m}\n`);
  try {
    say(`writing synthetic fall-risk data: ${options.stations} stations × ${options.rowsPerStation} rows`);
    const { files } = await writeScenario({ scenario: "fall-risk", stations: options.stations, rows: options.rowsPerStation, seed: options.seed, out: join(work, "data") });
    const pooled = join(work, "pooled.csv");
    await pooledCsv(files, pooled);
    const script = join(work, "fit.py");
    writeFileSync(script, STATSMODELS_SCRIPT);

    const ours: Array<CommandRun & { startupS: number; fitS: number; model: Record<string, unknown> }> = [];
    const theirs: Array<CommandRun & { answer: Record<string, unknown> }> = [];
    for (let r = 0; r < options.repeats; r++) {
      say(`run ${r + 1}/${options.repeats}: werkplaats glm --local (${options.stations} station processes)`);
      const run = await timeCommand(process.execPath, [cliEntryPoint(), "glm", FORMULA, "--family", "binomial", "--json", "--local", ...files]);
      const connected = /connected to .* \(([\d.]+) s\)/.exec(run.stderr);
      const fitted = /fitted in ([\d.]+) s/.exec(run.stderr);
      ours.push({ ...run, startupS: connected ? Number(connected[1]) : NaN, fitS: fitted ? Number(fitted[1]) : NaN, model: JSON.parse(run.stdout) });
      say(`run ${r + 1}/${options.repeats}: statsmodels on the pooled CSV`);
      const py = await timeCommand(PYTHON, [script, pooled, FORMULA]);
      theirs.push({ ...py, answer: JSON.parse(py.stdout) });
    }

    const best = ours.reduce((a, b) => (b.wallS < a.wallS ? b : a));
    const bestPy = theirs.reduce((a, b) => (b.wallS < a.wallS ? b : a));
    const model = best.model as { coefficients: Array<{ term: string; estimate: number; std_error: number }>; deviance: number; iterations: number; n: number };
    const sm = bestPy.answer as { params: Record<string, number>; bse: Record<string, number>; deviance: number; iterations: number; nobs: number; import_s: number; read_s: number; fit_s: number };
    const estimates = Object.fromEntries(model.coefficients.map((c) => [c.term, c.estimate]));
    const errors = Object.fromEntries(model.coefficients.map((c) => [c.term, c.std_error]));
    const estimateDiff = maxRelative(estimates, sm.params);
    const seDiff = maxRelative(errors, sm.bse);
    const devianceDiff = Math.abs(model.deviance - sm.deviance) / sm.deviance;
    const minFitPy = Math.min(...theirs.map((t) => (t.answer as { fit_s: number }).fit_s));
    const minFit = Math.min(...ours.map((o) => o.fitS));

    const out = (s = "") => process.stdout.write(s + "\n");
    out(`glm: ${FORMULA}`);
    out(`  binomial, ${options.stations} stations × ${options.rowsPerStation} rows = ${model.n} rows, ${model.coefficients.length} coefficients`);
    out(`  each command timed as a whole, ${options.repeats} runs each (fastest reported)`);
    out();
    out(`  werkplaats glm --local (whole command)   ${ours.map((o) => o.wallS.toFixed(2)).join(" / ")} s`);
    out(`    of which stations up and connected    ${ours.map((o) => o.startupS.toFixed(2)).join(" / ")} s`);
    out(`    of which the federated fit            ${ours.map((o) => o.fitS.toFixed(2)).join(" / ")} s  (${model.iterations} iterations, ${model.iterations + 1} secure-aggregation rounds)`);
    out(`  statsmodels (whole python3 command)     ${theirs.map((t) => t.wallS.toFixed(2)).join(" / ")} s`);
    out(`    of which the fit                       ${theirs.map((t) => (t.answer as { fit_s: number }).fit_s.toFixed(2)).join(" / ")} s  (${sm.iterations} iterations)`);
    out(`    (fastest run: import ${sm.import_s.toFixed(2)} s, read_csv ${sm.read_s.toFixed(2)} s, fit ${sm.fit_s.toFixed(2)} s)`);
    out();
    out(`  ratio werkplaats / statsmodels: whole command ${(best.wallS / bestPy.wallS).toFixed(2)}×, fit alone ${(minFit / minFitPy).toFixed(2)}×`);
    out(`  agreement: max relative difference estimates ${estimateDiff.toExponential(1)}, std. errors ${seDiff.toExponential(1)}, deviance ${devianceDiff.toExponential(1)}`);
    out(`  (statsmodels' default fit stops at |Δdev| < 1e-8 and takes its standard errors from the previous iterate's weights)`);
    out(
      JSON.stringify({
        bench: "glm",
        rows: model.n,
        stations: options.stations,
        coefficients: model.coefficients.length,
        werkplaats_command_s: round(best.wallS),
        werkplaats_startup_s: round(best.startupS),
        werkplaats_fit_s: round(minFit),
        werkplaats_iterations: model.iterations,
        statsmodels_command_s: round(bestPy.wallS),
        statsmodels_fit_s: round(minFitPy),
        statsmodels_iterations: sm.iterations,
        ratio_command: round(best.wallS / bestPy.wallS),
        ratio_fit: round(minFit / minFitPy),
        max_rel_diff_estimate: estimateDiff,
        max_rel_diff_std_error: seDiff,
        rel_diff_deviance: devianceDiff,
      }),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * `werkplaats glm`: fit a GLM over a federation (or over local CSV files, each served by its own
 * station process) from a script or a cron job. stdout carries only the result (the model's JSON
 * or its summary), so that `--json` output can be piped; everything else goes to stderr.
 */
import { existsSync, statSync } from "node:fs";
import { basename, extname, resolve } from "node:path";
import { BadInput, ExpressionError, FormulaError, StationUnreachable, TooFewStations, WerkplaatsError } from "../../common/errors.js";
import { parseFormula } from "../../common/formula.js";
import type { FamilyName, LinkName } from "../../common/job.js";
import { Federation } from "../../sdk/federation.js";
import type { GlmIterationInfo, GlmModel } from "../../sdk/glm/index.js";
import { LocalFederation } from "../../sdk/local-federation.js";
import { parseWhere } from "../../sdk/query/where.js";
import { parseArgs, wholeNumber } from "../args.js";
import { UsageError } from "../exit-codes.js";

const FAMILIES: readonly FamilyName[] = ["binomial", "poisson", "gaussian"];
const LINKS: readonly LinkName[] = ["logit", "log", "identity"];
/** R's glm.control(maxit = 25). */
const DEFAULT_MAX_ITERATIONS = 25;
const DEFAULT_TIMEOUT_SECONDS = 30;
/** Jobs need this many stations (DESIGN.md); a --local run with fewer is refused before starting any. */
const MIN_LOCAL_STATIONS = 3;

const HELP = `werkplaats glm FORMULA --family binomial|poisson|gaussian [options] (--local A.csv B.csv C.csv | --federation FED.json --dataset NAME)

Fits a generalised linear model by federated Fisher scoring: every iteration is one
secure-aggregation job in which each station sums its own rows' score and information; only the
sum leaves the stations. The estimates equal R's glm() and statsmodels on the pooled rows.

  FORMULA                    R notation, e.g. "fell_12m ~ age + sex + num_medications + prior_fall"
                             (factor(x), I(age - 80), log(x), a:b, a*b, offset(log(t)), - 1)
  --family F                 binomial, poisson or gaussian (required)
  --link L                   logit, log or identity (default: the family's canonical link)
  --weights COL              a numeric column of prior weights
  --where EXPR               fit on a subset, e.g. 'age >= 65 and not dementia'
  --local FILE.csv …         start one station per file on loopback (separate processes, real TLS,
                             gRPC and secure aggregation), named after the files; stopped at the end
  --dataset NAME             the dataset to fit on (with --local: the name the files are served
                             under, default "data"; with --federation: required)
  --federation FED.json      an existing federation (stations, pinned keys, study, researcher key)
  --timeout SECONDS          deadline of every call to a station (default ${DEFAULT_TIMEOUT_SECONDS})
  --max-iterations N         Fisher-scoring iterations at most (default ${DEFAULT_MAX_ITERATIONS}, as R)
  --fail-on-not-converged    exit 7 when the fit does not converge (see below)
  --json                     print exactly one JSON object on stdout: the model (coefficients with
                             std_error, statistic, p_value, ci_low, ci_high; deviance, aic, …)
  --out MODEL.json           save the model (atomically: an existing file is only ever replaced by
                             a complete new one); 'werkplaats station score' applies it at a station

Progress (stations starting, one line per iteration with the deviance and the stations whose
rows it covers; a single progress line when stderr is a terminal) goes to stderr.

Convergence: a fit that does not converge within --max-iterations still prints (and with --out
saves) its last estimates, warns on stderr and exits 0, as R's glm() does; the model's
"converged" is false. With --fail-on-not-converged it prints and saves nothing and exits 7 —
use that in scheduled retraining, so that a non-converged model never replaces the last good one.

Exit codes: 0 fitted; 2 usage; 3 bad formula, unknown column or dataset, bad data or a rank-
deficient design; 4 refused by a station's policy; 5 too few stations (a job needs 3);
6 a station unreachable; 7 not converged (only with --fail-on-not-converged); 8 protocol violation.
`;

export async function glmCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(
    argv,
    {
      family: { type: "string" },
      link: { type: "string" },
      weights: { type: "string" },
      where: { type: "string" },
      local: { type: "boolean" },
      dataset: { type: "string" },
      federation: { type: "string" },
      timeout: { type: "string" },
      "max-iterations": { type: "string" },
      "fail-on-not-converged": { type: "boolean" },
      json: { type: "boolean" },
      out: { type: "string" },
    },
    "glm",
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  // `--local a.csv b.csv c.csv` is a flag followed by positionals; the formula is the one with "~"
  // (so it may stand before or after the files), else the first.
  const at = Math.max(0, positionals.findIndex((p) => p.includes("~")));
  const formula = positionals[at];
  const files = positionals.filter((_, i) => i !== at);
  if (!formula) throw new UsageError(`glm needs a formula\nsee: werkplaats glm --help`);
  if (!values.local && files.length > 0) throw new UsageError(`unexpected arguments ${files.join(" ")} (CSV files go after --local)`);
  if (values.local && values.federation) throw new UsageError("give either --local FILES or --federation FED.json, not both");
  if (!values.local && !values.federation) throw new UsageError("glm needs --local A.csv B.csv C.csv or --federation FED.json --dataset NAME");
  if (values.federation && !values.dataset) throw new UsageError("--federation needs --dataset NAME");
  const family = values.family as FamilyName | undefined;
  if (!family || !FAMILIES.includes(family)) throw new UsageError(`--family must be one of ${FAMILIES.join(", ")}${family ? `, got "${family}"` : ""}`);
  const link = values.link as LinkName | undefined;
  if (link !== undefined && !LINKS.includes(link)) throw new UsageError(`--link must be one of ${LINKS.join(", ")}, got "${link}"`);
  const maxIterations = wholeNumber(values["max-iterations"], "max-iterations", DEFAULT_MAX_ITERATIONS);
  if (maxIterations < 1) throw new UsageError("--max-iterations must be at least 1");
  const timeoutSeconds = values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : Number(values.timeout);
  if (!(timeoutSeconds > 0)) throw new UsageError(`--timeout must be a positive number of seconds, got "${values.timeout}"`);

  // Fail on a typo before starting station processes or contacting anyone.
  try {
    parseFormula(formula);
  } catch (err) {
    if (err instanceof FormulaError) throw new FormulaError(`bad formula: ${err.message}\n${pointAt(formula, err.position)}`, err.position);
    throw err;
  }
  if (values.where !== undefined) {
    try {
      parseWhere(values.where);
    } catch (err) {
      if (err instanceof ExpressionError) throw new ExpressionError(`bad --where: ${err.message}\n${pointAt(values.where, err.position)}`, err.position);
      throw err;
    }
  }
  const dataset = values.dataset ?? "data";
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(dataset)) throw new UsageError(`--dataset must be an identifier (letters, digits, '_'), got "${dataset}"`);
  if (values.local) checkLocalFiles(files);

  const progress = new FitProgress(maxIterations);
  const started = Date.now();
  let local: LocalFederation | undefined;
  let fed: Federation | undefined;
  let interrupted = false;
  const stopOnSignal = (signal: NodeJS.Signals) => {
    interrupted = true;
    progress.note(`${signal}: stopping`);
    fed?.close();
    const done = () => process.exit(signal === "SIGINT" ? 130 : 143);
    (local ? local.stop() : Promise.resolve()).then(done, done);
  };
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  try {
    if (values.local) {
      const names = stationNames(files);
      progress.note(`starting ${files.length} stations on loopback (${names.join(", ")})`);
      local = await startLocal(files, names, dataset, progress);
      fed = await local.connect({ timeoutMs: timeoutSeconds * 1000 });
    } else {
      fed = await Federation.connect(values.federation!, { timeoutMs: timeoutSeconds * 1000 });
    }
    const stationsUp = Date.now();
    progress.note(`connected to ${fed.stations.join(", ")} (${seconds(stationsUp - started)})`);
    let query = fed.dataset(dataset);
    if (values.where !== undefined) query = query.where(values.where);
    const model: GlmModel = await query.glm(formula, {
      family,
      ...(link ? { link } : {}),
      ...(values.weights ? { weights: values.weights } : {}),
      maxIterations,
      ...(values["fail-on-not-converged"] ? { failOnNotConverged: true } : {}),
      onIteration: (info) => progress.iteration(info),
    });
    progress.done(`fitted in ${seconds(Date.now() - stationsUp)}: ${model.iterations} iterations, n = ${model.n}, deviance ${model.deviance.toPrecision(10)}${model.converged ? "" : " (NOT converged)"}`);
    for (const w of model.warnings) progress.note(`warning: ${w}`);
    // an interrupted run neither saves nor prints: the exit code (130/143) follows from the handler
    if (interrupted) return 130;
    if (values.out) {
      model.save(values.out);
      progress.note(`model saved to ${resolve(values.out)}`);
    }
    process.stdout.write(values.json ? JSON.stringify(model.toJSON()) + "\n" : model.summary());
    return 0;
  } finally {
    progress.done();
    process.removeListener("SIGINT", stopOnSignal);
    process.removeListener("SIGTERM", stopOnSignal);
    fed?.close();
    if (local) {
      await local.stop();
      progress.note("stations stopped");
    }
  }
}

/** The text with a caret under the 0-based position (clamped to the end). */
function pointAt(text: string, position: number): string {
  const at = position < 0 ? text.length : Math.min(position, text.length);
  return `  ${text}\n  ${" ".repeat(at)}^`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function checkLocalFiles(files: string[]): void {
  if (files.length === 0) throw new UsageError("--local needs the CSV files, one per station: --local A.csv B.csv C.csv");
  if (files.length < MIN_LOCAL_STATIONS) {
    throw new TooFewStations(`--local got ${files.length} file${files.length === 1 ? "" : "s"}; a federated fit needs at least ${MIN_LOCAL_STATIONS} stations (one per file)`);
  }
  for (const file of files) {
    if (!existsSync(file) || !statSync(file).isFile()) throw new BadInput(`--local: no such file ${file}`);
  }
}

/** Station names from the file names, made valid and unique (`gp`, `gp-2`, …). */
function stationNames(files: readonly string[]): string[] {
  const used = new Set<string>();
  return files.map((file, i) => {
    const base = basename(file, extname(file)).replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^[^A-Za-z0-9]+/, "").slice(0, 56) || `station${i + 1}`;
    let name = base;
    for (let k = 2; used.has(name); k++) name = `${base}-${k}`;
    used.add(name);
    return name;
  });
}

async function startLocal(files: string[], names: string[], dataset: string, progress: FitProgress): Promise<LocalFederation> {
  try {
    return await LocalFederation.start({
      stations: files.map((file, i) => ({ name: names[i], datasets: { [dataset]: resolve(file) } })),
      onProgress: (m) => progress.note(m),
    });
  } catch (err) {
    // A station that exits with the bad-input code (3) before listening could not load its file:
    // that is bad data, not an unreachable station.
    const m = err instanceof StationUnreachable ? /exited with code 3 before listening:\s*([\s\S]*)$/.exec(err.message) : null;
    if (m && err instanceof StationUnreachable) {
      const reason = m[1].replace(/^werkplaats:\s*/gm, "").trim();
      throw new WerkplaatsError("DATA_FILE_INVALID", `station ${err.station} could not load its data: ${reason}`);
    }
    throw err;
  }
}

/**
 * Progress on stderr: a line per event when stderr is a file or pipe (logs, CI), one rewritten
 * line with a bar when it is a terminal. The bar measures convergence, not time: R's criterion
 * |Δdev| / (|dev| + 0.1) falls from ~1 towards the tolerance 1e-8, so the bar fills with its log.
 */
class FitProgress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private open = false;

  constructor(private readonly maxIterations: number) {}

  note(message: string): void {
    this.clear();
    process.stderr.write(`werkplaats glm: ${message}\n`);
  }

  iteration(info: GlmIterationInfo & { stations: string[] }): void {
    const deviance = info.deviance.toPrecision(10);
    const change = info.change.toExponential(1);
    const halved = info.halvings > 0 ? `, step halved ${info.halvings}×` : "";
    if (!this.tty) {
      process.stderr.write(`werkplaats glm: iteration ${info.iteration}: deviance ${deviance} (change ${change}${halved}) stations ${info.stations.join(", ")}\n`);
      return;
    }
    const width = 20;
    const filled = Math.max(0, Math.min(width, Math.round((-Math.log10(Math.max(info.change, 1e-300)) / 8) * width)));
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const line = `werkplaats glm: ${bar} iteration ${info.iteration}/${this.maxIterations}  deviance ${deviance}  Δ ${change}${halved}  ${info.stations.length} stations`;
    process.stderr.write(`\r\x1b[2K${line.slice(0, Math.max(40, (process.stderr.columns || 120) - 1))}`);
    this.open = true;
  }

  done(message?: string): void {
    this.clear();
    if (message) process.stderr.write(`werkplaats glm: ${message}\n`);
  }

  private clear(): void {
    if (this.open) process.stderr.write("\n");
    this.open = false;
  }
}

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
import { type GlmEvaluation, type GlmIterationInfo, GlmModel } from "../../sdk/glm/index.js";
import type { DatasetQuery } from "../../sdk/query/dataset-query.js";
import { LocalFederation } from "../../sdk/local-federation.js";
import { parseWhere } from "../../sdk/query/where.js";
import { parseArgs, wholeNumber } from "../args.js";
import { UsageError } from "../exit-codes.js";
import { CommandLog, type LogFormat, logFormatOf } from "../log.js";
import { writeOutFile } from "../out-file.js";

const FAMILIES: readonly FamilyName[] = ["binomial", "poisson", "gaussian"];
const LINKS: readonly LinkName[] = ["logit", "log", "identity"];
type StandardErrors = "at-estimates" | "last-iteration";
const STANDARD_ERRORS: readonly StandardErrors[] = ["at-estimates", "last-iteration"];
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
  --standard-errors S        at-estimates (default: the Fisher information at the final estimates)
                             or last-iteration (R's and statsmodels' convention: the working
                             weights of the last IRLS step, which reproduces R's printed SEs)
  --json                     print exactly one JSON object on stdout: the model (coefficients with
                             std_error, statistic, p_value, ci_low, ci_high; deviance, aic, …)
  --out MODEL.json           save the model (atomically: an existing file is only ever replaced by
                             a complete new one); 'werkplaats station score' applies it at a station
  --compare PREVIOUS.json    compare with an earlier model (a saved model or --json output): per
                             term the previous and new estimate, the difference and the difference
                             in the previous model's standard errors; for binomial models the AUC
                             of both, evaluated on the same rows now. In --json: "comparison"
  --log-format text|json     progress on stderr as human lines (default) or one JSON object per
                             event ({"time","level","command","event",…}) for log collectors

The model (--json output and --out file) carries its provenance: the formula, family, link,
levels and options, the jobs, the stations with their software and protocol versions and dataset
snapshot fingerprints, and the time; 'werkplaats replay MODEL.json' fits it again and compares.

Progress (stations starting, one line per iteration with the deviance and the stations whose
rows it covers; a single progress line when stderr is a terminal) goes to stderr.

Convergence: a fit that does not converge within --max-iterations still prints (and with --out
saves) its last estimates, warns on stderr and exits 0, as R's glm() does; the model's
"converged" is false. With --fail-on-not-converged it prints and saves nothing and exits 7 —
use that in scheduled retraining, so that a non-converged model never replaces the last good one.

Exit codes: 0 fitted; 1 internal error; 2 usage; 3 bad formula, unknown column or dataset, bad
data, an unreadable --compare model, or a rank-deficient design; 4 refused by a station's policy;
5 too few stations (a job needs 3); 6 a station unreachable; 7 not converged (only with
--fail-on-not-converged); 8 protocol violation. A failed run leaves an existing --out file as it was.
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
      "standard-errors": { type: "string" },
      json: { type: "boolean" },
      out: { type: "string" },
      compare: { type: "string" },
      "log-format": { type: "string" },
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
  const standardErrors = values["standard-errors"] as string | undefined;
  if (standardErrors !== undefined && !STANDARD_ERRORS.includes(standardErrors as StandardErrors)) {
    throw new UsageError(`--standard-errors must be one of ${STANDARD_ERRORS.join(", ")}, got "${standardErrors}"`);
  }
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
  const logFormat = logFormatOf(values["log-format"]);
  // The previous model is read before any station starts: a missing or unreadable one is bad input.
  const previous = values.compare !== undefined ? GlmModel.load(values.compare) : undefined;
  const dataset = values.dataset ?? "data";
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(dataset)) throw new UsageError(`--dataset must be an identifier (letters, digits, '_'), got "${dataset}"`);
  if (values.local) checkLocalFiles(files);

  const progress = new FitProgress(maxIterations, logFormat);
  const started = Date.now();
  let local: LocalFederation | undefined;
  let fed: Federation | undefined;
  let names: string[] = [];
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
      names = stationNames(files);
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
    let model: GlmModel = await query.glm(formula, {
      family,
      ...(link ? { link } : {}),
      ...(values.weights ? { weights: values.weights } : {}),
      maxIterations,
      ...(values["fail-on-not-converged"] ? { failOnNotConverged: true } : {}),
      ...(standardErrors ? { standardErrors: standardErrors as StandardErrors } : {}),
      onIteration: (info) => progress.iteration(info),
    });
    progress.fitted(model, Date.now() - stationsUp);
    for (const w of model.warnings) progress.warn("warning", `warning: ${w}`);
    if (values.local && model.provenance) {
      // A --local federation lives only for this run: record the files, so replay can serve them again.
      const localStations = names.map((name, i) => ({ name, datasets: { [dataset]: resolve(files[i]) } }));
      model = model.withProvenance({ ...model.provenance, federation: { ...model.provenance.federation, local: localStations } });
    }
    const comparison = previous ? await compareModels(previous, model, query, values.compare!, progress) : undefined;
    // an interrupted run neither saves nor prints: the exit code (130/143) follows from the handler
    if (interrupted) return 130;
    if (values.out) {
      writeOutFile(values.out, JSON.stringify(model.toJSON(), null, 2) + "\n");
      progress.note(`model saved to ${resolve(values.out)}`, "saved", { file: resolve(values.out) });
    }
    if (values.json) process.stdout.write(JSON.stringify(comparison ? { ...model.toJSON(), comparison } : model.toJSON()) + "\n");
    else process.stdout.write(model.summary() + (comparison ? formatComparison(comparison) : ""));
    return 0;
  } finally {
    progress.done();
    process.removeListener("SIGINT", stopOnSignal);
    process.removeListener("SIGTERM", stopOnSignal);
    fed?.close();
    if (local) {
      await local.stop();
      progress.note("stations stopped", "stations_stopped");
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
 * line with a bar when it is a terminal, or one JSON object per event with --log-format json. The
 * bar measures convergence, not time: R's criterion |Δdev| / (|dev| + 0.1) falls from ~1 towards
 * the tolerance 1e-8, so the bar fills with its log.
 */
class FitProgress {
  private readonly tty: boolean;
  private readonly log: CommandLog;
  private open = false;

  constructor(
    private readonly maxIterations: number,
    format: LogFormat,
  ) {
    this.log = new CommandLog("glm", format);
    this.tty = format === "text" && Boolean(process.stderr.isTTY);
  }

  note(message: string, event = "progress", fields: Record<string, unknown> = {}): void {
    this.clear();
    this.log.info(event, message, fields);
  }

  warn(event: string, message: string): void {
    this.clear();
    this.log.warn(event, message);
  }

  iteration(info: GlmIterationInfo & { stations: string[] }): void {
    const deviance = info.deviance.toPrecision(10);
    const change = info.change.toExponential(1);
    const halved = info.halvings > 0 ? `, step halved ${info.halvings}×` : "";
    if (!this.tty) {
      const fields = { iteration: info.iteration, max_iterations: this.maxIterations, deviance: info.deviance, change: info.change, halvings: info.halvings, stations: info.stations };
      this.log.event("info", "iteration", fields, `iteration ${info.iteration}: deviance ${deviance} (change ${change}${halved}) stations ${info.stations.join(", ")}`);
      return;
    }
    const width = 20;
    const filled = Math.max(0, Math.min(width, Math.round((-Math.log10(Math.max(info.change, 1e-300)) / 8) * width)));
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const line = `werkplaats glm: ${bar} iteration ${info.iteration}/${this.maxIterations}  deviance ${deviance}  Δ ${change}${halved}  ${info.stations.length} stations`;
    process.stderr.write(`\r\x1b[2K${line.slice(0, Math.max(40, (process.stderr.columns || 120) - 1))}`);
    this.open = true;
  }

  fitted(model: GlmModel, ms: number): void {
    this.clear();
    const text = `fitted in ${seconds(ms)}: ${model.iterations} iterations, n = ${model.n}, deviance ${model.deviance.toPrecision(10)}${model.converged ? "" : " (NOT converged)"}`;
    this.log.event(model.converged ? "info" : "warn", "fitted", { message: text, iterations: model.iterations, n: model.n, deviance: model.deviance, converged: model.converged, seconds: ms / 1000 }, text);
  }

  done(): void {
    this.clear();
  }

  private clear(): void {
    if (this.open) process.stderr.write("\n");
    this.open = false;
  }
}

export interface CoefficientMovement {
  term: string;
  /** null when the term is not in that model. */
  previous: number | null;
  new: number | null;
  difference: number | null;
  /** The difference in units of the previous model's standard error of the term. */
  difference_in_se: number | null;
}

export interface ModelComparison {
  previous: { file: string; time: string | null; n: number; deviance: number; converged: boolean };
  coefficients: CoefficientMovement[];
  /** Binomial models: both evaluated now, on the same rows (this run's dataset and --where). */
  auc?: { previous: number | null; new: number; difference: number | null; error?: string };
}

async function compareModels(previous: GlmModel, model: GlmModel, query: DatasetQuery, file: string, progress: FitProgress): Promise<ModelComparison> {
  const terms = [...model.names, ...previous.names.filter((t) => !model.names.includes(t))];
  const coefficients = terms.map((term) => {
    const a = previous.coefficients.find((c) => c.term === term);
    const b = model.coefficients.find((c) => c.term === term);
    const difference = a && b ? b.estimate - a.estimate : null;
    return {
      term,
      previous: a ? a.estimate : null,
      new: b ? b.estimate : null,
      difference,
      difference_in_se: difference !== null && a && a.std_error > 0 ? difference / a.std_error : null,
    };
  });
  const comparison: ModelComparison = {
    previous: { file: resolve(file), time: previous.provenance?.time ?? null, n: previous.n, deviance: previous.deviance, converged: previous.converged },
    coefficients,
  };
  if (model.family.name === "binomial") {
    progress.note("evaluating the new and the previous model on the same rows", "evaluating");
    // One risk group: only the AUC is compared, and risk groups would add cells that a small
    // subset could push under a station's minimum cell size.
    const aucOnly = { riskCutpoints: [] as number[] };
    const now: GlmEvaluation = await model.evaluate(query, aucOnly);
    let before: number | null = null;
    let error: string | undefined;
    try {
      before = previous.family.name === "binomial" ? (await previous.evaluate(query, aucOnly)).auc : null;
      if (before === null) error = `the previous model is ${previous.family.name}, not binomial`;
    } catch (err) {
      // A previous model that no longer fits today's schema (a column or level gone) still gets
      // its coefficients compared; only its AUC is unknown.
      if (!(err instanceof WerkplaatsError) || !["BAD_INPUT", "UNKNOWN_COLUMN", "BAD_FORMULA", "UNKNOWN_DATASET"].includes(err.code)) throw err;
      error = `the previous model could not be evaluated on these rows: ${err.message}`;
    }
    comparison.auc = { previous: before, new: now.auc, difference: before === null ? null : now.auc - before, ...(error ? { error } : {}) };
  }
  const largest = coefficients.reduce((m, c) => (c.difference_in_se !== null && Math.abs(c.difference_in_se) > Math.abs(m?.difference_in_se ?? 0) ? c : m), undefined as CoefficientMovement | undefined);
  progress.note(
    `compared with ${file}: largest movement ${largest ? `${largest.term} ${largest.difference_in_se!.toFixed(2)} SE` : "none"}${comparison.auc && comparison.auc.difference !== null ? `, AUC ${comparison.auc.previous!.toFixed(4)} → ${comparison.auc.new.toFixed(4)}` : ""}`,
    "compared",
    { comparison },
  );
  return comparison;
}

function formatComparison(c: ModelComparison): string {
  const num = (x: number | null, digits = 6) => (x === null ? "—" : Number.isFinite(x) ? String(Number(x.toPrecision(digits))) : String(x));
  const rows = [["term", "previous", "new", "difference", "diff / prev SE"], ...c.coefficients.map((m) => [m.term, num(m.previous), num(m.new), num(m.difference, 4), m.difference_in_se === null ? "—" : m.difference_in_se.toFixed(2)])];
  const widths = rows[0].map((_, k) => Math.max(...rows.map((r) => r[k].length)));
  const table = rows.map((r) => r.map((cell, k) => (k === 0 ? cell.padEnd(widths[k]) : cell.padStart(widths[k]))).join("  "));
  const lines = ["", `Compared with the previous model (${c.previous.file}${c.previous.time ? `, fitted ${c.previous.time}` : ""}; n ${c.previous.n}):`, ...table];
  if (c.auc) {
    lines.push(c.auc.previous === null ? `AUC ${c.auc.new.toFixed(4)} (previous: ${c.auc.error})` : `AUC ${c.auc.previous.toFixed(4)} → ${c.auc.new.toFixed(4)} (${c.auc.difference! >= 0 ? "+" : ""}${c.auc.difference!.toFixed(4)}), both on the same rows now`);
  }
  return lines.join("\n") + "\n";
}

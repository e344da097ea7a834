/**
 * `werkplaats query`: descriptive statistics over a federation, one secure-aggregation job per
 * statistic (two for summaries and quantiles without a given shift or range). The where-
 * expressions are parsed here, before any station is contacted, so a typo exits 2 or 3 at once.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { BadInput } from "../../common/errors.js";
import { Federation } from "../../sdk/federation.js";
import type { DatasetQuery, IndicatorDefinition } from "../../sdk/query/dataset-query.js";
import { parseWhere } from "../../sdk/query/where.js";
import { parseArgs, wholeNumber } from "../args.js";
import { UsageError } from "../exit-codes.js";
import { CommandLog, logFormatOf } from "../log.js";
import { writeOutFile } from "../out-file.js";

const DEFAULT_TIMEOUT_SECONDS = 30;

const HELP = `werkplaats query --federation FED.json --dataset NAME [--where EXPR] STATISTIC … [options]

Descriptive statistics over the stations of a federation. Each station computes on its own rows;
only the sum over the stations, under secure aggregation, reaches this command.

Statistics:
  count                              rows per combination of --by levels (zeros included)
  crosstab ROW COLUMN                two-way table with row, column and grand totals
  mean COLUMN                        n, sum, mean, variance and SD (also: summary, sum, variance)
  histogram COLUMN --edges E1,E2,…   counts per bin [e_k, e_k+1) (the last closed), below, above
  quantile COLUMN [--probs 0.25,0.5,0.75] [--bins N] [--range LO,HI]
                                     quantiles from a fine secure histogram, with their error bound
  proportion CONDITION               share of rows where CONDITION holds, Wilson 95% interval
  rate CONDITION [--per 1000]        the same as a rate per 1 000
  standardised-rate CONDITION --age-column COL --reference JSON
                                     directly age-standardised rate per 1 000, Fay–Feuer interval;
                                     JSON: '{"18-39": 0.35, "40-64": 0.4, …}' or a file holding it
  indicators JSON                    an indicator set in ONE job: a JSON list (inline or a file) of
                                     {"name", "numerator", "denominator"?, "by"?, "per"?}

Options:
  --federation FED.json      the federation (stations, pinned keys, study, researcher key)
  --dataset NAME             the dataset
  --where EXPR               only rows matching EXPR, e.g. 'age >= 65 and not dementia'
  --by COL[,COL…]            group by these columns (repeatable)
  --per N                    scale of proportions (1), rates (1000) and indicators (100)
  --level L                  confidence level of intervals (default 0.95)
  --timeout SECONDS          deadline of every call to a station (default ${DEFAULT_TIMEOUT_SECONDS})
  --json                     print exactly one JSON object on stdout: the result, with its
                             provenance (the call, jobs, stations, snapshot fingerprints, versions,
                             time), which 'werkplaats replay' runs again
  --out RESULT.json          also save that JSON object (atomically: a failed run leaves an
                             existing file as it was)
  --log-format text|json     what goes to stderr: human lines (default) or one JSON object per
                             event ({"time","level","command","event",…}) for log collectors

Withheld cells print as "suppressed" in count tables and as "x" in the wider tables (crosstab,
histogram, quantile, standardised-rate), with the reason below the table; in JSON they are null
with "suppressed": true and a "reason".

Examples:
  werkplaats query --federation fed.json --dataset neighbourhood count --by district,sex
  werkplaats query --federation fed.json --dataset fall_risk --where 'age >= 65' crosstab sex fell_12m
  werkplaats query --federation fed.json --dataset fall_risk quantile age --probs 0.1,0.5,0.9
  werkplaats query --federation fed.json --dataset neighbourhood proportion 'diabetes' --by neighbourhood
  werkplaats query --federation fed.json --dataset neighbourhood indicators profile.json --by neighbourhood

Exit codes: 0 ok; 1 internal error; 2 usage; 3 bad expression, unknown column or dataset; 4 refused
by a station's policy; 5 too few stations; 6 a station unreachable; 8 protocol violation.
`;

const STATISTICS = ["count", "crosstab", "mean", "summary", "sum", "variance", "histogram", "quantile", "proportion", "rate", "standardised-rate", "indicators"];

export async function queryCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(
    argv,
    {
      federation: { type: "string" },
      dataset: { type: "string" },
      where: { type: "string" },
      by: { type: "string", multiple: true },
      edges: { type: "string" },
      probs: { type: "string" },
      bins: { type: "string" },
      range: { type: "string" },
      per: { type: "string" },
      level: { type: "string" },
      "age-column": { type: "string" },
      reference: { type: "string" },
      timeout: { type: "string" },
      json: { type: "boolean" },
      out: { type: "string" },
      "log-format": { type: "string" },
    },
    "query",
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [statistic, ...args] = positionals;
  if (!statistic) throw new UsageError("query needs a statistic\nsee: werkplaats query --help");
  if (!STATISTICS.includes(statistic)) throw new UsageError(`unknown statistic "${statistic}" (one of ${STATISTICS.join(", ")})`);
  if (!values.federation) throw new UsageError("query needs --federation FED.json");
  if (!values.dataset) throw new UsageError("query needs --dataset NAME");
  const arity = statistic === "crosstab" ? 2 : statistic === "count" ? 0 : 1;
  if (args.length !== arity) {
    throw new UsageError(`${statistic} takes ${arity === 0 ? "no arguments" : arity === 1 ? "one argument" : "two arguments"}, got ${args.length}\nsee: werkplaats query --help`);
  }
  const by = (values.by ?? []).flatMap((b) => b.split(",")).map((b) => b.trim()).filter((b) => b.length > 0);
  const per = values.per === undefined ? undefined : positiveNumber(values.per, "per");
  const level = values.level === undefined ? undefined : positiveNumber(values.level, "level");
  const timeoutSeconds = values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : positiveNumber(values.timeout, "timeout");
  const log = new CommandLog("query", logFormatOf(values["log-format"]));
  // What is withheld is the stations' decision (the study's minimum cell size), not a flag here.
  const common = { ...(by.length > 0 ? { by } : {}) };

  // Everything the analyst typed is checked before a station is contacted.
  if (values.where !== undefined) parseWhere(values.where);
  let run: (q: DatasetQuery) => Promise<{ toJSON(): object; toString(): string }>;
  switch (statistic) {
    case "count":
      run = (q) => q.count(common);
      break;
    case "crosstab":
      if (by.length > 0) throw new UsageError("crosstab takes its two columns as arguments, not --by");
      run = (q) => q.crosstab(args[0], args[1]);
      break;
    case "mean":
    case "summary":
    case "sum":
    case "variance":
      run = (q) => q.summary(args[0], common);
      break;
    case "histogram": {
      if (!values.edges) throw new UsageError("histogram needs --edges E1,E2,… (at least two, increasing)");
      const edges = numberList(values.edges, "edges");
      run = (q) => q.histogram(args[0], { ...common, edges });
      break;
    }
    case "quantile": {
      const probabilities = values.probs ? numberList(values.probs, "probs") : [0.25, 0.5, 0.75];
      const bins = values.bins === undefined ? undefined : wholeNumber(values.bins, "bins", 1000);
      const range = values.range === undefined ? undefined : numberList(values.range, "range");
      if (range && range.length !== 2) throw new UsageError("--range takes two numbers: LO,HI");
      run = (q) => q.quantile(args[0], probabilities, { ...common, ...(bins !== undefined ? { bins } : {}), ...(range ? { range: [range[0], range[1]] } : {}) });
      break;
    }
    case "proportion":
    case "rate":
      parseWhere(args[0]);
      run = (q) => (statistic === "rate" ? q.rate(args[0], { ...common, ...(per ? { per } : {}), ...(level ? { level } : {}) }) : q.proportion(args[0], { ...common, ...(per ? { per } : {}), ...(level ? { level } : {}) }));
      break;
    case "standardised-rate": {
      parseWhere(args[0]);
      const ageColumn = values["age-column"];
      if (!ageColumn) throw new UsageError("standardised-rate needs --age-column COL");
      if (!values.reference) throw new UsageError('standardised-rate needs --reference \'{"18-39": 0.35, …}\' (or a JSON file)');
      const reference = jsonArgument(values.reference, "--reference") as Record<string, number>;
      if (!reference || typeof reference !== "object" || Array.isArray(reference)) throw new UsageError("--reference must be a JSON object of age group → weight");
      run = (q) => q.standardisedRate(args[0], { ...common, ageColumn, reference, ...(per ? { per } : {}), ...(level ? { level } : {}) });
      break;
    }
    case "indicators": {
      const definitions = jsonArgument(args[0], "the indicator set") as IndicatorDefinition[];
      if (!Array.isArray(definitions)) throw new UsageError("the indicator set must be a JSON list of {name, numerator, denominator?, by?, per?}");
      for (const d of definitions) {
        parseWhere(String(d?.numerator ?? ""));
        if (d?.denominator !== undefined) parseWhere(String(d.denominator));
      }
      run = (q) => q.indicators(definitions, { ...common, ...(per ? { per } : {}), ...(level ? { level } : {}) });
      break;
    }
    default:
      throw new UsageError(`unknown statistic "${statistic}"`);
  }

  const started = Date.now();
  const fed = await Federation.connect(values.federation, { timeoutMs: timeoutSeconds * 1000 });
  try {
    if (log.format === "json") log.info("connected", `connected to ${fed.stations.join(", ")}`, { stations: fed.stations });
    let query = fed.dataset(values.dataset);
    if (values.where !== undefined) query = query.where(values.where);
    const result = await run(query);
    if (log.format === "json") log.info("computed", `${statistic} computed in ${((Date.now() - started) / 1000).toFixed(2)} s`, { statistic, seconds: (Date.now() - started) / 1000 });
    if (values.out) {
      writeOutFile(values.out, JSON.stringify(result.toJSON(), null, 2) + "\n");
      log.info("saved", `result saved to ${resolve(values.out)}`, { file: resolve(values.out) });
    }
    process.stdout.write(values.json ? JSON.stringify(result.toJSON()) + "\n" : result.toString() + "\n");
    return 0;
  } finally {
    fed.close();
  }
}

function positiveNumber(text: string, name: string): number {
  const x = Number(text);
  if (!(Number.isFinite(x) && x > 0)) throw new UsageError(`--${name} must be a positive number, got "${text}"`);
  return x;
}

function numberList(text: string, name: string): number[] {
  const xs = text.split(",").map((t) => Number(t.trim()));
  if (xs.length === 0 || xs.some((x) => !Number.isFinite(x))) throw new UsageError(`--${name} must be numbers separated by commas, got "${text}"`);
  return xs;
}

/** Inline JSON (starting with { or [) or the path of a file holding it. */
function jsonArgument(text: string, what: string): unknown {
  const trimmed = text.trim();
  let source = trimmed;
  if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) {
    try {
      source = readFileSync(trimmed, "utf8");
    } catch (err) {
      throw new BadInput(`${what}: cannot read ${trimmed}: ${(err as Error).message}`);
    }
  }
  try {
    return JSON.parse(source);
  } catch (err) {
    throw new BadInput(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

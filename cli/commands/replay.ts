/**
 * `werkplaats replay RESULT.json`: run a saved result's or model's job again (from its provenance)
 * and report "identical" or exactly what differs — stations missing or added, a station's dataset
 * snapshot changed, software or protocol versions, and every number that moved. For a researcher
 * reproducing a published analysis, and for a scheduler checking that nothing changed.
 */
import { EXIT, UsageError } from "../exit-codes.js";
import { parseArgs } from "../args.js";
import { CommandLog, logFormatOf } from "../log.js";
import { DEFAULT_REPLAY_TOLERANCE, describeDifference, formatReplayReport, loadReplayable, replay } from "../../sdk/replay.js";

const DEFAULT_TIMEOUT_SECONDS = 30;

const HELP = `werkplaats replay RESULT.json [--federation FED.json] [--json] [--tolerance 1e-9]

Runs the job(s) recorded in a result's provenance again — the same dataset, where-expression,
computation, group-by and factor levels, formula, family and options — and compares:
  - the stations that took part (a station missing or added, by name),
  - each station's dataset snapshot (its fingerprint: equal means the same data),
  - the software and protocol versions of this SDK and of every station,
  - every number: the absolute and relative difference of each estimate or cell that moved by
    more than the tolerance (|a − b| > tolerance · max(1, |a|, |b|)).

RESULT.json is any 'werkplaats query --json' or 'werkplaats glm --json' output, or a saved model
(--out), that carries provenance.

  --federation FED.json      replay on this federation (default: the federation file the result
                             was computed on; a 'glm --local' result is re-served from its files)
  --tolerance X              numeric tolerance (default ${DEFAULT_REPLAY_TOLERANCE})
  --timeout SECONDS          deadline of every call to a station (default ${DEFAULT_TIMEOUT_SECONDS})
  --json                     print one JSON object: identical, differences, numeric, largest,
                             notes, the original and replayed provenance, and the replayed result
  --log-format text|json     progress on stderr as human lines or one JSON object per event

Exit codes: 0 identical; 9 differs (what differs is printed); 1 internal error; 2 usage; 3 bad
input (no such file, not JSON, no provenance, or the job no longer fits the data); 4 refused by
policy; 5 too few stations; 6 a station unreachable; 7 not converged; 8 protocol violation.
`;

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(
    argv,
    {
      federation: { type: "string" },
      tolerance: { type: "string" },
      timeout: { type: "string" },
      json: { type: "boolean" },
      "log-format": { type: "string" },
    },
    "replay",
  );
  if (values.help) {
    process.stdout.write(HELP);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(`replay takes one RESULT.json, got ${positionals.length}\nsee: werkplaats replay --help`);
  const tolerance = values.tolerance === undefined ? DEFAULT_REPLAY_TOLERANCE : Number(values.tolerance);
  if (!(Number.isFinite(tolerance) && tolerance >= 0)) throw new UsageError(`--tolerance must be a non-negative number, got "${values.tolerance}"`);
  const timeoutSeconds = values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : Number(values.timeout);
  if (!(timeoutSeconds > 0)) throw new UsageError(`--timeout must be a positive number of seconds, got "${values.timeout}"`);
  const log = new CommandLog("replay", logFormatOf(values["log-format"]));

  const [file] = positionals;
  const { provenance } = loadReplayable(file);
  log.info("replaying", `replaying ${provenance.call.method} on ${provenance.dataset} (computed ${provenance.time} on ${provenance.stations.map((s) => s.name).join(", ")})`, {
    file,
    method: provenance.call.method,
    dataset: provenance.dataset,
    computed: provenance.time,
  });
  const report = await replay(file, {
    ...(values.federation ? { federation: values.federation } : {}),
    connect: { timeoutMs: timeoutSeconds * 1000 },
    tolerance,
    onProgress: (m) => log.info("progress", m),
    onIteration: (info) =>
      log.event("info", "iteration", { iteration: info.iteration, deviance: info.deviance, change: info.change, stations: info.stations }, `iteration ${info.iteration}: deviance ${info.deviance.toPrecision(10)}`),
  });
  if (report.identical) log.info("identical", "identical", { tolerance });
  else {
    log.event(
      "warn",
      "differs",
      { differences: report.differences.map(describeDifference), numeric_differences: report.numeric.length, largest: report.largest },
      `differs: ${report.differences.length} difference${report.differences.length === 1 ? "" : "s"} in stations, snapshots or versions; ${report.numeric.length} number${report.numeric.length === 1 ? "" : "s"} beyond the tolerance`,
    );
  }
  process.stdout.write(values.json ? JSON.stringify(report) + "\n" : formatReplayReport(report));
  return report.identical ? EXIT.OK : EXIT.DIFFERS;
}

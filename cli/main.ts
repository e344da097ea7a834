#!/usr/bin/env node
import { WerkplaatsError } from "../common/errors.js";
import { SOFTWARE_VERSION } from "../common/version.js";
import { demoCommand } from "./commands/demo.js";
import { federationCommand } from "./commands/federation.js";
import { glmCommand } from "./commands/glm.js";
import { keysCommand } from "./commands/keys.js";
import { kernelCommand } from "./commands/kernel.js";
import { stationCommand } from "./commands/station.js";
import { queryCommand } from "./commands/query.js";
import { replayCommand } from "./commands/replay.js";
import { synthCommand } from "./commands/synth.js";
import { EXIT, UsageError, exitCodeOf } from "./exit-codes.js";
import { CommandLog } from "./log.js";

const HELP = `werkplaats ${SOFTWARE_VERSION} — federated analysis of health and social-care data

Usage:
  werkplaats demo                        three local stations, a short analysis, exit 0
  werkplaats synth SCENARIO …            synthetic station CSVs + truth.json
  werkplaats station init|start DIR      set up and run an organisation's station
  werkplaats station roster DIR --federation F  check the station's entry, take the members
  werkplaats federation add F ENTRY.json…  assemble the federation file from stations' entries
  werkplaats station policy check DIR    validate a policy without starting
  werkplaats station audit DIR [--verify] read and verify the audit log
  werkplaats station score DIR --model M  apply a saved model to the station's own rows
  werkplaats keys new --out DIR          a researcher's signing key pair
  werkplaats kernel install|uninstall    the TypeScript kernel for Jupyter notebooks
  werkplaats glm FORMULA --local a.csv …  fit a GLM over local files as stations (or --federation)
  werkplaats query --federation F --dataset D STATISTIC …  counts, crosstabs, means, quantiles, indicators
  werkplaats replay RESULT.json          run a saved result's job again and compare

Every command has --help. Exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input,
4 refused by policy, 5 too few stations, 6 station unreachable, 7 not converged,
8 protocol violation, 9 replay differs, 10 a station's data changed during the run.
`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  demo: demoCommand,
  synth: synthCommand,
  station: stationCommand,
  federation: federationCommand,
  kernel: kernelCommand,
  glm: glmCommand,
  query: queryCommand,
  replay: replayCommand,
  keys: keysCommand,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(HELP);
    return command ? EXIT.OK : EXIT.USAGE;
  }
  if (command === "--version") {
    process.stdout.write(`${SOFTWARE_VERSION}\n`);
    return EXIT.OK;
  }
  const run = COMMANDS[command];
  if (!run) throw new UsageError(`unknown command "${command}"\n\n${HELP}`);
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = exitCodeOf(err);
    if (jsonLogRequested(process.argv.slice(2))) {
      // --log-format json: the failure too is one JSON object, so collectors see why a run failed.
      const message = err instanceof WerkplaatsError || err instanceof UsageError ? err.message : `internal error: ${(err as Error)?.stack ?? String(err)}`;
      const command = process.argv[2] ?? "";
      new CommandLog(command, "json").event("error", "failed", { message, exit_code: code, ...(err instanceof WerkplaatsError ? { code: err.code } : {}) }, message);
    } else if (err instanceof WerkplaatsError || err instanceof UsageError) {
      process.stderr.write(`werkplaats: ${err.message}\n`);
    } else {
      process.stderr.write(`werkplaats: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    }
    process.exitCode = code;
  },
);

function jsonLogRequested(argv: readonly string[]): boolean {
  return argv.some((a, i) => a === "--log-format=json" || (a === "--log-format" && argv[i + 1] === "json"));
}

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { WerkplaatsError } from "../../common/errors.js";
import { loadConfig } from "../../station-daemon/config.js";
import { openDatasetSource } from "../../station-daemon/sources/index.js";
import { loadPolicy, type KnownDatasets } from "../../station-daemon/governance/policy.js";
import { parseArgs } from "../args.js";
import { EXIT, UsageError } from "../exit-codes.js";

const HELP = `werkplaats station policy — the station's policy (DIR/policy.json)

  werkplaats station policy check DIR [--json]
      Validates DIR/policy.json without starting the station: every field, and every dataset
      and column it names against station.json and the data files' header lines. Exit 0 when
      valid, 3 with the error (naming the field) when not.
`;

export async function stationPolicyCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") {
    process.stdout.write(HELP);
    return sub ? 0 : 2;
  }
  if (sub !== "check") throw new UsageError(`unknown station policy command "${sub}"\n${HELP}`);
  const { values, positionals } = parseArgs(rest, { json: { type: "boolean" } }, "station policy check");
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("station policy check takes one folder: werkplaats station policy check DIR");
  const dir = positionals[0];
  try {
    const policy = loadPolicy(dir, { datasets: await knownDatasets(dir) });
    if (values.json) {
      process.stdout.write(JSON.stringify({ ok: true, studies: policy.studies.map((s) => ({ id: s.id, expires: s.expires, researchers: s.researchers.length })) }) + "\n");
    } else {
      process.stdout.write(`${join(resolve(dir), "policy.json")} is valid: ${policy.studies.length} stud${policy.studies.length === 1 ? "y" : "ies"}\n`);
      for (const s of policy.studies) {
        const expired = Date.now() >= s.expiresAt ? " (EXPIRED)" : "";
        process.stdout.write(`  ${s.id}: ${s.researchers.length} researcher(s), expires ${s.expires}${expired}, computations ${s.computations === "*" ? "all" : s.computations.join(", ")}\n`);
      }
    }
    return EXIT.OK;
  } catch (err) {
    if (!(err instanceof WerkplaatsError)) throw err;
    if (values.json) process.stdout.write(JSON.stringify({ ok: false, code: err.code, error: err.message }) + "\n");
    else process.stderr.write(`werkplaats: ${err.message}\n`);
    return EXIT.BAD_INPUT;
  }
}

/**
 * Datasets and their columns as the station would open them (CSV, Parquet or a database table),
 * when the folder is a station: a policy naming a column the data lacks is an error.
 */
async function knownDatasets(dir: string): Promise<KnownDatasets | undefined> {
  if (!existsSync(join(resolve(dir), "station.json"))) return undefined;
  const config = loadConfig(dir);
  const known = new Map<string, string[]>();
  for (const dataset of config.datasets) {
    const source = await openDatasetSource(dataset, { dir });
    try {
      known.set(dataset.name, [...source.table.columns.keys()]);
    } finally {
      await source.close();
    }
  }
  return known;
}

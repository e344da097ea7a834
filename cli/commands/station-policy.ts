import { closeSync, existsSync, openSync, readSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "csv-parse/sync";
import { ConfigInvalid, WerkplaatsError } from "../../common/errors.js";
import { datasetPath, loadConfig } from "../../station-daemon/config.js";
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
    const policy = loadPolicy(dir, { datasets: knownDatasets(dir) });
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

/** Datasets and their columns from station.json and each CSV's header line, when the folder is a station. */
function knownDatasets(dir: string): KnownDatasets | undefined {
  if (!existsSync(join(resolve(dir), "station.json"))) return undefined;
  const config = loadConfig(dir);
  const known = new Map<string, string[]>();
  for (const source of config.datasets) {
    const file = datasetPath(dir, source);
    if (!existsSync(file)) throw new ConfigInvalid(`data file ${file} of dataset ${source.name} (station.json) does not exist`);
    const fd = openSync(file, "r");
    const buf = Buffer.alloc(1 << 20);
    const got = readSync(fd, buf, 0, buf.length, 0);
    closeSync(fd);
    const head = buf.subarray(0, got).toString("utf8").split(/\r?\n/, 1)[0] ?? "";
    const [columns] = parse(head, { to_line: 1 }) as string[][];
    known.set(source.name, (columns ?? []).map((c) => c.trim()));
  }
  return known;
}

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigInvalid, StationUnreachable } from "../../common/errors.js";
import { Federation } from "../../sdk/federation.js";
import { addToFederationFile } from "../../sdk/federation-file.js";
import { parseArgs } from "../args.js";
import { UsageError } from "../exit-codes.js";

const HELP = `werkplaats federation — the federation file analysts connect with

  werkplaats federation add FEDERATION.json ENTRY.json… [--name NAME] [--study ID] [--key PATH] [--replace]
      Adds each station's entry (what "werkplaats station init … --json" printed: name, address,
      identityKey, tlsFingerprint) to FEDERATION.json, creating it if it does not exist. An entry
      for a station already listed under the same identity key updates its address and
      fingerprint; a name listed under another key (or a key under another name) is refused,
      unless --replace (a station that was set up again). The file is validated and written
      atomically. --name, --study and --key (the researcher's key, relative to the file) set the
      file's defaults.
  werkplaats federation check FEDERATION.json [--wait SECONDS] [--study ID] [--key PATH] [--json]
      Connects to every station (TLS pinned, signed GetInfo) and lists what each offers. With
      --wait, stations that are not listening yet are retried until they answer or SECONDS pass
      (for scripts that start stations in the background). Exit 0 when all answer; otherwise the
      exit code says why (3: a field of the file is wrong, 4: refused, 6: unreachable).
`;

export async function federationCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") {
    process.stdout.write(HELP);
    return sub ? 0 : 2;
  }
  if (sub === "add") return add(rest);
  if (sub === "check") return check(rest);
  throw new UsageError(`unknown federation command "${sub}"\n${HELP}`);
}

function add(argv: string[]): number {
  const { values, positionals } = parseArgs(
    argv,
    { name: { type: "string" }, study: { type: "string" }, key: { type: "string" }, replace: { type: "boolean" } },
    "federation add",
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length < 2) throw new UsageError("usage: werkplaats federation add FEDERATION.json ENTRY.json…");
  const [target, ...sources] = positionals;
  const entries = sources.flatMap((source) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(source, "utf8"));
    } catch (err) {
      throw new ConfigInvalid(`cannot read station entry ${source}: ${(err as Error).message}`);
    }
    // One entry, or a list of them (several stations' init output collected in one file).
    return (Array.isArray(parsed) ? parsed : [parsed]).map((entry) => ({ entry, source }));
  });
  const { file, added, updated } = addToFederationFile(resolve(target), entries, {
    ...(values.name ? { name: values.name } : {}),
    ...(values.study ? { study: values.study } : {}),
    ...(values.key ? { key: values.key } : {}),
    replace: values.replace === true,
  });
  const said = [added.length > 0 ? `added ${added.join(", ")}` : "", updated.length > 0 ? `updated ${updated.join(", ")}` : ""].filter(Boolean).join("; ");
  process.stdout.write(`${target}: ${said}; ${file.stations.length} station${file.stations.length === 1 ? "" : "s"} (${file.stations.map((s) => s.name).join(", ")})\n`);
  return 0;
}

async function check(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(
    argv,
    { wait: { type: "string" }, study: { type: "string" }, key: { type: "string" }, json: { type: "boolean" } },
    "federation check",
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("usage: werkplaats federation check FEDERATION.json [--wait SECONDS]");
  const waitSeconds = values.wait === undefined ? 0 : Number(values.wait);
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0) throw new UsageError(`--wait takes a number of seconds, got "${values.wait}"`);
  const until = Date.now() + waitSeconds * 1000;
  let federation: Federation;
  for (;;) {
    try {
      federation = await Federation.connect(positionals[0], { ...(values.study ? { study: values.study } : {}), ...(values.key ? { key: values.key } : {}), timeoutMs: 10_000 });
      break;
    } catch (err) {
      // Only a station that is not there (yet) is worth waiting for; a wrong file or a refusal stays so.
      if (!(err instanceof StationUnreachable) || Date.now() >= until) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    const datasets = await federation.datasets();
    if (values.json) {
      process.stdout.write(JSON.stringify({ federation: federation.name, stations: federation.stations, datasets: datasets.map((d) => ({ name: d.name, stations: d.stations, columns: d.columns.map((c) => c.name) })) }) + "\n");
    } else {
      process.stdout.write(`federation ${federation.name}: ${federation.stations.length} stations answer (${federation.stations.join(", ")})\n`);
      for (const d of datasets) process.stdout.write(`  dataset ${d.name}: ${d.columns.length} columns, at ${d.stations.join(", ")}\n`);
    }
  } finally {
    federation.close();
  }
  return 0;
}

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigInvalid } from "../../common/errors.js";
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
`;

export async function federationCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") {
    process.stdout.write(HELP);
    return sub ? 0 : 2;
  }
  if (sub === "add") return add(rest);
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

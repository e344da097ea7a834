import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigInvalid } from "../../common/errors.js";
import { readFederationFile } from "../../sdk/federation-file.js";
import { PUBLIC_KEY_FILE, initStation, loadConfig, parseDataArgument, saveConfig } from "../../station-daemon/config.js";
import { Station } from "../../station-daemon/station.js";
import { parseArgs } from "../args.js";
import { UsageError } from "../exit-codes.js";
import { stationAuditCommand } from "./station-audit.js";
import { stationPolicyCommand } from "./station-policy.js";
import { stationScoreCommand } from "./station-score.js";
import { whenParentIsGone } from "../../common/parent-watch.js";

const HELP = `werkplaats station — run an organisation's data station

  werkplaats station init DIR --name NAME --data [dataset=]FILE.csv … [--roster FEDERATION.json]
                          [--listen HOST:PORT] [--allow-researcher researcher.pub --study ID] [--json]
      Creates DIR with station.json, a fresh Ed25519 identity key pair (identity.key, mode 0600),
      a TLS certificate (tls.crt; its fingerprint goes into the federation file) and policy.json.
      --roster copies the federation's members (names and identity keys) into the station's roster:
      the station only ever does secure aggregation with the members listed there.
      Without --allow-researcher the policy has no studies and refuses every request: edit
      policy.json (werkplaats station policy check DIR validates it).
  werkplaats station policy check DIR [--json]
      Validates policy.json against the schema and the station's datasets, without starting.
  werkplaats station audit DIR [--verify] [--study S] [--researcher KEY] [--since ISO] [--until ISO] [--json]
      Shows the audit log; --verify detects edited, removed, reordered or truncated lines.
  werkplaats station score DIR --model M.json --dataset NAME --out FILE.csv   (see: station score --help)
      Applies a saved model to the station's own rows, locally; the scores stay at the station.
  werkplaats station roster DIR --federation FEDERATION.json
      Sets the station's roster from a federation file (after every member's identity key is known).
  werkplaats station start DIR [--exit-with-parent PID]
      Loads the datasets (a malformed file stops the station, naming file, line and column),
      serves on the configured address (port 0: a free one), prints "listening on HOST:PORT",
      and stops cleanly on SIGINT or SIGTERM.
`;

export async function stationCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") {
    process.stdout.write(HELP);
    return sub ? 0 : 2;
  }
  if (sub === "init") return init(rest);
  if (sub === "roster") return roster(rest);
  if (sub === "start") return start(rest);
  if (sub === "policy") return stationPolicyCommand(rest);
  if (sub === "audit") return stationAuditCommand(rest);
  if (sub === "score") return stationScoreCommand(rest);
  throw new UsageError(`unknown station command "${sub}"\n${HELP}`);
}

/**
 * The roster is the station's own list of federation members: it does secure aggregation only
 * with stations listed here, whatever a coordinator claims. Set it (again) from a federation file.
 */
function roster(argv: string[]): number {
  const { values, positionals } = parseArgs(argv, { federation: { type: "string" } }, "station roster");
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1 || !values.federation) throw new UsageError("usage: werkplaats station roster DIR --federation FEDERATION.json");
  const dir = positionals[0];
  const config = loadConfig(dir);
  const members = readFederationFile(values.federation).stations.map((s) => ({ name: s.name, identityKey: s.identityKey }));
  const own = members.find((m) => m.name === config.name);
  const ownKey = readFileSync(join(resolve(dir), PUBLIC_KEY_FILE), "utf8").trim();
  if (!own) throw new ConfigInvalid(`${values.federation} does not list this station (${config.name})`);
  if (own.identityKey !== ownKey) throw new ConfigInvalid(`${values.federation} lists ${config.name} with another identity key than ${join(resolve(dir), PUBLIC_KEY_FILE)}`);
  saveConfig(dir, { ...config, roster: members });
  process.stdout.write(`station ${config.name}: roster set to ${members.map((m) => m.name).join(", ")} (restart the station to use it)\n`);
  return 0;
}

function init(argv: string[]): number {
  const { values, positionals } = parseArgs(
    argv,
    {
      name: { type: "string" },
      data: { type: "string", multiple: true },
      roster: { type: "string" },
      listen: { type: "string" },
      "allow-researcher": { type: "string" },
      study: { type: "string" },
      json: { type: "boolean" },
    },
    "station init",
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("station init takes one folder: werkplaats station init DIR --name NAME --data FILE.csv");
  if (!values.name) throw new UsageError("station init needs --name NAME");
  const data = (values.data ?? []).map(parseDataArgument);
  if (data.length === 0) throw new UsageError("station init needs at least one --data [dataset=]FILE.csv");
  const roster = values.roster ? readFederationFile(values.roster).stations.map((s) => ({ name: s.name, identityKey: s.identityKey })) : undefined;
  let allowResearcher: { key: string; study?: string } | undefined;
  if (values["allow-researcher"]) {
    const given = values["allow-researcher"];
    const key = existsSync(given) ? readFileSync(given, "utf8").trim() : given;
    if (!/^[0-9a-fA-F]{64}$/.test(key)) throw new UsageError("--allow-researcher takes a researcher.pub file or its 64 hex digits");
    allowResearcher = { key, ...(values.study ? { study: values.study } : {}) };
  } else if (values.study) {
    throw new UsageError("--study goes with --allow-researcher");
  }
  const { config, publicKey, tlsFingerprint } = initStation({ dir: positionals[0], name: values.name, data, listen: values.listen, roster, allowResearcher });
  if (values.json) {
    process.stdout.write(JSON.stringify({ name: config.name, dir: resolve(positionals[0]), identityKey: publicKey, tlsFingerprint }) + "\n");
  } else {
    process.stdout.write(
      `station ${config.name} created in ${resolve(positionals[0])}\n` +
        `identity key (give this to the federation): ${publicKey}\n` +
        `TLS fingerprint (the federation file pins it): ${tlsFingerprint}\n` +
        (allowResearcher ? "" : `policy.json has no studies yet: the station refuses every request until you add one\n`) +
        (config.roster.length === 0 ? `roster is empty: add the federation's members before joining jobs (--roster FEDERATION.json)\n` : ""),
    );
  }
  return 0;
}

async function start(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(argv, { "exit-with-parent": { type: "string" } }, "station start");
  const parent = values["exit-with-parent"] === undefined ? undefined : Number(values["exit-with-parent"]);
  if (parent !== undefined && (!Number.isInteger(parent) || parent <= 1)) throw new UsageError("--exit-with-parent takes the process id of the parent");
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("station start takes one folder: werkplaats station start DIR");
  const dir = positionals[0];
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(join(dir, "station.json"), "utf8"));
  } catch {
    config = undefined;
  }
  if (config === undefined) throw new ConfigInvalid(`${join(resolve(dir), "station.json")} not found or unreadable: run werkplaats station init first`);
  const station = await Station.open(dir, {
    log: {
      info: (m) => process.stderr.write(`[${new Date().toISOString()}] ${m}\n`),
      error: (m) => process.stderr.write(`[${new Date().toISOString()}] ERROR ${m}\n`),
    },
  });
  const address = await station.start();
  process.stdout.write(`station ${station.config.name} listening on ${address}\n`);
  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      process.stderr.write(`station ${station.config.name}: ${signal}, stopping\n`);
      station.stop().then(done, done);
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
    if (parent !== undefined) whenParentIsGone(parent, stop);
  });
  return 0;
}

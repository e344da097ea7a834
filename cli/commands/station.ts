import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigInvalid } from "../../common/errors.js";
import { readFederationFile } from "../../sdk/federation-file.js";
import { CONFIG_FILE, DEFAULT_LISTEN, PUBLIC_KEY_FILE, initStation, isLoopbackListen, loadConfig, parseDataArgument, saveConfig } from "../../station-daemon/config.js";
import { POLICY_FILE } from "../../station-daemon/governance/policy.js";
import { TLS_CERTIFICATE_FILE, loadStationTls } from "../../station-daemon/governance/tls.js";
import { Station } from "../../station-daemon/station.js";
import { parseArgs } from "../args.js";
import { UsageError } from "../exit-codes.js";
import { stationAuditCommand } from "./station-audit.js";
import { stationPolicyCommand } from "./station-policy.js";
import { stationScoreCommand } from "./station-score.js";
import { whenParentIsGone } from "../../common/parent-watch.js";

const HELP = `werkplaats station — run an organisation's data station

  werkplaats station init DIR --name NAME --data [dataset=]FILE.csv … [--listen HOST:PORT] [--address HOST:PORT]
                          [--allow-researcher researcher.pub --study ID [--purpose TEXT --dpia REF]] [--roster FEDERATION.json] [--json]
      Creates DIR with station.json, a fresh Ed25519 identity key pair (identity.key, mode 0600),
      a TLS certificate (tls.crt; its fingerprint goes into the federation file) and policy.json.
      --listen is where the station serves (default ${DEFAULT_LISTEN}: loopback only, a fixed port;
      use 0.0.0.0:7443 to serve the network). --address is how analysts reach it (default: the
      --listen address). --json prints the station's federation entry
      {name, address, identityKey, tlsFingerprint}: save it and give it to whoever assembles the
      federation file (werkplaats federation add).
      --allow-researcher writes a study (--study ID) that lets that researcher use every dataset,
      column and computation under the default disclosure limits. --purpose and --dpia record the
      study's purpose and DPIA reference; without them the study says "Demonstration and local
      analysis", which is allowed only for a loopback --listen, and init says so loudly.
      Without --allow-researcher the policy has no studies and refuses every request: edit
      policy.json (werkplaats station policy check DIR validates it).
  werkplaats station roster DIR --federation FEDERATION.json
      Checks the federation file's entry for this station against its configuration (address
      against --listen, identity key, TLS fingerprint: a mismatch is named, exit 3), then sets the
      station's roster to the file's members: the station only ever does secure aggregation with
      them. Restart the station to use it. Until it has a roster, a station starts and answers
      GetInfo but refuses jobs.
  werkplaats station policy check DIR [--json]
      Validates policy.json against the schema and the station's datasets, without starting.
  werkplaats station audit DIR [--verify] [--study S] [--researcher KEY] [--since ISO] [--until ISO] [--json]
      Shows the audit log; --verify detects edited, removed, reordered or truncated lines.
  werkplaats station score DIR --model M.json --dataset NAME --out FILE.csv   (see: station score --help)
      Applies a saved model to the station's own rows, locally; the scores stay at the station.
  werkplaats station start DIR [--exit-with-parent PID]
      Loads the datasets (a malformed file stops the station, naming file, line and column),
      serves on the configured address (port 0: a free one), prints "listening on HOST:PORT",
      and stops cleanly on SIGINT, SIGTERM or SIGHUP.
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
 * with stations listed here, whatever a coordinator claims. Set it (again) from a federation file,
 * after checking that the file describes this station as it is: a wrong address, key or
 * fingerprint there would otherwise surface only later, as an "unreachable" station.
 */
function roster(argv: string[]): number {
  const { values, positionals } = parseArgs(argv, { federation: { type: "string" } }, "station roster");
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1 || !values.federation) throw new UsageError("usage: werkplaats station roster DIR --federation FEDERATION.json");
  const dir = positionals[0];
  const fedFile = values.federation;
  const config = loadConfig(dir);
  const stations = readFederationFile(fedFile).stations;
  const index = stations.findIndex((m) => m.name === config.name);
  const own = stations[index];
  const keyFile = join(resolve(dir), PUBLIC_KEY_FILE);
  const ownKey = readFileSync(keyFile, "utf8").trim();
  if (!own) throw new ConfigInvalid(`${fedFile} does not list this station (${config.name}); add it: werkplaats federation add ${fedFile} ENTRY.json`);
  const field = (f: string) => `${fedFile}: field "stations[${index}].${f}"`;
  if (own.identityKey !== ownKey) throw new ConfigInvalid(`${field("identityKey")} lists ${config.name} with another identity key than ${keyFile} (${ownKey})`);
  const fingerprint = loadStationTls(dir).fingerprint;
  if (own.tlsFingerprint !== fingerprint) {
    throw new ConfigInvalid(`${field("tlsFingerprint")} is not the fingerprint of this station's certificate ${join(resolve(dir), TLS_CERTIFICATE_FILE)} (${fingerprint})`);
  }
  const addressProblem = compareAddress(own.address, config.listen);
  if (addressProblem) throw new ConfigInvalid(`${field("address")} is ${own.address}, but ${join(resolve(dir), CONFIG_FILE)} listens on ${config.listen}: ${addressProblem}`);
  const members = stations.map((s) => ({ name: s.name, identityKey: s.identityKey }));
  saveConfig(dir, { ...config, roster: members });
  process.stdout.write(`station ${config.name}: entry checked; roster set to ${members.map((m) => m.name).join(", ")} (restart the station to use it)\n`);
  return 0;
}

/**
 * Whether analysts using `address` reach a station listening on `listen`; a reason when they
 * cannot. Host names other than loopback cannot be checked from here and are accepted when the
 * port matches (the station may sit behind a name or a forwarded port only its steward knows).
 */
function compareAddress(address: string, listen: string): string | undefined {
  const split = (a: string) => {
    const i = a.lastIndexOf(":");
    return { host: a.slice(0, i).replace(/^\[(.*)\]$/, "$1").toLowerCase(), port: a.slice(i + 1) };
  };
  const a = split(address);
  const l = split(listen);
  if (l.port === "0") return "a station listening on port 0 gets a new port at every start; give it a fixed one in station.json (\"listen\")";
  const loopback = (h: string) => h === "localhost" || h === "::1" || /^127\./.test(h);
  const wildcard = l.host === "0.0.0.0" || l.host === "::";
  if (loopback(l.host) && !loopback(a.host)) return "the station listens on loopback only, so it cannot be reached under another host name";
  if (a.port !== l.port && (loopback(a.host) || wildcard || a.host === l.host)) return "the ports differ";
  return undefined;
}

function init(argv: string[]): number {
  const { values, positionals } = parseArgs(
    argv,
    {
      name: { type: "string" },
      data: { type: "string", multiple: true },
      roster: { type: "string" },
      listen: { type: "string" },
      address: { type: "string" },
      "allow-researcher": { type: "string" },
      study: { type: "string" },
      purpose: { type: "string" },
      dpia: { type: "string" },
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
  const listen = values.listen ?? DEFAULT_LISTEN;
  const roster = values.roster ? readFederationFile(values.roster).stations.map((s) => ({ name: s.name, identityKey: s.identityKey })) : undefined;
  let allowResearcher: { key: string; study?: string; purpose?: string; dpia?: string } | undefined;
  let demonstration = false;
  if (values["allow-researcher"]) {
    const given = values["allow-researcher"];
    const key = existsSync(given) ? readFileSync(given, "utf8").trim() : given;
    if (!/^[0-9a-fA-F]{64}$/.test(key)) throw new UsageError("--allow-researcher takes a researcher.pub file or its 64 hex digits");
    demonstration = !values.purpose || !values.dpia;
    // A station the network can reach serves real analysts: its policy must say why and under
    // which DPIA, not carry a demonstration study nobody chose.
    if (demonstration && !isLoopbackListen(listen)) {
      throw new UsageError(`--allow-researcher on a station listening on ${listen} needs --purpose TEXT and --dpia REFERENCE (the study's purpose and DPIA, written into policy.json)`);
    }
    allowResearcher = { key, ...(values.study ? { study: values.study } : {}), ...(values.purpose ? { purpose: values.purpose } : {}), ...(values.dpia ? { dpia: values.dpia } : {}) };
  } else if (values.study || values.purpose || values.dpia) {
    throw new UsageError("--study, --purpose and --dpia go with --allow-researcher");
  }
  const dir = resolve(positionals[0]);
  const { config, publicKey, tlsFingerprint } = initStation({ dir, name: values.name, data, listen, roster, allowResearcher });
  const entry = { name: config.name, address: values.address ?? config.listen, identityKey: publicKey, tlsFingerprint };
  const notes: string[] = [];
  if (demonstration) {
    notes.push(
      `WARNING: ${join(dir, POLICY_FILE)} holds a DEMONSTRATION study "${values.study ?? "demo"}": every dataset, column and computation, ` +
        `purpose "Demonstration and local analysis", DPIA "none". For real data, edit that study's "purpose", "dpia", "datasets" and "computations" ` +
        `(werkplaats station policy check ${positionals[0]} validates it), or init again with --purpose and --dpia.`,
    );
  }
  if (!allowResearcher) notes.push("policy.json has no studies yet: the station refuses every request until you add one");
  if (config.roster.length === 0) {
    notes.push(`roster is empty: the station starts, but refuses jobs until you run werkplaats station roster ${positionals[0]} --federation FEDERATION.json (once the federation file lists every member)`);
  }
  if (/^(0\.0\.0\.0|\[::\]):/.test(entry.address)) notes.push(`the entry's address ${entry.address} is where the station listens, not where analysts reach it: give --address HOST:PORT`);
  if (values.json) {
    process.stdout.write(JSON.stringify(entry, null, 2) + "\n");
    // stdout is the entry alone (redirected into a file for federation add); what to do next goes to stderr.
    for (const n of notes) process.stderr.write(`station ${config.name}: ${n}\n`);
  } else {
    process.stdout.write(
      `station ${config.name} created in ${dir}, listening on ${config.listen} when started\n` +
        `identity key (give this to the federation): ${publicKey}\n` +
        `TLS fingerprint (the federation file pins it): ${tlsFingerprint}\n` +
        `federation entry (--json prints it alone): ${JSON.stringify(entry)}\n`,
    );
    for (const n of notes) process.stderr.write(`${n}\n`);
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
  let address: string;
  try {
    address = await station.start();
  } catch (err) {
    await station.stop();
    // The usual cause: two stations on one machine left at the default port.
    throw new ConfigInvalid(`${join(resolve(dir), CONFIG_FILE)}: field "listen" is ${station.config.listen}, where this station cannot listen: ${(err as Error).message} (another station there? give each its own port: werkplaats station init --listen HOST:PORT, or edit "listen")`);
  }
  process.stdout.write(`station ${station.config.name} listening on ${address}\n`);
  if (station.config.roster.length === 0) {
    process.stderr.write(`station ${station.config.name}: roster is empty: it answers GetInfo but refuses jobs until werkplaats station roster ${dir} --federation FEDERATION.json (then restart it)\n`);
  }
  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      process.stderr.write(`station ${station.config.name}: ${signal}, stopping\n`);
      station.stop().then(done, done);
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGHUP", () => stop("SIGHUP"));
    if (parent !== undefined) whenParentIsGone(parent, stop);
    // Under npx (or an npm script) the station runs as npm → sh -c → node, and npm does not pass
    // a SIGTERM on: `kill` of the npx process would leave the station listening, reparented. So a
    // station npm started lives as long as the process that launched it.
    else if (process.env.npm_lifecycle_event !== undefined && process.ppid > 1) whenParentIsGone(process.ppid, stop, 250);
  });
  return 0;
}

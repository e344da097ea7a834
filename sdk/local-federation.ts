/**
 * A federation of real station processes on this machine, for the demo, `--local` runs,
 * notebooks and tests: each station is `werkplaats station start` in its own process, on a free
 * loopback port, with its own identity key, TLS certificate and a roster of the others. A fresh
 * researcher key is made, and every station's policy allows it everything under study "local"
 * with the default disclosure limits — TLS, signatures, policy and audit are never switched off.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { StationUnreachable } from "../common/errors.js";
import { cliEntryPoint } from "../common/package-root.js";
import { type PostgresDatasetSource, initStation, loadConfig, saveConfig } from "../station-daemon/config.js";
import { FINGERPRINT_KEY_FILE, localFingerprintKey } from "../station-daemon/data/fingerprint.js";
import { POLICY_FILE, defaultPolicy } from "../station-daemon/governance/policy.js";
import { toHex } from "../common/hex.js";
import { TLS_CERTIFICATE_FILE } from "../station-daemon/governance/tls.js";
import { createResearcherKeys } from "./auth/researcher-keys.js";
import { type ConnectOptions, Federation } from "./federation.js";
import type { FederationFile } from "./federation-file.js";

/** The study every local station's default policy allows. */
export const LOCAL_STUDY = "local";

export interface LocalStationSpec {
  name: string;
  /** dataset name → data file (CSV or Parquet, by extension), or a PostgreSQL table */
  datasets: Record<string, string | Omit<PostgresDatasetSource, "name">>;
}

export interface LocalFederationOptions {
  stations: LocalStationSpec[];
  /** Where station folders go; a fresh temporary folder (removed at stop) by default. */
  dir?: string;
  /** Called with a short message as each station comes up. */
  onProgress?: (message: string) => void;
  /** How long a station may take to load its data and start listening (default 60 s). */
  startTimeoutMs?: number;
  /** A policy.json for every station instead of the permissive default (given the researcher's key). */
  policy?: (researcherKey: string) => Record<string, unknown>;
}

/** How much of each station's log (its stderr) a LocalFederation keeps, from the end. */
const LOG_TAIL_CHARS = 256 * 1024;

export class LocalFederation {
  readonly dir: string;
  readonly federation: FederationFile;
  private readonly processes: Map<string, ChildProcess>;
  private readonly logs: Map<string, StationLogTail>;
  private readonly ownsDir: boolean;
  private readonly startTimeoutMs: number;

  private constructor(options: {
    dir: string;
    ownsDir: boolean;
    federation: FederationFile;
    processes: Map<string, ChildProcess>;
    logs: Map<string, StationLogTail>;
    startTimeoutMs: number;
  }) {
    this.dir = options.dir;
    this.ownsDir = options.ownsDir;
    this.federation = options.federation;
    this.processes = options.processes;
    this.logs = options.logs;
    this.startTimeoutMs = options.startTimeoutMs;
  }

  static async start(options: LocalFederationOptions): Promise<LocalFederation> {
    const ownsDir = options.dir === undefined;
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), "werkplaats-local-"));
    const researcher = createResearcherKeys(join(dir, "researcher"));
    const fingerprints = new Map<string, string>();
    const keys = options.stations.map((s) => {
      const { publicKey, tlsFingerprint } = initStation({
        dir: join(dir, s.name),
        name: s.name,
        data: Object.entries(s.datasets).flatMap(([name, file]) => (typeof file === "string" ? [{ name, file }] : [])),
        sources: Object.entries(s.datasets).flatMap(([name, source]) => (typeof source === "string" ? [] : [{ ...source, name }])),
        allowResearcher: { key: researcher.publicKey, name: "local analyst", study: LOCAL_STUDY },
      });
      fingerprints.set(s.name, tlsFingerprint);
      // A fresh identity per run: the fingerprint secret comes from the files instead, so that a
      // replay on unchanged files sees the same fingerprints (station-daemon/data/fingerprint.ts).
      const files = Object.fromEntries(Object.entries(s.datasets).flatMap(([name, file]) => (typeof file === "string" ? [[name, resolve(file)]] : [])));
      writeFileSync(join(dir, s.name, FINGERPRINT_KEY_FILE), toHex(localFingerprintKey(s.name, files)) + "\n", { mode: 0o600 });
      const policy = options.policy?.(researcher.publicKey) ?? perDatasetPolicy(options.stations, s, researcher.publicKey);
      if (policy) writeFileSync(join(dir, s.name, POLICY_FILE), JSON.stringify(policy, null, 2) + "\n");
      return { name: s.name, identityKey: publicKey };
    });
    for (const s of options.stations) {
      const config = loadConfig(join(dir, s.name));
      saveConfig(join(dir, s.name), { ...config, roster: keys });
    }
    const processes = new Map<string, ChildProcess>();
    const logs = new Map<string, StationLogTail>();
    const startTimeoutMs = options.startTimeoutMs ?? 60_000;
    try {
      // allSettled, not all: when one station fails to start, the others may still be coming up,
      // and every one that does must be stopped again, not left running.
      const started = await Promise.allSettled(
        options.stations.map(async (s) => {
          const log = new StationLogTail();
          logs.set(s.name, log);
          const { child, address } = await spawnStation(join(dir, s.name), s.name, startTimeoutMs, log);
          processes.set(s.name, child);
          options.onProgress?.(`station ${s.name} listening on ${address}`);
          return address;
        }),
      );
      const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
      const addresses = started.map((r) => (r as PromiseFulfilledResult<string>).value);
      const federation: FederationFile = {
        name: "local",
        study: LOCAL_STUDY,
        key: researcher.secretKeyFile,
        stations: keys.map((k, i) => ({
          name: k.name,
          address: addresses[i],
          identityKey: k.identityKey,
          tlsFingerprint: fingerprints.get(k.name)!,
          certificate: readFileSync(join(dir, k.name, TLS_CERTIFICATE_FILE), "utf8"),
        })),
      };
      writeFileSync(join(dir, "federation.json"), JSON.stringify(federation, null, 2) + "\n");
      return new LocalFederation({ dir, ownsDir, federation, processes, logs, startTimeoutMs });
    } catch (err) {
      await Promise.all([...processes.values()].map((p) => stopProcess(p)));
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The federation file written for this federation (stations, pins, study and researcher key). */
  get federationFile(): string {
    return join(this.dir, "federation.json");
  }

  connect(options?: ConnectOptions): Promise<Federation> {
    return Federation.connect(this.federation, options);
  }

  /** The process of one station, for tests that kill or stall it. */
  process(name: string): ChildProcess | undefined {
    return this.processes.get(name);
  }

  /**
   * Sends a signal to one station's process: SIGSTOP stalls it (it holds its connections but
   * answers nothing), SIGCONT resumes it, SIGKILL crashes it, SIGTERM stops it cleanly.
   */
  kill(name: string, signal: NodeJS.Signals = "SIGTERM"): void {
    const child = this.processes.get(name);
    if (!child) throw new Error(`no station ${name} in this local federation`);
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }

  /**
   * Stops one station (SIGKILL with `crash`, else SIGTERM) and starts it again from its folder —
   * same identity, TLS certificate, policy, data files and audit log — on the same address, so the
   * federation file stays valid. Resolves when it listens again.
   */
  async restart(name: string, options: { crash?: boolean } = {}): Promise<void> {
    const child = this.processes.get(name);
    const entry = this.federation.stations.find((s) => s.name === name);
    if (!child || !entry) throw new Error(`no station ${name} in this local federation`);
    if (options.crash) {
      await new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once("exit", () => done());
        child.kill("SIGCONT");
        child.kill("SIGKILL");
      });
    } else {
      await stopProcess(child);
    }
    const dir = join(this.dir, name);
    saveConfig(dir, { ...loadConfig(dir), listen: entry.address });
    const log = this.logs.get(name) ?? new StationLogTail();
    this.logs.set(name, log);
    const { child: next } = await spawnStation(dir, name, this.startTimeoutMs, log);
    this.processes.set(name, next);
  }

  /** The end of one station's log (its stderr, across restarts): requests, refusals, dropped jobs. */
  log(name: string): string {
    return this.logs.get(name)?.text ?? "";
  }

  async stop(): Promise<void> {
    await Promise.all([...this.processes.values()].map((p) => stopProcess(p)));
    this.processes.clear();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Every job must cover exactly the stations that release its dataset (governance/policy.ts); by
 * default that is the whole roster. When the stations hold different datasets, each station's
 * policy lists, per dataset it holds, the stations holding it. Undefined: the default policy fits.
 */
function perDatasetPolicy(all: readonly LocalStationSpec[], station: LocalStationSpec, researcherKey: string): Record<string, unknown> | undefined {
  const holders = (dataset: string) => all.filter((s) => dataset in s.datasets).map((s) => s.name);
  const datasets = Object.keys(station.datasets);
  if (datasets.every((d) => holders(d).length === all.length)) return undefined;
  const policy = defaultPolicy({ researcherKey, researcherName: "local analyst", study: LOCAL_STUDY });
  const [study] = policy.studies as Array<Record<string, unknown>>;
  study.datasets = datasets.map((name) => ({ name, columns: "*", stations: holders(name) }));
  return policy;
}

class StationLogTail {
  text = "";
  append(chunk: string): void {
    this.text = (this.text + chunk).slice(-LOG_TAIL_CHARS);
  }
}

function spawnStation(dir: string, name: string, timeoutMs: number, log?: StationLogTail): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, [cliEntryPoint(), "station", "start", dir, "--exit-with-parent", String(process.pid)], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new StationUnreachable(name, "127.0.0.1", `did not start within ${timeoutMs} ms\n${err}`));
    }, timeoutMs);
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, address: m[1] });
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      // Keep only the tail: a long-running station logs every request.
      err = (err + chunk.toString()).slice(-8192);
      log?.append(chunk.toString());
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new StationUnreachable(name, "127.0.0.1", `station process exited with code ${code} before listening:\n${err.trim()}`));
    });
  });
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    // A stalled (SIGSTOPped) station would not act on SIGTERM until resumed.
    child.kill("SIGCONT");
    child.kill("SIGTERM");
  });
}

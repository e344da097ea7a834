/**
 * A running station: its configuration, identity, datasets in memory, and the gRPC service
 * through which the federation's coordinator reaches it.
 */
import * as grpc from "@grpc/grpc-js";
import { ConfigInvalid, WerkplaatsError } from "../common/errors.js";
import { fromHex, toHex } from "../common/hex.js";
import { MAX_MESSAGE_BYTES, stationServiceDefinition } from "../common/protos.js";
import { PROTOCOL_VERSION, type StationInfo } from "../common/schema.js";
import { SOFTWARE_VERSION } from "../common/version.js";
import { computeContribution } from "./compute/contribution.js";
import { type StationConfig, datasetPath, loadConfig, loadIdentity } from "./config.js";
import { loadCsv } from "./data/csv.js";
import type { Table } from "./data/table.js";
import { toServiceError } from "./errors-to-grpc.js";
import { SecureJobs } from "./secure-jobs.js";

export interface StationLog {
  info(message: string): void;
  error(message: string): void;
}

const quietLog: StationLog = { info: () => {}, error: () => {} };

export class Station {
  readonly config: StationConfig;
  readonly dir: string;
  private readonly tables: Map<string, Table>;
  private readonly identity: { secretKey: Uint8Array; publicKey: Uint8Array };
  private readonly log: StationLog;
  private readonly jobs: SecureJobs;
  private server?: grpc.Server;
  private boundAddress?: string;

  private constructor(options: {
    dir: string;
    config: StationConfig;
    tables: Map<string, Table>;
    identity: { secretKey: Uint8Array; publicKey: Uint8Array };
    log: StationLog;
  }) {
    this.dir = options.dir;
    this.config = options.config;
    this.tables = options.tables;
    this.identity = options.identity;
    this.log = options.log;
    this.jobs = new SecureJobs({
      name: options.config.name,
      identitySecretKey: options.identity.secretKey,
      roster: options.config.roster.map((e) => ({ name: e.name, identityKey: fromHex(e.identityKey, `roster key of ${e.name}`, 32) })),
      minStations: options.config.minStations,
      compute: (job) => computeContribution(this.tables, job),
    });
  }

  /** Loads and checks everything before serving: a bad file stops the station, naming the file. */
  static async open(dir: string, options: { log?: StationLog } = {}): Promise<Station> {
    const config = loadConfig(dir);
    const identity = loadIdentity(dir);
    const own = config.roster.find((e) => e.name === config.name);
    if (own && own.identityKey !== toHex(identity.publicKey)) {
      throw new ConfigInvalid(`roster entry for ${config.name} does not match this station's identity.pub`);
    }
    const tables = new Map<string, Table>();
    for (const source of config.datasets) {
      tables.set(source.name, await loadCsv({ file: datasetPath(dir, source), dataset: source.name }));
    }
    return new Station({ dir, config, tables, identity, log: options.log ?? quietLog });
  }

  info(): StationInfo {
    return {
      name: this.config.name,
      protocolVersion: PROTOCOL_VERSION,
      softwareVersion: SOFTWARE_VERSION,
      identityKey: toHex(this.identity.publicKey),
      datasets: [...this.tables.values()].map((t) => ({
        name: t.name,
        columns: [...t.columns.values()].map((c) =>
          c.kind === "categorical" ? { name: c.name, type: c.kind, levels: [...c.levels] } : { name: c.name, type: c.kind },
        ),
      })),
    };
  }

  /** Serves on the configured address (port 0: a free one) and resolves with host:port. */
  async start(): Promise<string> {
    const server = new grpc.Server({
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    });
    server.addService(stationServiceDefinition(), {
      GetInfo: this.unary("GetInfo", () => this.info()),
      StartJob: this.unary("StartJob", (req: Parameters<SecureJobs["startJob"]>[0]) => this.jobs.startJob(req)),
      ShareKeys: this.unary("ShareKeys", (req: Parameters<SecureJobs["shareKeys"]>[0]) => this.jobs.shareKeys(req)),
      MaskedInput: this.unary("MaskedInput", (req: Parameters<SecureJobs["maskedInput"]>[0]) => this.jobs.maskedInput(req)),
      ConsistencyCheck: this.unary("ConsistencyCheck", (req: Parameters<SecureJobs["consistencyCheck"]>[0]) => this.jobs.consistencyCheck(req)),
      Unmask: this.unary("Unmask", (req: Parameters<SecureJobs["unmask"]>[0]) => this.jobs.unmask(req)),
    });
    const [host, portText] = splitHostPort(this.config.listen);
    const port = await new Promise<number>((resolvePort, reject) =>
      server.bindAsync(`${host}:${portText}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolvePort(p))),
    );
    this.server = server;
    this.boundAddress = `${host}:${port}`;
    this.log.info(`station ${this.config.name} listening on ${this.boundAddress}`);
    return this.boundAddress;
  }

  get address(): string | undefined {
    return this.boundAddress;
  }

  /** Finishes calls in flight (up to a grace period), then stops. */
  async stop(graceMs = 2000): Promise<void> {
    const server = this.server;
    this.jobs.close();
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((done) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        done();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        done();
      });
    });
  }

  private unary<Req, Res>(method: string, handler: (req: Req) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      Promise.resolve()
        .then(() => handler(call.request))
        .then(
          (res) => callback(null, res),
          (err: unknown) => {
            if (err instanceof WerkplaatsError) this.log.info(`${method} refused: ${err.code} ${err.message}`);
            else this.log.error(`${method} failed: ${(err as Error)?.stack ?? String(err)}`);
            callback(toServiceError(err) as grpc.ServiceError);
          },
        );
    };
  }
}

function splitHostPort(listen: string): [string, string] {
  const i = listen.lastIndexOf(":");
  return [listen.slice(0, i), listen.slice(i + 1)];
}

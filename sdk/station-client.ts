/**
 * One station as the coordinator sees it: a gRPC client over TLS pinned to the station's
 * certificate fingerprint, every request signed by the researcher, a deadline on every call,
 * and failures that come back as typed errors naming the station.
 */
import * as grpc from "@grpc/grpc-js";
import { ConfigInvalid, type ErrorCode, StationError, StationUnreachable, isErrorCode } from "../common/errors.js";
import { AUDIENCE_METADATA } from "../common/request-statement.js";
import { ERROR_CODE_METADATA_KEY, MAX_MESSAGE_BYTES, stationClientConstructor, stationServiceDefinition } from "../common/protos.js";
import type { StationInfo } from "../common/schema.js";
import { PinMismatch, fetchPinnedCertificate, pinnedChannelCredentials } from "./auth/pinned-tls.js";
import { requestAuthToMetadata, signRequest } from "./auth/sign-request.js";

export interface StationEntry {
  name: string;
  /** host:port */
  address: string;
  /** Ed25519 identity key, hex. */
  identityKey: string;
  /** SHA-256 of the station's TLS certificate, hex: the only certificate the SDK accepts. */
  tlsFingerprint: string;
  /** The certificate itself (PEM), optional: without it the SDK fetches it and checks the pin. */
  certificate?: string;
}

/** Where a station's entry came from, so that a wrong key or fingerprint can be named as a field of a file. */
export interface EntryOrigin {
  /** The federation file, or a description of where the entries came from. */
  file: string;
  /** The entry's index in its `stations` list. */
  index: number;
}

/**
 * The federation file's entry does not describe the station found at its address: another
 * identity key or TLS certificate. A configuration mistake to fix in the file (exit 3) — or an
 * impostor; either way nothing is sent to it.
 */
export class StationMismatch extends ConfigInvalid {
  constructor(
    readonly station: string,
    readonly address: string,
    readonly field: "identityKey" | "tlsFingerprint",
    origin: EntryOrigin | undefined,
    detail: string,
  ) {
    const what = field === "identityKey" ? "identity key" : "TLS certificate";
    const where = origin ? `${origin.file} lists (field stations[${origin.index}].${field})` : `its federation entry lists (field ${field})`;
    super(`station ${station} at ${address} presented a different ${what} than ${where}: ${detail}`);
  }
}

/** Who is asking: the researcher's signing key and the study the request falls under. */
export interface Researcher {
  secretKey: Uint8Array;
  study: string;
}

type UnaryMethod = (req: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

export class StationClient {
  readonly name: string;
  readonly address: string;
  readonly identityKey: string;
  private readonly entry: StationEntry;
  private readonly researcher: Researcher;
  private readonly client: grpc.Client;
  private readonly origin: EntryOrigin | undefined;

  private constructor(entry: StationEntry, researcher: Researcher, certificate: string, origin?: EntryOrigin) {
    this.entry = entry;
    this.origin = origin;
    this.name = entry.name;
    this.address = entry.address;
    this.identityKey = entry.identityKey;
    this.researcher = researcher;
    const Client = stationClientConstructor();
    this.client = new Client(entry.address, pinnedChannelCredentials({ certificate, fingerprint: entry.tlsFingerprint }), {
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
      // The certificate is trusted by its pinned fingerprint, not by name; this only keeps TLS from
      // using an IP address as a server name.
      "grpc.ssl_target_name_override": "localhost",
      // A station that went away should be retried quickly on the next job, not after minutes.
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2000,
    });
  }

  /** Gets the station's certificate (from the entry, or from the station itself, checked against the pin). */
  static async create(entry: StationEntry, researcher: Researcher, timeoutMs: number, origin?: EntryOrigin): Promise<StationClient> {
    let certificate = entry.certificate;
    if (!certificate) {
      try {
        certificate = await fetchPinnedCertificate({ address: entry.address, fingerprint: entry.tlsFingerprint, timeoutMs });
      } catch (err) {
        if (err instanceof PinMismatch) {
          throw new StationMismatch(entry.name, entry.address, "tlsFingerprint", origin, `it presents ${err.presented}, the file pins ${err.expected}; nothing was sent to it (if the station was set up again, update its entry: werkplaats federation add --replace)`);
        }
        throw new StationUnreachable(entry.name, entry.address, (err as Error).message);
      }
    }
    return new StationClient(entry, researcher, certificate, origin);
  }

  async getInfo(timeoutMs: number): Promise<StationInfo> {
    const info = (await this.call("GetInfo", {}, timeoutMs)) as StationInfo & { datasets?: StationInfo["datasets"] };
    return {
      name: info.name,
      protocolVersion: info.protocolVersion,
      softwareVersion: info.softwareVersion,
      identityKey: info.identityKey,
      datasets: (info.datasets ?? []).map((d) => ({
        name: d.name,
        columns: (d.columns ?? []).map((c) => ({
          name: c.name,
          type: c.type,
          ...(c.levels && c.levels.length > 0 ? { levels: c.levels } : {}),
          ...(c.complete ? { complete: true } : {}),
        })),
        ...(d.fingerprint ? { fingerprint: d.fingerprint } : {}),
      })),
    };
  }

  /** One signed call: the signature covers the serialised request, method, study, time and a nonce. */
  call(method: string, request: unknown, timeoutMs: number): Promise<unknown> {
    const fn = (this.client as unknown as Record<string, UnaryMethod>)[method];
    const definition = stationServiceDefinition()[method];
    if (typeof fn !== "function" || !definition) throw new Error(`no RPC ${method} in werkplaats.v1.Station`);
    const metadata = new grpc.Metadata();
    requestAuthToMetadata(
      signRequest({
        secretKey: this.researcher.secretKey,
        station: this.identityKey,
        method: definition.path,
        body: definition.requestSerialize(request),
        study: this.researcher.study,
      }),
      metadata,
    );
    metadata.set(AUDIENCE_METADATA, this.identityKey);
    return new Promise((resolve, reject) => {
      fn.call(this.client, request, metadata, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(this.translate(err, method, timeoutMs));
        else resolve(res);
      });
    });
  }

  close(): void {
    this.client.close();
  }

  private translate(err: grpc.ServiceError, method: string, timeoutMs: number): Error {
    const code = err.metadata?.get(ERROR_CODE_METADATA_KEY)?.[0];
    if (code === "CONFIG_INVALID" && /was addressed under identity key/.test(err.details)) {
      const actual = /its identity key is ([0-9a-f]{64})/.exec(err.details)?.[1];
      return new StationMismatch(this.name, this.address, "identityKey", this.origin, `it is ${actual ?? "another key"}, the file lists ${this.identityKey}`);
    }
    if (typeof code === "string" && isErrorCode(code)) return new StationError(this.name, code as ErrorCode, err.details);
    if (err.code === grpc.status.UNAVAILABLE) return new StationUnreachable(this.name, this.address, err.details || "connection refused");
    if (err.code === grpc.status.DEADLINE_EXCEEDED) {
      return new StationUnreachable(this.name, this.address, `no answer to ${method} within ${timeoutMs} ms`);
    }
    return new StationError(this.name, "STATION_ERROR", `${method} failed: ${grpc.status[err.code] ?? err.code} ${err.details}`);
  }
}

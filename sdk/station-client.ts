/**
 * One station as the coordinator sees it: a gRPC client over TLS pinned to the station's
 * certificate fingerprint, every request signed by the researcher, a deadline on every call,
 * and failures that come back as typed errors naming the station.
 */
import * as grpc from "@grpc/grpc-js";
import { type ErrorCode, StationError, StationUnreachable, isErrorCode } from "../common/errors.js";
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

  private constructor(entry: StationEntry, researcher: Researcher, certificate: string) {
    this.entry = entry;
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
  static async create(entry: StationEntry, researcher: Researcher, timeoutMs: number): Promise<StationClient> {
    let certificate = entry.certificate;
    if (!certificate) {
      try {
        certificate = await fetchPinnedCertificate({ address: entry.address, fingerprint: entry.tlsFingerprint, timeoutMs });
      } catch (err) {
        if (err instanceof PinMismatch) throw new StationUnreachable(entry.name, entry.address, `refusing an impostor: ${err.message}`);
        throw new StationUnreachable(entry.name, entry.address, (err as Error).message);
      }
    }
    return new StationClient(entry, researcher, certificate);
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
        columns: (d.columns ?? []).map((c) => (c.levels && c.levels.length > 0 ? { name: c.name, type: c.type, levels: c.levels } : { name: c.name, type: c.type })),
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
    if (typeof code === "string" && isErrorCode(code)) return new StationError(this.name, code as ErrorCode, err.details);
    if (err.code === grpc.status.UNAVAILABLE) return new StationUnreachable(this.name, this.address, err.details || "connection refused");
    if (err.code === grpc.status.DEADLINE_EXCEEDED) {
      return new StationUnreachable(this.name, this.address, `no answer to ${method} within ${timeoutMs} ms`);
    }
    return new StationError(this.name, "STATION_ERROR", `${method} failed: ${grpc.status[err.code] ?? err.code} ${err.details}`);
  }
}

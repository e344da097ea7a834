/**
 * One station as the coordinator sees it: a gRPC client with a deadline on every call, whose
 * failures come back as typed errors that name the station.
 */
import * as grpc from "@grpc/grpc-js";
import { type ErrorCode, StationError, StationUnreachable, isErrorCode } from "../common/errors.js";
import { ERROR_CODE_METADATA_KEY, MAX_MESSAGE_BYTES, stationClientConstructor } from "../common/protos.js";
import type { StationInfo } from "../common/schema.js";

export interface StationEntry {
  name: string;
  /** host:port */
  address: string;
  /** Ed25519 identity key, hex. */
  identityKey: string;
}

type UnaryMethod = (req: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

export class StationClient {
  readonly name: string;
  readonly address: string;
  readonly identityKey: string;
  private readonly client: grpc.Client;

  constructor(entry: StationEntry) {
    this.name = entry.name;
    this.address = entry.address;
    this.identityKey = entry.identityKey;
    const Client = stationClientConstructor();
    this.client = new Client(entry.address, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
      // A station that went away should be retried quickly on the next job, not after minutes.
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2000,
    });
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
      })),
    };
  }

  call(method: string, request: unknown, timeoutMs: number): Promise<unknown> {
    const fn = (this.client as unknown as Record<string, UnaryMethod>)[method];
    if (typeof fn !== "function") throw new Error(`no RPC ${method} in werkplaats.v1.Station`);
    return new Promise((resolve, reject) => {
      fn.call(this.client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
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

/**
 * Test-side instruments for a running station process: a raw gRPC client that sends arbitrary
 * bytes (signed or not) past the SDK's typed client, the process's resident memory, and the
 * outcomes its audit log recorded. Nothing here is a station feature; it only looks from outside.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ERROR_CODE_METADATA_KEY, stationServiceDefinition } from "../../common/protos.js";
import { pinnedChannelCredentials } from "../../sdk/auth/pinned-tls.js";
import { requestAuthToMetadata, signRequest } from "../../sdk/auth/sign-request.js";
import type { StationEntry } from "../../sdk/station-client.js";

export const RPCS = ["GetInfo", "StartJob", "ShareKeys", "MaskedInput", "Release"] as const;
export type Rpc = (typeof RPCS)[number];

/** How a raw request is signed: not at all, over the bytes sent, or over what the station re-serialises. */
export type Signing = "none" | "raw" | "canonical";

export interface RawAnswer {
  /** gRPC status; 0 (OK) when the station answered normally. */
  code: grpc.status;
  details: string;
  /** The werkplaats error code the station put in metadata, if any. */
  werkplaatsCode?: string;
  ms: number;
}

const identity = (b: Buffer): Buffer => b;

export class RawStationClient {
  private readonly client: grpc.Client;
  private readonly definition = stationServiceDefinition();

  constructor(
    private readonly entry: StationEntry & { certificate: string },
    private readonly researcher: { secretKey: Uint8Array; study: string },
  ) {
    this.client = new grpc.Client(entry.address, pinnedChannelCredentials({ certificate: entry.certificate, fingerprint: entry.tlsFingerprint }), {
      "grpc.ssl_target_name_override": "localhost",
      "grpc.max_send_message_length": -1,
      "grpc.max_receive_message_length": -1,
    });
  }

  /** The serialised form of a well-formed request object for `rpc`. */
  encode(rpc: Rpc, request: unknown): Buffer {
    return this.definition[rpc].requestSerialize(request);
  }

  /** What the station's gRPC layer hands its handler for these bytes (throws when undecodable). */
  decode(rpc: Rpc, body: Buffer): unknown {
    return this.definition[rpc].requestDeserialize(body);
  }

  /** Sends `body` as it is to `rpc` and resolves with the status (never rejects). */
  call(rpc: Rpc, body: Buffer, options: { signing: Signing; timeoutMs: number }): Promise<RawAnswer> {
    const definition = this.definition[rpc];
    const metadata = new grpc.Metadata();
    if (options.signing !== "none") {
      let signed: Uint8Array = body;
      if (options.signing === "canonical") {
        try {
          signed = definition.requestSerialize(definition.requestDeserialize(body));
        } catch {
          signed = body;
        }
      }
      requestAuthToMetadata(
        signRequest({ secretKey: this.researcher.secretKey, station: this.entry.identityKey, method: definition.path, body: signed, study: this.researcher.study }),
        metadata,
      );
    }
    const started = performance.now();
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(definition.path, identity, identity, body, metadata, { deadline: Date.now() + options.timeoutMs }, (err) => {
        const ms = performance.now() - started;
        if (!err) return resolve({ code: grpc.status.OK, details: "", ms });
        const code = err.metadata?.get(ERROR_CODE_METADATA_KEY)?.[0];
        resolve({ code: err.code, details: err.details, werkplaatsCode: typeof code === "string" ? code : undefined, ms });
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

/** Resident set size of a process, in MB (Linux `ps`). */
export function rssMb(pid: number): number {
  return Number(execFileSync("ps", ["-o", "rss=", "-p", String(pid)], { encoding: "utf8" }).trim()) / 1024;
}

export interface AuditTally {
  allowed: number;
  refused: number;
  error: number;
  /** Request lines per method. */
  byMethod: Record<string, number>;
  lines: Array<Record<string, unknown>>;
}

/** Counts the request lines of a station's audit log by outcome (checkpoint lines are skipped). */
export function auditTally(stationDir: string): AuditTally {
  const file = join(stationDir, "audit.log");
  const tally: AuditTally = { allowed: 0, refused: 0, error: 0, byMethod: {}, lines: [] };
  if (!existsSync(file)) return tally;
  for (const text of readFileSync(file, "utf8").split("\n")) {
    if (!text) continue;
    const line = JSON.parse(text) as Record<string, unknown>;
    if (typeof line.outcome !== "string") continue;
    tally.lines.push(line);
    tally[line.outcome as "allowed" | "refused" | "error"]++;
    const method = String(line.method);
    tally.byMethod[method] = (tally.byMethod[method] ?? 0) + 1;
  }
  return tally;
}

/** Runs `tasks` with at most `limit` in flight; results in order. */
export async function inBatches<T>(tasks: ReadonlyArray<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]();
      }
    }),
  );
  return results;
}

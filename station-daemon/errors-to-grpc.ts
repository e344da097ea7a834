import * as grpc from "@grpc/grpc-js";
import { type ErrorCode, WerkplaatsError } from "../common/errors.js";
import { ERROR_CODE_METADATA_KEY } from "../common/protos.js";

const STATUS_OF: Partial<Record<ErrorCode, grpc.status>> = {
  BAD_INPUT: grpc.status.INVALID_ARGUMENT,
  BAD_EXPRESSION: grpc.status.INVALID_ARGUMENT,
  BAD_FORMULA: grpc.status.INVALID_ARGUMENT,
  UNKNOWN_COLUMN: grpc.status.INVALID_ARGUMENT,
  UNKNOWN_DATASET: grpc.status.NOT_FOUND,
  POLICY_REFUSED: grpc.status.PERMISSION_DENIED,
  TOO_FEW_STATIONS: grpc.status.FAILED_PRECONDITION,
  PROTOCOL_VIOLATION: grpc.status.FAILED_PRECONDITION,
  OVERFLOW: grpc.status.OUT_OF_RANGE,
  RANK_DEFICIENT: grpc.status.INVALID_ARGUMENT,
};

/**
 * A werkplaats error becomes a gRPC status with our stable code in metadata; anything else is
 * an internal error whose details stay in the station's log, not on the wire.
 */
export function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  const metadata = new grpc.Metadata();
  if (err instanceof WerkplaatsError) {
    metadata.set(ERROR_CODE_METADATA_KEY, err.code);
    return { code: STATUS_OF[err.code] ?? grpc.status.UNKNOWN, details: err.message, metadata };
  }
  metadata.set(ERROR_CODE_METADATA_KEY, "INTERNAL");
  return { code: grpc.status.INTERNAL, details: "internal station error (see the station's log)", metadata };
}

/**
 * A request whose bytes are not a message of its method's type. grpc-js would answer such a
 * request itself ("Error deserializing request"), before the station's gate, so it would never
 * reach the audit log; handed to the handler as this value instead, it is refused and recorded
 * like any other bad request.
 */
export class UndecodableRequest {
  constructor(
    readonly bytes: number,
    readonly reason: string,
  ) {}
}

/** The service definition with decoding failures turned into UndecodableRequest values. */
export function auditingUndecodable(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition)) {
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          return new UndecodableRequest(bytes.length, String((err as Error)?.message ?? err).slice(0, 200));
        }
      },
    };
  }
  return out as grpc.ServiceDefinition;
}

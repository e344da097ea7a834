/**
 * Every error werkplaats raises on purpose has a stable `code`: scripts switch on it,
 * gRPC carries it in the `werkplaats-code` metadata key, and the CLI maps it to an exit code.
 */
export type ErrorCode =
  | "BAD_INPUT"
  | "BAD_EXPRESSION"
  | "BAD_FORMULA"
  | "UNKNOWN_COLUMN"
  | "UNKNOWN_DATASET"
  | "DATA_FILE_INVALID"
  | "CONFIG_INVALID"
  | "POLICY_REFUSED"
  | "TOO_FEW_STATIONS"
  | "STATION_UNREACHABLE"
  | "STATION_ERROR"
  | "PROTOCOL_VIOLATION"
  | "OVERFLOW"
  | "NOT_CONVERGED"
  | "RANK_DEFICIENT"
  | "DATA_CHANGED"
  | "MISSING_DEPENDENCY"
  | "INTERNAL";

export class WerkplaatsError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class BadInput extends WerkplaatsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("BAD_INPUT", message, options);
  }
}

/** A where-expression that does not parse; `position` is the 0-based character offset. */
export class ExpressionError extends WerkplaatsError {
  readonly position: number;
  constructor(message: string, position: number) {
    super("BAD_EXPRESSION", message);
    this.position = position;
  }
}

/** A model formula that does not parse or names something it may not; `position` as above. */
export class FormulaError extends WerkplaatsError {
  readonly position: number;
  constructor(message: string, position = -1) {
    super("BAD_FORMULA", message);
    this.position = position;
  }
}

export class UnknownColumn extends WerkplaatsError {
  readonly column: string;
  constructor(column: string, dataset: string, known: readonly string[]) {
    super("UNKNOWN_COLUMN", `dataset "${dataset}" has no column "${column}" (columns: ${known.join(", ")})`);
    this.column = column;
  }
}

export class UnknownDataset extends WerkplaatsError {
  constructor(dataset: string, known: readonly string[]) {
    super("UNKNOWN_DATASET", `no dataset "${dataset}" (datasets: ${known.join(", ") || "none"})`);
  }
}

/** A data file that cannot be read; names the file, and the line and column where known. */
export class DataFileInvalid extends WerkplaatsError {
  readonly file: string;
  readonly line?: number;
  readonly column?: string;
  constructor(options: { file: string; line?: number; column?: string; reason: string }) {
    const where = [options.file, options.line !== undefined ? `line ${options.line}` : undefined,
      options.column !== undefined ? `column "${options.column}"` : undefined].filter(Boolean).join(", ");
    super("DATA_FILE_INVALID", `${where}: ${options.reason}`);
    this.file = options.file;
    this.line = options.line;
    this.column = options.column;
  }
}

export class ConfigInvalid extends WerkplaatsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONFIG_INVALID", message, options);
  }
}

export class PolicyRefused extends WerkplaatsError {
  readonly station?: string;
  constructor(message: string, station?: string) {
    super("POLICY_REFUSED", station ? `station ${station} refused: ${message}` : message);
    this.station = station;
  }
}

export class TooFewStations extends WerkplaatsError {
  constructor(message: string) {
    super("TOO_FEW_STATIONS", message);
  }
}

export class StationUnreachable extends WerkplaatsError {
  readonly station: string;
  constructor(station: string, address: string, reason: string) {
    super("STATION_UNREACHABLE", `station ${station} at ${address} is unreachable: ${reason}`);
    this.station = station;
  }
}

/** A station answered with an error of its own (carried over gRPC with its code). */
export class StationError extends WerkplaatsError {
  readonly station: string;
  readonly remoteCode: ErrorCode;
  constructor(station: string, remoteCode: ErrorCode, message: string) {
    super(remoteCode, message.startsWith(`station ${station}`) ? message : `station ${station}: ${message}`);
    this.station = station;
    this.remoteCode = remoteCode;
  }
}

/** A peer or the coordinator broke the secure-aggregation protocol (bad signature, replay, …). */
export class ProtocolViolation extends WerkplaatsError {
  constructor(message: string) {
    super("PROTOCOL_VIOLATION", message);
  }
}

/**
 * A station's dataset snapshot changed between the jobs of one result (a restart with new data
 * between two rounds of a model fit): combining them would be silently wrong, so nothing is.
 */
export class DataChanged extends WerkplaatsError {
  readonly station: string;
  constructor(station: string, message: string) {
    super("DATA_CHANGED", message);
    this.station = station;
  }
}

export class Overflow extends WerkplaatsError {
  constructor(message: string) {
    super("OVERFLOW", message);
  }
}

export class NotConverged extends WerkplaatsError {
  constructor(message: string) {
    super("NOT_CONVERGED", message);
  }
}

export class RankDeficient extends WerkplaatsError {
  readonly columns: string[];
  constructor(columns: string[], message?: string) {
    super("RANK_DEFICIENT", message ?? `the design matrix is rank deficient; collinear or constant columns: ${columns.join(", ")}`);
    this.columns = columns;
  }
}

/** An optional package a feature needs is not installed; the message names the install command. */
export class MissingDependency extends WerkplaatsError {
  readonly dependency: string;
  constructor(dependency: string, message: string, cause?: unknown) {
    super("MISSING_DEPENDENCY", message, cause === undefined ? undefined : { cause });
    this.dependency = dependency;
  }
}

export function isErrorCode(value: string): value is ErrorCode {
  return [
    "BAD_INPUT", "BAD_EXPRESSION", "BAD_FORMULA", "UNKNOWN_COLUMN", "UNKNOWN_DATASET", "DATA_FILE_INVALID",
    "CONFIG_INVALID", "POLICY_REFUSED", "TOO_FEW_STATIONS", "STATION_UNREACHABLE", "STATION_ERROR",
    "PROTOCOL_VIOLATION", "OVERFLOW", "NOT_CONVERGED", "RANK_DEFICIENT", "DATA_CHANGED", "MISSING_DEPENDENCY", "INTERNAL",
  ].includes(value);
}

import { type ErrorCode, WerkplaatsError } from "../common/errors.js";

/**
 * Exit codes a scheduler can tell apart. Stable: scripts and cron jobs depend on them, and the
 * README lists them.
 */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  BAD_INPUT: 3,
  POLICY_REFUSED: 4,
  TOO_FEW_STATIONS: 5,
  STATION_UNREACHABLE: 6,
  NOT_CONVERGED: 7,
  PROTOCOL_VIOLATION: 8,
  /** `werkplaats replay`: the job ran, and something (stations, snapshot, versions, numbers) differs. */
  DIFFERS: 9,
  /** A station's data changed between the jobs of one result (e.g. model rounds): run again. */
  DATA_CHANGED: 10,
} as const;

const BY_CODE: Partial<Record<ErrorCode, number>> = {
  BAD_INPUT: EXIT.BAD_INPUT,
  BAD_EXPRESSION: EXIT.BAD_INPUT,
  BAD_FORMULA: EXIT.BAD_INPUT,
  UNKNOWN_COLUMN: EXIT.BAD_INPUT,
  UNKNOWN_DATASET: EXIT.BAD_INPUT,
  DATA_FILE_INVALID: EXIT.BAD_INPUT,
  CONFIG_INVALID: EXIT.BAD_INPUT,
  OVERFLOW: EXIT.BAD_INPUT,
  RANK_DEFICIENT: EXIT.BAD_INPUT,
  POLICY_REFUSED: EXIT.POLICY_REFUSED,
  TOO_FEW_STATIONS: EXIT.TOO_FEW_STATIONS,
  STATION_UNREACHABLE: EXIT.STATION_UNREACHABLE,
  NOT_CONVERGED: EXIT.NOT_CONVERGED,
  PROTOCOL_VIOLATION: EXIT.PROTOCOL_VIOLATION,
  DATA_CHANGED: EXIT.DATA_CHANGED,
};

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return EXIT.USAGE;
  if (err instanceof WerkplaatsError) {
    const code = "remoteCode" in err ? (err as { remoteCode: ErrorCode }).remoteCode : err.code;
    return BY_CODE[code] ?? EXIT.INTERNAL;
  }
  return EXIT.INTERNAL;
}

/** Wrong words on the command line. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

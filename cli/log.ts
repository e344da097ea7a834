/**
 * What a command tells its operator while it runs, on stderr: human lines by default, or with
 * `--log-format json` one JSON object per line — `{"time":…,"level":…,"command":…,"event":…}` and
 * the event's fields — for log collectors (journald, Loki, CloudWatch), which then need no regex.
 * stdout stays reserved for the result.
 */
import { UsageError } from "./exit-codes.js";

export type LogFormat = "text" | "json";
export type LogLevel = "debug" | "info" | "warn" | "error";

export function logFormatOf(value: string | undefined): LogFormat {
  if (value === undefined || value === "text") return "text";
  if (value === "json") return "json";
  throw new UsageError(`--log-format must be text or json, got "${value}"`);
}

export class CommandLog {
  constructor(
    readonly command: string,
    readonly format: LogFormat,
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
  ) {}

  /** One event: `text` is the human line (without the "werkplaats CMD:" prefix). */
  event(level: LogLevel, event: string, fields: Record<string, unknown>, text: string): void {
    if (this.format === "json") {
      this.write(JSON.stringify({ time: new Date().toISOString(), level, command: this.command, event, ...fields }, jsonSafe) + "\n");
    } else {
      this.write(`werkplaats ${this.command}: ${text}\n`);
    }
  }

  info(event: string, text: string, fields: Record<string, unknown> = {}): void {
    this.event("info", event, { message: text, ...fields }, text);
  }

  warn(event: string, text: string, fields: Record<string, unknown> = {}): void {
    this.event("warn", event, { message: text, ...fields }, text);
  }

  /** A failure the command ends with; the exit code rides along for collectors. */
  error(message: string, exitCode: number): void {
    this.event("error", "failed", { message, exit_code: exitCode }, message);
  }
}

/** JSON has no NaN or Infinity: write them as strings rather than as a misleading null. */
function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? String(value) : value;
}

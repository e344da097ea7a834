import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigInvalid } from "../../common/errors.js";
import { PUBLIC_KEY_FILE } from "../../station-daemon/config.js";
import { AUDIT_LOG_FILE, type AuditLine, verifyAuditLog } from "../../station-daemon/governance/audit-log.js";
import { parseArgs } from "../args.js";
import { EXIT, UsageError } from "../exit-codes.js";

const HELP = `werkplaats station audit — read and verify a station's audit log (DIR/audit.log)

  werkplaats station audit DIR [--verify] [--study S] [--researcher KEY] [--since ISO] [--until ISO] [--json]
      Shows every request: time, researcher, study, computation, dataset, columns, filter,
      outcome and reason, and the bytes returned. --researcher matches a key prefix.
      --verify checks the hash chain and the station's signed checkpoints, and reports any
      edited, removed, reordered or cut-off line by line number; exit 0 when intact, 3 when not.
      --json prints one JSON object per line (with --verify: one report object).
`;

export async function stationAuditCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(
    argv,
    {
      verify: { type: "boolean" },
      study: { type: "string" },
      researcher: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      json: { type: "boolean" },
    },
    "station audit",
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("station audit takes one folder: werkplaats station audit DIR");
  const dir = resolve(positionals[0]);
  const file = join(dir, AUDIT_LOG_FILE);
  if (!existsSync(file)) throw new ConfigInvalid(`${file} not found: the station has not served yet, or ${dir} is not a station folder`);
  const keyFile = join(dir, PUBLIC_KEY_FILE);
  if (!existsSync(keyFile)) throw new ConfigInvalid(`${keyFile} not found: the station's public key is needed to check the log's signatures`);
  const stationKey = readFileSync(keyFile, "utf8").trim().toLowerCase();
  const since = time(values.since, "since");
  const until = time(values.until, "until");
  const report = verifyAuditLog({ file, stationKey });

  if (values.verify) {
    if (values.json) {
      process.stdout.write(JSON.stringify({ ok: report.ok, lines: report.lines, sealed: report.sealed, head: report.head, lastCheckpoint: report.lastCheckpoint, problems: report.problems, notes: report.notes }) + "\n");
    } else {
      for (const n of report.notes) process.stdout.write(`note: line ${n.line}: ${n.message}\n`);
      if (report.ok) {
        process.stdout.write(`${file}: intact — ${report.lines} lines, hash chain and ${report.entries.filter((e) => e.entry.type === "checkpoint").length} signed checkpoints verified, ends with the shutdown checkpoint\n`);
      } else {
        process.stdout.write(`${file}: NOT intact — ${report.problems.length} problem(s):\n`);
        for (const p of report.problems) process.stdout.write(`  line ${p.line}: ${p.message}\n`);
      }
      process.stdout.write(`head: line ${report.head.seq}, sha256 ${report.head.hash} (record it elsewhere to detect later truncation)\n`);
    }
    return report.ok ? EXIT.OK : EXIT.BAD_INPUT;
  }

  const researcher = values.researcher?.toLowerCase();
  const filtering = values.study !== undefined || researcher !== undefined;
  const shown = report.entries.filter(({ entry }) => {
    const t = Date.parse(entry.time);
    if (since !== undefined && !(t >= since)) return false;
    if (until !== undefined && !(t < until)) return false;
    if (entry.type === "checkpoint") return !filtering;
    if (values.study !== undefined && entry.study !== values.study) return false;
    if (researcher !== undefined && !(entry.researcher ?? "").startsWith(researcher)) return false;
    return true;
  });
  for (const { line, entry } of shown) process.stdout.write(values.json ? JSON.stringify(entry) + "\n" : describe(line, entry) + "\n");
  if (!report.ok) {
    process.stderr.write(`warning: the audit log is not intact (${report.problems.length} problem(s)); run with --verify for details\n`);
  }
  return EXIT.OK;
}

function time(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`--${name} must be an ISO date or date-time, got "${value}"`);
  return t;
}

function describe(line: number, e: AuditLine): string {
  const head = `${String(line).padStart(6)}  ${e.time}`;
  if (e.type === "checkpoint") return `${head}  — checkpoint (${e.reason}${e.previousStop === "unclean" ? ", after an unclean stop" : ""}) sealing lines 1–${e.seq}`;
  const who = e.researcher ? `${e.researcher.slice(0, 12)}…` : "(unsigned)";
  const what = [e.computation ?? e.method, e.dataset ?? "", e.columns.length ? `[${e.columns.join(", ")}]` : "", e.where ? `where ${e.where}` : ""].filter(Boolean).join(" ");
  const outcome = e.outcome === "allowed" ? `allowed, ${e.bytes} B` : `${e.outcome}: ${e.reason ?? ""}`;
  return `${head}  ${e.outcome.toUpperCase().padEnd(7)}  study ${e.study ?? "-"}  researcher ${who}  ${what}  — ${outcome}`;
}

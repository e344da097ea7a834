import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigInvalid } from "../../common/errors.js";
import { toHex } from "../../common/hex.js";
import { PUBLIC_KEY_FILE, SECRET_KEY_FILE, loadIdentity } from "../../station-daemon/config.js";
import { AUDIT_LOG_FILE, type AuditLine, verifyAuditLog } from "../../station-daemon/governance/audit-log.js";
import { parseArgs } from "../args.js";
import { EXIT, UsageError } from "../exit-codes.js";

/** `--verify` found nothing altered but cannot vouch for everything (see AuditStatus "warnings"). */
export const EXIT_AUDIT_WARNINGS = 11;

const HELP = `werkplaats station audit — read and verify a station's audit log (DIR/audit.log)

  werkplaats station audit DIR [--verify] [--study S] [--researcher KEY] [--since ISO] [--until ISO] [--json]
      Shows every request: time, researcher, study, computation, dataset, columns, filter,
      outcome and reason, and the bytes returned. --researcher matches a key prefix.
      --verify checks the hash chain, every line's MAC (keyed with the station's identity key:
      run it in the station folder, where identity.key is readable) and the signed checkpoints,
      and reports any edited, removed, reordered, forged or cut-off line by line number.
      Without a readable identity.key it checks the chain and signatures only (enough for a
      cleanly stopped station's log) and says which lines it could not check.
      Exit status of --verify:
        0   intact; or the station is running ("running; N lines not yet sealed") and nothing is wrong
        3   NOT intact (lines altered, removed, forged, cut through), or an old unkeyed log
        11  warnings: nothing found altered, but lines were found unsealed at a restart (a crash —
            or lines cut off the end), or the stopped station's log has no shutdown checkpoint
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
  const secret = identitySecret(dir, stationKey);
  const report = verifyAuditLog({ file, stationKey, ...(secret.key ? { identitySecretKey: secret.key } : {}) });
  const out = quietOnClosedPipe();

  if (values.verify) {
    const checkpoints = report.entries.filter((e) => e.entry.type === "checkpoint").length;
    if (values.json) {
      out(JSON.stringify({ ok: report.ok, status: report.status, running: report.running, keyed: report.keyed, lines: report.lines, sealed: report.sealed, unsealedLines: report.unsealedLines, head: report.head, lastCheckpoint: report.lastCheckpoint, problems: report.problems, warnings: report.warnings }) + "\n");
    } else {
      if (!secret.key) out(`note: ${secret.why}; checked the hash chain and signed checkpoints only\n`);
      for (const w of report.warnings) out(`warning: line ${w.line}: ${w.message}\n`);
      const what = `${report.lines} lines, hash chain${report.keyed ? ", line MACs" : ""} and ${checkpoints} signed checkpoints verified`;
      if (report.status === "intact") {
        out(`${file}: intact — ${what}, ends with the shutdown checkpoint\n`);
      } else if (report.status === "running") {
        out(`${file}: running; ${report.unsealedLines} lines not yet sealed — ${what}, nothing wrong found\n`);
      } else if (report.status === "warnings") {
        out(`${file}: NOT verified intact — ${report.warnings.length} warning(s) above; nothing was found altered (${what})\n`);
      } else {
        out(`${file}: NOT intact — ${report.problems.length} problem(s):\n`);
        for (const p of report.problems) out(`  line ${p.line}: ${p.message}\n`);
      }
      out(`head: line ${report.head.seq}, sha256 ${report.head.hash} (record it elsewhere to detect later truncation)\n`);
    }
    if (report.status === "intact" || report.status === "running") return EXIT.OK;
    return report.status === "warnings" ? EXIT_AUDIT_WARNINGS : EXIT.BAD_INPUT;
  }

  const researcher = values.researcher?.toLowerCase();
  const filtering = values.study !== undefined || researcher !== undefined;
  const shown = report.entries.filter(({ entry }) => {
    const t = Date.parse(entry.time);
    if (since !== undefined && !(t >= since)) return false;
    if (until !== undefined && !(t < until)) return false;
    if (entry.type !== "request") return !filtering;
    if (values.study !== undefined && entry.study !== values.study) return false;
    if (researcher !== undefined && !(entry.researcher ?? "").startsWith(researcher)) return false;
    return true;
  });
  for (const { line, entry } of shown) {
    if (!out(values.json ? JSON.stringify(entry) + "\n" : describe(line, entry) + "\n")) break;
  }
  if (report.status === "old-format") {
    process.stderr.write(`warning: ${report.problems[0].message}\n`);
  } else if (!report.ok) {
    process.stderr.write(`warning: the audit log is not intact (${report.problems.length} problem(s)); run with --verify for details\n`);
  } else if (report.status === "warnings") {
    process.stderr.write(`warning: the audit log has ${report.warnings.length} warning(s); run with --verify for details\n`);
  }
  return EXIT.OK;
}

/**
 * A writer to stdout that stops quietly once the reader has gone (`station audit DIR | head`):
 * EPIPE is not an error of ours. Returns false once stdout is closed.
 */
function quietOnClosedPipe(): (text: string) => boolean {
  let closed = false;
  if (process.stdout.listenerCount("error") === 0) {
    process.stdout.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE" || err.code === "ERR_STREAM_DESTROYED") closed = true;
      else throw err;
    });
  }
  return (text) => {
    if (closed || process.stdout.destroyed) return false;
    process.stdout.write(text);
    return true;
  };
}

/** The identity secret key when readable here and matching identity.pub; else why not. */
function identitySecret(dir: string, stationKey: string): { key?: Uint8Array; why: string } {
  const file = join(dir, SECRET_KEY_FILE);
  try {
    const identity = loadIdentity(dir);
    if (toHex(identity.publicKey) !== stationKey) throw new ConfigInvalid(`${file} does not belong to ${join(dir, PUBLIC_KEY_FILE)}: the two keys differ`);
    return { key: identity.secretKey, why: "" };
  } catch (err) {
    if (err instanceof ConfigInvalid && /does not belong/.test(err.message)) throw err;
    return { why: `${file} is not readable here (${(err as Error).message.replace(/^.*?: /, "")}): the line MACs cannot be checked` };
  }
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
  if (e.type === "notice") return `${head}  — NOTICE: ${e.message}`;
  if (e.local) {
    const l = e.local;
    return `${head}  LOCAL    ${e.method} by ${l.user}  ${e.dataset ?? ""}${l.model ? ` model ${l.model}` : ""}${l.scored !== undefined ? `  ${l.scored} of ${l.rows} rows` : ""}${l.output ? ` → ${l.output}` : ""}`;
  }
  const who = e.researcher ? `${e.researcher.slice(0, 12)}…` : "(unsigned)";
  const what = [e.computation ?? e.method, e.dataset ?? "", e.columns.length ? `[${e.columns.join(", ")}]` : "", e.where ? `where ${e.where}` : ""].filter(Boolean).join(" ");
  const outcome = e.outcome === "allowed" ? `allowed, ${e.bytes} B` : `${e.outcome}: ${e.reason ?? ""}`;
  return `${head}  ${e.outcome.toUpperCase().padEnd(7)}  study ${e.study ?? "-"}  researcher ${who}  ${what}  — ${outcome}`;
}

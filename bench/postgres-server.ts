/**
 * A throwaway PostgreSQL server for tests and benchmarks: initdb in a fresh folder under /tmp,
 * a free port on 127.0.0.1 and a unix socket in that folder, started with pg_ctl and removed at
 * stop. PostgreSQL refuses to run as root, so as root the server binaries run as the `postgres`
 * user (runuser). Failing to start is an error with the server's log, never a silent skip.
 */
import { execFile } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { loadCsv } from "../station-daemon/data/csv.js";
import { quoteIdentifier } from "../station-daemon/sources/index.js";

const run = promisify(execFile);

/** The newest installed server's bin folder (Debian: /usr/lib/postgresql/N/bin), or undefined. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], "bin") : undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export class TemporaryPostgres {
  readonly dir: string;
  readonly port: number;
  private readonly bin: string;
  private readonly asPostgres: boolean;
  private stopped = false;

  private constructor(options: { dir: string; port: number; bin: string; asPostgres: boolean }) {
    this.dir = options.dir;
    this.port = options.port;
    this.bin = options.bin;
    this.asPostgres = options.asPostgres;
  }

  static async start(options: { settings?: Record<string, string> } = {}): Promise<TemporaryPostgres> {
    const bin = postgresBinDir();
    if (!bin) throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql (install Debian's postgresql package)");
    const asPostgres = process.getuid?.() === 0;
    const dir = mkdtempSync("/tmp/werkplaats-pg-");
    mkdirSync(join(dir, "load"));
    if (asPostgres) {
      const { stdout } = await run("id", ["-u", "postgres"]);
      const { stdout: gid } = await run("id", ["-g", "postgres"]);
      for (const d of [dir, join(dir, "load")]) chownSync(d, Number(stdout.trim()), Number(gid.trim()));
    }
    chmodSync(dir, 0o700);
    const port = await freePort();
    const server = new TemporaryPostgres({ dir, port, bin, asPostgres });
    try {
      await server.exec("initdb", ["-D", join(dir, "data"), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-locale", "-E", "UTF8", "--no-sync"]);
      const settings = {
        listen_addresses: "127.0.0.1",
        port: String(port),
        unix_socket_directories: dir,
        fsync: "off",
        synchronous_commit: "off",
        full_page_writes: "off",
        ...options.settings,
      };
      writeFileSync(join(dir, "data", "postgresql.auto.conf"), Object.entries(settings).map(([k, v]) => `${k} = '${v}'`).join("\n") + "\n");
      await server.exec("pg_ctl", ["-D", join(dir, "data"), "-l", join(dir, "server.log"), "-w", "-t", "60", "start"]);
    } catch (err) {
      const log = existsSync(join(dir, "server.log")) ? readFileSync(join(dir, "server.log"), "utf8").slice(-4000) : "";
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n${log}`);
    }
    return server;
  }

  private async exec(tool: string, args: string[]): Promise<void> {
    const path = join(this.bin, tool);
    if (this.asPostgres) await run("runuser", ["-u", "postgres", "--", path, ...args], { cwd: "/tmp" });
    else await run(path, args, { cwd: "/tmp" });
  }

  /** A superuser client over the unix socket (trust authentication). */
  async admin(database = "postgres"): Promise<pg.Client> {
    const client = new pg.Client({ host: this.dir, port: this.port, user: "postgres", database });
    await client.connect();
    return client;
  }

  /** A TCP connection URL for a login role. */
  url(options: { user: string; password: string; database: string }): string {
    return `postgresql://${encodeURIComponent(options.user)}:${encodeURIComponent(options.password)}@127.0.0.1:${this.port}/${encodeURIComponent(options.database)}`;
  }

  /**
   * Creates `table` with columns typed from a CSV file (integers int8, other numbers float8,
   * booleans boolean, text text) and loads the file with a server-side COPY.
   */
  async loadCsv(client: pg.Client, options: { table: string; file: string; owner?: string }): Promise<void> {
    const t = await loadCsv({ file: options.file, dataset: options.table });
    const columns = [...t.columns.values()].map((c) => {
      let type = "text";
      if (c.kind === "boolean") type = "boolean";
      else if (c.kind === "numeric") type = c.values.every((v) => Number.isNaN(v) || Number.isInteger(v)) ? "int8" : "float8";
      return `${quoteIdentifier(c.name)} ${type}`;
    });
    const relation = options.table.split(".").map(quoteIdentifier).join(".");
    await client.query(`CREATE TABLE ${relation} (${columns.join(", ")})`);
    const copy = join(this.dir, "load", `${Date.now()}-${Math.random().toString(36).slice(2)}.csv`);
    writeFileSync(copy, readFileSync(options.file));
    chmodSync(copy, 0o644);
    try {
      await client.query(`COPY ${relation} FROM '${copy.replace(/'/g, "''")}' WITH (FORMAT csv, HEADER true)`);
    } finally {
      rmSync(copy, { force: true });
    }
    if (options.owner) await client.query(`ALTER TABLE ${relation} OWNER TO ${quoteIdentifier(options.owner)}`);
    await client.query(`ANALYZE ${relation}`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await this.exec("pg_ctl", ["-D", join(this.dir, "data"), "-m", "fast", "-w", "stop"]);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

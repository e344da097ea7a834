/**
 * A dataset that is a PostgreSQL table or view. The rows stay in the database: at start the
 * station reads the schema from the catalog (and categorical levels with SELECT DISTINCT), and
 * every job is a parameterised aggregate query (sql-descriptive.ts, sql-glm.ts) whose result is
 * the job's contribution vector.
 *
 * Read-only by construction, checked at start: the station refuses to serve a dataset through a
 * role that could change it — a superuser, or a role with INSERT, UPDATE, DELETE or TRUNCATE on
 * the table (directly, through a group role, or on any of its columns) — because a station that
 * can write is one SQL bug away from damaging the organisation's source data. Every session is
 * also set to default_transaction_read_only, and each job runs in one READ ONLY, REPEATABLE READ
 * transaction, so its queries see one snapshot.
 *
 * Disclosure checks while computing (a JobGuard): the subset rule runs first, as its own count
 * query, before any query that could fail on a value; a GLM's design is checked for isolating a
 * person in the database (sql-glm.ts, the same verdict and words as compute/model-disclosure.ts).
 * Differencing is NOT covered for a database table: its rows have no stable numbering across
 * queries (the table may change between jobs, and a key column is not required), so the station
 * keeps no record of released row sets for it — governance/README.md says what that leaves open.
 *
 * The connection string comes from an environment variable or a file (mode 0600) named in
 * station.json; it is never logged nor put into an error: messages name where it came from, and
 * anything the driver reports is scrubbed of it and of its password.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import pg from "pg";
import { BadInput, ConfigInvalid, DataFileInvalid, WerkplaatsError } from "../../common/errors.js";
import type { JobSpec } from "../../common/job.js";
import { checkWhere } from "../compute/filter.js";
import { DEFAULT_POSTGRES_MAX_LEVELS, type PostgresDatasetSource } from "../config.js";
import { compareCodePoints } from "../data/csv.js";
import type { Column, ColumnKind, Table } from "../data/table.js";
import { checkSubsetSize } from "../compute/contribution.js";
import type { Contribution, DatasetSource, JobGuard } from "./index.js";
import { descriptiveSql, isDescriptivePushedDown, type SqlContext } from "./sql-descriptive.js";
import { glmSql } from "./sql-glm.js";
import { SqlParams, SqlSchema, quoteIdentifier, whereSql } from "./sql.js";

export interface PostgresSourceLog {
  info(message: string): void;
  error(message: string): void;
}

/** Numeric columns release their values as levels when they hold at most this many integers. */
const MAX_INTEGER_LEVELS = 40;
/** A query (one job's aggregate) longer than this is cancelled by the server. */
const STATEMENT_TIMEOUT_MS = 10 * 60_000;

const INTEGER_TYPES = new Set(["int2", "int4", "int8"]);
const FLOAT_TYPES = new Set(["float4", "float8", "numeric"]);
const TEXT_TYPES = new Set(["text", "varchar", "bpchar", "name", "citext"]);

/** The connection string, and how to describe where it came from without showing it. */
export function readConnectionString(source: PostgresDatasetSource, dir: string): { url: string; origin: string } {
  const c = source.connection;
  if ("env" in c) {
    const url = process.env[c.env];
    if (!url || url.trim() === "") throw new ConfigInvalid(`dataset ${source.name}: the environment variable ${c.env} (its PostgreSQL connection string) is not set`);
    return { url: url.trim(), origin: `environment variable ${c.env}` };
  }
  const file = isAbsolute(c.file) ? c.file : join(resolve(dir), c.file);
  if (!existsSync(file)) throw new ConfigInvalid(`dataset ${source.name}: the connection file ${file} does not exist`);
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    // A connection string holds a password: readable by others, it is a password for others.
    throw new ConfigInvalid(`dataset ${source.name}: the connection file ${file} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${file}`);
  }
  const url = readFileSync(file, "utf8").trim();
  if (url === "") throw new ConfigInvalid(`dataset ${source.name}: the connection file ${file} is empty`);
  return { url, origin: `file ${file}` };
}

/** Removes the connection string and its password from a message. */
function scrubber(url: string): (message: string) => string {
  const secrets = [url];
  try {
    const parsed = new URL(url);
    if (parsed.password) secrets.push(parsed.password, decodeURIComponent(parsed.password));
  } catch {
    const m = /password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/i.exec(url);
    if (m) secrets.push(m[1], m[1].replace(/^'|'$/g, ""));
  }
  const sorted = secrets.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  return (message) => sorted.reduce((text, s) => text.split(s).join("***"), String(message));
}

export class PostgresSource implements DatasetSource {
  readonly name: string;
  readonly table: Table;
  readonly description: string;
  private readonly pool: pg.Pool;
  private readonly schema: SqlSchema;
  private readonly scrub: (message: string) => string;
  private readonly log?: PostgresSourceLog;

  private constructor(options: { name: string; table: Table; description: string; pool: pg.Pool; schema: SqlSchema; scrub: (m: string) => string; log?: PostgresSourceLog }) {
    this.name = options.name;
    this.table = options.table;
    this.description = options.description;
    this.pool = options.pool;
    this.schema = options.schema;
    this.scrub = options.scrub;
    this.log = options.log;
  }

  static async open(source: PostgresDatasetSource, options: { dir: string; log?: PostgresSourceLog }): Promise<PostgresSource> {
    const { url, origin } = readConnectionString(source, options.dir);
    const scrub = scrubber(url);
    const fail = (why: string, err?: unknown): never => {
      const detail = err === undefined ? "" : `: ${scrub((err as Error)?.message ?? String(err))}`;
      throw new ConfigInvalid(`dataset ${source.name} (PostgreSQL, connection from ${origin}): ${why}${detail}`);
    };
    let pool: pg.Pool;
    try {
      pool = new pg.Pool({ connectionString: url, max: 2, idleTimeoutMillis: 30_000, application_name: "werkplaats-station", connectionTimeoutMillis: 15_000 });
    } catch (err) {
      return fail("the connection string is not valid", err);
    }
    pool.on("error", (err) => options.log?.error(`PostgreSQL connection for dataset ${source.name} failed: ${scrub(err.message)}`));
    // Settings in the connection string could override driver options, so every new session is
    // made read-only by statements queued before any other.
    pool.on("connect", (client) => {
      // jit off: the station sends the same large aggregate every iteration with new parameters,
      // and compiling it (seconds for a 20-covariate model) costs more than it saves.
      client.query(`SET default_transaction_read_only = on; SET statement_timeout = ${STATEMENT_TIMEOUT_MS | 0}; SET jit = off`).catch(() => {});
    });
    try {
      return await PostgresSource.inspect(source, { pool, scrub, fail, log: options.log });
    } catch (err) {
      await pool.end().catch(() => {});
      if (err instanceof WerkplaatsError) throw err;
      return fail("cannot read the table's schema", err);
    }
  }

  private static async inspect(
    source: PostgresDatasetSource,
    o: { pool: pg.Pool; scrub: (m: string) => string; fail: (why: string, err?: unknown) => never; log?: PostgresSourceLog },
  ): Promise<PostgresSource> {
    const { pool, fail } = o;
    const query = async (text: string, values: unknown[] = []) => {
      try {
        return (await pool.query(text, values)).rows as Array<Record<string, unknown>>;
      } catch (err) {
        return fail("the database refused a catalog query", err);
      }
    };
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
      client.release();
    } catch (err) {
      return fail("cannot connect", err);
    }
    const [schemaName, tableName] = source.table.includes(".") ? source.table.split(".", 2) : [null, source.table];
    const found = await query(
      `SELECT c.oid::int8 AS oid, n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relname = $1 AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
         AND (($2::text IS NULL AND n.nspname = ANY (current_schemas(false))) OR n.nspname = $2::text)
       ORDER BY array_position(current_schemas(false), n.nspname::text) NULLS LAST LIMIT 1`,
      [tableName, schemaName],
    );
    if (found.length === 0) fail(`no table or view "${source.table}" that this role can see`);
    const oid = Number(found[0].oid);
    const relation = `${quoteIdentifier(String(found[0].nspname))}.${quoteIdentifier(String(found[0].relname))}`;
    const shown = `${found[0].nspname}.${found[0].relname}`;

    const [role] = await query(
      `SELECT current_user AS role, r.rolsuper AS superuser,
         has_table_privilege($1::oid, 'SELECT') AS can_select,
         array_remove(ARRAY[
           CASE WHEN has_table_privilege($1::oid, 'INSERT') OR has_any_column_privilege($1::oid, 'INSERT') THEN 'INSERT' END,
           CASE WHEN has_table_privilege($1::oid, 'UPDATE') OR has_any_column_privilege($1::oid, 'UPDATE') THEN 'UPDATE' END,
           CASE WHEN has_table_privilege($1::oid, 'DELETE') THEN 'DELETE' END,
           CASE WHEN has_table_privilege($1::oid, 'TRUNCATE') THEN 'TRUNCATE' END], NULL) AS writes,
         current_setting('default_transaction_read_only') AS read_only
       FROM pg_roles r WHERE r.rolname = current_user`,
      [oid],
    );
    if (!role) fail("cannot look up the connected role");
    if (role.superuser === true) {
      fail(`the role "${role.role}" is a superuser; connect as a read-only role (GRANT SELECT ON ${shown} TO a role without write privileges)`);
    }
    const writes = role.writes as string[];
    if (writes.length > 0) {
      fail(`the role "${role.role}" can write to ${shown} (${writes.join(", ")}); a station refuses to start with a role that can change its data — connect as a read-only role (GRANT SELECT only)`);
    }
    if (role.can_select !== true) fail(`the role "${role.role}" may not read ${shown} (GRANT SELECT ON ${shown} TO ${role.role})`);
    if (role.read_only !== "on") fail("the session is not read-only (default_transaction_read_only could not be set)");

    const attributes = await query(
      `SELECT a.attname AS name, t.typname, t.typtype, bt.typname AS basetype, bt.typtype AS basetypetype
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
       WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [oid],
    );
    if (attributes.length === 0) fail(`${shown} has no columns`);
    const described = `PostgreSQL table ${shown}`;
    const specs = attributes.map((a) => {
      const name = String(a.name);
      const domain = a.typtype === "d";
      const type = String(domain ? a.basetype : a.typname);
      const typtype = domain ? a.basetypetype : a.typtype;
      let kind: ColumnKind;
      let floating = false;
      let integer = false;
      if (INTEGER_TYPES.has(type)) (kind = "numeric"), (integer = true);
      else if (FLOAT_TYPES.has(type)) (kind = "numeric"), (floating = true), (integer = type === "numeric");
      else if (type === "bool") kind = "boolean";
      else if (TEXT_TYPES.has(type) || typtype === "e") kind = "categorical";
      else {
        throw new DataFileInvalid({
          file: described,
          column: name,
          reason: `type ${type} is not supported (numbers, booleans and text are); leave the column out or cast it in a view`,
        });
      }
      return { name, kind, floating, integer };
    });
    const empty: Table = { name: source.name, rowCount: 0, columns: new Map() };
    const schema = new SqlSchema({ relation, table: empty, columns: specs });
    const maxLevels = source.maxLevels ?? DEFAULT_POSTGRES_MAX_LEVELS;
    const columns = new Map<string, Column>();
    for (const spec of specs) {
      const value = schema.column(spec.name).value;
      if (spec.kind === "categorical") {
        const rows = await query(`SELECT DISTINCT ${value} AS v FROM ${relation} t WHERE ${value} IS NOT NULL LIMIT $1::int8`, [maxLevels + 1]);
        if (rows.length > maxLevels) {
          throw new DataFileInvalid({
            file: described,
            column: spec.name,
            reason: `more than ${maxLevels} distinct values, too many to release as levels (leave it out with a view, or raise "maxLevels" in station.json)`,
          });
        }
        columns.set(spec.name, { kind: "categorical", name: spec.name, codes: new Int32Array(0), levels: rows.map((r) => String(r.v)).sort(compareCodePoints) });
      } else if (spec.kind === "boolean" || spec.integer) {
        // A few distinct integers (and the 0/1 a boolean holds) are released as levels, as for a
        // file; the schema table holds them in place of rows, so that Station.info() reads them
        // as it reads a file's values.
        const number = spec.kind === "boolean" ? `(${value})::int` : value;
        const rows = await query(`SELECT DISTINCT ${number} AS v FROM ${relation} t WHERE ${value} IS NOT NULL LIMIT ${MAX_INTEGER_LEVELS + 1}`);
        const values = rows.map((r) => Number(r.v));
        const released = values.length <= MAX_INTEGER_LEVELS && values.every(Number.isInteger) ? values : [];
        columns.set(spec.name, { kind: spec.kind, name: spec.name, values: Float64Array.from(released) } as Column);
      } else {
        columns.set(spec.name, { kind: spec.kind, name: spec.name, values: new Float64Array(0) } as Column);
      }
    }
    const table: Table = { name: source.name, rowCount: 0, columns };
    const finalSchema = new SqlSchema({ relation, table, columns: specs });
    o.log?.info(`dataset ${source.name}: ${described} as role "${role.role}" (read-only), ${specs.length} columns`);
    return new PostgresSource({ name: source.name, table, description: described, pool, schema: finalSchema, scrub: o.scrub, log: o.log });
  }

  async compute(job: JobSpec, guard?: JobGuard): Promise<Contribution> {
    if (job.where !== undefined) checkWhere(this.table, job.where);
    const c = job.computation;
    if (c.kind === "indicators" && Array.isArray(c.indicators)) {
      for (const i of c.indicators) {
        checkWhere(this.table, i.numerator);
        if (i.denominator) checkWhere(this.table, i.denominator);
      }
    }
    const kind = (c as { kind: string }).kind;
    if (!isDescriptivePushedDown(kind) && kind !== "glm") {
      throw new BadInput(`the computation "${kind}" is not supported for PostgreSQL datasets yet (dataset ${this.name})`);
    }
    const client = await this.pool.connect().catch((err: unknown) => {
      this.log?.error(`PostgreSQL connection for dataset ${this.name} failed: ${this.scrub((err as Error).message)}`);
      throw new WerkplaatsError("INTERNAL", `the station cannot reach its database for dataset ${this.name}`);
    });
    let broken = false;
    try {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const ctx: SqlContext = {
        schema: this.schema,
        params: () => new SqlParams(),
        run: async (text, values) => {
          try {
            return (await client.query({ text, values })).rows as Array<Record<string, unknown>>;
          } catch (err) {
            throw this.queryError(err);
          }
        },
      };
      if (guard) {
        // The subset rule before anything else runs on the rows (errors of later queries could
        // otherwise say something of a few rows).
        const params = new SqlParams();
        const where = job.where ? ` WHERE (${whereSql(this.schema, job.where, params)}) IS TRUE` : "";
        const [counted] = await ctx.run(`SELECT count(*) AS n FROM ${this.schema.relation} t${where}`, params.values);
        checkSubsetSize(Number(counted?.n ?? 0), guard);
      }
      const isolation = guard ? { limits: guard.disclosure, station: guard.station } : undefined;
      const result = c.kind === "glm" ? await glmSql(ctx, { where: job.where, computation: c, isolation }) : await descriptiveSql(ctx, { where: job.where, computation: c as Parameters<typeof descriptiveSql>[1]["computation"] });
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** A database error as the analyst may see it: its class, never SQL text, values or credentials. */
  private queryError(err: unknown): WerkplaatsError {
    const code = (err as { code?: string })?.code ?? "";
    this.log?.error(`PostgreSQL query for dataset ${this.name} failed (SQLSTATE ${code}): ${this.scrub((err as Error)?.message ?? String(err))}`);
    if (code.startsWith("22")) {
      return new BadInput(`the computation failed in the database at these values (SQLSTATE ${code}: an arithmetic error such as an overflow); check the model's coefficients and formula`);
    }
    if (code === "57014") return new WerkplaatsError("INTERNAL", `the database query for dataset ${this.name} took longer than ${STATEMENT_TIMEOUT_MS / 60_000} minutes and was cancelled`);
    return new WerkplaatsError("INTERNAL", `the database query for dataset ${this.name} failed (SQLSTATE ${code || "unknown"})`);
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}

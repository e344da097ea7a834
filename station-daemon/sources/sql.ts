/**
 * SQL text for the PostgreSQL source, built only from the station's own catalog and from
 * constants of this file. Nothing a researcher sends is ever pasted into SQL:
 *
 * - Identifiers (tables, columns) are quoted by `quoteIdentifier`, and only after they were
 *   looked up among the columns the station read from the database catalog at start
 *   (`SqlSchema.column` throws UnknownColumn otherwise). Even a catalog name with quotes,
 *   semicolons or backslashes comes out as one identifier.
 * - Every value from a job (a where-literal, a group-by level, a coefficient, a histogram edge, a
 *   number in a formula) goes into `SqlParams` and appears in the text only as `$n` with a cast.
 *
 * Column values as SQL expressions follow the `Table` conventions: SQL NULL is missing, a NaN
 * in a floating-point column is made NULL too (the JS kernels read NaN as missing), booleans are
 * `boolean`, categorical values `text`.
 */
import { BadInput, UnknownColumn } from "../../common/errors.js";
import type { CompareOp, Expr, Literal } from "../../common/expression.js";
import type { ColumnKind, Table } from "../data/table.js";

/** Quotes a name as one SQL identifier ("a""b"); refuses what no PostgreSQL name can hold. */
export function quoteIdentifier(name: string): string {
  if (typeof name !== "string" || name.length === 0 || name.includes("\u0000") || Buffer.byteLength(name, "utf8") > 63) {
    throw new BadInput("not a valid SQL identifier");
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/** Job values, bound as $1, $2, … in the order added. */
export class SqlParams {
  readonly values: unknown[] = [];

  /** `$n::type` for a value, never the value itself. */
  add(value: unknown, type: "float8" | "text" | "boolean" | "float8[]" | "text[]" | "boolean[]" | "int4[]"): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }

  number(value: number): string {
    if (typeof value !== "number" || !Number.isFinite(value)) throw new BadInput("a number in the job is not finite");
    return this.add(value, "float8");
  }
}

export interface SqlColumn {
  name: string;
  kind: ColumnKind;
  /** The column as a value expression (float8, boolean or text; NULL when missing). */
  value: string;
}

/** The columns of one table or view as the station read them from the catalog at start. */
export class SqlSchema {
  /** `"schema"."table"`. */
  readonly relation: string;
  private readonly columns: Map<string, SqlColumn>;
  readonly table: Table;

  constructor(options: { relation: string; table: Table; columns: Array<{ name: string; kind: ColumnKind; floating: boolean }> }) {
    this.relation = options.relation;
    this.table = options.table;
    this.columns = new Map(
      options.columns.map((c) => {
        const q = `t.${quoteIdentifier(c.name)}`;
        const value =
          c.kind === "numeric" ? (c.floating ? `NULLIF(${q}::float8, 'NaN'::float8)` : `${q}::float8`) : c.kind === "boolean" ? `${q}` : `${q}::text`;
        return [c.name, { name: c.name, kind: c.kind, value }];
      }),
    );
  }

  column(name: unknown): SqlColumn {
    const column = typeof name === "string" ? this.columns.get(name) : undefined;
    if (!column) throw new UnknownColumn(String(name), this.table.name, [...this.columns.keys()]);
    return column;
  }

  /** A numeric or boolean column as float8 (booleans 0/1), NULL when missing. */
  numberValue(name: string): string {
    const c = this.column(name);
    if (c.kind === "categorical") throw new BadInput(`column "${name}" is categorical and cannot be used as a number`);
    return c.kind === "boolean" ? `(${c.value})::int::float8` : c.value;
  }
}

const SQL_OPS: Record<CompareOp, string> = { "==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=" };

/**
 * A checked where-expression (compute/filter.ts checkWhere has run) as an SQL boolean whose
 * NULL is the kernels' *unknown*: SQL's AND, OR and NOT are Kleene's three-valued logic, and a
 * comparison with a NULL operand is NULL, so `(expr) IS TRUE` keeps exactly the rows
 * evaluateWhere keeps.
 */
export function whereSql(schema: SqlSchema, e: Expr, params: SqlParams): string {
  switch (e.kind) {
    case "column":
      return `(${schema.column(e.name).value})`;
    case "missing":
      return `(${schema.column(e.column).value} IS NULL)`;
    case "compare": {
      const c = schema.column(e.column);
      return `(${c.value} ${SQL_OPS[e.op]} ${literal(c.kind, e.value, params)})`;
    }
    case "in": {
      const c = schema.column(e.column);
      const values = e.values.map((v) => literalValue(c.kind, v));
      const type = c.kind === "numeric" ? "float8[]" : c.kind === "boolean" ? "boolean[]" : "text[]";
      return `(${c.value} = ANY(${params.add(values, type)}))`;
    }
    case "not":
      return `(NOT ${whereSql(schema, e.arg, params)})`;
    case "and":
    case "or":
      return `(${e.args.map((a) => whereSql(schema, a, params)).join(e.kind === "and" ? " AND " : " OR ")})`;
  }
}

function literalValue(kind: ColumnKind, value: Literal): number | boolean | string {
  // checkWhere has matched literal kinds to column kinds; this re-checks rather than trusts.
  const ok = (kind === "numeric" && value.kind === "number") || (kind === "boolean" && value.kind === "bool") || (kind === "categorical" && value.kind === "string");
  if (!ok) throw new BadInput("a where-literal does not match its column's type");
  return value.value;
}

function literal(kind: ColumnKind, value: Literal, params: SqlParams): string {
  const v = literalValue(kind, value);
  return kind === "numeric" ? params.number(v as number) : params.add(v, kind === "boolean" ? "boolean" : "text");
}

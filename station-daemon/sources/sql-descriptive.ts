/**
 * Counts, moments, histograms and indicator sets as SQL aggregates over a PostgreSQL table, in
 * exactly the layouts of compute/descriptive.ts (row-major cells over `by`, a row with a missing
 * group-by value in the missing-value cell when the GroupBy has one and otherwise not counted,
 * [n, Σ(x − c), Σ(x − c)²] per cell of the non-missing values, …).
 *
 * Grouping checks look at all rows of the dataset, as the kernels' do (so that whether a job
 * fails says nothing about a filtered subset): categorical levels against the levels the station
 * read at start, boolean columns need no data, and a numeric group-by scans every row with the
 * filter as a FILTER clause rather than a WHERE, so that an unlisted or non-integer value is
 * found wherever it is.
 */
import { BadInput } from "../../common/errors.js";
import { cellCount, type Computation, type GroupBy, INDICATOR_VALUES_PER_CELL, histogramWidth, levelCount, quantileEdges } from "../../common/job.js";
import { type SqlParams, type SqlSchema, whereSql } from "./sql.js";
import type { Expr } from "../../common/expression.js";
import { checkEdges, levelPositions } from "../compute/descriptive.js";

/** Runs one parameterised query and returns its rows. */
export type SqlRunner = (text: string, values: unknown[]) => Promise<Array<Record<string, unknown>>>;

export interface SqlContext {
  schema: SqlSchema;
  params: () => SqlParams;
  run: SqlRunner;
}

interface GroupIndex {
  /** SQL int per row: the level's index, -1 missing, -2 a value not listed, -3 not an integer. */
  sql: string;
  /** Whether a -2/-3 can only be found by looking at every row. */
  scanAllRows: boolean;
}

/** The same checks, with the same messages, as compute/descriptive.ts levelIndexOf (levelPositions is shared). */
function groupIndex(schema: SqlSchema, group: GroupBy, params: SqlParams): GroupIndex {
  const column = schema.column(group.column);
  const levels = group.levels;
  const position = levelPositions(group);
  const v = column.value;
  switch (column.kind) {
    case "categorical": {
      const own = schema.table.columns.get(column.name);
      for (const level of own?.kind === "categorical" ? own.levels : []) {
        if (!position.has(level)) {
          throw new BadInput(
            `column "${column.name}" at this station has the level "${level}", which the group-by does not list ` +
              `(listed: ${levels.map((l) => `"${l}"`).join(", ")})`);
        }
      }
      return { sql: `CASE WHEN ${v} IS NULL THEN -1 ELSE COALESCE(array_position(${params.add(levels, "text[]")}, ${v}) - 1, -2) END`, scanAllRows: false };
    }
    case "boolean": {
      const f = position.get("false");
      const t = position.get("true");
      if (f === undefined || t === undefined || levels.length !== 2) {
        throw new BadInput(`column "${column.name}" is boolean; group it by the levels "false" and "true"`);
      }
      return { sql: `CASE WHEN ${v} IS NULL THEN -1 WHEN ${v} THEN ${t | 0} ELSE ${f | 0} END`, scanAllRows: false };
    }
    case "numeric": {
      const values: number[] = [];
      for (const level of levels) {
        const value = Number(level);
        if (!/^-?\d+$/.test(level) || !Number.isSafeInteger(value) || String(value) !== level) {
          throw new BadInput(`column "${column.name}" is numeric; its group-by levels must be integers in decimal text, not "${level}"`);
        }
        values.push(value);
      }
      return {
        sql: `CASE WHEN ${v} IS NULL THEN -1 WHEN ${v} <> trunc(${v}) OR ${v} IN ('Infinity'::float8, '-Infinity'::float8) THEN -3 ELSE COALESCE(array_position(${params.add(values, "float8[]")}, ${v}) - 1, -2) END`,
        scanAllRows: true,
      };
    }
  }
}

function groupError(schema: SqlSchema, group: GroupBy, code: number): BadInput {
  const column = schema.column(group.column);
  if (column.kind === "categorical") {
    return new BadInput(`column "${column.name}" holds a level the station did not have when it started (the table changed); restart the station`);
  }
  return new BadInput(code === -3
    ? `column "${column.name}" is numeric but not integer-valued, so it cannot be grouped`
    : `column "${column.name}" at this station has a value the group-by levels do not list`);
}

export interface CellRow {
  /** Row-major cell of the group-by, or -1 when a group-by value is missing and has no cell of its own. */
  cell: number;
  key: number;
  /** Rows of this group that the selection keeps. */
  selected: number;
  aggregates: number[];
}

/**
 * One pass over the table grouped by the cells of `by` (and an optional per-row `key`): for each
 * group the selected rows and `aggregates` over them. Throws BadInput, as the kernels do, when any
 * row of the dataset holds a group-by value the levels do not list.
 */
export async function cellAggregates(
  ctx: SqlContext,
  options: {
    by: readonly GroupBy[];
    /** SQL boolean: the rows to aggregate (NULL and false leave a row out); all rows when absent. */
    where?: (params: SqlParams) => string | undefined;
    key?: (params: SqlParams) => string;
    aggregates: (params: SqlParams) => string[];
  },
): Promise<{ rows: CellRow[]; rowsSelected: number }> {
  const params = ctx.params();
  const where = options.where?.(params);
  const groups = options.by.map((g) => groupIndex(ctx.schema, g, params));
  const key = options.key?.(params);
  const aggregates = options.aggregates(params);
  const scanAll = groups.some((g) => g.scanAllRows) && where !== undefined;
  const filter = scanAll ? " FILTER (WHERE sel)" : "";
  const outputs = [
    ...groups.map((g, i) => `${g.sql} AS g${i}`),
    ...(key !== undefined ? [`${key} AS k`] : []),
    `count(*)${filter} AS selected`,
    ...aggregates.map((a, i) => `${a}${filter} AS a${i}`),
  ];
  const grouping = groups.length + (key !== undefined ? 1 : 0);
  const from = scanAll
    ? `(SELECT t.*, (${where}) IS TRUE AS sel FROM ${ctx.schema.relation} t) t`
    : `${ctx.schema.relation} t${where !== undefined ? ` WHERE (${where}) IS TRUE` : ""}`;
  const text = `SELECT ${outputs.join(", ")} FROM ${from}${grouping > 0 ? ` GROUP BY ${Array.from({ length: grouping }, (_, i) => i + 1).join(", ")}` : ""}`;
  const result = await ctx.run(text, params.values);
  const rows: CellRow[] = [];
  let rowsSelected = 0;
  for (const r of result) {
    const selected = Number(r.selected);
    let cell = 0;
    for (let i = 0; i < groups.length; i++) {
      const group = options.by[i];
      let g = Number(r[`g${i}`]);
      if (g <= -2) throw groupError(ctx.schema, group, g);
      if (g === -1 && group.missing) g = group.levels.length;
      cell = cell < 0 || g < 0 ? -1 : cell * levelCount(group) + g;
    }
    rowsSelected += selected;
    rows.push({ cell, key: key !== undefined ? Number(r.k) : 0, selected, aggregates: aggregates.map((_, i) => toNumber(r[`a${i}`])) });
  }
  return { rows, rowsSelected };
}

function toNumber(value: unknown): number {
  return value === null || value === undefined ? 0 : Number(value);
}

export type DescriptiveKind = "count" | "moments" | "histogram" | "quantile" | "indicators";

export function isDescriptivePushedDown(kind: string): kind is DescriptiveKind {
  return kind === "count" || kind === "moments" || kind === "histogram" || kind === "quantile" || kind === "indicators";
}

/** The contribution of a descriptive job, computed in the database. */
export async function descriptiveSql(
  ctx: SqlContext,
  job: { where?: Expr; computation: Extract<Computation, { kind: DescriptiveKind }> },
): Promise<{ contribution: Float64Array; rowsSelected: number }> {
  const c = job.computation;
  const whereOf = (params: SqlParams, e: Expr | undefined) => (e === undefined ? undefined : whereSql(ctx.schema, e, params));
  const withWhere = (
    by: readonly GroupBy[],
    where: (p: SqlParams) => string | undefined,
    aggregates: (p: SqlParams) => string[],
    key?: (p: SqlParams) => string,
  ) => cellAggregates(ctx, { by, where, aggregates, key });
  switch (c.kind) {
    case "count": {
      const out = new Float64Array(cellCount(c.by));
      const { rows, rowsSelected } = await withWhere(c.by, (p) => whereOf(p, job.where), () => []);
      for (const r of rows) if (r.cell >= 0) out[r.cell] += r.selected;
      return { contribution: out, rowsSelected };
    }
    case "moments": {
      const column = ctx.schema.column(c.column);
      if (column.kind === "categorical") throw new BadInput(`column "${column.name}" is categorical; moments need a numeric or boolean column`);
      const shift = c.shift ?? 0;
      if (typeof shift !== "number" || !Number.isFinite(shift)) throw new BadInput("the moments shift must be a finite number");
      const x = ctx.schema.numberValue(c.column);
      const out = new Float64Array(3 * cellCount(c.by));
      const { rows, rowsSelected } = await withWhere(c.by, (p) => whereOf(p, job.where), (p) => {
        const s = p.number(shift);
        return [`count(${x})`, `sum(${x} - ${s})`, `sum((${x} - ${s}) * (${x} - ${s}))`];
      });
      for (const r of rows) {
        if (r.cell < 0) continue;
        for (let k = 0; k < 3; k++) out[3 * r.cell + k] += r.aggregates[k];
      }
      return { contribution: out, rowsSelected };
    }
    case "histogram":
    case "quantile": {
      const edges = c.kind === "histogram" ? c.edges : quantileEdges(c);
      const column = ctx.schema.column(c.column);
      if (column.kind === "categorical") {
        throw new BadInput(`column "${column.name}" is categorical; a histogram needs a numeric column (count it by its levels instead)`);
      }
      checkEdges(edges);
      const m = edges.length;
      const width = histogramWidth(m);
      const x = ctx.schema.numberValue(c.column);
      const out = new Float64Array(width * cellCount(c.by));
      const { rows, rowsSelected } = await withWhere(
        c.by,
        (p) => whereOf(p, job.where),
        () => [],
        // [below, bins…, above, missing]: width_bucket over the edges gives k for e[k−1] ≤ x < e[k],
        // which is slot k here; the last edge closes the last bin, as numpy's does.
        (p) => {
          const first = p.number(edges[0]);
          const last = p.number(edges[m - 1]);
          return `CASE WHEN ${x} IS NULL THEN ${width - 1} WHEN ${x} < ${first} THEN 0 WHEN ${x} > ${last} THEN ${m} WHEN ${x} = ${last} THEN ${m - 1} ELSE width_bucket(${x}, ${p.add(edges, "float8[]")}) END`;
        },
      );
      for (const r of rows) if (r.cell >= 0) out[width * r.cell + r.key] += r.selected;
      return { contribution: out, rowsSelected };
    }
    case "indicators": {
      if (!Array.isArray(c.indicators) || c.indicators.length === 0) throw new BadInput("an indicator set needs at least one indicator");
      const parts: Float64Array[] = [];
      for (const indicator of c.indicators) {
        const out = new Float64Array(INDICATOR_VALUES_PER_CELL * cellCount(indicator.by));
        const { rows } = await withWhere(
          indicator.by,
          (p) => {
            const parts = [
              ...(job.where ? [`(${whereOf(p, job.where)}) IS TRUE`] : []),
              ...(indicator.denominator ? [`(${whereOf(p, indicator.denominator)}) IS TRUE`] : []),
              `(${whereOf(p, indicator.numerator)}) IS NOT NULL`,
            ];
            return parts.join(" AND ");
          },
          (p) => [`sum(CASE WHEN (${whereOf(p, indicator.numerator)}) IS TRUE THEN 1 ELSE 0 END)`],
        );
        for (const r of rows) {
          if (r.cell < 0) continue;
          out[INDICATOR_VALUES_PER_CELL * r.cell] += r.selected;
          out[INDICATOR_VALUES_PER_CELL * r.cell + 1] += r.aggregates[0];
        }
        parts.push(out);
      }
      const params = ctx.params();
      const where = whereOf(params, job.where);
      const counted = await ctx.run(`SELECT count(*) AS n FROM ${ctx.schema.relation} t${where ? ` WHERE (${where}) IS TRUE` : ""}`, params.values);
      const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        all.set(p, at);
        at += p.length;
      }
      return { contribution: all, rowsSelected: Number(counted[0]?.n ?? 0) };
    }
  }
}

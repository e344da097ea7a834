/**
 * Where a station's rows live, and where its computations run.
 *
 * A `DatasetSource` is the seam between the station (policy, audit, secure aggregation) and the
 * data: the station asks it for the schema (for policy checks and the released column list) and
 * for one job's contribution vector. Files (CSV, Parquet) are loaded into memory and computed by
 * the JS kernels (`MemorySource`); a PostgreSQL table stays in the database and every supported
 * computation is one parameterised SQL query there (`PostgresSource`), so that a station with
 * tens of millions of rows never pulls them into Node.
 */
import type { JobSpec } from "../../common/job.js";
import { type DatasetSource as DatasetConfig, datasetPath, isFileSource } from "../config.js";
import { loadCsv } from "../data/csv.js";
import type { Table } from "../data/table.js";
import type { DisclosureSettings } from "../governance/policy.js";
import type { ReleasedRows } from "../governance/released-rows.js";
import { MemorySource } from "./memory.js";
import { loadParquet } from "./parquet.js";
import { PostgresSource, type PostgresSourceLog } from "./postgres.js";

export interface Contribution {
  /** The job's vector in the layout of its computation kind (common/job.ts, compute/*.ts). */
  contribution: Float64Array;
  /** Rows the job's where-expression selected (all rows without one), for disclosure checks. */
  rowsSelected: number;
  /**
   * Records the job's row sets as released (governance/released-rows.ts). The station calls it in
   * the release round, once the stations have decided to release: a job that released nothing
   * (refused, or rows at one station only) does not restrict later jobs.
   */
  recordReleased?: () => void;
}

/**
 * What the station has decided about a job before computing it, for the checks a source makes
 * while it computes (before any result exists): the subset rule first, then model isolation, then
 * differencing. Without a guard (kernel tests, benchmarks) none of these run; the station always
 * passes one.
 */
export interface JobGuard {
  /** The job's study: differencing records are per study. */
  study: string;
  /** The study's limits. */
  disclosure: DisclosureSettings;
  /** Named in refusals. */
  station?: string;
  /** The station's differencing records (kept for memory sources; see postgres.ts for a database). */
  releasedRows?: ReleasedRows;
}

export interface DatasetSource {
  readonly name: string;
  /**
   * The dataset's schema as a `Table`: columns, kinds and categorical levels. A memory source's
   * table holds the rows too; a database source's has `rowCount` 0 and, for numeric columns,
   * only a few distinct values (the released integer levels), never rows.
   */
  readonly table: Table;
  /** Where the rows are, for logs: a file path or `postgres table schema.name` (never credentials). */
  readonly description: string;
  compute(job: JobSpec, guard?: JobGuard): Promise<Contribution>;
  close(): Promise<void>;
}

export interface OpenSourceOptions {
  /** The station folder: relative file paths are resolved against it. */
  dir: string;
  log?: PostgresSourceLog;
}

/** Opens one dataset of station.json; a file that does not load or a database that refuses stops the station. */
export async function openDatasetSource(config: DatasetConfig, options: OpenSourceOptions): Promise<DatasetSource> {
  if (isFileSource(config)) {
    const file = datasetPath(options.dir, config);
    const table = config.format === "parquet" ? await loadParquet({ file, dataset: config.name }) : await loadCsv({ file, dataset: config.name });
    return new MemorySource(table, file);
  }
  return PostgresSource.open(config, { dir: options.dir, log: options.log });
}

export { MemorySource } from "./memory.js";
export { loadParquet } from "./parquet.js";
export { PostgresSource } from "./postgres.js";
export { quoteIdentifier } from "./sql.js";

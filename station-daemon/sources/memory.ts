/** A dataset held in memory (CSV, Parquet): the JS kernels of compute/ over its rows. */
import type { JobSpec } from "../../common/job.js";
import { computeContribution } from "../compute/contribution.js";
import { evaluateWhere } from "../compute/filter.js";
import type { Table } from "../data/table.js";
import type { Contribution, DatasetSource } from "./index.js";

export class MemorySource implements DatasetSource {
  readonly table: Table;
  readonly description: string;
  private readonly tables: ReadonlyMap<string, Table>;

  constructor(table: Table, description: string) {
    this.table = table;
    this.description = description;
    this.tables = new Map([[table.name, table]]);
  }

  get name(): string {
    return this.table.name;
  }

  async compute(job: JobSpec): Promise<Contribution> {
    const contribution = computeContribution(this.tables, job);
    const rows = evaluateWhere(this.table, job.where);
    let rowsSelected = 0;
    for (let i = 0; i < rows.length; i++) rowsSelected += rows[i];
    return { contribution, rowsSelected };
  }

  async close(): Promise<void> {}
}

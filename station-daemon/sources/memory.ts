/** A dataset held in memory (CSV, Parquet): the JS kernels of compute/ over its rows. */
import type { JobSpec } from "../../common/job.js";
import { computeContribution } from "../compute/contribution.js";
import type { Table } from "../data/table.js";
import type { Contribution, DatasetSource } from "./index.js";

export class MemorySource implements DatasetSource {
  readonly table: Table;
  readonly description: string;

  constructor(table: Table, description: string) {
    this.table = table;
    this.description = description;
  }

  get name(): string {
    return this.table.name;
  }

  async compute(job: JobSpec): Promise<Contribution> {
    return computeContribution(this.table, job);
  }

  async close(): Promise<void> {}
}

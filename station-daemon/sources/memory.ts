/** A dataset held in memory (CSV, Parquet): the JS kernels of compute/ over its rows. */
import { createHash } from "node:crypto";
import type { JobSpec } from "../../common/job.js";
import { computeContribution } from "../compute/contribution.js";
import type { Table } from "../data/table.js";
import type { Contribution, DatasetSource, JobGuard } from "./index.js";

export class MemorySource implements DatasetSource {
  readonly table: Table;
  readonly description: string;
  private digest?: string;

  constructor(table: Table, description: string) {
    this.table = table;
    this.description = description;
  }

  get name(): string {
    return this.table.name;
  }

  /**
   * A digest of every value of the snapshot: differencing records hold row numbers, which mean
   * other people in another snapshot. Local only, never released (GetInfo's fingerprint is apart).
   */
  get snapshot(): string {
    if (this.digest === undefined) {
      const hash = createHash("sha256");
      hash.update(`${this.table.rowCount}\u0000`);
      for (const column of this.table.columns.values()) {
        hash.update(`${column.name}\u0000${column.kind}\u0000`);
        if (column.kind === "categorical") {
          hash.update(`${JSON.stringify(column.levels)}\u0000`);
          hash.update(new Uint8Array(column.codes.buffer, column.codes.byteOffset, column.codes.byteLength));
        } else {
          hash.update(new Uint8Array(column.values.buffer, column.values.byteOffset, column.values.byteLength));
        }
      }
      this.digest = hash.digest("hex");
    }
    return this.digest;
  }

  async compute(job: JobSpec, guard?: JobGuard): Promise<Contribution> {
    if (!guard) return computeContribution(this.table, job);
    const ledger = guard.releasedRows?.ledger({ study: guard.study, dataset: this.table.name, snapshot: this.snapshot, rowCount: this.table.rowCount });
    return computeContribution(this.table, job, { disclosure: guard.disclosure, station: guard.station, ledger });
  }

  async close(): Promise<void> {}
}

import type { Expr } from "../../common/expression.js";
import { cellCount, type GroupBy } from "../../common/job.js";
import type { Federation } from "../federation.js";
import { CountResult } from "../results/count-result.js";
import { MeanResult } from "../results/mean-result.js";
import { levelsOf } from "../schemas.js";
import { formatWhere, parseWhere } from "./where.js";

export interface GroupOptions {
  /** Group-by columns (categorical or boolean; numeric ones need `levels`). */
  by?: string[];
  /** Levels to use instead of the stations' released ones. */
  levels?: Record<string, string[]>;
}

/**
 * An immutable query on one dataset: every `where` returns a new query, so a base query can be
 * reused for many subgroups.
 */
export class DatasetQuery {
  readonly dataset: string;
  readonly filter?: Expr;
  private readonly federation: Federation;

  constructor(options: { federation: Federation; dataset: string; filter?: Expr }) {
    this.federation = options.federation;
    this.dataset = options.dataset;
    this.filter = options.filter;
  }

  /** Adds a condition (AND with any earlier one). Parse errors point at the position. */
  where(expression: string): DatasetQuery {
    const parsed = parseWhere(expression);
    const filter: Expr = this.filter ? { kind: "and", args: [this.filter, parsed] } : parsed;
    return new DatasetQuery({ federation: this.federation, dataset: this.dataset, filter });
  }

  async count(options: GroupOptions = {}): Promise<CountResult> {
    const by = this.groupBy(options);
    const result = await this.federation.run({ dataset: this.dataset, where: this.filter, computation: { kind: "count", by } }, cellCount(by));
    return new CountResult({ dataset: this.dataset, where: this.whereText, by, sum: result.sum, stations: result.stations });
  }

  async mean(column: string, options: GroupOptions = {}): Promise<MeanResult> {
    const by = this.groupBy(options);
    const result = await this.federation.run(
      { dataset: this.dataset, where: this.filter, computation: { kind: "moments", column, by } },
      3 * cellCount(by),
    );
    return new MeanResult({ dataset: this.dataset, column, where: this.whereText, by, sum: result.sum, stations: result.stations });
  }

  get whereText(): string | undefined {
    return this.filter ? formatWhere(this.filter) : undefined;
  }

  private groupBy(options: GroupOptions): GroupBy[] {
    const schema = this.federation.schemaOf(this.dataset);
    return (options.by ?? []).map((column) => ({ column, levels: levelsOf(schema, column, options.levels?.[column]) }));
  }
}

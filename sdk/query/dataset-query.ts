import { BadInput, StationUnreachable, UnknownColumn } from "../../common/errors.js";
import type { Expr } from "../../common/expression.js";
import { type DesignColumnType, designColumns, formulaColumns, parseFormula } from "../../common/formula.js";
import { cellCount, type FamilyName, type GroupBy, type JobSpec, type LinkName } from "../../common/job.js";
import type { Federation } from "../federation.js";
import {
  type EvaluateGlmOptions,
  GlmModel,
  type GlmEvaluation,
  type GlmIterationInfo,
  evaluateGlm,
  evaluateVectorLengthFor,
  fitGlm,
  glmVectorLengthFor,
} from "../glm/index.js";
import { CountResult } from "../results/count-result.js";
import { MeanResult } from "../results/mean-result.js";
import { levelsOf } from "../schemas.js";
import { formatWhere, parseWhere } from "./where.js";

export interface GlmOptions {
  family?: FamilyName;
  link?: LinkName;
  /** A numeric column of prior weights. */
  weights?: string;
  maxIterations?: number;
  /** Called after every iteration with the deviance and the stations whose rows it covers. */
  onIteration?: (info: GlmIterationInfo & { stations: string[] }) => void;
  /** Throw `NotConverged` instead of returning a model with a warning (scheduled scripts). */
  failOnNotConverged?: boolean;
}

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

  /**
   * Fits a GLM by federated Fisher scoring: each iteration is one secure-aggregation job that
   * sums every station's score, information and deviance at the current coefficients.
   */
  async glm(formula: string, options: GlmOptions = {}): Promise<GlmModel> {
    const { levels, columns } = this.designSchema(formula);
    const family = options.family ?? "gaussian";
    const pinned = { stations: undefined as string[] | undefined, round: 0 };
    let lastStations: string[] = [];
    const model = await fitGlm({
      formula,
      family,
      ...(options.link ? { link: options.link } : {}),
      levels,
      columns,
      ...(options.weights ? { weights: options.weights } : {}),
      ...(options.maxIterations ? { maxIterations: options.maxIterations } : {}),
      ...(options.failOnNotConverged ? { failOnNotConverged: true } : {}),
      aggregate: async (_beta, computation) => {
        const p = designColumns(parseFormula(computation.formula), { levels: computation.levels, columns, dataset: this.dataset }).columns.length;
        const result = await this.federation.run({ dataset: this.dataset, where: this.filter, computation }, glmVectorLengthFor(p));
        pinned.round++;
        // Every round must cover the same rows: a station that drops out of one iteration (or
        // comes back) would make the fit silently wrong, so the fit stops instead.
        const now = [...result.stations].sort();
        if (!pinned.stations) pinned.stations = now;
        else if (now.join("\u0000") !== pinned.stations.join("\u0000")) {
          const missing = pinned.stations.filter((s) => !now.includes(s));
          const added = now.filter((s) => !pinned.stations!.includes(s));
          throw new StationUnreachable(
            [...missing, ...added].join(", "),
            "",
            `round ${pinned.round} of the model fit covered stations ${now.join(", ")}, the first round ${pinned.stations.join(", ")}; ` +
              "a model over a changing set of stations would be wrong, so the fit stops",
          );
        }
        lastStations = result.stations;
        return result.sum;
      },
      ...(options.onIteration ? { onIteration: (info: GlmIterationInfo) => options.onIteration!({ ...info, stations: lastStations }) } : {}),
    });
    return model;
  }

  /** Federated evaluation of a binomial model on this query's rows: AUC, Brier, calibration. */
  async evaluateModel(model: GlmModel, options: Omit<EvaluateGlmOptions, "model" | "aggregate"> = {}): Promise<GlmEvaluation> {
    return evaluateGlm({
      ...options,
      model,
      aggregate: async (computation) => {
        const job: JobSpec = { dataset: this.dataset, where: this.filter, computation };
        return (await this.federation.run(job, evaluateVectorLengthFor(computation))).sum;
      },
    });
  }

  get whereText(): string | undefined {
    return this.filter ? formatWhere(this.filter) : undefined;
  }

  /** Levels and column types of every variable a formula reads, from the stations' schemas. */
  private designSchema(formula: string): { levels: Record<string, string[]>; columns: Record<string, DesignColumnType> } {
    const schema = this.federation.schemaOf(this.dataset);
    const parsed = parseFormula(formula);
    const levels: Record<string, string[]> = {};
    const columns: Record<string, DesignColumnType> = {};
    const asFactor = new Set(parsed.variables.flatMap((v) => (v.kind === "factor" ? [v.column] : [])));
    for (const name of formulaColumns(parsed)) {
      const col = schema.columns.find((c) => c.name === name);
      if (!col) throw new UnknownColumn(name, this.dataset, schema.columns.map((c) => c.name));
      columns[name] = col.type;
      // Levels travel only for what the design codes as dummies: categorical columns, and
      // numeric ones wrapped in factor(). A numeric column stays numeric.
      if (col.type === "categorical" || asFactor.has(name)) {
        if (!col.levels || col.levels.length === 0) throw new BadInput(`column "${name}" has no released levels; it cannot be used as a factor`);
        levels[name] = [...col.levels];
      }
    }
    return { levels, columns };
  }

  private groupBy(options: GroupOptions): GroupBy[] {
    const schema = this.federation.schemaOf(this.dataset);
    return (options.by ?? []).map((column) => ({ column, levels: levelsOf(schema, column, options.levels?.[column]) }));
  }
}

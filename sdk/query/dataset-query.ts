import { BadInput, DataChanged, StationUnreachable, UnknownColumn } from "../../common/errors.js";
import type { Expr } from "../../common/expression.js";
import { type DesignColumnType, designColumns, formulaColumns, parseFormula } from "../../common/formula.js";
import { type Computation, type FamilyName, type GroupBy, HISTOGRAM_EXTRA, INDICATOR_VALUES_PER_CELL, type IndicatorSpec, type JobSpec, type LinkName, descriptiveLength } from "../../common/job.js";
import { PROVENANCE_FORMAT, type Provenance, type ProvenanceCall } from "../../common/provenance.js";
import { PROTOCOL_VERSION } from "../../common/schema.js";
import { SOFTWARE_VERSION } from "../../common/version.js";
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
import type { AggregateResult } from "../aggregation.js";
import { CountResult } from "../results/count-result.js";
import { CrosstabResult } from "../results/crosstab-result.js";
import type { ReleaseInput } from "../results/release.js";
import { HistogramResult } from "../results/histogram-result.js";
import { IndicatorResult } from "../results/indicator-result.js";
import { checkLevel } from "../results/intervals.js";
import { MeanResult } from "../results/mean-result.js";
import { ProportionResult } from "../results/proportion-result.js";
import { QuantileResult } from "../results/quantile-result.js";
import { StandardisedRateResult } from "../results/standardised-rate-result.js";
import { SummaryResult } from "../results/summary-result.js";
import { levelsOf } from "../schemas.js";
import { withMissingLevels } from "./missing-levels.js";
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
  /**
   * Where the covariance comes from: "at-estimates" (default), the Fisher information at the
   * final estimates; or "last-iteration", R's summary.glm and statsmodels' convention (the
   * working weights of the last IRLS step, i.e. of the previous iterate), which reproduces R's
   * printed standard errors digit for digit. The two differ by up to ~1e-5 relative at R's
   * convergence tolerance.
   */
  standardErrors?: "at-estimates" | "last-iteration";
  /**
   * Factor levels to code the design with instead of the stations' released ones (a replay pins
   * the levels the original fit used, so the coefficients keep their meaning).
   */
  levels?: Record<string, string[]>;
}

export interface GroupOptions {
  /** Group-by columns (categorical or boolean; numeric ones need `levels`). */
  by?: string[];
  /** Levels to use instead of the stations' released ones. */
  levels?: Record<string, string[]>;
}

export interface DisclosureOptions {
  /**
   * @deprecated Ignored. The stations decide what is withheld, on the combined table and with the
   * study's minimum cell size (station-daemon/release/); the SDK withholds nothing of its own.
   * Accepted so that older scripts and provenance records still run.
   */
  minCellSize?: number;
}

export interface CountOptions extends GroupOptions, DisclosureOptions {}

export interface SummaryOptions extends GroupOptions, DisclosureOptions {
  /**
   * The shift c the moments are taken about, agreed for the whole federation. Default: the
   * overall mean, found by a first one-cell job, so the variance does not cancel (see
   * station-daemon/compute/descriptive.ts); give a value near the mean to save that job.
   */
  shift?: number;
}

export interface CrosstabOptions extends DisclosureOptions {
  levels?: Record<string, string[]>;
}

export interface HistogramOptions extends GroupOptions, DisclosureOptions {
  /** Strictly increasing bin edges; bins are [e_k, e_k+1), the last one closed. */
  edges: number[];
}

export interface QuantileOptions extends GroupOptions, DisclosureOptions {
  /** Equal-width bins of the secure histogram (default 1000); the error bound is half a bin. */
  bins?: number;
  /** [lower, upper] of the bins. Default: mean ± 6 SD, from a first one-cell job. */
  range?: [number, number];
}

export interface ProportionOptions extends GroupOptions, DisclosureOptions {
  /** Confidence level of the Wilson interval (default 0.95). */
  level?: number;
  /** Scale of estimate and interval: 1 (default) a proportion, 100 a percentage, 1000 a rate per 1 000. */
  per?: number;
}

export interface StandardisedRateOptions extends GroupOptions, DisclosureOptions {
  /** The categorical age-group column the reference population is given by. */
  ageColumn: string;
  /** Reference population share (or size) per age group; normalised to sum to 1. Every level needs one. */
  reference: Record<string, number>;
  /** Rate per (default 1000). */
  per?: number;
  level?: number;
}

export interface IndicatorDefinition {
  name: string;
  /** Where-expression of the event: `diabetes`, `num_medications >= 5`. */
  numerator: string;
  /** Where-expression of the population, within the query's rows: `age_group in ("65-74", "75-84", "85+")`. */
  denominator?: string;
  /** Group-by of this indicator; default the set's. */
  by?: string[];
  /** Scale of this indicator; default the set's. */
  per?: number;
}

export interface IndicatorSetOptions extends GroupOptions, DisclosureOptions {
  level?: number;
  /** Scale of every indicator's estimate: 100 (default) gives percentages. */
  per?: number;
}

/** Fine enough for an error bound of 0.6% of an SD with the default range of 12 SD. */
const DEFAULT_QUANTILE_BINS = 1000;

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

  /** Rows per combination of group-by levels (zeros included), in one job. */
  async count(options: CountOptions = {}): Promise<CountResult> {
    const by = this.groupBy(options);
    const jobs = this.recorder();
    const result = await jobs.run({ kind: "count", by });
    const provenance = jobs.provenance("count", [{ ...pinned(by) }]);
    return new CountResult({ dataset: this.dataset, where: this.whereText, by: withMissingLevels(by), ...released(result), stations: result.stations, provenance });
  }

  async mean(column: string, options: GroupOptions & DisclosureOptions = {}): Promise<MeanResult> {
    const by = this.groupBy(options);
    const jobs = this.recorder();
    const result = await jobs.run({ kind: "moments", column, by });
    const provenance = jobs.provenance("mean", [column, { ...pinned(by) }]);
    return new MeanResult({ dataset: this.dataset, column, where: this.whereText, by: withMissingLevels(by), ...released(result), stations: result.stations, provenance });
  }

  /**
   * n, sum, mean, variance and SD of a numeric (or boolean) column, overall and per group. Two
   * jobs unless `shift` is given: the overall mean first, then the moments about it.
   */
  async summary(column: string, options: SummaryOptions = {}): Promise<SummaryResult> {
    const by = this.groupBy(options);
    let shift = options.shift;
    if (shift !== undefined && !Number.isFinite(shift)) throw new BadInput("the shift must be a finite number");
    const jobs = this.recorder();
    if (shift === undefined) shift = roundedShift(await soundSpread(jobs, column));
    const result = await jobs.run({ kind: "moments", column, by, ...(shift !== 0 ? { shift } : {}) });
    const provenance = jobs.provenance("summary", [column, { ...pinned(by), shift }]);
    return new SummaryResult({ dataset: this.dataset, column, where: this.whereText, by: withMissingLevels(by), ...released(result), shift, stations: result.stations, provenance });
  }

  /** The sum of a column per group (with n, mean, variance and SD beside it): `summary`. */
  sum(column: string, options: SummaryOptions = {}): Promise<SummaryResult> {
    return this.summary(column, options);
  }

  /** The sample variance of a column per group (with n, sum, mean and SD beside it): `summary`. */
  variance(column: string, options: SummaryOptions = {}): Promise<SummaryResult> {
    return this.summary(column, options);
  }

  /** A two-way table with row, column and grand totals, from one count job. */
  async crosstab(rowColumn: string, columnColumn: string, options: CrosstabOptions = {}): Promise<CrosstabResult> {
    if (rowColumn === columnColumn) throw new BadInput(`a cross-tabulation needs two different columns, not "${rowColumn}" twice`);
    const [rows, columns] = this.groupBy({ by: [rowColumn, columnColumn], levels: options.levels });
    const jobs = this.recorder();
    const result = await jobs.run({ kind: "count", by: [rows, columns] });
    const provenance = jobs.provenance("crosstab", [rowColumn, columnColumn, { levels: pinned([rows, columns]).levels }]);
    return new CrosstabResult({ dataset: this.dataset, where: this.whereText, rows: withMissingLevels([rows])[0], columns: withMissingLevels([columns])[0], ...released(result), stations: result.stations, provenance });
  }

  /** Counts per bin (and below, above, missing), per group, in one job. */
  async histogram(column: string, options: HistogramOptions): Promise<HistogramResult> {
    const edges = options?.edges;
    if (!Array.isArray(edges) || edges.length < 2 || edges.some((e, k) => !Number.isFinite(e) || (k > 0 && !(e > edges[k - 1])))) {
      throw new BadInput("a histogram needs at least two finite, strictly increasing edges (edges: [60, 70, 80, 90])");
    }
    const by = this.groupBy(options);
    const jobs = this.recorder();
    const result = await jobs.run({ kind: "histogram", column, edges: [...edges], by });
    const provenance = jobs.provenance("histogram", [column, { edges: [...edges], ...pinned(by) }]);
    return new HistogramResult({ dataset: this.dataset, column, where: this.whereText, by: withMissingLevels(by), edges, ...released(result), stations: result.stations, provenance });
  }

  /**
   * Quantiles (R type 1) read from a fine secure histogram: one job, plus one first job for the
   * range when none is given. Each value is within `errorBound` (half a bin width) of the sample
   * quantile of the pooled rows.
   *
   * The stations compute the quantiles from the combined fine histogram and release only them,
   * withholding those with fewer than the study's minimum number of values beyond them
   * (common/release-layout.ts); the fine bins never reach this process.
   */
  async quantile(column: string, probabilities: number[], options: QuantileOptions = {}): Promise<QuantileResult> {
    if (!Array.isArray(probabilities) || probabilities.length === 0 || probabilities.some((p) => !(p > 0 && p < 1))) {
      throw new BadInput("quantiles need probabilities strictly between 0 and 1, such as [0.25, 0.5, 0.75]");
    }
    const bins = options.bins ?? DEFAULT_QUANTILE_BINS;
    if (!Number.isInteger(bins) || bins < 1 || bins > 10_000) throw new BadInput("bins must be a whole number from 1 to 10 000");
    const by = this.groupBy(options);
    let range = options.range;
    const jobs = this.recorder();
    if (range === undefined) {
      const { n, mean, sd } = await soundSpread(jobs, column);
      if (!(n > 0)) throw new BadInput(`column "${column}" has no values in the rows selected; there are no quantiles`);
      const half = sd > 0 ? 6 * sd : Math.max(0.5, Math.abs(mean) * 1e-6);
      range = [mean - half, mean + half];
    }
    const [lower, upper] = range;
    if (!(Number.isFinite(lower) && Number.isFinite(upper) && upper > lower)) throw new BadInput("range must be [lower, upper] with lower < upper");
    const result = await jobs.run({ kind: "quantile", column, lower, upper, bins, by, probabilities: [...probabilities] });
    const provenance = jobs.provenance("quantile", [column, [...probabilities], { bins, range: [lower, upper], ...pinned(by) }]);
    return new QuantileResult({ dataset: this.dataset, column, where: this.whereText, by: withMissingLevels(by), probabilities, lower, upper, bins, ...released(result), stations: result.stations, provenance });
  }

  /**
   * The proportion of the query's rows on which `condition` holds, with Wilson intervals, per
   * group, in one job. Rows where the condition is unknown (missing values) are left out.
   */
  async proportion(condition: string, options: ProportionOptions = {}): Promise<ProportionResult> {
    const level = checkLevel(options.level);
    const per = checkPer(options.per ?? 1);
    const by = this.groupBy(options);
    const jobs = this.recorder();
    const result = await jobs.run({ kind: "indicators", indicators: [{ numerator: parseWhere(condition), by }] });
    const provenance = jobs.provenance("proportion", [condition, { ...pinned(by), level, per }]);
    return new ProportionResult({ dataset: this.dataset, where: this.whereText, condition: formatWhere(parseWhere(condition)), by: withMissingLevels(by), ...released(result), per, level, stations: result.stations, provenance });
  }

  /** `proportion` scaled to a rate per 1 000 (or `per`). */
  rate(condition: string, options: ProportionOptions = {}): Promise<ProportionResult> {
    return this.proportion(condition, { ...options, per: options.per ?? 1000 });
  }

  /**
   * Directly age-standardised rates of `condition` per group against the analyst's reference
   * population, with Fay–Feuer gamma intervals, in one job.
   */
  async standardisedRate(condition: string, options: StandardisedRateOptions): Promise<StandardisedRateResult> {
    const level = checkLevel(options.level);
    const per = checkPer(options.per ?? 1000);
    if (!options?.ageColumn) throw new BadInput("standardisedRate needs an ageColumn");
    const by = this.groupBy(options);
    if (by.some((g) => g.column === options.ageColumn)) throw new BadInput(`"${options.ageColumn}" is the age column; it cannot also be a group-by`);
    // Rows of unknown age have no reference weight: they stay out of the standardisation.
    const [age] = this.groupBy({ by: [options.ageColumn], levels: options.levels }).map((g) => ({ column: g.column, levels: g.levels }));
    const reference = options.reference ?? {};
    const unknown = Object.keys(reference).filter((k) => !age.levels.includes(k));
    if (unknown.length > 0) throw new BadInput(`the reference population names ${unknown.map((k) => `"${k}"`).join(", ")}, not a level of "${age.column}" (levels: ${age.levels.join(", ")})`);
    for (const level of age.levels) {
      const w = reference[level];
      if (typeof w !== "number" || !Number.isFinite(w) || w < 0) throw new BadInput(`the reference population needs a non-negative weight for age group "${level}"`);
    }
    if (!(age.levels.reduce((s, l) => s + reference[l], 0) > 0)) throw new BadInput("the reference population's weights sum to 0");
    const jobs = this.recorder();
    const result = await jobs.run({ kind: "indicators", indicators: [{ numerator: parseWhere(condition), by: [...by, age] }] });
    const provenance = jobs.provenance("standardisedRate", [condition, { ageColumn: options.ageColumn, reference, ...pinned([...by, age]), by: by.map((g) => g.column), per, level }]);
    return new StandardisedRateResult({
      provenance,
      dataset: this.dataset,
      where: this.whereText,
      condition: formatWhere(parseWhere(condition)),
      age,
      reference,
      by: withMissingLevels(by),
      ...released(result),
      per,
      level,
      stations: result.stations,
    });
  }

  /**
   * An indicator set — say a neighbourhood profile of dozens of indicators — in ONE job: each
   * definition's numerator and denominator filters travel as syntax trees, and the station
   * vector concatenates every indicator's cells (common/job.ts).
   */
  async indicators(definitions: IndicatorDefinition[], options: IndicatorSetOptions = {}): Promise<IndicatorResult> {
    const level = checkLevel(options.level);
    if (!Array.isArray(definitions) || definitions.length === 0) throw new BadInput("an indicator set needs at least one indicator");
    const names = new Set<string>();
    const specs: IndicatorSpec[] = [];
    const infos = definitions.map((d, i) => {
      if (typeof d?.name !== "string" || d.name.length === 0) throw new BadInput(`indicator ${i + 1} has no name`);
      if (names.has(d.name)) throw new BadInput(`two indicators are named "${d.name}"`);
      names.add(d.name);
      if (typeof d.numerator !== "string") throw new BadInput(`indicator "${d.name}" has no numerator`);
      const by = this.groupBy({ by: d.by ?? options.by, levels: options.levels });
      const numerator = parseWhere(d.numerator);
      const denominator = d.denominator === undefined ? undefined : parseWhere(d.denominator);
      specs.push(denominator ? { numerator, denominator, by } : { numerator, by });
      return {
        name: d.name,
        numerator: formatWhere(numerator),
        ...(denominator ? { denominator: formatWhere(denominator) } : {}),
        by,
        per: checkPer(d.per ?? options.per ?? 100),
      };
    });
    const jobs = this.recorder();
    const result = await jobs.run({ kind: "indicators", indicators: specs });
    const provenance = jobs.provenance("indicators", [
      definitions.map((d, i) => ({ name: d.name, numerator: d.numerator, ...(d.denominator !== undefined ? { denominator: d.denominator } : {}), by: infos[i].by.map((g) => g.column), per: infos[i].per })),
      { levels: pinned(infos.flatMap((i) => i.by)).levels, level },
    ]);
    return new IndicatorResult({ dataset: this.dataset, where: this.whereText, indicators: infos.map((info) => ({ ...info, by: withMissingLevels(info.by) })), ...released(result), level, stations: result.stations, provenance });
  }

  /**
   * Fits a GLM by federated Fisher scoring: each iteration is one secure-aggregation job that
   * sums every station's score, information and deviance at the current coefficients.
   */
  async glm(formula: string, options: GlmOptions = {}): Promise<GlmModel> {
    const { levels, columns } = this.designSchema(formula, options.levels);
    const family = options.family ?? "gaussian";
    const jobs = this.recorder({ keep: "first-and-last" });
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
      ...(options.standardErrors ? { standardErrors: options.standardErrors } : {}),
      aggregate: async (_beta, computation) => {
        const p = designColumns(parseFormula(computation.formula), { levels: computation.levels, columns, dataset: this.dataset }).columns.length;
        const result = await jobs.run(computation, glmVectorLengthFor(p));
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
    const glmOptions = {
      family: model.family.name,
      link: model.link.name,
      levels: model.levels,
      ...(options.weights ? { weights: options.weights } : {}),
      ...(options.maxIterations ? { maxIterations: options.maxIterations } : {}),
      ...(options.standardErrors ? { standardErrors: options.standardErrors } : {}),
    };
    return model.withProvenance(jobs.provenance("glm", [formula, glmOptions]));
  }

  /** Federated evaluation of a binomial model on this query's rows: AUC, Brier, calibration. */
  async evaluateModel(model: GlmModel, options: Omit<EvaluateGlmOptions, "model" | "aggregate"> = {}): Promise<GlmEvaluation> {
    return evaluateGlm({
      ...options,
      model,
      aggregate: async (computation) => {
        const job: JobSpec = { dataset: this.dataset, where: this.filter, computation };
        return released(await this.federation.run(job, evaluateVectorLengthFor(computation)));
      },
    });
  }

  get whereText(): string | undefined {
    return this.filter ? formatWhere(this.filter) : undefined;
  }

  /** Levels and column types of every variable a formula reads, from the stations' schemas. */
  private designSchema(formula: string, given?: Record<string, string[]>): { levels: Record<string, string[]>; columns: Record<string, DesignColumnType> } {
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
        if (given?.[name]) {
          levels[name] = [...given[name]];
          continue;
        }
        if (!col.levels || col.levels.length === 0) throw new BadInput(`column "${name}" has no released levels; it cannot be used as a factor`);
        levels[name] = [...col.levels];
      }
    }
    return { levels, columns };
  }

  /** Runs this query's jobs and remembers them, for the result's provenance. */
  private recorder(options: { keep?: "all" | "first-and-last" } = {}): JobRecorder {
    return new JobRecorder({ federation: this.federation, dataset: this.dataset, filter: this.filter, whereText: this.whereText, keep: options.keep ?? "all" });
  }

  /**
   * Federation-wide levels of each group-by column (sdk/schemas.ts levelsOf), with a cell for
   * rows whose value is missing, so that no row silently drops out (query/missing-levels.ts).
   */
  private groupBy(options: GroupOptions): GroupBy[] {
    const schema = this.federation.schemaOf(this.dataset);
    return (options.by ?? []).map((column) => ({
      column,
      levels: levelsOf(schema, column, options.levels?.[column]),
      ...(schema.columns.find((c) => c.name === column)?.complete ? {} : { missing: true }),
    }));
  }
}

/** What the stations released: the numbers, which are withheld, and their notes. */
function released(result: AggregateResult): ReleaseInput {
  // `withheld` and `notes` come with stations that decide the release (station-daemon/release/);
  // without them the sum is the plain combined vector and results lay it out themselves.
  const r = result as AggregateResult & { withheld?: Uint8Array; notes?: string[] };
  return { sum: r.sum, ...(r.withheld ? { withheld: r.withheld } : {}), ...(r.notes ? { notes: r.notes } : {}) };
}

function checkPer(per: number): number {
  if (!Number.isFinite(per) || per <= 0) throw new BadInput(`"per" must be a positive number (1, 100, 1000), not ${per}`);
  return per;
}

/**
 * The raw variance (Σx² − (Σx)²/n)/(n − 1) is trusted when it is at least this fraction of the
 * mean square Σx²/n. Σx² and Σx are exact sums of what the stations sent, rounded once, so the
 * difference is off by about 3·2^-53 of Σx²: above 2^-30 of it the variance keeps ~6 digits,
 * plenty for a shift or a quantile range; below, the data sit far from 0 relative to their
 * spread (the NIST SmLs09 values, 1e12 + 0.1…) and a second, centred job is needed.
 */
const RAW_VARIANCE_TRUST = 2 ** -30;

/**
 * n, mean and SD of a column over the query's rows (all cells), numerically sound at any
 * offset: one moments job about 0, whose mean is exact up to one rounding (Σx is an exact sum),
 * and whose variance is used only when the raw moments did not cancel (RAW_VARIANCE_TRUST);
 * otherwise one more job takes the moments about that mean.
 */
async function soundSpread(jobs: JobRecorder, column: string): Promise<{ n: number; mean: number; sd: number }> {
  const raw = (await jobs.run({ kind: "moments", column, by: [] })).sum;
  const n = raw[0];
  if (!(n > 0)) return { n: 0, mean: NaN, sd: NaN };
  const mean = raw[1] / n;
  if (n < 2) return { n, mean, sd: 0 };
  const rawVariance = (raw[2] - (raw[1] * raw[1]) / n) / (n - 1);
  if (rawVariance > RAW_VARIANCE_TRUST * (raw[2] / n)) return { n, mean, sd: Math.sqrt(rawVariance) };
  const centred = (await jobs.run({ kind: "moments", column, by: [], ...(mean !== 0 ? { shift: mean } : {}) })).sum;
  const [s1, s2] = [centred[1], centred[2]];
  return { n, mean: mean + s1 / n, sd: Math.sqrt(Math.max(0, (s2 - (s1 * s1) / n) / (n - 1))) };
}

/**
 * A shift near the mean, rounded to a multiple of the largest power of two not above the SD
 * (at least 1 when the SD is): close enough to the mean that the variance does not cancel,
 * and so coarse that for whole-number data Σ(x − c), n·c and the sum Σ(x − c) + n·c are exact
 * integers — so sums of counts and ages come out exactly, not 5767.999999999909. Mean and SD
 * come from soundSpread, never from raw moments that cancelled.
 */
function roundedShift({ n, mean, sd }: { n: number; mean: number; sd: number }): number {
  if (!(n > 0)) return 0;
  const scale = sd > 0 ? 2 ** Math.floor(Math.log2(sd)) : Math.abs(mean) > 0 ? 2 ** Math.floor(Math.log2(Math.abs(mean))) : 1;
  return Math.round(mean / scale) * scale;
}

/** The group-by columns and the levels they were laid out with, as a query option. */
function pinned(by: readonly GroupBy[]): { by: string[]; levels: Record<string, string[]> } {
  return { by: by.map((g) => g.column), levels: Object.fromEntries(by.map((g) => [g.column, [...g.levels]])) };
}

/**
 * The jobs one result or model took, and the stations whose rows are in it: what its provenance
 * records. A model keeps its first and last job only (they differ in the coefficients alone).
 */
class JobRecorder {
  private readonly jobs: JobSpec[] = [];
  private count = 0;
  private last?: AggregateResult;
  private readonly fingerprints = new Map<string, string>();

  constructor(private readonly options: { federation: Federation; dataset: string; filter?: Expr; whereText?: string; keep: "all" | "first-and-last" }) {}

  async run(computation: Computation, vectorLength = descriptiveLength(computation)): Promise<AggregateResult> {
    const job: JobSpec = { dataset: this.options.dataset, ...(this.options.filter ? { where: this.options.filter } : {}), computation };
    const result = await this.options.federation.run(job, vectorLength);
    // The jobs of one result must see the same data: a station restarted with other rows between
    // two rounds of a fit would make a model that no dataset ever had.
    for (const [station, fingerprint] of Object.entries(result.fingerprints)) {
      const before = this.fingerprints.get(station);
      if (before !== undefined && before !== fingerprint) {
        throw new DataChanged(station, `station ${station}'s dataset "${this.options.dataset}" changed between job ${this.count} and job ${this.count + 1} of this result (snapshot ${before.slice(0, 12)}… became ${fingerprint.slice(0, 12)}…); run it again`);
      }
      this.fingerprints.set(station, fingerprint);
    }
    this.count++;
    if (this.options.keep === "all" || this.jobs.length < 2) this.jobs.push(job);
    else this.jobs[1] = job;
    this.last = result;
    return result;
  }

  provenance(method: string, args: unknown[]): Provenance {
    const call: ProvenanceCall = { method, args: JSON.parse(JSON.stringify(args)) as unknown[] };
    const { federation, stations } = this.options.federation.provenanceOf(this.options.dataset, this.last?.stations ?? [], this.last?.fingerprints);
    return {
      format: PROVENANCE_FORMAT,
      time: new Date().toISOString(),
      sdk: { softwareVersion: SOFTWARE_VERSION, protocolVersion: PROTOCOL_VERSION },
      federation,
      dataset: this.options.dataset,
      ...(this.options.filter ? { where: this.options.filter, whereText: this.options.whereText } : {}),
      call,
      jobs: JSON.parse(JSON.stringify(this.jobs)) as JobSpec[],
      jobCount: this.count,
      stations,
    };
  }
}

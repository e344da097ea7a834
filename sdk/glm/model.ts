/**
 * A fitted GLM: the results object a notebook shows and a script saves, statsmodels' GLMResults
 * in spirit. Every number is computed once at construction from the estimates, the covariance
 * and the summed deviance/log-likelihood, so that `fromJSON(toJSON())` gives the same model.
 *
 * Inference conventions (documented because R and statsmodels differ):
 * - statistic: z = estimate / SE for binomial and poisson; t for gaussian (estimated dispersion),
 *   with the p-value from Student's t on df_residual, as R's summary.glm (statsmodels uses z).
 * - confidence intervals: Wald, estimate ± z₀.₉₇₅·SE, for every family — statsmodels'
 *   `conf_int()` default for GLM and R's `confint.default()` (not R's profile-likelihood confint()).
 * - aic: R's (gaussian counts the dispersion as a parameter: −2·loglik + 2(p+1)); statsmodels'
 *   gaussian AIC is 2 lower. bic: R's BIC() = −2·loglik + log(n)·df with the same df (not
 *   statsmodels' deviance-based default). loglik: R's logLik() (gaussian with σ² = deviance/n).
 */
import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import { writeFileAtomic } from "../../common/files.js";
import { BadInput } from "../../common/errors.js";
import {
  designColumns,
  evaluateArith,
  parseFormula,
  type DesignColumnType,
  type ParsedFormula,
} from "../../common/formula.js";
import type { FamilyName, LinkName } from "../../common/job.js";
import { type Provenance, isProvenance } from "../../common/provenance.js";
import { type ResultRecord, dataFrameOf } from "../results/dataframe.js";
import { normalQuantile, normalSurvival, studentTwoSided } from "./distributions.js";
import { resolveFamily, type Family, type Link } from "./family.js";

export interface GlmCoefficient {
  term: string;
  estimate: number;
  std_error: number;
  statistic: number;
  p_value: number;
  ci_low: number;
  ci_high: number;
}

export interface GlmRatio {
  term: string;
  /** "odds ratio", "rate ratio", "risk ratio" or "ratio of means". */
  kind: string;
  estimate: number;
  ci_low: number;
  ci_high: number;
}

export interface GlmModelJSON {
  format: "werkplaats.glm.v1";
  family: FamilyName;
  link: LinkName;
  formula: string;
  n: number;
  iterations: number;
  converged: boolean;
  deviance: number;
  null_deviance: number;
  aic: number;
  bic: number;
  coefficients: GlmCoefficient[];
  loglik: number;
  df_residual: number;
  df_null: number;
  dispersion: number;
  statistic_kind: "z" | "t";
  pearson_chi2: number;
  weight_sum: number;
  levels: Record<string, string[]>;
  columns?: Record<string, DesignColumnType>;
  weights?: string;
  /** Row-major covariance of the estimates, p × p. */
  covariance: number[][];
  ratios?: GlmRatio[];
  warnings: string[];
  /** How the model was fitted: formula, family, link, levels, options, jobs, stations, snapshots, versions, time. */
  provenance?: Provenance;
}

export interface GlmModelInit {
  formula: string;
  family: FamilyName;
  link: LinkName;
  levels: Record<string, string[]>;
  columns?: Record<string, DesignColumnType>;
  weights?: string;
  names: string[];
  terms?: string[];
  estimates: number[];
  /** Row-major p × p, already scaled by the dispersion. */
  covariance: number[];
  dispersion: number;
  n: number;
  weightSum: number;
  dfResidual: number;
  dfNull: number;
  deviance: number;
  nullDeviance: number;
  pearsonChi2: number;
  loglik: number;
  aic: number;
  bic: number;
  iterations: number;
  converged: boolean;
  warnings: string[];
  provenance?: Provenance;
}

/** A row for `predict`: numbers, category text, booleans; null/undefined/NaN are missing. */
export type PredictionRow = Readonly<Record<string, number | string | boolean | null | undefined>>;

const Z975 = normalQuantile(0.975);

export class GlmModel {
  readonly formula: string;
  readonly family: Family;
  readonly link: Link;
  readonly levels: Record<string, string[]>;
  readonly columns?: Record<string, DesignColumnType>;
  readonly weights?: string;
  readonly names: readonly string[];
  readonly estimates: readonly number[];
  readonly covariance: readonly number[];
  readonly dispersion: number;
  readonly n: number;
  readonly weightSum: number;
  readonly dfResidual: number;
  readonly dfNull: number;
  readonly deviance: number;
  readonly nullDeviance: number;
  readonly pearsonChi2: number;
  readonly loglik: number;
  readonly aic: number;
  readonly bic: number;
  readonly iterations: number;
  readonly converged: boolean;
  readonly warnings: readonly string[];
  readonly coefficients: readonly GlmCoefficient[];
  readonly statisticKind: "z" | "t";
  /** How it was fitted (common/provenance.ts); absent for a model built by hand or saved before provenance. */
  readonly provenance?: Provenance;
  private readonly parsed: ParsedFormula;

  constructor(init: GlmModelInit) {
    const { family, link } = resolveFamily(init.family, init.link);
    const p = init.names.length;
    if (init.estimates.length !== p || init.covariance.length !== p * p) {
      throw new BadInput(`a GLM with ${p} coefficients needs ${p} estimates and a ${p}×${p} covariance`);
    }
    this.formula = init.formula;
    this.family = family;
    this.link = link;
    this.levels = init.levels;
    this.columns = init.columns;
    this.weights = init.weights;
    this.names = [...init.names];
    this.estimates = [...init.estimates];
    this.covariance = [...init.covariance];
    this.dispersion = init.dispersion;
    this.n = init.n;
    this.weightSum = init.weightSum;
    this.dfResidual = init.dfResidual;
    this.dfNull = init.dfNull;
    this.deviance = init.deviance;
    this.nullDeviance = init.nullDeviance;
    this.pearsonChi2 = init.pearsonChi2;
    this.loglik = init.loglik;
    this.aic = init.aic;
    this.bic = init.bic;
    this.iterations = init.iterations;
    this.converged = init.converged;
    this.warnings = [...init.warnings];
    if (init.provenance) this.provenance = init.provenance;
    this.statisticKind = family.estimatedDispersion ? "t" : "z";
    this.parsed = parseFormula(init.formula);
    this.coefficients = this.names.map((term, i) => {
      const estimate = this.estimates[i];
      const se = Math.sqrt(this.covariance[i * p + i]);
      const statistic = estimate / se;
      const pValue = this.statisticKind === "t" ? studentTwoSided(statistic, this.dfResidual) : 2 * normalSurvival(Math.abs(statistic));
      return {
        term,
        estimate,
        std_error: se,
        statistic,
        p_value: pValue,
        ci_low: estimate - Z975 * se,
        ci_high: estimate + Z975 * se,
      };
    });
  }

  /** Coefficients by name, like statsmodels' `params`. */
  get params(): Record<string, number> {
    return Object.fromEntries(this.coefficients.map((c) => [c.term, c.estimate]));
  }

  /** Standard errors by name, like statsmodels' `bse`. */
  get bse(): Record<string, number> {
    return Object.fromEntries(this.coefficients.map((c) => [c.term, c.std_error]));
  }

  coefficient(term: string): GlmCoefficient {
    const c = this.coefficients.find((x) => x.term === term);
    if (!c) throw new BadInput(`the model has no coefficient "${term}" (${this.names.join(", ")})`);
    return c;
  }

  /** Wald intervals at any level (normal quantile), `[low, high]` per coefficient. */
  confInt(level = 0.95): { term: string; low: number; high: number }[] {
    if (!(level > 0 && level < 1)) throw new BadInput("the confidence level must lie strictly between 0 and 1");
    const z = normalQuantile(1 - (1 - level) / 2);
    return this.coefficients.map((c) => ({ term: c.term, low: c.estimate - z * c.std_error, high: c.estimate + z * c.std_error }));
  }

  /** The name of exp(β), when the link makes it meaningful. */
  get ratioKind(): string | undefined {
    if (this.link.name === "logit") return "odds ratio";
    if (this.link.name !== "log") return undefined;
    return this.family.name === "poisson" ? "rate ratio" : this.family.name === "binomial" ? "risk ratio" : "ratio of means";
  }

  /** exp(β) with its Wald interval for logit and log links (the intercept is left out). */
  ratios(): GlmRatio[] {
    const kind = this.ratioKind;
    if (!kind) return [];
    return this.coefficients
      .filter((c) => c.term !== "(Intercept)")
      .map((c) => ({ term: c.term, kind, estimate: Math.exp(c.estimate), ci_low: Math.exp(c.ci_low), ci_high: Math.exp(c.ci_high) }));
  }

  /** The design row of one observation, or undefined when a variable is missing. */
  designRow(row: PredictionRow): number[] | undefined {
    const design = designColumns(this.parsed, { levels: this.levels, columns: this.columns });
    const numberOf = (column: string): number => {
      if (!(column in row)) throw new BadInput(`the row has no value for "${column}"`);
      const v = row[column];
      if (v === null || v === undefined) return NaN;
      if (typeof v === "boolean") return v ? 1 : 0;
      if (typeof v === "string") {
        if (v === "TRUE" || v === "FALSE") return v === "TRUE" ? 1 : 0;
        const x = Number(v);
        if (v.trim() === "" || Number.isNaN(x)) throw new BadInput(`"${column}" must be a number, found "${v}"`);
        return x;
      }
      return v;
    };
    const values: (number | undefined)[] = [];
    const levelIndex: (number | undefined)[] = [];
    for (let i = 0; i < this.parsed.variables.length; i++) {
      const variable = this.parsed.variables[i];
      const levels = design.variables[i].levels;
      if (levels === undefined) {
        const v = variable.kind === "expression" ? evaluateArith(variable.expr, numberOf) : numberOf(variable.column);
        if (Number.isNaN(v)) return undefined;
        values.push(v);
        levelIndex.push(undefined);
        continue;
      }
      const column = (variable as { column: string }).column;
      if (!(column in row)) throw new BadInput(`the row has no value for "${column}"`);
      const raw = row[column];
      if (raw === null || raw === undefined || (typeof raw === "number" && Number.isNaN(raw))) return undefined;
      const text = typeof raw === "boolean" ? (raw ? "TRUE" : "FALSE") : String(raw);
      let index = levels.indexOf(text);
      if (index < 0 && typeof raw === "number") index = levels.findIndex((l) => Number(l) === raw);
      if (index < 0) throw new BadInput(`${variable.label} has no level "${text}" in this model (${levels.join(", ")})`);
      values.push(undefined);
      levelIndex.push(index);
    }
    return design.columns.map((c) => {
      let v = 1;
      for (const f of c.factors) v *= f.level === undefined ? values[f.variable]! : levelIndex[f.variable] === f.level ? 1 : 0;
      return v;
    });
  }

  /**
   * The linear predictor (`type: "link"`, including any offset) or the fitted mean
   * (`type: "response"`, the default) for one row; NaN when a variable is missing.
   */
  predict(row: PredictionRow, options: { type?: "link" | "response" } = {}): number {
    const x = this.designRow(row);
    if (!x) return NaN;
    let eta = 0;
    for (let j = 0; j < x.length; j++) eta += x[j] * this.estimates[j];
    for (const o of this.parsed.offsets) {
      eta += evaluateArith(o.expr, (column) => {
        const v = row[column];
        return typeof v === "number" ? v : typeof v === "boolean" ? (v ? 1 : 0) : v == null ? NaN : Number(v);
      });
    }
    return (options.type ?? "response") === "link" ? eta : this.link.inverse(eta);
  }

  /**
   * The coefficient table, one record per term: estimate, std_error, statistic, p_value, ci_low,
   * ci_high, and where the link has one the ratio and its interval ("odds_ratio",
   * "odds_ratio_ci_low", …; null for the intercept).
   */
  coefficientRecords(): ResultRecord[] {
    const ratios = this.ratios();
    const name = ratios.length > 0 ? ratios[0].kind.replace(/\W+/g, "_") : undefined;
    return this.coefficients.map((c) => {
      const r = ratios.find((x) => x.term === c.term);
      return { ...c, ...(name ? { [name]: r?.estimate ?? null, [`${name}_ci_low`]: r?.ci_low ?? null, [`${name}_ci_high`]: r?.ci_high ?? null } : {}) };
    });
  }

  /** `coefficientRecords()` as a danfo.js DataFrame (danfojs is an optional peer dependency). */
  toDataFrame(): Promise<import("danfojs").DataFrame> {
    return dataFrameOf(this.coefficientRecords());
  }

  toJSON(): GlmModelJSON {
    const p = this.names.length;
    const ratios = this.ratios();
    return {
      format: "werkplaats.glm.v1",
      family: this.family.name,
      link: this.link.name,
      formula: this.formula,
      n: this.n,
      iterations: this.iterations,
      converged: this.converged,
      deviance: this.deviance,
      null_deviance: this.nullDeviance,
      aic: this.aic,
      bic: this.bic,
      coefficients: this.coefficients.map((c) => ({ ...c })),
      loglik: this.loglik,
      df_residual: this.dfResidual,
      df_null: this.dfNull,
      dispersion: this.dispersion,
      statistic_kind: this.statisticKind,
      pearson_chi2: this.pearsonChi2,
      weight_sum: this.weightSum,
      levels: this.levels,
      ...(this.columns ? { columns: this.columns } : {}),
      ...(this.weights !== undefined ? { weights: this.weights } : {}),
      covariance: Array.from({ length: p }, (_, i) => this.covariance.slice(i * p, (i + 1) * p)),
      ...(ratios.length > 0 ? { ratios } : {}),
      warnings: [...this.warnings],
      ...(this.provenance ? { provenance: this.provenance } : {}),
    };
  }

  /**
   * Federated evaluation on a dataset (a query: `fed.dataset("fall_risk").where(…)`): AUC, Brier
   * score, calibration by risk group and Hosmer–Lemeshow, all through secure aggregation.
   */
  evaluate<E, O = unknown>(dataset: { evaluateModel(model: GlmModel, options?: O): Promise<E> }, options?: O): Promise<E> {
    return dataset.evaluateModel(this, options);
  }

  /** The same model with other provenance (say, with the files a `--local` fit served). */
  withProvenance(provenance: Provenance): GlmModel {
    return GlmModel.fromJSON({ ...this.toJSON(), provenance });
  }

  /** Writes the model as JSON atomically: a failed save never leaves a half-written file. */
  save(path: string): void {
    writeFileAtomic(path, JSON.stringify(this.toJSON(), null, 2) + "\n");
  }

  static load(path: string): GlmModel {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw new BadInput(`cannot read model file ${path}: ${(err as Error).message}`);
    }
    return GlmModel.fromJSON(text);
  }

  static fromJSON(json: GlmModelJSON | string): GlmModel {
    const j: GlmModelJSON = typeof json === "string" ? JSON.parse(json) : json;
    if (!j || typeof j !== "object" || !Array.isArray(j.coefficients) || !Array.isArray(j.covariance)) {
      throw new BadInput("not a saved GLM (needs coefficients and covariance)");
    }
    return new GlmModel({
      formula: j.formula,
      family: j.family,
      link: j.link,
      levels: j.levels ?? {},
      columns: j.columns,
      weights: j.weights,
      names: j.coefficients.map((c) => c.term),
      estimates: j.coefficients.map((c) => c.estimate),
      covariance: j.covariance.flat(),
      dispersion: j.dispersion,
      n: j.n,
      weightSum: j.weight_sum ?? j.n,
      dfResidual: j.df_residual,
      dfNull: j.df_null,
      deviance: j.deviance,
      nullDeviance: j.null_deviance,
      pearsonChi2: j.pearson_chi2,
      loglik: j.loglik,
      aic: j.aic,
      bic: j.bic,
      iterations: j.iterations,
      converged: j.converged,
      warnings: j.warnings ?? [],
      ...(isProvenance(j.provenance) ? { provenance: j.provenance } : {}),
    });
  }

  /** A text summary laid out like R's print(summary(glm(...))). */
  /** What a notebook cell or console shows of a model: R's summary. */
  [inspect.custom](): string {
    return this.summary();
  }

  toString(): string {
    return this.summary();
  }

  summary(): string {
    const s = this.statisticKind;
    const header = ["", "Estimate", "Std. Error", `${s} value`, `Pr(>|${s}|)`, ""];
    const estimates = formatColumn(this.coefficients.map((c) => c.estimate));
    const errors = formatColumn(this.coefficients.map((c) => c.std_error));
    const rows = this.coefficients.map((c, i) => [
      c.term,
      estimates[i],
      errors[i],
      Number.isFinite(c.statistic) ? c.statistic.toFixed(3) : "NA",
      formatPValue(c.p_value),
      stars(c.p_value),
    ]);
    const table = alignTable([header, ...rows]);
    const dispersion = this.family.estimatedDispersion
      ? `(Dispersion parameter for ${this.family.name} family taken to be ${significant(this.dispersion, 7)})`
      : `(Dispersion parameter for ${this.family.name} family taken to be 1)`;
    const lines = [
      "",
      "Call:",
      `glm(formula = ${this.formula}, family = ${this.family.name}(link = "${this.link.name}")${this.weights ? `, weights = ${this.weights}` : ""})`,
      "",
      "Coefficients:",
      ...table,
      "---",
      "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
      "",
      dispersion,
      "",
      `    Null deviance: ${significant(this.nullDeviance, 5)}  on ${this.dfNull}  degrees of freedom`,
      `Residual deviance: ${significant(this.deviance, 5)}  on ${this.dfResidual}  degrees of freedom`,
      `AIC: ${significant(this.aic, 5)}`,
      "",
      `Number of Fisher Scoring iterations: ${this.iterations}${this.converged ? "" : " (did not converge)"}`,
    ];
    const ratios = this.ratios();
    if (ratios.length > 0) {
      const kind = ratios[0].kind;
      const cells = ratios.map((r) => [r.term, significant(r.estimate, 4), significant(r.ci_low, 4), significant(r.ci_high, 4)]);
      lines.push("", `${kind[0].toUpperCase()}${kind.slice(1)}s (95% Wald CI):`, ...alignTable([["", kind, "2.5 %", "97.5 %"], ...cells]));
    }
    if (this.warnings.length > 0) lines.push("", "Warnings:", ...this.warnings.map((w) => `  ${w}`));
    return lines.join("\n") + "\n";
  }
}

function significant(x: number, digits: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  return String(Number(x.toPrecision(digits)));
}

/** A column with a common number of decimals giving its smallest entry 4 significant digits. */
function formatColumn(values: number[]): string[] {
  const finite = values.filter((v) => Number.isFinite(v) && v !== 0).map(Math.abs);
  const smallest = finite.length > 0 ? Math.min(...finite) : 1;
  const decimals = Math.min(7, Math.max(0, 3 - Math.floor(Math.log10(smallest))));
  return values.map((v) => (Number.isFinite(v) ? (Math.abs(v) >= 1e15 ? v.toExponential(3) : v.toFixed(decimals)) : "NA"));
}

function formatPValue(p: number): string {
  if (!Number.isFinite(p)) return "NA";
  if (p < 2e-16) return "<2e-16";
  if (p < 1e-4) return p.toExponential(2).replace(/e([+-])(\d)$/, "e$10$2");
  return significant(p, 3);
}

function stars(p: number): string {
  return p < 0.001 ? "***" : p < 0.01 ? "**" : p < 0.05 ? "*" : p < 0.1 ? "." : " ";
}

function alignTable(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : c === r.length - 1 && cell.length <= 3 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(" ").trimEnd(),
  );
}

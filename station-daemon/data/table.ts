/**
 * A station's dataset held in memory, column by column. Missing values are NaN in numeric
 * and boolean columns and code -1 in categorical ones, so that compute kernels can test for
 * them without a second array.
 */
export type Column =
  | { kind: "numeric"; name: string; values: Float64Array }
  /** 0 or 1; NaN for missing. */
  | { kind: "boolean"; name: string; values: Float64Array }
  /** `levels` sorted by code-point order; `codes[i]` indexes it, -1 for missing. */
  | { kind: "categorical"; name: string; codes: Int32Array; levels: string[] };

export type ColumnKind = Column["kind"];

export interface Table {
  /** The dataset name the station releases it under. */
  readonly name: string;
  readonly rowCount: number;
  /** In file order. */
  readonly columns: ReadonlyMap<string, Column>;
}

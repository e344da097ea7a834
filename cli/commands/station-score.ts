/**
 * `werkplaats station score`: a station applies a saved model to its own rows — how a home-care
 * organisation sorts its clients into fall-risk groups with a model fitted across the region.
 * Runs entirely at the station, on the station's own files: no network, and the scores (which
 * are row-level data) never leave the station's folder unless its operator moves them.
 */
import { userInfo } from "node:os";
import { join, resolve } from "node:path";
import { BadInput, ConfigInvalid, UnknownDataset, WerkplaatsError } from "../../common/errors.js";
import { writeFileAtomic } from "../../common/files.js";
import { arithColumns, parseFormula, variableColumns } from "../../common/formula.js";
import { GlmModel, type PredictionRow } from "../../sdk/glm/index.js";
import { type StationConfig, isFileSource, loadConfig, loadIdentity } from "../../station-daemon/config.js";
import { AUDIT_LOG_FILE, AuditLog, type AuditRecord } from "../../station-daemon/governance/audit-log.js";
import { openDatasetSource } from "../../station-daemon/sources/index.js";
import { evaluateWhere } from "../../station-daemon/compute/filter.js";
import type { Column, Table } from "../../station-daemon/data/table.js";
import { parseArgs } from "../args.js";
import { UsageError } from "../exit-codes.js";

/** The same default cut-points as the federated evaluation (sdk/glm/evaluate.ts). */
const DEFAULT_CUTPOINTS = [0.1, 0.2];

const HELP = `werkplaats station score DIR --model MODEL.json --dataset NAME --out FILE.csv [options]

Applies a saved model (werkplaats glm --out, or model.save() in a notebook) to this station's
own rows. Runs locally on the station's data files: nothing is sent anywhere, and the scores stay
at the station.

  DIR                    the station folder (station.json names the datasets and their files)
  --model MODEL.json     the saved model
  --dataset NAME         which of the station's datasets to score (may be left out when it has one)
  --out FILE.csv         where to write the scores (atomically: never a half-written file; mode
                         0600, as they are row-level data)
  --type response|link   response (default): the predicted probability (binomial) or mean;
                         link: the linear predictor
  --cutpoints 0.1,0.2    binomial models: probability cut-points of the risk groups (default
                         0.1,0.2 → low below 0.1, medium from 0.1 to below 0.2, high from 0.2);
                         one cut-point gives low/high, more give "group 1", "group 2", …
  --id COLUMN            also copy this column (a client number) into the output
  --json                 print a summary (rows, scored, empty, counts per risk group) as JSON
  --where-as-fitted      leave rows outside the subset the model was fitted on (its where, from
                         its provenance) with an empty score; without it they are scored, with a
                         warning saying how many

Every run is recorded in the station's audit log (who ran it, the model, the dataset, the rows
scored and the output file), in the same keyed chain as the station's requests: a running station
holds that log, so stop the station before scoring.

The output has one line per row of the dataset, in file order:
  row          1 for the first data row of the file (the line after the header), 2 for the next, …
  [COLUMN]     with --id
  probability  (binomial, --type response), mean (poisson and gaussian), or linear_predictor
  risk_group   binomial models only
A row with a missing value in a variable the model uses gets an empty score and risk group. The
response column need not exist (new clients have no outcome yet). A variable the dataset lacks,
a column of another type than the model was fitted on, or a category the model has never seen
is an error (exit 3), as in R's predict().
`;

export async function stationScoreCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(
    argv,
    {
      model: { type: "string" },
      dataset: { type: "string" },
      out: { type: "string" },
      type: { type: "string" },
      cutpoints: { type: "string" },
      id: { type: "string" },
      json: { type: "boolean" },
      "where-as-fitted": { type: "boolean" },
    },
    "station score",
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("station score takes one station folder: werkplaats station score DIR --model M.json --out FILE.csv");
  if (!values.model) throw new UsageError("station score needs --model MODEL.json");
  if (!values.out) throw new UsageError("station score needs --out FILE.csv");
  const type = values.type ?? "response";
  if (type !== "response" && type !== "link") throw new UsageError(`--type must be response or link, got "${type}"`);

  const model = loadModel(values.model);
  const binomial = model.family.name === "binomial";
  if (values.cutpoints !== undefined && !binomial) throw new UsageError(`--cutpoints needs a binomial model; this one is ${model.family.name}`);
  const cutpoints = values.cutpoints === undefined ? DEFAULT_CUTPOINTS : parseCutpoints(values.cutpoints);
  const labels = cutpoints.length === 2 ? ["low", "medium", "high"] : cutpoints.length === 1 ? ["low", "high"] : cutpoints.map((_, i) => `group ${i + 1}`).concat(`group ${cutpoints.length + 1}`);

  const dir = positionals[0];
  const config = loadConfig(dir);
  // The scores are row-level data made at the station: who made them, from which model and where
  // they went is written into the station's own audit log (its keyed chain), before the file is.
  // The log is held by a running station, so scoring waits for it to be stopped.
  let audit: AuditLog;
  try {
    audit = await AuditLog.open({ dir, identity: loadIdentity(dir), checkpointIntervalMs: 0 });
  } catch (err) {
    if (err instanceof ConfigInvalid && /held by a running process/.test(err.message)) {
      throw new ConfigInvalid(`station ${config.name} is running and holds its audit log (${join(resolve(dir), AUDIT_LOG_FILE)}): station score writes an audit line into it, so stop the station first, then score`);
    }
    throw err;
  }
  try {
    return await score(values, dir, config, model, { binomial, cutpoints, labels, type }, audit);
  } finally {
    await audit.close();
  }
}

async function score(
  values: { dataset?: string; out?: string; id?: string; json?: boolean; model?: string; "where-as-fitted"?: boolean },
  dir: string,
  config: StationConfig,
  model: GlmModel,
  options: { binomial: boolean; cutpoints: number[]; labels: string[]; type: "response" | "link" },
  audit: AuditLog,
): Promise<number> {
  const { binomial, cutpoints, labels } = options;
  const local = { user: operator(), model: `${model.formula} (${resolve(values.model!)})`, output: resolve(values.out!) };
  const record = (over: Partial<AuditRecord>): AuditRecord => ({
    researcher: null,
    study: null,
    method: "LocalScore",
    computation: "score",
    dataset: values.dataset ?? null,
    columns: [],
    where: null,
    outcome: "allowed",
    reason: null,
    bytes: 0,
    local,
    ...over,
  });
  let scored: ScoredRows;
  try {
    scored = await scoreDataset(values, dir, config, model, options);
  } catch (err) {
    const known = err instanceof WerkplaatsError || err instanceof UsageError;
    const reason = err instanceof WerkplaatsError ? `${err.code}: ${err.message}` : err instanceof UsageError ? err.message : "internal error";
    await audit.append(record({ outcome: known ? "refused" : "error", reason }));
    throw err;
  }
  const { source, table, needed, text, empty, groupCounts, outside } = scored;
  const fittedWhere = model.provenance?.where;
  await audit.append(record({ dataset: source.name, columns: needed, bytes: Buffer.byteLength(text), local: { ...local, rows: table.rowCount, scored: table.rowCount - empty } }));
  try {
    // Row-level scores: readable by the station's operator only.
    writeFileAtomic(values.out!, text, { mode: 0o600 });
  } catch (err) {
    await audit.append(record({ dataset: source.name, outcome: "error", reason: `the scores could not be written to ${local.output}: ${(err as Error).message}` }));
    throw err;
  }

  const summary = {
    station: config.name,
    dataset: source.name,
    model: model.formula,
    rows: table.rowCount,
    scored: table.rowCount - empty,
    empty,
    ...(fittedWhere ? { fitted_where: model.provenance?.whereText ?? null, outside_fitted_where: outside } : {}),
    ...(binomial ? { cutpoints, risk_groups: Object.fromEntries(labels.map((l, g) => [l, groupCounts[g]])) } : {}),
    out: resolve(values.out!),
  };
  if (values.json) {
    process.stdout.write(JSON.stringify(summary) + "\n");
  } else {
    const groups = binomial ? `; risk groups: ${labels.map((l, g) => `${l} ${groupCounts[g]}`).join(", ")}` : "";
    process.stdout.write(
      `station ${config.name}: scored ${summary.scored} of ${summary.rows} rows of ${source.name} with ${model.formula}` +
        `${empty > 0 ? ` (${empty} left empty: a missing value${values["where-as-fitted"] && outside > 0 ? " or outside the model's subset" : ""})` : ""}${groups}\nwritten to ${summary.out}\n`,
    );
  }
  return 0;
}

interface ScoredRows {
  source: { name: string };
  table: Table;
  needed: string[];
  text: string;
  empty: number;
  groupCounts: number[];
  /** Rows outside the subset the model was fitted on (0 when it was fitted on all rows). */
  outside: number;
}

async function scoreDataset(
  values: { dataset?: string; id?: string; "where-as-fitted"?: boolean },
  dir: string,
  config: StationConfig,
  model: GlmModel,
  options: { binomial: boolean; cutpoints: number[]; labels: string[]; type: "response" | "link" },
): Promise<ScoredRows> {
  const { binomial, cutpoints, labels, type } = options;
  const names = config.datasets.map((d) => d.name);
  const datasetName = values.dataset ?? (names.length === 1 ? names[0] : undefined);
  if (!datasetName) throw new UsageError(`station ${config.name} has ${names.length} datasets (${names.join(", ")}): name one with --dataset`);
  const source = config.datasets.find((d) => d.name === datasetName);
  if (!source) throw new UnknownDataset(datasetName, names);
  if (!isFileSource(source)) {
    throw new BadInput(`dataset ${source.name} of station ${config.name} is a database table; scoring it is not supported yet (export the rows to score, or score in the database)`);
  }
  const opened = await openDatasetSource(source, { dir });
  const table = opened.table;
  await opened.close();

  const needed = modelColumns(model);
  checkColumns({ model, table, needed, station: config.name, id: values.id });
  const scores = scoreRows({ model, table, needed, type });

  // A model fitted on a subset (age >= 65) says nothing sure about rows outside it. Scoring them
  // is the default (a steward may want every client sorted), but never silently.
  const fittedWhere = model.provenance?.where;
  let outside = 0;
  if (fittedWhere) {
    const inside = evaluateWhere(table, fittedWhere);
    for (let i = 0; i < table.rowCount; i++) {
      if (inside[i]) continue;
      outside++;
      if (values["where-as-fitted"]) scores[i] = NaN;
    }
    if (outside > 0) {
      const whereText = model.provenance?.whereText ?? "its where-expression";
      process.stderr.write(
        values["where-as-fitted"]
          ? `station ${config.name}: ${outside} of ${table.rowCount} rows are outside the model's subset (${whereText}) and are left empty\n`
          : `warning: the model was fitted only on rows where ${whereText}; ${outside} of ${table.rowCount} rows of ${source.name} are outside that subset and are scored anyway, ` +
              `where its estimates may not hold (--where-as-fitted leaves them empty)\n`,
      );
    }
  }

  const kind = type === "link" ? "linear_predictor" : binomial ? "probability" : "mean";
  const header = ["row", ...(values.id ? [values.id] : []), kind, ...(binomial ? ["risk_group"] : [])];
  const lines: string[] = [header.map(csvField).join(",")];
  const groupCounts = new Array<number>(labels.length).fill(0);
  let empty = 0;
  const idColumn = values.id ? table.columns.get(values.id)! : undefined;
  for (let i = 0; i < table.rowCount; i++) {
    const score = scores[i];
    const cells = [String(i + 1)];
    if (idColumn) cells.push(csvField(cellText(idColumn, i)));
    if (Number.isNaN(score)) {
      empty++;
      cells.push("");
      if (binomial) cells.push("");
    } else {
      cells.push(String(score));
      if (binomial) {
        const probability = type === "link" ? model.link.inverse(score) : score;
        const g = riskGroup(probability, cutpoints);
        groupCounts[g]++;
        cells.push(labels[g]);
      }
    }
    lines.push(cells.join(","));
  }
  return { source, table, needed, text: lines.join("\n") + "\n", empty, groupCounts, outside };
}

/** Who ran a local command, as the audit line names them: the operating-system user. */
function operator(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? "?"}`;
  }
}

function loadModel(path: string): GlmModel {
  try {
    return GlmModel.load(path);
  } catch (err) {
    if (err instanceof WerkplaatsError) throw err;
    throw new BadInput(`${path} is not a saved werkplaats model: ${(err as Error).message}`);
  }
}

function parseCutpoints(text: string): number[] {
  const cuts = text.split(",").map((s) => Number(s.trim()));
  if (cuts.length === 0 || cuts.some((c) => !(c > 0 && c < 1))) throw new UsageError(`--cutpoints must be probabilities strictly between 0 and 1, e.g. 0.1,0.2; got "${text}"`);
  for (let i = 1; i < cuts.length; i++) if (!(cuts[i] > cuts[i - 1])) throw new UsageError(`--cutpoints must increase, got "${text}"`);
  return cuts;
}

/** The group index: [0, c₁) → 0, [c₁, c₂) → 1, …, as the federated evaluation bins them. */
export function riskGroup(probability: number, cutpoints: readonly number[]): number {
  let g = 0;
  while (g < cutpoints.length && probability >= cutpoints[g]) g++;
  return g;
}

/** Columns the prediction reads: right-hand side and offsets, not the response or the weights. */
function modelColumns(model: GlmModel): string[] {
  const parsed = parseFormula(model.formula);
  const seen = new Set<string>();
  for (const v of parsed.variables) for (const c of variableColumns(v)) seen.add(c);
  for (const o of parsed.offsets) for (const c of arithColumns(o.expr)) seen.add(c);
  return [...seen];
}

function checkColumns(options: { model: GlmModel; table: Table; needed: string[]; station: string; id?: string }): void {
  const { model, table, station } = options;
  const known = [...table.columns.keys()];
  for (const name of [...options.needed, ...(options.id ? [options.id] : [])]) {
    const column = table.columns.get(name);
    if (!column) {
      const why = name === options.id ? "--id names" : `the model (${model.formula}) uses`;
      throw new WerkplaatsError("UNKNOWN_COLUMN", `${why} column "${name}", which dataset "${table.name}" at station ${station} does not have (columns: ${known.join(", ")})`);
    }
    if (name === options.id && !options.needed.includes(name)) continue;
    const fitted = model.columns?.[name];
    if (fitted && fitted !== column.kind) {
      throw new BadInput(`column "${name}" is ${column.kind} in dataset "${table.name}" at station ${station}, but the model was fitted with it ${fitted}`);
    }
    const levels = model.levels[name];
    if (levels && column.kind === "categorical") {
      const unseen = column.levels.filter((l) => !levels.includes(l));
      if (unseen.length > 0) {
        let rows = 0;
        const codes = new Set(unseen.map((l) => column.levels.indexOf(l)));
        for (let i = 0; i < table.rowCount; i++) if (codes.has(column.codes[i])) rows++;
        throw new BadInput(
          `column "${name}" has ${unseen.map((l) => JSON.stringify(l)).join(", ")} in ${rows} row${rows === 1 ? "" : "s"}, a category the model was not fitted with (levels: ${levels.join(", ")}); ` +
            "refit with these rows or score a dataset without them",
        );
      }
    }
  }
}

function cellValue(column: Column, i: number): number | string | boolean | null {
  if (column.kind === "categorical") return column.codes[i] < 0 ? null : column.levels[column.codes[i]];
  const v = column.values[i];
  if (Number.isNaN(v)) return null;
  return column.kind === "boolean" ? v === 1 : v;
}

function cellText(column: Column, i: number): string {
  const v = cellValue(column, i);
  return v === null ? "" : String(v);
}

function scoreRows(options: { model: GlmModel; table: Table; needed: string[]; type: "response" | "link" }): Float64Array {
  const { model, table, needed, type } = options;
  const columns = needed.map((name) => [name, table.columns.get(name)!] as const);
  const scores = new Float64Array(table.rowCount);
  const row: Record<string, number | string | boolean | null> = {};
  for (let i = 0; i < table.rowCount; i++) {
    for (const [name, column] of columns) row[name] = cellValue(column, i);
    // predict gives NaN when a variable the model reads is missing in the row
    scores[i] = model.predict(row as PredictionRow, { type });
  }
  return scores;
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

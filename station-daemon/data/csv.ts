/**
 * Loads a station's CSV file into a column-wise `Table`.
 *
 * The file is streamed through csv-parse and each column is built straight into a typed array,
 * never into row objects: a million rows of twelve columns take about 100 MB and a few seconds.
 *
 * Rules (pinned by test/csv.test.ts):
 * - Encoding is UTF-8; a UTF-8 byte-order mark is dropped. A UTF-16 byte-order mark or bytes that
 *   are not valid UTF-8 make the file invalid (with the line), rather than turning into U+FFFD
 *   characters that would silently become new category levels.
 * - Comma-separated (RFC 4180): `"` quotes, doubled inside a quoted value; LF or CRLF line ends.
 *   Spaces and tabs at either end of a value are dropped, quoted or not, so that `"M "` and `M`
 *   are one level; a quote must follow the comma directly (`1, "x"` is refused with its line).
 *   Empty and blank lines are skipped, so a one-column file writes a missing value as `NA`.
 * - The first non-empty line is the header: every name non-empty and unique (after trimming).
 *   Every later line has exactly as many fields as the header.
 * - Missing values: an empty field and the markers in MISSING_MARKERS (`NA`, `na`, `N/A`, `NaN`),
 *   quoted or not, as R's read.csv and pandas do. `null` and `-` are not markers: they stay text.
 * - Each column's type is inferred over all rows:
 *     boolean      every non-missing value is `true` or `false`, in any letter case;
 *     numeric      every non-missing value is a finite decimal number (`-1.5e3`, `.5`; not `0x1F`,
 *                  `Infinity` or `1,5`); columns of 0 and 1 stay numeric, as in R;
 *     categorical  otherwise; levels are the distinct values sorted by code point, exactly as
 *                  written (`"1"` and `"1.0"` are different levels).
 *   A column with no non-missing value at all is numeric, all NaN: it loads, and any computation
 *   on it finds no rows, rather than a whole station refusing to start over one empty column.
 * - A column that looks numeric for a while and then meets text is re-read in a second pass, so
 *   that its levels are the exact strings of the file; the common case reads the file once.
 */
import { createReadStream, promises as fs } from "node:fs";
import { isUtf8 } from "node:buffer";
import { Readable, Transform, Writable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parse, CsvError } from "csv-parse";
import { DataFileInvalid, WerkplaatsError } from "../../common/errors.js";
import type { Column, Table } from "./table.js";

/** Field values (after trimming) that mean "missing", besides the empty field. */
export const MISSING_MARKERS: readonly string[] = ["NA", "na", "N/A", "NaN"];
const MISSING = new Set(MISSING_MARKERS);

/**
 * The value of a finite decimal number, NaN for anything else. Number() alone also takes hex
 * ("0x1F"), binary, octal, "Infinity" and surrounding whitespace; the first and last characters
 * rule those out at the cost of two comparisons, which matters at twelve million fields.
 */
function decimalValue(value: string): number {
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  const firstOk = (first >= 48 && first <= 57) || first === 43 || first === 45 || first === 46;
  const lastOk = (last >= 48 && last <= 57) || last === 46;
  if (!firstOk || !lastOk) return NaN;
  if (first === 48 && value.length > 2) {
    const second = value.charCodeAt(1) | 0x20;
    if (second === 120 || second === 98 || second === 111) return NaN;
  }
  const number = Number(value);
  return number - number === 0 ? number : NaN;
}

function isMissing(value: string): boolean {
  return value.length === 0 || (value.length <= 3 && MISSING.has(value));
}

function booleanValue(value: string): number {
  if (value.length === 4 && value.toLowerCase() === "true") return 1;
  if (value.length === 5 && value.toLowerCase() === "false") return 0;
  return -1;
}

/** Orders strings by Unicode code point (JS's default sort orders by UTF-16 unit). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a.charCodeAt(i) !== b.charCodeAt(i)) return a.codePointAt(i)! - b.codePointAt(i)!;
  }
  return a.length - b.length;
}

const EMPTY = 0;
const NUMERIC = 1;
const TEXT = 2;
const DEFERRED = 3;

/** One column under construction; it settles on a representation from its first value. */
class ColumnBuilder {
  state = EMPTY;
  numbers = new Float64Array(0);
  codes = new Int32Array(0);
  dictionary = new Map<string, number>();
  /** Number of rows pushed. */
  length = 0;

  constructor(readonly name: string) {}

  push(value: string): void {
    const row = this.length++;
    switch (this.state) {
      case NUMERIC: {
        if (row >= this.numbers.length) this.numbers = grow(this.numbers, NaN);
        const number = decimalValue(value);
        if (number === number) {
          this.numbers[row] = number;
        } else if (isMissing(value)) {
          this.numbers[row] = NaN;
        } else {
          // Text after numbers: the exact spellings of the numbers are gone, so read again.
          this.state = DEFERRED;
          this.numbers = new Float64Array(0);
        }
        return;
      }
      case TEXT:
        if (row >= this.codes.length) this.codes = grow(this.codes, -1);
        this.codes[row] = isMissing(value) ? -1 : this.code(value);
        return;
      case DEFERRED:
        return;
      case EMPTY: {
        if (isMissing(value)) return;
        const number = decimalValue(value);
        if (number === number) {
          this.state = NUMERIC;
          this.numbers = new Float64Array(Math.max(1024, 2 * (row + 1))).fill(NaN);
          this.numbers[row] = number;
        } else {
          this.state = TEXT;
          this.codes = new Int32Array(Math.max(1024, 2 * (row + 1))).fill(-1);
          this.codes[row] = this.code(value);
        }
        return;
      }
    }
  }

  private code(value: string): number {
    let code = this.dictionary.get(value);
    if (code === undefined) {
      code = this.dictionary.size;
      this.dictionary.set(value, code);
    }
    return code;
  }

  /** Starts this column over as text, for the second pass. */
  restartAsText(): void {
    this.state = TEXT;
    this.length = 0;
    this.dictionary.clear();
    this.codes = new Int32Array(1024).fill(-1);
  }

  finish(rowCount: number): Column {
    const name = this.name;
    if (this.state === EMPTY) return { kind: "numeric", name, values: new Float64Array(rowCount).fill(NaN) };
    if (this.state === NUMERIC) return { kind: "numeric", name, values: this.numbers.slice(0, rowCount) };
    if (this.state !== TEXT) throw new Error(`column ${name} was not re-read`);
    const spellings = [...this.dictionary.keys()];
    const codes = this.codes;
    if (spellings.every((s) => booleanValue(s) >= 0)) {
      const truth = spellings.map(booleanValue);
      const values = new Float64Array(rowCount);
      for (let i = 0; i < rowCount; i++) values[i] = codes[i] < 0 ? NaN : truth[codes[i]];
      return { kind: "boolean", name, values };
    }
    const levels = spellings.slice().sort(compareCodePoints);
    const rank = new Int32Array(spellings.length);
    levels.forEach((level, i) => (rank[this.dictionary.get(level)!] = i));
    const sorted = new Int32Array(rowCount);
    for (let i = 0; i < rowCount; i++) sorted[i] = codes[i] < 0 ? -1 : rank[codes[i]];
    return { kind: "categorical", name, codes: sorted, levels };
  }
}

function grow<T extends Float64Array | Int32Array>(array: T, fillValue: number): T {
  const bigger = new (array.constructor as { new (n: number): T })(Math.max(1024, array.length * 2));
  bigger.set(array);
  bigger.fill(fillValue, array.length);
  return bigger;
}

/**
 * Passes bytes through unchanged after checking they are UTF-8; the check runs on whole
 * characters, carrying a sequence split across chunks over to the next chunk.
 */
class Utf8Guard extends Transform {
  private carry: Buffer = Buffer.alloc(0);
  private lines = 1;
  private first = true;

  constructor(private readonly file: string) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.first && chunk.length > 0) {
      this.first = false;
      if ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff)) {
        done(new DataFileInvalid({ file: this.file, line: 1, reason: "the file is UTF-16; save it as UTF-8" }));
        return;
      }
    }
    const bytes = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const cut = completeCharactersEnd(bytes);
    const whole = bytes.subarray(0, cut);
    if (!isUtf8(whole)) {
      done(this.invalid(whole));
      return;
    }
    this.lines += countNewlines(whole);
    this.carry = Buffer.from(bytes.subarray(cut));
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    done(this.carry.length > 0 ? this.invalid(this.carry) : null);
  }

  private invalid(bytes: Buffer): DataFileInvalid {
    const at = firstInvalidUtf8(bytes);
    const line = this.lines + countNewlines(bytes.subarray(0, at));
    return new DataFileInvalid({ file: this.file, line, reason: "the file is not valid UTF-8" });
  }
}

function countNewlines(bytes: Buffer): number {
  let n = 0;
  for (let i = bytes.indexOf(10); i !== -1; i = bytes.indexOf(10, i + 1)) n++;
  return n;
}

/** The offset after the last complete UTF-8 sequence (a truncated one at the end waits). */
function completeCharactersEnd(bytes: Buffer): number {
  const n = bytes.length;
  for (let back = 1; back <= Math.min(4, n); back++) {
    const b = bytes[n - back];
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

function firstInvalidUtf8(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const need = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (need === 0 || i + need > bytes.length) return i;
    if (!isUtf8(bytes.subarray(i, i + need))) return i;
    i += need;
  }
  return i;
}

interface Pass {
  rowCount: number;
  header: string[];
}

const PARSE_OPTIONS = { bom: true, relax_column_count: true } as const;

function trimmed(value: string): string {
  const n = value.length;
  if (n === 0) return value;
  const a = value.charCodeAt(0);
  const b = value.charCodeAt(n - 1);
  return a === 32 || a === 9 || b === 32 || b === 9 ? value.replace(/^[ \t]+|[ \t]+$/g, "") : value;
}

function isBlank(record: string[]): boolean {
  return record.length === 1 && trimmed(record[0]) === "";
}

/**
 * One pass over the file: the header goes to `onHeader`, each data record's fields to the
 * builders it returns (indexed by column). Records come from csv-parse's stream rather than its
 * `on_record` hook, which copies an info object per record and costs a third of the time; line
 * numbers are therefore counted here (csv-parse's own count also drifts after a quoted CRLF).
 */
async function readPass(options: {
  open: () => Readable;
  file: string;
  onHeader: (header: string[], line: number) => (ColumnBuilder | undefined)[];
}): Promise<Pass> {
  const { file } = options;
  let header: string[] | undefined;
  let builders: (ColumnBuilder | undefined)[] = [];
  let width = 0;
  let rowCount = 0;
  let endLine = 0;

  const consume = (record: string[]): void => {
    const startLine = endLine + 1;
    endLine = startLine + countNewlinesIn(record);
    if (isBlank(record)) return;
    if (header === undefined) {
      header = record.map(trimmed);
      width = header.length;
      builders = options.onHeader(header, startLine);
      return;
    }
    if (record.length !== width) {
      throw new DataFileInvalid({
        file, line: startLine,
        reason: `the row has ${record.length} field${record.length === 1 ? "" : "s"}; the header has ${width}`,
      });
    }
    for (let j = 0; j < width; j++) {
      const builder = builders[j];
      if (builder !== undefined) builder.push(trimmed(record[j]));
    }
    rowCount++;
  };

  try {
    await pipeline(
      options.open(),
      new Utf8Guard(file),
      parse(PARSE_OPTIONS),
      new Writable({
        objectMode: true,
        highWaterMark: 1024,
        write: (record: string[], _encoding, done) => {
          try {
            consume(record);
          } catch (error) {
            done(error as Error);
            return;
          }
          done();
        },
      }),
    );
  } catch (error) {
    if (error instanceof WerkplaatsError) throw error;
    if (error instanceof CsvError) throw await describeCsvError({ error, open: options.open, file });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EACCES" || code === "EISDIR") {
      throw new DataFileInvalid({ file, reason: `cannot read the file (${code})` });
    }
    throw error;
  }
  if (header === undefined) throw new DataFileInvalid({ file, line: 1, reason: "the file is empty; a header row is required" });
  return { rowCount, header };
}

/**
 * csv-parse stops with an error about the record it was reading; by then the stream may hold
 * records not yet consumed, so the line is found by counting again up to that record.
 */
async function describeCsvError(options: { error: CsvError; open: () => Readable; file: string }): Promise<DataFileInvalid> {
  const error = options.error as CsvError & { records?: number; column?: string | number | null };
  const failing = error.records ?? 0;
  let line = 1;
  let header: string[] | undefined;
  let index = 0;
  const source = options.open();
  // on_record runs before the parser reports the error; a stream's iterator could drop records.
  const counter = parse({
    ...PARSE_OPTIONS,
    on_record: (record: string[]) => {
      if (index < failing) {
        if (header === undefined && !isBlank(record)) header = record.map(trimmed);
        line += 1 + countNewlinesIn(record);
        index++;
      }
      return null;
    },
  });
  try {
    await pipeline(source, counter, new Writable({ objectMode: true, write: (_record, _encoding, done) => done() }));
  } catch {
    // The same error again, at the same record.
  }
  const column = typeof error.column === "number" && header !== undefined ? header[error.column] : undefined;
  const reasons: Record<string, string> = {
    CSV_QUOTE_NOT_CLOSED: "a quoted value that opens in the row starting on this line is never closed",
    CSV_INVALID_CLOSING_QUOTE: "a closing quote is followed by other characters before the next comma",
    INVALID_OPENING_QUOTE: "a quote inside an unquoted value; quote the whole value and double any quote inside it",
  };
  return new DataFileInvalid({ file: options.file, line, column, reason: reasons[error.code] ?? error.message });
}

function countNewlinesIn(record: string[]): number {
  let n = 0;
  for (const field of record) {
    for (let i = field.indexOf("\n"); i !== -1; i = field.indexOf("\n", i + 1)) n++;
  }
  return n;
}

function checkHeader(header: string[], line: number, file: string): void {
  const seen = new Set<string>();
  header.forEach((name, j) => {
    if (name.length === 0) {
      throw new DataFileInvalid({ file, line, reason: `header field ${j + 1} is empty; every column needs a name` });
    }
    if (seen.has(name)) throw new DataFileInvalid({ file, line, column: name, reason: "the header names this column twice" });
    seen.add(name);
  });
}

async function loadFrom(options: { open: () => Readable; file: string; dataset: string }): Promise<Table> {
  const { file } = options;
  let builders: ColumnBuilder[] = [];
  const first = await readPass({
    open: options.open,
    file,
    onHeader: (header, line) => {
      checkHeader(header, line, file);
      builders = header.map((name) => new ColumnBuilder(name));
      return builders;
    },
  });
  const deferred = builders.filter((b) => b.state === DEFERRED);
  if (deferred.length > 0) {
    deferred.forEach((b) => b.restartAsText());
    const again = await readPass({
      open: options.open,
      file,
      onHeader: (header) => builders.map((b, j) => (deferred.includes(b) && header[j] === b.name ? b : undefined)),
    });
    if (again.rowCount !== first.rowCount || again.header.join("\u0000") !== first.header.join("\u0000")) {
      throw new DataFileInvalid({ file, reason: "the file changed while it was being loaded" });
    }
  }
  const columns = new Map<string, Column>();
  for (const b of builders) columns.set(b.name, b.finish(first.rowCount));
  return { name: options.dataset, rowCount: first.rowCount, columns };
}

/** Loads `file` as the dataset `dataset`; throws DataFileInvalid naming the file and line. */
export async function loadCsv(options: { file: string; dataset: string }): Promise<Table> {
  const stat = await fs.stat(options.file).catch((error: NodeJS.ErrnoException) => {
    throw new DataFileInvalid({ file: options.file, reason: `cannot read the file (${error.code ?? error.message})` });
  });
  if (!stat.isFile()) throw new DataFileInvalid({ file: options.file, reason: "not a regular file" });
  return loadFrom({
    open: () => createReadStream(options.file, { highWaterMark: 1 << 20 }),
    file: options.file,
    dataset: options.dataset,
  });
}

/** Loads CSV text held in memory (tests, uploads); `file` names it in errors. */
export async function loadCsvText(options: { text: string | Buffer; dataset: string; file?: string }): Promise<Table> {
  const bytes = typeof options.text === "string" ? Buffer.from(options.text, "utf8") : options.text;
  return loadFrom({
    open: () => Readable.from([bytes], { objectMode: false }),
    file: options.file ?? "<text>",
    dataset: options.dataset,
  });
}

/**
 * What a station has released, per study, so that differencing is answered: two jobs whose row
 * sets at this station differ by 1 … k−1 rows (k = minSubsetSize) would give, by subtraction,
 * the statistic of those few rows — a summary of everyone minus a summary of everyone but one is
 * that one person (test/privacy/differencing.test.ts). Each rule on its own (subset size, cell
 * size) sees only one job; this record sees them together.
 *
 * A row set is a bitset over the rows of the dataset's snapshot (bit i = row i was used). The
 * station records every set a job releases — the where-filter's rows, each group-by cell's
 * rows, each indicator's denominator and numerator rows, a model's complete cases — and refuses a
 * job with a set whose symmetric difference from a recorded set, or from another set of the same
 * job, has 1 … k−1 rows. The refusal never says which set, nor by how many rows.
 *
 * Records are per study, dataset and snapshot (a digest of the data: a changed file is another
 * snapshot, whose row numbers mean other people). They are kept in memory deflated, and on disk
 * under DIR/released-rows/ (mode 0600), one append-only file per study, dataset and snapshot, each
 * record written before the job's answer can leave, so a restart does not forget them. A record
 * cut short by a crash is the last one, of a job that never answered: it is dropped on reading.
 * The number of distinct sets is capped (disclosure.maxReleasedRowSets); when the record is full,
 * a job that would add a set is refused until the data steward archives the file (fail closed).
 *
 * Comparing is cheap for most pairs: |A Δ B| ≥ ||A| − |B||, so only recorded sets whose size is
 * within k of the new one's are inflated and compared bit by bit.
 */
import { createHash } from "node:crypto";
import { appendFileSync, chmodSync, existsSync, mkdirSync, openSync, closeSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { PolicyRefused } from "../../common/errors.js";

export const RELEASED_ROWS_DIR = "released-rows";
const MAGIC = "werkplaats released row sets v1\n";

/** Ones per byte value, for counting a symmetric difference. */
const POPCOUNT = Uint8Array.from({ length: 256 }, (_, b) => {
  let c = 0;
  for (let v = b; v; v >>= 1) c += v & 1;
  return c;
});

/** A set of rows of one snapshot, as a 0/1 mask (one byte per row, as the kernels' masks). */
export type RowMask = Uint8Array;

interface Recorded {
  size: number;
  packed: Buffer;
}

function pack(mask: RowMask): { bits: Buffer; size: number } {
  const bits = Buffer.alloc((mask.length + 7) >> 3);
  let size = 0;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] === 1) {
      bits[i >> 3] |= 1 << (i & 7);
      size++;
    }
  }
  return { bits, size };
}

function differenceSize(a: Buffer, b: Buffer): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += POPCOUNT[a[i] ^ b[i]];
  return d;
}

export interface LedgerLimits {
  /** Sets differing by 1 … minDifference − 1 rows are refused (the study's minSubsetSize). */
  minDifference: number;
  /** Sets smaller than this are not recorded: the cell rule refuses or withholds them (minCellSize). */
  minRecordedSize: number;
  /** Most distinct sets recorded (maxReleasedRowSets). */
  capacity: number;
}

/** The record of one study, dataset and snapshot. */
export class RowSetLedger {
  private readonly sets: Recorded[] = [];
  private readonly digests = new Set<string>();
  private readonly rowCount: number;

  constructor(
    private readonly file: string,
    private readonly study: string,
    rowCount: number,
  ) {
    this.rowCount = rowCount;
    if (existsSync(file)) this.load();
    else {
      closeSync(openSync(file, "a", 0o600));
      appendFileSync(file, MAGIC);
    }
    chmodSync(file, 0o600);
  }

  get size(): number {
    return this.sets.length;
  }

  private load(): void {
    const data = readFileSync(this.file);
    if (data.subarray(0, MAGIC.length).toString("latin1") !== MAGIC) {
      throw new PolicyRefused(`the station's record of released row sets (${this.file}) is not readable; refusing until the data steward restores it`);
    }
    let at = MAGIC.length;
    const bytes = (this.rowCount + 7) >> 3;
    while (at + 8 <= data.length) {
      const size = data.readUInt32BE(at);
      const length = data.readUInt32BE(at + 4);
      if (at + 8 + length > data.length) break; // cut short by a crash: that job never answered
      const packed = Buffer.from(data.subarray(at + 8, at + 8 + length));
      at += 8 + length;
      let bits: Buffer;
      try {
        bits = inflateRawSync(packed);
      } catch {
        break;
      }
      if (bits.length !== bytes) break;
      const digest = createHash("sha256").update(bits).digest("hex");
      if (this.digests.has(digest)) continue;
      this.digests.add(digest);
      this.sets.push({ size, packed });
    }
  }

  /**
   * Refuses (PolicyRefused) when any of `sets` differs from a recorded set, or from another of
   * `sets`, by 1 … minDifference − 1 rows, or when recording them would overflow the record;
   * otherwise returns the function that records them (on disk before it returns), which the
   * station calls once the job is released; checked again then, against sets recorded meanwhile
   * by concurrent jobs. A set given as `partOf` another of the
   * job's (a numerator within its denominator) is not compared with that one: their difference is
   * a cell of the same table, which the cell rules judge.
   */
  admit(sets: ReadonlyArray<RowMask | { mask: RowMask; partOf?: number }>, limits: LedgerLimits, station?: string): () => void {
    const fresh: Array<{ bits: Buffer; size: number; digest: string; index: number; partOf?: number }> = [];
    const seen = new Set<string>();
    for (let index = 0; index < sets.length; index++) {
      const entry = sets[index];
      const mask = entry instanceof Uint8Array ? entry : entry.mask;
      const partOf = entry instanceof Uint8Array ? undefined : entry.partOf;
      if (mask.length !== this.rowCount) throw new Error("internal: a row set does not match the snapshot's rows");
      const { bits, size } = pack(mask);
      if (size < limits.minRecordedSize) continue;
      const digest = createHash("sha256").update(bits).digest("hex");
      if (this.digests.has(digest) || seen.has(digest)) continue;
      seen.add(digest);
      fresh.push({ bits, size, digest, index, partOf });
    }
    if (fresh.length === 0) return () => {};
    const refuse = (why: string): never => {
      throw new PolicyRefused(why, station);
    };
    const k = limits.minDifference;
    const check = (against: readonly Recorded[]): void => {
      for (let i = 0; i < fresh.length; i++) {
        const a = fresh[i];
        for (let j = 0; j < i; j++) {
          const b = fresh[j];
          if (Math.abs(a.size - b.size) >= k || a.partOf === b.index || b.partOf === a.index) continue;
          const d = differenceSize(a.bits, b.bits);
          if (d > 0 && d < k) refuse(`two row sets of this job differ by fewer than ${k} rows (the minimum subset size): their difference would single out a few people`);
        }
        for (const b of against) {
          if (Math.abs(a.size - b.size) >= k) continue;
          const d = differenceSize(a.bits, inflateRawSync(b.packed));
          if (d > 0 && d < k) refuse(`this job's rows differ from an earlier job of study "${this.study}" by fewer than ${k} rows (the minimum subset size): the difference of the two would single out a few people`);
        }
      }
      if (this.sets.length + fresh.length > limits.capacity) {
        refuse(`the station's record of released row sets for study "${this.study}" is full (${limits.capacity} sets, disclosure.maxReleasedRowSets); new row sets are refused until the data steward archives it`);
      }
    };
    check(this.sets);
    const known = this.sets.length;
    return () => {
      // Jobs run concurrently: sets recorded since this job was checked are checked against now.
      check(this.sets.slice(known));
      const chunks: Buffer[] = [];
      for (const f of fresh) {
        if (this.digests.has(f.digest)) continue;
        const packed = deflateRawSync(f.bits);
        const head = Buffer.alloc(8);
        head.writeUInt32BE(f.size, 0);
        head.writeUInt32BE(packed.length, 4);
        chunks.push(head, packed);
        this.sets.push({ size: f.size, packed });
        this.digests.add(f.digest);
      }
      // Synchronous: the record is on disk before the release leaves the station.
      if (chunks.length > 0) appendFileSync(this.file, Buffer.concat(chunks));
    };
  }
}

/** Every ledger of a station, opened on first use. */
export class ReleasedRows {
  private readonly ledgers = new Map<string, RowSetLedger>();
  private readonly dir: string;

  constructor(stationDir: string) {
    this.dir = join(stationDir, RELEASED_ROWS_DIR);
  }

  /** The ledger of a study's jobs over one snapshot of a dataset (`snapshot`: a digest of its data). */
  ledger(options: { study: string; dataset: string; snapshot: string; rowCount: number }): RowSetLedger {
    const key = createHash("sha256").update(JSON.stringify([options.study, options.dataset, options.snapshot, options.rowCount])).digest("hex").slice(0, 40);
    let ledger = this.ledgers.get(key);
    if (!ledger) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      ledger = new RowSetLedger(join(this.dir, `${key}.rows`), options.study, options.rowCount);
      this.ledgers.set(key, ledger);
    }
    return ledger;
  }
}

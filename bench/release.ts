/**
 * `npm run bench -- release`: what the combined-table release costs a station, against the check
 * it replaces. A 1 000-cell count (40 × 25 levels) over synthetic rows at n = 3 and 10 stations:
 *
 * - today: each station's per-station cell check on its own part (governance/policy-check.ts
 *   `checkDisclosure` with perStationCells on), in parallel at every station;
 * - now: every station's `decideRelease` on the combined vector (suppression with margins and the
 *   audit), and with perturbation on also `releaseExtras` (record-key sums) before masking.
 *
 * Prints a table and ends with one JSON line.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GroupBy, JobSpec } from "../common/job.js";
import { NAMED_PERTURBATION_TABLES } from "../common/perturbation.js";
import { kernel } from "../station-daemon/compute/contribution.js";
import type { Column, Table } from "../station-daemon/data/table.js";
import { checkDisclosure } from "../station-daemon/governance/policy-check.js";
import { DEFAULT_DISCLOSURE, type StudyPolicy } from "../station-daemon/governance/policy.js";
import { attachRecordKeys, decideRelease, releaseExtras } from "../station-daemon/release/index.js";
import { Rng } from "../synth/index.js";

const ROWS_PER_STATION = 20_000;

function stationTable(rng: Rng, by: GroupBy[]): Table {
  const columns = new Map<string, Column>();
  for (const g of by) {
    const codes = new Int32Array(ROWS_PER_STATION);
    // Skewed levels, so that some combined cells are small and the suppression has work to do.
    for (let r = 0; r < codes.length; r++) codes[r] = Math.min(g.levels.length - 1, Math.floor(g.levels.length * (rng.nextUint32() / 2 ** 32) ** 2));
    columns.set(g.column, { kind: "categorical", name: g.column, codes, levels: [...g.levels] });
  }
  return { name: "bench", rowCount: ROWS_PER_STATION, columns };
}

function time(run: () => void, repeat: number): number {
  run(); // warm
  const start = process.hrtime.bigint();
  for (let i = 0; i < repeat; i++) run();
  return Number(process.hrtime.bigint() - start) / 1e6 / repeat;
}

export async function benchRelease(): Promise<void> {
  const by: GroupBy[] = [
    { column: "a", levels: Array.from({ length: 40 }, (_, i) => `a${String(i).padStart(2, "0")}`) },
    { column: "b", levels: Array.from({ length: 25 }, (_, i) => `b${String(i).padStart(2, "0")}`) },
  ];
  const job: JobSpec = { dataset: "bench", computation: { kind: "count", by } };
  const plain = { id: "bench", disclosure: { ...DEFAULT_DISCLOSURE } } as StudyPolicy;
  const perturbed = { ...plain, perturbation: NAMED_PERTURBATION_TABLES.default } as StudyPolicy;
  const dir = mkdtempSync(join(tmpdir(), "werkplaats-bench-release-"));
  const rows: Array<Record<string, number | string>> = [];
  try {
    for (const n of [3, 10]) {
      const rng = new Rng("bench-release", n);
      const tables = Array.from({ length: n }, () => stationTable(rng, by));
      tables.forEach((table, i) => attachRecordKeys({ dir: join(dir, `${n}-${i}`), table }));
      const all = new Uint8Array(ROWS_PER_STATION).fill(1);
      const parts = tables.map((t) => kernel(t, all, job));
      // Thin the combined table so that a share of its cells is small (a realistic sparse crosstab).
      const sum = new Float64Array(parts[0].length);
      for (const p of parts) p.forEach((v, i) => (sum[i] += v));
      for (let i = 0; i < sum.length; i++) if (i % 7 === 3) sum[i] = 1 + (i % 9);
      const extras = new Float64Array(parts[0].length);
      for (const t of tables) releaseExtras({ job, study: perturbed, table: t, rows: all }).forEach((v, i) => (extras[i] += v));
      // Timed on a part that passes (a refusal would end the job; the scan is the same work).
      const passing = parts[0].map((v) => (v > 0 && v < DEFAULT_DISCLOSURE.minCellSize ? 0 : v));
      const perStation = time(() => checkDisclosure({ disclosure: { ...DEFAULT_DISCLOSURE, perStationCells: true }, job, table: tables[0], rowsSelected: ROWS_PER_STATION, contribution: passing }), 200);
      const decide = time(() => decideRelease({ job, study: plain, sum, extras: new Float64Array(0), stations: n, stationsWithRows: n }), 20);
      const decidePerturbed = time(() => decideRelease({ job, study: perturbed, sum, extras, stations: n, stationsWithRows: n }), 20);
      const keys = time(() => releaseExtras({ job, study: perturbed, table: tables[0], rows: all }), 5);
      const r = decideRelease({ job, study: plain, sum, extras: new Float64Array(0), stations: n, stationsWithRows: n });
      const withheld = [...r.withheld];
      rows.push({
        stations: n,
        cells: sum.length,
        released: r.values.length,
        primary: withheld.filter((w) => w === 1).length,
        secondary: withheld.filter((w) => w === 2).length,
        perStationCheckMs: +perStation.toFixed(3),
        decideReleaseMs: +decide.toFixed(3),
        decideReleasePerturbedMs: +decidePerturbed.toFixed(3),
        recordKeySumsMs: +keys.toFixed(3),
        ratio: +(decide / perStation).toFixed(1),
        ratioPerturbed: +((decidePerturbed + keys) / perStation).toFixed(1),
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`release decision on a 1 000-cell count (${ROWS_PER_STATION} rows per station), per station, ms\n`);
  process.stdout.write("stations  per-station check  decideRelease  +perturbation  key sums  ratio  ratio(perturbed)  withheld p/s\n");
  for (const r of rows) {
    process.stdout.write(
      `${String(r.stations).padStart(8)}  ${String(r.perStationCheckMs).padStart(17)}  ${String(r.decideReleaseMs).padStart(13)}  ${String(r.decideReleasePerturbedMs).padStart(13)}  ${String(r.recordKeySumsMs).padStart(8)}  ${String(r.ratio).padStart(5)}  ${String(r.ratioPerturbed).padStart(16)}  ${r.primary}/${r.secondary}\n`,
    );
  }
  process.stdout.write(JSON.stringify({ bench: "release", rows }) + "\n");
}

/**
 * Cell-key perturbation: the method of the Australian Bureau of Statistics' TableBuilder
 * (Fraser & Wooton 2005; Thompson, Broadfoot & Elazar 2013) and of the European census 2021
 * guidelines (Eurostat "cell key method", Giessing 2016; the sdcTable/cellKey packages).
 *
 * Every row of a station's dataset holds a random *record key* (an integer 0 … RECORD_KEY_RANGE−1,
 * kept at the station, never derived from the data). A cell's key is the sum of its rows' record
 * keys modulo RECORD_KEY_RANGE, scaled to [0, 1): summed under secure aggregation like any count,
 * so no one learns a row's key. A published *perturbation table* gives, for each cell count c,
 * a distribution of small integer noise d with |d| ≤ maxNoise, mean 0 and variance ≈ `variance`,
 * c + d ≥ 0, and 0 for c = 0; the cell key picks d from it by inverse CDF. The same rows always
 * make the same cell key, so the same cell always gets the same noise: repeating a query, or
 * asking it again in other words, does not average the noise away, and two cells that differ by
 * one person get unrelated noise, which blurs the difference.
 *
 * The table is a function of (maxNoise, variance) alone, computed here, so that anyone can
 * reproduce it from the policy: for c ≥ maxNoise, p(d) ∝ exp(−d²/2s²) on −D … D with s chosen for
 * the variance; for smaller c the support is −c … D and p(d) ∝ exp(a·d − d²/2s²) with a chosen
 * for mean 0 (the usual ABS construction keeps small counts unbiased the same way).
 */
import { BadInput } from "./errors.js";

/** Record keys are integers below this; cell keys are key sums modulo it. */
export const RECORD_KEY_RANGE = 65_536;

export interface PerturbationSettings {
  /** Largest |noise| added to a count. */
  maxNoise: number;
  /** Target variance of the noise (for counts of at least maxNoise). */
  variance: number;
  /** The table's name when the policy named one. */
  name?: string;
}

/** Tables a policy may name instead of giving maxNoise and variance. */
export const NAMED_PERTURBATION_TABLES: Readonly<Record<string, PerturbationSettings>> = Object.freeze({
  "werkplaats-d2-v1": { maxNoise: 2, variance: 1, name: "werkplaats-d2-v1" },
  "werkplaats-d3-v2": { maxNoise: 3, variance: 2, name: "werkplaats-d3-v2" },
  "werkplaats-d5-v3": { maxNoise: 5, variance: 3, name: "werkplaats-d5-v3" },
  /**
   * The default: an attacker who compares two tables differing by one person (each cell's change)
   * guesses a yes/no attribute right about 68 % of the time (test/privacy/combined-table.test.ts);
   * with ±2, variance 1 it is about 75 %.
   */
  default: { maxNoise: 3, variance: 2, name: "default (werkplaats-d3-v2)" },
});
export const DEFAULT_PERTURBATION_TABLE = "default";

export function checkPerturbation(p: PerturbationSettings): void {
  if (!Number.isInteger(p.maxNoise) || p.maxNoise < 1 || p.maxNoise > 20) throw new BadInput(`perturbation maxNoise must be a whole number from 1 to 20, got ${p.maxNoise}`);
  if (!(p.variance > 0) || p.variance >= p.maxNoise * p.maxNoise) throw new BadInput(`perturbation variance must be above 0 and below maxNoise² (${p.maxNoise * p.maxNoise}), got ${p.variance}`);
}

export function describePerturbation(p: PerturbationSettings): string {
  return `${p.name ? `table ${p.name}: ` : ""}maximum noise ±${p.maxNoise}, variance ${p.variance}`;
}

interface Row {
  /** Noise values, ascending. */
  noise: number[];
  /** Cumulative probabilities, the last 1. */
  cdf: number[];
}

export class PerturbationTable {
  readonly settings: PerturbationSettings;
  private readonly rows: Row[];
  private readonly scale: number;

  constructor(settings: PerturbationSettings) {
    checkPerturbation(settings);
    this.settings = settings;
    const D = settings.maxNoise;
    this.scale = solveScale(D, settings.variance);
    this.rows = [{ noise: [0], cdf: [1] }];
    for (let c = 1; c <= D; c++) this.rows.push(row(Math.max(-c, -D), D, this.scale));
  }

  /** The noise for a cell of `count` rows with cell key `key` in [0, 1). */
  noise(count: number, key: number): number {
    if (count <= 0) return 0;
    const r = this.rows[Math.min(count, this.rows.length - 1)];
    for (let i = 0; i < r.cdf.length; i++) if (key < r.cdf[i]) return r.noise[i];
    return r.noise[r.noise.length - 1];
  }

  /** The table as published: per count, noise values and their probabilities. */
  publish(): Array<{ count: string; noise: number[]; probabilities: number[] }> {
    return this.rows.map((r, c) => ({
      count: c === this.rows.length - 1 ? `${c} or more` : String(c),
      noise: r.noise,
      probabilities: r.cdf.map((x, i) => x - (i === 0 ? 0 : r.cdf[i - 1])),
    }));
  }
}

/** The cell key in [0, 1) from a combined key sum. */
export function cellKey(keySum: number): number {
  const k = Math.round(keySum) % RECORD_KEY_RANGE;
  return (k < 0 ? k + RECORD_KEY_RANGE : k) / RECORD_KEY_RANGE;
}

function weights(lo: number, hi: number, s: number, a: number): number[] {
  const out: number[] = [];
  for (let d = lo; d <= hi; d++) out.push(Math.exp(a * d - (d * d) / (2 * s * s)));
  const total = out.reduce((x, y) => x + y, 0);
  return out.map((w) => w / total);
}

function moments(lo: number, p: number[]): { mean: number; variance: number } {
  let mean = 0;
  let second = 0;
  p.forEach((w, i) => {
    mean += w * (lo + i);
    second += w * (lo + i) * (lo + i);
  });
  return { mean, variance: second - mean * mean };
}

/** s such that the symmetric table on −D … D has the variance asked for. */
function solveScale(D: number, variance: number): number {
  let lo = 1e-3;
  let hi = 1e3;
  for (let i = 0; i < 200; i++) {
    const mid = Math.sqrt(lo * hi);
    if (moments(-D, weights(-D, D, mid, 0)).variance < variance) lo = mid;
    else hi = mid;
  }
  return Math.sqrt(lo * hi);
}

function row(lo: number, hi: number, s: number): Row {
  // a with mean 0 on lo … hi (a = 0 when symmetric); bisection on a monotone mean.
  let a0 = -20;
  let a1 = 20;
  for (let i = 0; i < 200; i++) {
    const mid = (a0 + a1) / 2;
    if (moments(lo, weights(lo, hi, s, mid)).mean < 0) a0 = mid;
    else a1 = mid;
  }
  const p = weights(lo, hi, s, lo === -hi ? 0 : (a0 + a1) / 2);
  const noise: number[] = [];
  const cdf: number[] = [];
  let cumulative = 0;
  p.forEach((w, i) => {
    noise.push(lo + i);
    cumulative += w;
    cdf.push(i === p.length - 1 ? 1 : cumulative);
  });
  return { noise, cdf };
}

/**
 * Exact at any scale (issue 16): federated GLMs, summaries, quantiles, rates and histograms over
 * three real station processes (LocalFederation, real secure aggregation) for data scaled from
 * 1e-12 to 1e12 and offset by up to 1e12, against an exact computation on the pooled rows:
 *
 * - Gaussian fits and summaries against exact rational arithmetic (BigInt) on the very doubles
 *   the stations hold, so the reference has no rounding of its own until its last step;
 * - binomial and poisson fits against the same federated fit at scale 1, which statsmodels
 *   checks (Newton's path is scale-equivariant, so only arithmetic that loses digits differs);
 * - the NIST StRD SmLs01 and SmLs09 (ANOVA), Norris and Longley (linear regression) cases
 *   against their certified values, written from NIST's definitions.
 *
 * Prints the table (correct digits at each scale) to stderr.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Federation, GlmModel } from "../sdk/index.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { oracleFit } from "./glm-fixtures.js";
import { seededRandom } from "./helpers/random.js";

const STATIONS = ["north", "east", "south"];
const SCALES = [1e-12, 1e-8, 1e-6, 1e-4, 1e-3, 1, 1e6, 1e12];
const ROWS = 600;

let work: string;
let local: LocalFederation;
let fed: Federation;
const data: Record<string, number[]> = {};
const digits: Record<string, Record<string, number>> = {};

// ---------------------------------------------------------------------------------------------
// Exact arithmetic on doubles: every double is q·2^e with q, e integers.

function dyadic(values: readonly number[]): { q: bigint[]; e: number } {
  const view = new DataView(new ArrayBuffer(8));
  const parts = values.map((x) => {
    view.setFloat64(0, x);
    const word = view.getBigUint64(0);
    const exponent = Number((word >> 52n) & 0x7ffn);
    const mantissa = (word & ((1n << 52n) - 1n)) | (exponent === 0 ? 0n : 1n << 52n);
    const e = (exponent === 0 ? 1 : exponent) - 1075;
    return { m: x < 0 ? -mantissa : mantissa, e };
  });
  const e = Math.min(...parts.map((p) => p.e));
  return { q: parts.map((p) => p.m << BigInt(p.e - e)), e };
}

const sum = (xs: bigint[]): bigint => xs.reduce((s, x) => s + x, 0n);
const ratio = (a: bigint, b: bigint): number => Number(a) / Number(b);

function exactMoments(values: readonly number[]): { n: number; mean: number; variance: number } {
  const { q, e } = dyadic(values);
  const n = BigInt(q.length);
  const s1 = sum(q);
  const s2 = sum(q.map((x) => x * x));
  return { n: q.length, mean: ratio(s1, n) * 2 ** e, variance: ratio(n * s2 - s1 * s1, n * (n - 1n)) * 2 ** (2 * e) };
}

/** Ordinary least squares of y on x with intercept, exactly, then rounded once per statistic. */
function exactLine(x: readonly number[], y: readonly number[]) {
  const { q: qx, e: ex } = dyadic(x);
  const { q: qy, e: ey } = dyadic(y);
  const n = BigInt(qx.length);
  const [sx, sy] = [sum(qx), sum(qy)];
  const sxx = sum(qx.map((a) => a * a));
  const cxx = n * sxx - sx * sx;
  const cxy = n * sum(qx.map((a, i) => a * qy[i])) - sx * sy;
  const cyy = n * sum(qy.map((a) => a * a)) - sy * sy;
  const residual = cyy * cxx - cxy * cxy; // n·Cxx·RSS in units of 2^(2ey)
  return {
    slope: ratio(cxy, cxx) * 2 ** (ey - ex),
    intercept: ratio(sy * cxx - cxy * sx, n * cxx) * 2 ** ey,
    slopeSe: Math.sqrt(ratio(residual, (n - 2n) * cxx * cxx)) * 2 ** (ey - ex),
    interceptSe: Math.sqrt(ratio(residual * sxx, n * cxx * (n - 2n) * cxx)) * 2 ** ey,
    deviance: ratio(residual, n * cxx) * 2 ** (2 * ey),
  };
}

const rel = (a: number, b: number): number => (a === b ? 0 : Math.abs(a - b) / Math.abs(b));
const correctDigits = (a: number, b: number): number => Math.min(16, -Math.log10(Math.max(rel(a, b), 1e-16)));
const coef = (m: GlmModel, term: string) => m.coefficients.find((c) => c.term === term)!;

function note(row: string, column: string, value: number): void {
  (digits[row] ??= {})[column] = Math.round(value * 10) / 10;
}

// ---------------------------------------------------------------------------------------------
// Data

function writeCsv(name: string, columns: Record<string, Array<number | string>>): string[] {
  const names = Object.keys(columns);
  const n = columns[names[0]].length;
  return STATIONS.map((station, s) => {
    const lines = [names.join(",")];
    // round-robin, so that every station holds every group
    for (let i = s; i < n; i += STATIONS.length) lines.push(names.map((c) => String(columns[c][i])).join(","));
    const file = join(work, `${name}-${station}.csv`);
    writeFileSync(file, lines.join("\n") + "\n");
    return file;
  });
}

/** NIST SmLs: 9 treatments, the first value of each its centre, then centre −/+ 0.1 alternately. */
function smls(replicates: number, leading: string): { treatment: string[]; y: string[] } {
  const centres = [4, 3, 5, 3, 5, 3, 5, 3, 5];
  const treatment: string[] = [];
  const y: string[] = [];
  centres.forEach((c, t) => {
    for (let r = 0; r < replicates; r++) {
      const digit = r === 0 ? c : r % 2 === 1 ? c - 1 : c + 1;
      treatment.push(`t${t + 1}`);
      y.push(`${leading}.${digit}`);
    }
  });
  return { treatment, y };
}

const NORRIS: Array<[number, number]> = [
  [0.1, 0.2], [338.8, 337.4], [118.1, 118.2], [888.0, 884.6], [9.2, 10.1], [228.1, 226.5], [668.5, 666.3], [998.5, 996.3],
  [449.1, 448.6], [778.9, 777.0], [559.2, 558.2], [0.3, 0.4], [0.1, 0.6], [778.1, 775.5], [668.8, 666.9], [339.3, 338.0],
  [448.9, 447.5], [10.8, 11.6], [557.7, 556.0], [228.3, 228.1], [998.0, 995.8], [888.8, 887.6], [119.6, 120.2], [0.3, 0.3],
  [0.6, 0.3], [557.6, 556.8], [339.3, 339.1], [888.0, 887.2], [998.5, 999.0], [778.9, 779.0], [10.2, 11.1], [117.6, 118.3],
  [228.9, 229.2], [668.4, 669.1], [449.2, 448.9], [0.2, 0.5],
];

/** Longley (1967), NIST StRD: TOTEMP, GNPDEFL, GNP, UNEMP, ARMED, POP, YEAR. */
const LONGLEY = [
  [60323, 83.0, 234289, 2356, 1590, 107608, 1947], [61122, 88.5, 259426, 2325, 1456, 108632, 1948],
  [60171, 88.2, 258054, 3682, 1616, 109773, 1949], [61187, 89.5, 284599, 3351, 1650, 110929, 1950],
  [63221, 96.2, 328975, 2099, 3099, 112075, 1951], [63639, 98.1, 346999, 1932, 3594, 113270, 1952],
  [64989, 99.0, 365385, 1870, 3547, 115094, 1953], [63761, 100.0, 363112, 3578, 3350, 116219, 1954],
  [66019, 101.2, 397469, 2904, 3048, 117388, 1955], [67857, 104.6, 419180, 2822, 2857, 118734, 1956],
  [68169, 108.4, 442769, 2936, 2798, 120445, 1957], [66513, 110.8, 444546, 4681, 2637, 121950, 1958],
  [68655, 112.6, 482704, 3813, 2552, 123366, 1959], [69564, 114.2, 502601, 3931, 2514, 125368, 1960],
  [69331, 115.7, 518173, 4806, 2572, 127852, 1961], [70551, 116.9, 554894, 4007, 2827, 130081, 1962],
];
const LONGLEY_NAMES = ["TOTEMP", "GNPDEFL", "GNP", "UNEMP", "ARMED", "POP", "YEAR"];
/** NIST certified estimates and standard deviations of the estimates (residual SD 304.854073561965). */
const LONGLEY_CERTIFIED: Record<string, [number, number]> = {
  "(Intercept)": [-3482258.63459582, 890420.383607373],
  GNPDEFL: [15.0618722713733, 84.9149257747669],
  GNP: [-0.358191792925910e-1, 0.334910077722432e-1],
  UNEMP: [-2.02022980381683, 0.488399681651699],
  ARMED: [-1.03322686717359, 0.214274163161675],
  POP: [-0.511041056535807e-1, 0.22607320006937],
  YEAR: [1829.15146461355, 455.478499142212],
};
/** Copies of Longley each station holds: the stations refuse a model of more than 0.33 parameters per row. */
const LONGLEY_COPIES = 2;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-scale-"));
  const random = seededRandom(16);
  const normal = () => random() + random() + random() - 1.5;
  const x0 = Array.from({ length: ROWS }, () => 4 * random() - 2);
  const y0 = x0.map((x) => 1 + 0.5 * x + normal());
  const b0 = x0.map((x) => (random() < 1 / (1 + Math.exp(0.3 - 0.8 * x)) ? 1 : 0));
  const k0 = x0.map((x) => {
    // Poisson by inversion, mean exp(0.2 + 0.3x)
    const mean = Math.exp(0.2 + 0.3 * x);
    let k = 0;
    let p = Math.exp(-mean);
    let c = p;
    const u = random();
    while (u > c && k < 50) p *= mean / ++k, (c += p);
    return k;
  });
  const g = x0.map((_, i) => ["a", "b", "c"][i % 3]);
  const columns: Record<string, Array<number | string>> = { g, x0, y0, b0, k0 };
  data.x0 = x0;
  data.y0 = y0;
  SCALES.forEach((s, i) => {
    data[`xs${i}`] = columns[`xs${i}`] = x0.map((x) => x * s);
    data[`ys${i}`] = columns[`ys${i}`] = y0.map((y) => y * s);
  });
  for (const [name, offset] of [["yo6", 1e6], ["yo12", 1e12]] as const) data[name] = columns[name] = y0.map((y) => y + offset);
  // binomial counts: trials 1…12, successes drawn at logistic(−0.3 + 0.8x)
  const trials = x0.map(() => 1 + Math.floor(random() * 12));
  const successes = x0.map((x, i) => {
    let k = 0;
    for (let t = 0; t < trials[i]; t++) if (random() < 1 / (1 + Math.exp(0.3 - 0.8 * x))) k++;
    return k;
  });
  Object.assign(columns, { trials, successes, failures: successes.map((k, i) => trials[i] - k), prop: successes.map((k, i) => k / trials[i]) });

  const smls01 = smls(21, "1");
  const smls09 = smls(2001, "1000000000000");
  data.smls01 = smls01.y.map(Number);
  data.smls09 = smls09.y.map(Number);
  // every station gets LONGLEY_COPIES whole copies (round-robin over 16-row blocks would split them)
  const longleyFiles = STATIONS.map((station) => {
    const lines = [LONGLEY_NAMES.join(","), ...Array.from({ length: LONGLEY_COPIES }, () => LONGLEY.map((r) => r.join(","))).flat()];
    const file = join(work, `longley-${station}.csv`);
    writeFileSync(file, lines.join("\n") + "\n");
    return file;
  });

  const files = {
    scale: writeCsv("scale", columns),
    smls01: writeCsv("smls01", smls01),
    smls09: writeCsv("smls09", smls09),
    norris: writeCsv("norris", { y: NORRIS.map((r) => r[0]), x: NORRIS.map((r) => r[1]) }),
    longley: longleyFiles,
  };
  // pooled CSV for statsmodels
  writeFileSync(join(work, "pooled.csv"), ["x0,b0,k0", ...x0.map((x, i) => `${x},${b0[i]},${k0[i]}`)].join("\n") + "\n");

  local = await LocalFederation.start({
    dir: join(work, "stations"),
    stations: STATIONS.map((name, s) => ({ name, datasets: Object.fromEntries(Object.entries(files).map(([d, f]) => [d, f[s]])) })),
    // DataSHIELD's loosest cell size: SmLs01 has 21 rows per treatment, 7 per station
    policy: (researcherKey) => ({
      version: 1,
      disclosure: { minCellSize: 3, minSubsetSize: 3 },
      studies: [
        {
          id: "local",
          purpose: "scale test",
          dpia: "DPIA-TEST-16",
          expires: "2099-12-31",
          researchers: [{ name: "test analyst", key: researcherKey }],
          datasets: "*",
          computations: "*",
          disclosure: { minCellSize: 3, minSubsetSize: 3 },
        },
      ],
    }),
  });
  fed = await local.connect({ timeoutMs: 60_000 });
}, 240_000);

afterAll(async () => {
  fed?.close();
  await local?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  if (Object.keys(digits).length > 0) {
    const columns = [...new Set(Object.values(digits).flatMap((r) => Object.keys(r)))];
    const lines = [`| | ${columns.join(" | ")} |`, `|---|${columns.map(() => "---").join("|")}|`];
    for (const [row, values] of Object.entries(digits)) lines.push(`| ${row} | ${columns.map((c) => values[c] ?? "").join(" | ")} |`);
    process.stderr.write(`\ncorrect digits (issue 16):\n${lines.join("\n")}\n`);
  }
});

describe("exact at any scale, through three station processes", () => {
  it.each(SCALES.map((s, i) => [s, i]))("Gaussian GLM, response × %s: estimates, SEs and deviance as exact OLS", async (s, i) => {
    const model = await fed.dataset("scale").glm(`ys${i} ~ x0`, { family: "gaussian" });
    const exact = exactLine(data.x0, data[`ys${i}`]);
    const worst = Math.max(
      rel(coef(model, "x0").std_error, exact.slopeSe),
      rel(coef(model, "(Intercept)").std_error, exact.interceptSe),
    );
    note("Gaussian GLM, response × s: SE digits", String(s), -Math.log10(Math.max(worst, 1e-16)));
    expect(rel(coef(model, "x0").estimate, exact.slope)).toBeLessThan(1e-9);
    expect(rel(coef(model, "(Intercept)").estimate, exact.intercept)).toBeLessThan(1e-9);
    expect(worst).toBeLessThan(1e-9);
    expect(rel(model.deviance, exact.deviance)).toBeLessThan(1e-9);
    expect(model.warnings).toEqual([]);
  });

  it.each(SCALES.map((s, i) => [s, i]))("Gaussian GLM, covariate × %s: as exact OLS", async (s, i) => {
    const model = await fed.dataset("scale").glm(`y0 ~ xs${i}`, { family: "gaussian" });
    const exact = exactLine(data[`xs${i}`], data.y0);
    expect(rel(coef(model, `xs${i}`).estimate, exact.slope)).toBeLessThan(1e-9);
    expect(rel(coef(model, `xs${i}`).std_error, exact.slopeSe)).toBeLessThan(1e-9);
    expect(rel(coef(model, "(Intercept)").std_error, exact.interceptSe)).toBeLessThan(1e-9);
  });

  it.each([["yo6", 1e-9], ["yo12", 1e-4]] as const)("Gaussian GLM, response offset (%s): as exact OLS, within %s", async (column, tolerance) => {
    // At 1e12 the residuals (≈ 1) carry ulp(1e12)/2 ≈ 6e-5 of rounding in any double computation
    // of the fitted values, the pooled one included: 1e-4 is what double precision allows there.
    const model = await fed.dataset("scale").glm(`${column} ~ x0`, { family: "gaussian" });
    const exact = exactLine(data.x0, data[column]);
    expect(rel(coef(model, "x0").estimate, exact.slope)).toBeLessThan(tolerance);
    expect(rel(coef(model, "x0").std_error, exact.slopeSe)).toBeLessThan(tolerance);
    expect(rel(coef(model, "(Intercept)").estimate, exact.intercept)).toBeLessThan(1e-12);
  });

  describe.each([["binomial", "b0"], ["poisson", "k0"]] as const)("%s GLM, covariate × s", (family, response) => {
    let unit: GlmModel;
    beforeAll(async () => {
      unit = await fed.dataset("scale").glm(`${response} ~ x0`, { family });
      // the unscaled fit is the pooled MLE (statsmodels, as the other GLM tests)
      const oracle = oracleFit({ csv: join(work, "pooled.csv"), formula: `${response} ~ x0`, family });
      expect(rel(coef(unit, "x0").estimate, oracle.params.x0)).toBeLessThan(1e-6);
      expect(rel(coef(unit, "x0").std_error, oracle.bse.x0)).toBeLessThan(1e-6);
    }, 120_000);

    it.each(SCALES.map((s, i) => [s, i]))("× %s: the scale-1 fit, rescaled, to 1e-9", async (s, i) => {
      const model = await fed.dataset("scale").glm(`${response} ~ xs${i}`, { family });
      const se = rel(coef(model, `xs${i}`).std_error * s, coef(unit, "x0").std_error);
      note(`${family} GLM, covariate × s: SE digits`, String(s), -Math.log10(Math.max(se, 1e-16)));
      expect(model.iterations).toBe(unit.iterations);
      expect(rel(coef(model, `xs${i}`).estimate * s, coef(unit, "x0").estimate)).toBeLessThan(1e-9);
      expect(se).toBeLessThan(1e-9);
      expect(rel(coef(model, "(Intercept)").std_error, coef(unit, "(Intercept)").std_error)).toBeLessThan(1e-9);
      expect(rel(model.deviance, unit.deviance)).toBeLessThan(1e-9);
    });
  });

  it.each([...SCALES.map((s, i) => [String(s), `ys${i}`]), ["offset 1e6", "yo6"], ["offset 1e12", "yo12"]])(
    "summary(), column × %s: mean and variance per group as exact",
    async (label, column) => {
      const result = await fed.dataset("scale").summary(column, { by: ["g"] });
      let worst = 0;
      let worstMean = 0;
      for (const cell of result.cells) {
        const values = data[column].filter((_, r) => ["a", "b", "c"][r % 3] === cell.group.g);
        const exact = exactMoments(values);
        expect(cell.n).toBe(exact.n);
        worstMean = Math.max(worstMean, rel(cell.mean!, exact.mean));
        worst = Math.max(worst, rel(cell.variance!, exact.variance));
      }
      note("summary() variance of a column × s", label, -Math.log10(Math.max(worst, 1e-16)));
      expect(worstMean).toBeLessThan(1e-12);
      expect(worst).toBeLessThan(1e-9);
    },
  );

  it.each(SCALES.map((s, i) => [s, i]))("rates and histograms of a column × %s count exactly", async (s, i) => {
    const x = data[`xs${i}`];
    const proportion = await fed.dataset("scale").proportion(`xs${i} > ${0.5 * s}`);
    expect(proportion.cells[0].numerator).toBe(x.filter((v) => v > 0.5 * s).length);
    const edges = [-2, -1, 0, 1, 2].map((e) => e * s);
    const histogram = await fed.dataset("scale").histogram(`xs${i}`, { edges });
    const bins = histogram.cells[0].bins.map((b) => b.count);
    const expected = edges.slice(0, -1).map((lo, k) => x.filter((v) => v >= lo && (k === edges.length - 2 ? v <= edges[k + 1] : v < edges[k + 1])).length);
    expect(bins).toEqual(expected);
  });

  it("quantile()'s default range at offset 1e12 brackets the data and finds the median within its error bound", async () => {
    const result = await fed.dataset("scale").quantile("yo12", [0.5]);
    const sorted = [...data.yo12].sort((a, b) => a - b);
    const median = sorted[Math.ceil(0.5 * sorted.length) - 1];
    expect(result.lower).toBeLessThan(sorted[0]);
    expect(result.upper).toBeGreaterThan(sorted[sorted.length - 1]);
    const q = result.cells[0].quantiles[0];
    expect(Math.abs(q.value! - median)).toBeLessThanOrEqual(result.errorBound + 1e-3);
    expect(result.upper - result.lower).toBeLessThan(100);
  });
});

describe("NIST StRD", () => {
  /** Between- and within-treatment sums of squares from the per-treatment summary. */
  async function anova(dataset: string) {
    const result = await fed.dataset(dataset).summary("y", { by: ["treatment"] });
    const n = result.cells.reduce((s, c) => s + c.n!, 0);
    const grand = result.cells.reduce((s, c) => s + c.n! * (c.mean! - result.cells[0].mean!), 0) / n + result.cells[0].mean!;
    const between = result.cells.reduce((s, c) => s + c.n! * (c.mean! - grand) ** 2, 0);
    const within = result.cells.reduce((s, c) => s + (c.n! - 1) * c.variance!, 0);
    return { result, between, within, n };
  }

  it("SmLs01: certified sums of squares", async () => {
    const { between, within, n } = await anova("smls01");
    expect(n).toBe(189);
    expect(rel(between, 1.68)).toBeLessThan(1e-9);
    expect(rel(within, 1.8)).toBeLessThan(1e-9);
    expect(rel(Math.sqrt(within / (n - 9)), 0.1)).toBeLessThan(1e-9);
  });

  it("SmLs09 (1e12 + 0.x): the group variances are those of the doubles, exactly; certified values as far as the doubles hold them", async () => {
    const { result, between, within, n } = await anova("smls09");
    expect(n).toBe(18009);
    // the shift lands within the SD of the mean (it used to land 4 096 away)
    const centre = smls(2001, "1000000000000").y.map(Number);
    for (const cell of result.cells) {
      const values = centre.filter((_, r) => Math.floor(r / 2001) === Number(cell.group.treatment.slice(1)) - 1);
      const exact = exactMoments(values);
      expect(rel(cell.variance!, exact.variance)).toBeLessThan(1e-9);
      expect(rel(cell.mean!, exact.mean)).toBeLessThan(1e-15);
    }
    // 1e12 + 0.3 is 1e12 + 0.30005 in a double (ulp 2^-13): the doubles' own sums of squares
    // differ from NIST's decimal ones by ~1e-3 relative, and so does any pooled computation
    expect(rel(within, 180)).toBeLessThan(2e-3);
    expect(rel(between, 160.08)).toBeLessThan(2e-3);
    note("summary() SmLs09 group variance (vs exact doubles)", "1e12", -Math.log10(Math.max(...result.cells.map((c) => rel(c.variance!, exactMoments(centre.filter((_, r) => Math.floor(r / 2001) === Number(c.group.treatment.slice(1)) - 1)).variance)), 1e-16)));
  });

  it("Norris: certified estimates, standard deviations and residual SD", async () => {
    const model = await fed.dataset("norris").glm("y ~ x", { family: "gaussian" });
    expect(rel(coef(model, "(Intercept)").estimate, -0.262323073774029)).toBeLessThan(1e-9);
    expect(rel(coef(model, "x").estimate, 1.00211681802045)).toBeLessThan(1e-9);
    expect(rel(coef(model, "(Intercept)").std_error, 0.232818234301152)).toBeLessThan(1e-9);
    expect(rel(coef(model, "x").std_error, 0.429796848199937e-3)).toBeLessThan(1e-9);
    expect(rel(Math.sqrt(model.dispersion), 0.884796396144373)).toBeLessThan(1e-9);
    expect(rel(model.deviance, 26.6173985294224)).toBeLessThan(1e-9);
  });

  it("Longley: certified estimates and standard deviations", async () => {
    const model = await fed.dataset("longley").glm("TOTEMP ~ GNPDEFL + GNP + UNEMP + ARMED + POP + YEAR", { family: "gaussian" });
    // k copies of the 16 rows: same estimates; σ̂² = k·RSS/(16k − 7), so SE = certified · √(9/(16k − 7))
    const k = STATIONS.length * LONGLEY_COPIES;
    const seFactor = Math.sqrt(9 / (16 * k - 7));
    let worstEstimate = 0;
    let worstSe = 0;
    for (const [term, [estimate, se]] of Object.entries(LONGLEY_CERTIFIED)) {
      worstEstimate = Math.max(worstEstimate, rel(coef(model, term).estimate, estimate));
      worstSe = Math.max(worstSe, rel(coef(model, term).std_error, se * seFactor));
    }
    note("Longley (certified)", "estimates", -Math.log10(Math.max(worstEstimate, 1e-16)));
    note("Longley (certified)", "SEs", -Math.log10(Math.max(worstSe, 1e-16)));
    expect(worstEstimate).toBeLessThan(1e-9);
    // The covariance is the inverse of the information matrix X'X, whose entries are exact sums
    // of the stations' rounded products: its condition (~1e9 after scaling, the intercept against
    // YEAR ≈ 1954) bounds the SEs at ~7 digits, where a QR of the pooled X gives ~12. The
    // estimates get 11 digits from the refinement step (the scores at β₁ are exact residual sums).
    expect(worstSe).toBeLessThan(1e-7);
    expect(rel(Math.sqrt(model.deviance / k / 9), 304.854073561965)).toBeLessThan(1e-9);
  });
});

describe("models R fits that failed before", () => {
  it("the intercept-only model fits: logit of the proportion, SE 1/√(n p (1 − p))", async () => {
    const model = await fed.dataset("scale").glm("b0 ~ 1", { family: "binomial" });
    const b0 = (await fed.dataset("scale").summary("b0")).cells[0];
    const p = b0.mean!;
    expect(model.names).toEqual(["(Intercept)"]);
    expect(rel(coef(model, "(Intercept)").estimate, Math.log(p / (1 - p)))).toBeLessThan(1e-9);
    expect(rel(coef(model, "(Intercept)").std_error, 1 / Math.sqrt(b0.n! * p * (1 - p)))).toBeLessThan(1e-6);
    expect(rel(model.deviance, model.nullDeviance)).toBeLessThan(1e-12);
  });

  it("binomial proportions with weights = trials and cbind(successes, failures) give the same model, as R", async () => {
    const byWeights = await fed.dataset("scale").glm("prop ~ x0", { family: "binomial", weights: "trials" });
    const byCounts = await fed.dataset("scale").glm("cbind(successes, failures) ~ x0", { family: "binomial" });
    for (const term of ["(Intercept)", "x0"]) {
      expect(rel(coef(byCounts, term).estimate, coef(byWeights, term).estimate)).toBeLessThan(1e-12);
      expect(rel(coef(byCounts, term).std_error, coef(byWeights, term).std_error)).toBeLessThan(1e-12);
    }
    expect(rel(byCounts.deviance, byWeights.deviance)).toBeLessThan(1e-12);
    expect(rel(byCounts.aic, byWeights.aic)).toBeLessThan(1e-12);
    expect(byCounts.n).toBe(ROWS);
    // statsmodels: a binomial GLM of the proportion with the trials as variance weights
    const csv = join(work, "counts.csv");
    const all = STATIONS.flatMap((s) => readCsv(join(work, `scale-${s}.csv`)));
    writeFileSync(csv, ["prop,trials,x0", ...all.map((r) => `${r.prop},${r.trials},${r.x0}`)].join("\n") + "\n");
    const oracle = oracleFit({ csv, formula: "prop ~ x0", family: "binomial", weights: "trials" });
    expect(rel(coef(byCounts, "x0").estimate, oracle.params.x0)).toBeLessThan(1e-6);
    expect(rel(coef(byCounts, "x0").std_error, oracle.bse.x0)).toBeLessThan(1e-6);
    expect(rel(byCounts.deviance, oracle.deviance)).toBeLessThan(1e-6);
  });

  it("standardErrors: 'last-iteration' is reachable and differs from the default only by the IRLS lag", async () => {
    const atEstimates = await fed.dataset("scale").glm("b0 ~ x0", { family: "binomial" });
    const lastIteration = await fed.dataset("scale").glm("b0 ~ x0", { family: "binomial", standardErrors: "last-iteration" });
    const a = coef(atEstimates, "x0").std_error;
    const b = coef(lastIteration, "x0").std_error;
    expect(a).not.toBe(b);
    expect(rel(b, a)).toBeLessThan(1e-4);
    expect(lastIteration.provenance?.call.args[1]).toMatchObject({ standardErrors: "last-iteration" });
  });
});

function readCsv(file: string): Array<Record<string, string>> {
  const [header, ...lines] = readFileSync(file, "utf8").trim().split("\n");
  const names = header.split(",");
  return lines.map((l) => Object.fromEntries(l.split(",").map((v, i) => [names[i], v])));
}

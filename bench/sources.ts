/**
 * `npm run bench -- sources`: one GLM iteration's station-side time — the score, information and
 * deviance sums of a logistic model with 20 covariates over 1 000 000 rows — from a CSV file in
 * memory, from a Parquet file in memory, and inside PostgreSQL (the query the station sends),
 * next to NumPy computing the same score and information matrix on the same rows in the same run.
 *
 * Each source is timed as the station would use it: opening (load or schema read) once, then the
 * median of three iterations at fixed coefficients. NumPy's time is its arithmetic alone (the
 * array already in memory): the floor any station could reach. PostgreSQL runs with its defaults
 * (parallel workers allowed) on this machine's cores, as would NumPy's BLAS.
 */
import { execFile } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parquetWriteFile } from "hyparquet-writer";
import type { JobSpec } from "../common/job.js";
import { GLM_HEADER_LENGTH } from "../station-daemon/compute/glm.js";
import { openDatasetSource, type DatasetSource } from "../station-daemon/sources/index.js";
import { Rng } from "../synth/random.js";
import { TemporaryPostgres } from "./postgres-server.js";

const run = promisify(execFile);
const PYTHON = "/usr/bin/python3";
const ROWS = Number(process.env.WERKPLAATS_BENCH_ROWS ?? 1_000_000);
const COVARIATES = 20;
const ITERATIONS = 3;

const NUMPY_SCRIPT = `
import json, sys, time
import numpy as np
n, k = int(sys.argv[2]), int(sys.argv[3])
data = np.fromfile(sys.argv[1], dtype="<f8").reshape(n, k + 1)
y = data[:, 0].copy()
X = np.ones((n, k + 1)); X[:, 1:] = data[:, 1:]
beta = np.array(json.loads(sys.argv[4]))
times = []
for _ in range(${ITERATIONS}):
    t = time.perf_counter()
    eta = X @ beta
    mu = 1.0 / (1.0 + np.exp(-eta))
    w = mu * (1.0 - mu)
    score = X.T @ (y - mu)
    info = (X * w[:, None]).T @ X
    dev = -2.0 * np.sum(y * np.log(mu) + (1 - y) * np.log(1 - mu))
    times.append(time.perf_counter() - t)
iu = np.triu_indices(k + 1)
print(json.dumps({"seconds": sorted(times)[len(times) // 2], "score": score.tolist(), "information": info[iu].tolist(), "deviance": dev}))
`;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeSource(name: string, open: () => Promise<DatasetSource>, job: JobSpec): Promise<{ name: string; openSeconds: number; iterationSeconds: number; contribution: Float64Array }> {
  const t0 = performance.now();
  const source = await open();
  const openSeconds = (performance.now() - t0) / 1000;
  const times: number[] = [];
  let contribution = new Float64Array(0);
  try {
    // The in-memory kernels cache the design per fit: the first iteration builds it, later ones
    // reuse it, as in a real fit; both are reported through the median of three.
    for (let i = 0; i < ITERATIONS; i++) {
      const t = performance.now();
      contribution = (await source.compute(job)).contribution;
      times.push((performance.now() - t) / 1000);
    }
  } finally {
    await source.close();
  }
  process.stdout.write(`  ${name.padEnd(11)} open ${openSeconds.toFixed(2)} s, iteration ${median(times).toFixed(3)} s (runs: ${times.map((t) => t.toFixed(3)).join(", ")})\n`);
  return { name, openSeconds, iterationSeconds: median(times), contribution };
}

export async function benchSources(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "werkplaats-bench-sources-"));
  const names = Array.from({ length: COVARIATES }, (_, j) => `x${j + 1}`);
  const formula = `y ~ ${names.join(" + ")}`;
  const trueBeta = [-0.5, ...names.map((_, j) => ((j % 5) - 2) * 0.1)];
  const beta = trueBeta.map((b) => b * 0.9);
  const job: JobSpec = { dataset: "bench", computation: { kind: "glm", formula, family: "binomial", link: "logit", levels: {}, beta } };
  let server: TemporaryPostgres | undefined;
  try {
    process.stdout.write(`generating ${ROWS.toLocaleString("en")} rows x ${COVARIATES} covariates\n`);
    const rng = new Rng(20260, "bench-sources");
    const columns = names.map(() => new Float64Array(ROWS));
    const y = new Float64Array(ROWS);
    const raw = new Float64Array(ROWS * (COVARIATES + 1));
    for (let r = 0; r < ROWS; r++) {
      let eta = trueBeta[0];
      for (let j = 0; j < COVARIATES; j++) {
        // four decimals, so that CSV text, Parquet doubles, PostgreSQL and NumPy hold the same values
        const x = Math.round(rng.normal() * 1e4) / 1e4;
        columns[j][r] = x;
        eta += trueBeta[j + 1] * x;
      }
      y[r] = rng.uniform() < 1 / (1 + Math.exp(-eta)) ? 1 : 0;
      raw[r * (COVARIATES + 1)] = y[r];
      for (let j = 0; j < COVARIATES; j++) raw[r * (COVARIATES + 1) + 1 + j] = columns[j][r];
    }
    const csvFile = join(work, "bench.csv");
    await new Promise<void>((resolve, reject) => {
      const out = createWriteStream(csvFile);
      out.on("error", reject);
      out.write(["y", ...names].join(",") + "\n");
      let r = 0;
      const pump = (): void => {
        while (r < ROWS) {
          const parts: string[] = [];
          for (const end = Math.min(ROWS, r + 10_000); r < end; r++) {
            let line = y[r] === 1 ? "1" : "0";
            for (let j = 0; j < COVARIATES; j++) line += "," + columns[j][r];
            parts.push(line);
          }
          if (!out.write(parts.join("\n") + "\n")) return void out.once("drain", pump);
        }
        out.end(resolve);
      };
      pump();
    });
    const parquetFile = join(work, "bench.parquet");
    parquetWriteFile({
      filename: parquetFile,
      columnData: [{ name: "y", type: "INT32", data: Int32Array.from(y) }, ...names.map((name, j) => ({ name, type: "DOUBLE" as const, data: columns[j] }))],
      rowGroupSize: 100_000,
    });
    const rawFile = join(work, "bench.f64");
    writeFileSync(rawFile, Buffer.from(raw.buffer));

    process.stdout.write("NumPy\n");
    const numpy = JSON.parse((await run(PYTHON, ["-c", NUMPY_SCRIPT, rawFile, String(ROWS), String(COVARIATES), JSON.stringify(beta)], { maxBuffer: 1 << 26 })).stdout) as {
      seconds: number;
      score: number[];
      information: number[];
      deviance: number;
    };
    process.stdout.write(`  numpy       iteration ${numpy.seconds.toFixed(3)} s\n`);

    process.stdout.write("station sources\n");
    const results = [];
    results.push(await timeSource("csv", () => openDatasetSource({ name: "bench", file: csvFile, format: "csv" }, { dir: work }), job));
    results.push(await timeSource("parquet", () => openDatasetSource({ name: "bench", file: parquetFile, format: "parquet" }, { dir: work }), job));

    server = await TemporaryPostgres.start();
    const admin = await server.admin();
    await admin.query("CREATE ROLE bench_reader LOGIN PASSWORD 'bench-reader'");
    const t0 = performance.now();
    await server.loadCsv(admin, { table: "public.bench", file: csvFile });
    const loadSeconds = (performance.now() - t0) / 1000;
    await admin.query("GRANT SELECT ON public.bench TO bench_reader");
    await admin.end();
    process.env.WERKPLAATS_BENCH_PG_URL = server.url({ user: "bench_reader", password: "bench-reader", database: "postgres" });
    process.stdout.write(`  (PostgreSQL: table loaded with COPY in ${loadSeconds.toFixed(1)} s)\n`);
    results.push(await timeSource("postgresql", () => openDatasetSource({ name: "bench", source: "postgres", table: "public.bench", connection: { env: "WERKPLAATS_BENCH_PG_URL" } }, { dir: work }), job));

    // The three sources and NumPy must agree on what they computed, or the timings mean nothing.
    const p = COVARIATES + 1;
    const agreement = results.map((r) => {
      const score = r.contribution.subarray(GLM_HEADER_LENGTH, GLM_HEADER_LENGTH + p);
      const info = r.contribution.subarray(GLM_HEADER_LENGTH + p);
      let worst = 0;
      score.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - numpy.score[i]) / Math.max(1, Math.abs(numpy.score[i])))));
      info.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - numpy.information[i]) / Math.max(1, Math.abs(numpy.information[i])))));
      return { name: r.name, maxRelativeDifference: worst };
    });
    process.stdout.write("\n  source       iteration   x NumPy   open\n");
    for (const r of results) {
      process.stdout.write(`  ${r.name.padEnd(11)} ${r.iterationSeconds.toFixed(3).padStart(8)} s ${(r.iterationSeconds / numpy.seconds).toFixed(1).padStart(8)}x ${r.openSeconds.toFixed(1).padStart(6)} s\n`);
    }
    process.stdout.write(`  ${"numpy".padEnd(11)} ${numpy.seconds.toFixed(3).padStart(8)} s ${"1.0".padStart(8)}x\n`);
    process.stdout.write(
      JSON.stringify({
        bench: "sources",
        rows: ROWS,
        covariates: COVARIATES,
        numpySeconds: numpy.seconds,
        sources: results.map((r, i) => ({
          name: r.name,
          openSeconds: r.openSeconds,
          iterationSeconds: r.iterationSeconds,
          ratioToNumpy: r.iterationSeconds / numpy.seconds,
          maxRelativeDifferenceToNumpy: agreement[i].maxRelativeDifference,
        })),
      }) + "\n",
    );
  } finally {
    delete process.env.WERKPLAATS_BENCH_PG_URL;
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

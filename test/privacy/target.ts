/**
 * The attacks' target, as in issue 14: on the synthetic fall-risk data of three stations (gp,
 * homecare, hospital), one client aged 102 at the hospital, with 10 medicines, dementia and
 * income quintile 4 — the only person above 100 anywhere (older clients are made 100), so that
 * `age >= 90` selects hundreds of rows and `age == 102` exactly one.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Federation } from "../../sdk/index.js";
import { LocalFederation } from "../../sdk/local-federation.js";
import { writeScenario } from "../../synth/index.js";

export const STATIONS = ["gp", "homecare", "hospital"] as const;
export const TARGET = { age: 102, num_medications: 10, dementia: true, income_quintile: 4 } as const;

export interface PlantedData {
  files: string[];
  /** The target's row index (0-based, without the header) in the hospital's file. */
  targetRow: number;
}

export async function fallRiskWithTarget(dir: string): Promise<PlantedData> {
  const out = await writeScenario({ scenario: "fall-risk", stations: 3, rows: 4000, seed: 11, out: join(dir, "fall") });
  let targetRow = -1;
  out.files.forEach((file) => {
    const lines = readFileSync(file, "utf8").split("\n").filter((l) => l.length > 0);
    const header = lines[0].split(",");
    const col = (name: string) => header.indexOf(name);
    const rows = lines.slice(1).map((l) => l.split(","));
    for (const r of rows) if (Number(r[col("age")]) > 100) r[col("age")] = "100";
    if (file.endsWith("hospital.csv")) {
      targetRow = rows.findIndex((r) => Number(r[col("age")]) >= 90);
      const r = rows[targetRow];
      r[col("age")] = String(TARGET.age);
      r[col("num_medications")] = String(TARGET.num_medications);
      r[col("dementia")] = String(TARGET.dementia);
      r[col("income_quintile")] = String(TARGET.income_quintile);
    }
    writeFileSync(file, [header.join(","), ...rows.map((r) => r.join(","))].join("\n") + "\n");
  });
  return { files: out.files, targetRow };
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function refusal(p: Promise<unknown>): Promise<Error & { code?: string }> {
  const outcome = await p.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err: err as Error & { code?: string } }),
  );
  if (outcome.ok) throw new Error(`expected a refusal, got a result: ${String(outcome.value).slice(0, 400)}`);
  return outcome.err;
}

/**
 * The reasons a station gave for its refusals, from its audit log (DIR/audit.log, one JSON object
 * per line). The SDK reports the first station that refuses; the log shows that the station
 * holding the target refused too.
 */
export function refusalReasons(stationDir: string): string[] {
  const file = join(stationDir, "audit.log");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .flatMap((line) => {
      try {
        const record = JSON.parse(line) as { outcome?: string; reason?: string };
        return record.outcome === "refused" && typeof record.reason === "string" ? [record.reason] : [];
      } catch {
        return [];
      }
    });
}

/**
 * Three local stations over the planted data (the target at the hospital) and a connected SDK;
 * `stop` closes the client, stops the stations and removes the temporary folder.
 */
export async function startTargetFederation(prefix: string): Promise<{ local: LocalFederation; fed: Federation; stop: () => Promise<void> }> {
  const work = mkdtempSync(join(tmpdir(), prefix));
  let local: LocalFederation | undefined;
  let fed: Federation | undefined;
  const stop = async () => {
    fed?.close();
    await local?.stop();
    rmSync(work, { recursive: true, force: true });
  };
  try {
    const data = await fallRiskWithTarget(work);
    local = await LocalFederation.start({
      dir: join(work, "stations"),
      stations: STATIONS.map((name, i) => ({ name, datasets: { fall_risk: data.files[i] } })),
    });
    fed = await local.connect({ timeoutMs: 30_000 });
    return { local, fed, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

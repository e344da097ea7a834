import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Federation, StationError, StationUnreachable } from "../sdk/index.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { writeScenario } from "../synth/index.js";
import { isTrue, num, readRows, type PooledRow } from "./helpers/pooled.js";
import { freePort } from "./helpers/cli.js";

let work: string;
let local: LocalFederation;
let fed: Federation;
let pooled: PooledRow[];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-e2e-"));
  const data = await writeScenario({ scenario: "fall-risk", stations: 3, rows: 1500, seed: 7, out: join(work, "data") });
  pooled = readRows(data.files);
  local = await LocalFederation.start({
    dir: join(work, "stations"),
    stations: data.files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })),
  });
  fed = await local.connect({ timeoutMs: 10_000 });
});

afterAll(async () => {
  fed?.close();
  await local?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("three station processes over gRPC", () => {
  it("lists the dataset with its columns, types and released levels", async () => {
    const datasets = await fed.datasets();
    const ds = datasets.find((d) => d.name === "fall_risk")!;
    expect(ds.stations.sort()).toEqual(["gp", "homecare", "hospital"]);
    const sex = ds.columns.find((c) => c.name === "sex")!;
    expect(sex.type).toBe("categorical");
    expect(sex.levels).toEqual(["F", "M"]);
    expect(ds.columns.find((c) => c.name === "age")!.type).toBe("numeric");
    expect(ds.columns.find((c) => c.name === "diabetes")!.type).toBe("boolean");
  });

  it("counts by group equal the counts over the pooled rows", async () => {
    const result = await fed.dataset("fall_risk").where("age >= 65 and lives_alone and diabetes").count({ by: ["sex"] });
    for (const sex of ["F", "M"]) {
      const expected = pooled.filter((r) => num(r.age) >= 65 && isTrue(r.lives_alone) && isTrue(r.diabetes) && r.sex === sex).length;
      expect(result.get({ sex })).toBe(expected);
    }
    expect(result.total).toBeGreaterThan(0);
  });

  it("a mean by group equals the mean over the pooled rows", async () => {
    const result = await fed.dataset("fall_risk").where("age >= 75").mean("num_medications", { by: ["fell_12m"] });
    for (const fell of ["false", "true"]) {
      const values = pooled.filter((r) => num(r.age) >= 75 && r.fell_12m === fell).map((r) => num(r.num_medications)).filter((v) => !Number.isNaN(v));
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const cell = result.get({ fell_12m: fell })!;
      expect(cell.n).toBe(values.length);
      expect(Math.abs(cell.mean - mean) / mean).toBeLessThan(1e-9);
    }
  });

  it("refuses an unknown column at the station, naming it", async () => {
    const err = await fed.dataset("fall_risk").where("agee >= 65").count().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StationError);
    expect((err as StationError).code).toBe("UNKNOWN_COLUMN");
    expect((err as Error).message).toContain('"agee"');
  });

  it("a station that is not there gives an error naming it within the deadline", async () => {
    const port = await freePort();
    const stations = [...local.federation.stations, { name: "ghost", address: `127.0.0.1:${port}`, identityKey: "ab".repeat(32), tlsFingerprint: "cd".repeat(32) }];
    const started = Date.now();
    const err = await Federation.connect({ ...local.federation, stations }, { timeoutMs: 3000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StationUnreachable);
    expect((err as Error).message).toContain("ghost");
    expect(Date.now() - started).toBeLessThan(3500);
  });
});


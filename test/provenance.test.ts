/**
 * Provenance without stations: the dataset snapshot fingerprint (what it covers, what leaves it
 * unchanged), the comparison of two runs' provenance, and models keeping their provenance through
 * JSON, save and load.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROVENANCE_FORMAT, type Provenance } from "../common/provenance.js";
import { GlmModel } from "../sdk/index.js";
import { compareProvenance } from "../sdk/replay.js";
import { loadCsvText } from "../station-daemon/data/csv.js";
import { tableFingerprint as keyedFingerprint } from "../station-daemon/data/fingerprint.js";
import type { Column, Table } from "../station-daemon/data/table.js";

const CSV = "age,sex,diabetes,bmi\n70,F,true,24.5\n81,M,false,NA\n66,F,,31\n";

async function table(text: string): Promise<Table> {
  return loadCsvText({ text, dataset: "d" });
}

const all = (t: Table) => [...t.columns.values()];
const KEY = new Uint8Array(32).fill(7);
const tableFingerprint = (t: Table, columns: Column[], key: Uint8Array = KEY) => keyedFingerprint(t, columns, key);

describe("dataset snapshot fingerprint", () => {
  it("is the same for the same data loaded twice, and a 64-digit HMAC-SHA256", async () => {
    const [a, b] = [await table(CSV), await table(CSV)];
    expect(tableFingerprint(a, all(a))).toMatch(/^[0-9a-f]{64}$/);
    expect(tableFingerprint(a, all(a))).toBe(tableFingerprint(b, all(b)));
  });

  it("depends on the station's key: another station's fingerprint of the same data differs", async () => {
    const a = await table(CSV);
    expect(tableFingerprint(a, all(a), new Uint8Array(32).fill(8))).not.toBe(tableFingerprint(a, all(a)));
    expect(() => keyedFingerprint(a, all(a), new Uint8Array(0))).toThrow(/fingerprint key/);
  });

  it("changes when one value, a missing value, a row, a level or a column name changes", async () => {
    const base = await table(CSV);
    const fp = tableFingerprint(base, all(base));
    for (const changed of [
      CSV.replace("24.5", "24.6"),
      CSV.replace("81,M,false,NA", "81,M,false,30"),
      CSV.replace(",,31", ",false,31"),
      CSV + "90,M,true,22\n",
      CSV.replace(/\nF/g, "\nV").replace(",F,", ",V,"),
      CSV.replace("bmi", "bmi2"),
    ]) {
      const t = await table(changed);
      expect(tableFingerprint(t, all(t)), changed).not.toBe(fp);
    }
  });

  it("covers only the columns given (those released to the study)", async () => {
    const a = await table(CSV);
    const b = await table(CSV.replace("24.5", "99"));
    const released = (t: Table) => all(t).filter((c) => c.name !== "bmi");
    expect(tableFingerprint(a, released(a))).toBe(tableFingerprint(b, released(b)));
    expect(tableFingerprint(a, all(a))).not.toBe(tableFingerprint(b, all(b)));
  });
});

function provenance(stations: Provenance["stations"], sdk = { softwareVersion: "0.1.0", protocolVersion: "werkplaats.v1" }): Provenance {
  return {
    format: PROVENANCE_FORMAT,
    time: "2026-01-01T00:00:00.000Z",
    sdk,
    federation: { name: "f" },
    dataset: "d",
    call: { method: "count", args: [{}] },
    jobs: [],
    jobCount: 1,
    stations,
  };
}

const station = (name: string, fingerprint = `${name}-fp`, softwareVersion = "0.1.0") => ({ name, softwareVersion, protocolVersion: "werkplaats.v1", fingerprint });

describe("comparing two runs' provenance", () => {
  it("finds nothing between identical runs", () => {
    const p = provenance([station("a"), station("b"), station("c")]);
    expect(compareProvenance(p, structuredClone(p))).toEqual([]);
  });

  it("names a missing and an added station, a changed snapshot, and changed versions", () => {
    const before = provenance([station("a"), station("b"), station("c")]);
    const after = provenance([station("a", "a-new"), station("c", "c-fp", "0.2.0"), station("d")], { softwareVersion: "0.2.0", protocolVersion: "werkplaats.v1" });
    expect(compareProvenance(before, after)).toEqual([
      { kind: "software_version", station: null, original: "0.1.0", replayed: "0.2.0" },
      { kind: "station_missing", station: "b" },
      { kind: "station_added", station: "d" },
      { kind: "snapshot_changed", station: "a", dataset: "d", original: "a-fp", replayed: "a-new" },
      { kind: "software_version", station: "c", original: "0.1.0", replayed: "0.2.0" },
    ]);
  });

  it("does not call a snapshot changed when a station offers no fingerprint", () => {
    const before = provenance([{ name: "pg", softwareVersion: "0.1.0", protocolVersion: "werkplaats.v1" }]);
    expect(compareProvenance(before, provenance([station("pg")]))).toEqual([]);
  });
});

describe("a model's provenance", () => {
  const model = new GlmModel({
    formula: "y ~ x",
    family: "binomial",
    link: "logit",
    levels: {},
    names: ["(Intercept)", "x"],
    estimates: [0.5, -1],
    covariance: [0.04, 0, 0, 0.01],
    dispersion: 1,
    n: 100,
    weightSum: 100,
    dfResidual: 98,
    dfNull: 99,
    deviance: 120,
    nullDeviance: 130,
    pearsonChi2: 99,
    loglik: -60,
    aic: 124,
    bic: 129,
    iterations: 4,
    converged: true,
    warnings: [],
    provenance: provenance([station("a")]),
  });

  it("travels in toJSON, fromJSON, save and load", () => {
    const json = model.toJSON();
    expect(json.provenance).toEqual(model.provenance);
    expect(GlmModel.fromJSON(JSON.stringify(json)).provenance).toEqual(model.provenance);
    const dir = mkdtempSync(join(tmpdir(), "werkplaats-provenance-"));
    try {
      model.save(join(dir, "m.json"));
      expect(GlmModel.load(join(dir, "m.json")).provenance).toEqual(model.provenance);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a model saved before provenance loads without it", () => {
    const { provenance: _, ...old } = model.toJSON();
    expect(GlmModel.fromJSON(old).provenance).toBeUndefined();
  });
});

/**
 * Secure aggregation (v2) across real station processes: with every station the release is the
 * exact sum; a station killed after any phase ends the job with no result at all, naming it —
 * there is no partial sum over the survivors any more. The SDK retries a failed job as a new one
 * a bounded number of times, and a station that stays down is named.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TooFewStations } from "../common/errors.js";
import { IncompleteJob } from "../secagg/index.js";
import type { JobSpec } from "../common/job.js";
import { aggregate } from "../sdk/aggregation.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { loadResearcherKeys } from "../sdk/auth/researcher-keys.js";
import { StationClient } from "../sdk/station-client.js";
import { writeScenario } from "../synth/index.js";
import { num, readRows } from "./helpers/pooled.js";

let work: string;
let files: string[];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-secagg-e2e-"));
  files = (await writeScenario({ scenario: "fall-risk", stations: 5, rows: 400, seed: 11, out: join(work, "data") })).files;
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

const job: JobSpec = {
  dataset: "fall_risk",
  where: { kind: "compare", column: "age", op: ">=", value: { kind: "number", value: 70 } },
  computation: { kind: "count", by: [{ column: "sex", levels: ["F", "M"] }] },
};

function expectedCounts(stationNames: string[]): [number, number] {
  const rows = readRows(files.filter((f) => stationNames.includes(basename(f, ".csv"))));
  const older = rows.filter((r) => num(r.age) >= 70);
  return [older.filter((r) => r.sex === "F").length, older.filter((r) => r.sex === "M").length];
}

async function withStations<T>(run: (local: LocalFederation, clients: StationClient[]) => Promise<T>): Promise<T> {
  const local = await LocalFederation.start({
    dir: mkdtempSync(join(work, "fed-")),
    stations: files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })),
  });
  const clients: StationClient[] = [];
  try {
    const researcher = { secretKey: loadResearcherKeys(local.federation.key!).secretKey, study: local.federation.study! };
    clients.push(...(await Promise.all(local.federation.stations.map((s) => StationClient.create(s, researcher, 5_000)))));
    return await run(local, clients);
  } finally {
    clients.forEach((c) => c.close());
    await local.stop();
  }
}

describe("secure aggregation over real station processes", () => {
  it("releases the exact sum with all five stations", async () => {
    await withStations(async (_local, clients) => {
      const result = await aggregate({ job, stations: clients, vectorLength: 2, minStations: 3, timeoutMs: 10_000 });
      expect(result.stations.sort()).toEqual(clients.map((c) => c.name).sort());
      // A count is released with its margins (common/release-layout.ts): the cells, then the total.
      const expected = expectedCounts(result.stations);
      expect(Array.from(result.sum)).toEqual([...expected, expected.reduce((a, b) => a + b, 0)]);
      expect(Array.from(result.withheld)).toEqual([0, 0, 0]);
      expect(result.notes).toEqual([]);
    });
  });

  for (const phase of ["advertiseKeys", "shareKeys", "maskedInput"] as const) {
    it(`a station killed after ${phase} ends the job with no result, naming it, after the bounded retries`, async () => {
      await withStations(async (local, clients) => {
        const victim = clients[1].name;
        const reports: Array<{ phase: string; failed: number }> = [];
        const err = await aggregate({
          job,
          stations: clients,
          vectorLength: 2,
          minStations: 3,
          timeoutMs: 5_000,
          onPhase: (report) => {
            reports.push({ phase: report.phase, failed: report.failed.length });
            if (report.phase === phase) local.process(victim)!.kill("SIGKILL");
          },
        }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(IncompleteJob);
        const incomplete = err as IncompleteJob;
        expect(incomplete.stations).toEqual([victim]);
        expect(incomplete.message).toContain(victim);
        // First attempt plus two retries, each a new job; none got to a release.
        expect(incomplete.attempts).toBe(3);
        expect(reports.filter((r) => r.phase === "release" && r.failed === 0)).toEqual([]);
      });
    });
  }

  it("fails with a clear error and no result when several stations are gone, naming each", async () => {
    await withStations(async (local, clients) => {
      const victims = clients.slice(0, 3).map((c) => c.name);
      const err = await aggregate({
        job,
        stations: clients,
        vectorLength: 2,
        minStations: 3,
        timeoutMs: 5_000,
        retries: 0,
        onPhase: (report) => {
          if (report.phase === "shareKeys") victims.forEach((v) => local.process(v)!.kill("SIGKILL"));
        },
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TooFewStations);
      expect((err as IncompleteJob).stations.sort()).toEqual([...victims].sort());
      for (const v of victims) expect((err as Error).message).toContain(v);
    });
  });

  it("refuses a job over fewer than three stations", async () => {
    await withStations(async (_local, clients) => {
      const err = await aggregate({ job, stations: clients.slice(0, 2), vectorLength: 2, minStations: 3, timeoutMs: 5_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TooFewStations);
    });
  });
});

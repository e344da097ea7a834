/**
 * Faults during real jobs over real station processes: a station that stalls (SIGSTOP) in each
 * phase of secure aggregation, a station that restarts between the rounds of a model fit, and an
 * SDK that disappears in the middle of a job. In every case the answer is either right — over
 * every station of the job — or a clear error naming the station; never a silently wrong number,
 * never a sum over fewer stations (protocol v2 has no dropout recovery), and never a station
 * holding a job's secrets past its deadline.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataChanged, TooFewStations } from "../common/errors.js";
import type { JobSpec } from "../common/job.js";
import { packageRoot } from "../common/package-root.js";
import { aggregate } from "../sdk/aggregation.js";
import { loadResearcherKeys } from "../sdk/auth/researcher-keys.js";
import type { Federation } from "../sdk/federation.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { StationClient } from "../sdk/station-client.js";
import { IncompleteJob, type SecAggPhase } from "../secagg/index.js";
import { datasetPath, loadConfig } from "../station-daemon/config.js";
import { writeScenario } from "../synth/index.js";
import { num, readRows } from "./helpers/pooled.js";

/** Per-phase deadline: long enough for a healthy station on a busy CI machine, short enough to wait out. */
const PHASE_MS = 2_000;

let work: string;
let files: string[];
// One federation for the whole file (tests run in order and leave every station up again).
let local: LocalFederation;
let clients: StationClient[];
let names: string[];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-reliability-"));
  files = (await writeScenario({ scenario: "fall-risk", stations: 5, rows: 300, seed: 23, out: join(work, "data") })).files;
  local = await LocalFederation.start({
    dir: join(work, "stations"),
    stations: files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })),
  });
  const researcher = { secretKey: loadResearcherKeys(local.federation.key!).secretKey, study: local.federation.study! };
  clients = await Promise.all(local.federation.stations.map((s) => StationClient.create(s, researcher, PHASE_MS)));
  names = clients.map((c) => c.name);
});

afterAll(async () => {
  clients?.forEach((c) => c.close());
  await local?.stop();
  rmSync(work, { recursive: true, force: true });
});

const job: JobSpec = {
  dataset: "fall_risk",
  where: { kind: "compare", column: "age", op: ">=", value: { kind: "number", value: 70 } },
  computation: { kind: "count", by: [{ column: "sex", levels: ["F", "M"] }] },
};

function pooledCounts(stations: readonly string[]): number[] {
  const rows = readRows(files.filter((f) => stations.includes(basename(f, ".csv")))).filter((r) => num(r.age) >= 70);
  return [rows.filter((r) => r.sex === "F").length, rows.filter((r) => r.sex === "M").length];
}

// First, while no other job is in flight here: stalled stations of the later tests hold their
// jobs until those jobs' deadlines, which would show in "N jobs active".
describe("an SDK that disappears in the middle of a job", () => {
  it("leaves stations that wipe the job at its deadline, keep nothing of it on disk but audit lines, and serve the next job", async () => {
    const before = new Map(names.map((n) => [n, snapshot(join(local.dir, n))]));
    const auditBefore = new Map(names.map((n) => [n, readFileSync(join(local.dir, n, "audit.log"), "utf8")]));
    const jobId = `abandoned-${randomBytes(6).toString("hex")}`;
    const deadlineMs = Date.now() + 8_000;
    const coordinator = spawnCoordinator({ federationFile: local.federationFile, jobId, deadlineMs });
    await waitForLine(coordinator, /after maskedInput/, 20_000);
    coordinator.kill("SIGKILL");

    // Each station had the job in flight (keys, every peer's pad seed); at the deadline
    // it says it dropped it, and that no job is active any more.
    await waitFor(() => names.every((n) => local.log(n).includes(jobId)), deadlineMs - Date.now() + 8_000);
    for (const n of names) {
      const line = local.log(n).split("\n").find((l) => l.includes(jobId))!;
      expect(line).toMatch(/dropped 1 expired job \(abandoned-[0-9a-f]+\) that never finished: keys, pad seeds and contributions wiped; 0 jobs active/);
    }

    // On disk: only the audit log changed, by request lines of this job's three rounds (and
    // checkpoints). No file holds the job id, a key or a share.
    for (const n of names) {
      const after = snapshot(join(local.dir, n));
      const changed = [...new Set([...before.get(n)!.keys(), ...after.keys()])].filter((f) => before.get(n)!.get(f) !== after.get(f));
      // (seen-requests.log: digests of the nonces and job id, kept to refuse their reuse; audit.log.head:
      // at a checkpoint; the record of released row sets: row numbers only, governance/released-rows.ts)
      expect(changed.filter((f) => f !== "seen-requests.log" && f !== "audit.log.head" && !f.startsWith("released-rows"))).toEqual(["audit.log"]);
      const added = readFileSync(join(local.dir, n, "audit.log"), "utf8").slice(auditBefore.get(n)!.length).split("\n").filter(Boolean);
      const requests = added.map((l) => JSON.parse(l) as { method?: string; outcome?: string }).filter((l) => l.method !== undefined);
      expect(requests.map((l) => `${l.method} ${l.outcome}`)).toEqual(["StartJob allowed", "ShareKeys allowed", "MaskedInput allowed"]);
      for (const f of after.keys()) expect(readFileSync(join(local.dir, n, f)).includes(jobId), f).toBe(false);
    }

    const result = await aggregate({ job, stations: clients, vectorLength: 2, minStations: 3, timeoutMs: PHASE_MS });
    expect(Array.from(result.sum)).toEqual(withTotal(pooledCounts(names)));
  });
});

describe("a station that stalls (SIGSTOP) during a job", () => {
  // Stalled before the round named: its answer to that round never comes (until SIGCONT, after the
  // job). There is no result without it, whatever the round.
  const cases: Array<{ stalledIn: SecAggPhase; after?: SecAggPhase }> = [
    { stalledIn: "advertiseKeys" },
    { stalledIn: "shareKeys", after: "advertiseKeys" },
    { stalledIn: "maskedInput", after: "shareKeys" },
    { stalledIn: "release", after: "maskedInput" },
  ];

  for (const [i, c] of cases.entries()) {
    it(`ends without a result, naming the station, when one stalls in ${c.stalledIn}`, async () => {
      const victim = names[i % names.length];
      if (!c.after) local.kill(victim, "SIGSTOP");
      try {
        const err = await aggregate({
          job,
          stations: clients,
          vectorLength: 2,
          minStations: 3,
          timeoutMs: PHASE_MS,
          retries: 0,
          onPhase: (report) => {
            if (report.phase === c.after) local.kill(victim, "SIGSTOP");
          },
        }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(IncompleteJob);
        expect((err as IncompleteJob).failures.map((f) => `${f.station} ${f.phase} ${f.kind}`)).toEqual([`${victim} ${c.stalledIn} transport`]);
        expect((err as Error).message).toContain(victim);
      } finally {
        local.kill(victim, "SIGCONT");
      }
    });
  }

  it("retries the whole job as a new one, and succeeds over every station once the stalled one resumes", async () => {
    const victim = names[1];
    const jobIds: string[] = [];
    let failures = 0;
    try {
      const result = await aggregate({
        job,
        stations: clients,
        vectorLength: 2,
        minStations: 3,
        timeoutMs: PHASE_MS,
        onPhase: (report) => {
          if (report.phase === "shareKeys" && failures === 0) local.kill(victim, "SIGSTOP");
          if (report.failed.length > 0) {
            failures++;
            local.kill(victim, "SIGCONT");
          }
        },
      });
      jobIds.push(result.jobId);
      expect(failures).toBe(1);
      expect(result.stations.sort()).toEqual([...names].sort());
      expect(Array.from(result.sum)).toEqual(withTotal(pooledCounts(names)));
    } finally {
      local.kill(victim, "SIGCONT");
    }
  });

  it("serves the next job with every station once the stalled one resumes", async () => {
    const result = await aggregate({ job, stations: clients, vectorLength: 2, minStations: 3, timeoutMs: PHASE_MS });
    expect(result.stations.sort()).toEqual([...names].sort());
    expect(Array.from(result.sum)).toEqual(withTotal(pooledCounts(names)));
  });

  it("fails with TooFewStations after the bounded retries, naming every stalled station", async () => {
    const victims = names.slice(0, 3);
    let attempts = 0;
    try {
      const err = await aggregate({
        job,
        stations: clients,
        vectorLength: 2,
        minStations: 3,
        timeoutMs: PHASE_MS,
        onPhase: (report) => {
          if (report.phase === "advertiseKeys") attempts++;
          if (report.phase === "shareKeys" && attempts === 1) victims.forEach((v) => local.kill(v, "SIGSTOP"));
        },
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TooFewStations);
      expect((err as IncompleteJob).attempts).toBe(3);
      for (const v of victims) expect((err as Error).message).toContain(v);
    } finally {
      victims.forEach((v) => local.kill(v, "SIGCONT"));
    }
  });
});

describe("a station restarted between the rounds of a model fit", () => {
  let fed: Federation;
  const formula = "fell_12m ~ age + sex + num_medications";

  beforeAll(async () => {
    fed = await local.connect({ timeoutMs: PHASE_MS });
  });

  afterAll(() => fed?.close());

  it("continues to the same model when the station is back, with the same data, before the next round", async () => {
    const reference = await fed.dataset("fall_risk").glm(formula, { family: "binomial" });
    expect(reference.iterations).toBeGreaterThan(2);
    const victim = names[2];
    // The restart completes between two rounds: hold the fit's next job until the station listens again.
    let restarting: Promise<void> | undefined;
    const run = fed.run.bind(fed);
    fed.run = async (...args: Parameters<Federation["run"]>) => {
      await restarting;
      return run(...args);
    };
    const seen: string[][] = [];
    const pid = local.process(victim)!.pid;
    try {
      const model = await fed.dataset("fall_risk").glm(formula, {
        family: "binomial",
        onIteration: (info) => {
          seen.push(info.stations);
          if (info.iteration === 1) restarting = local.restart(victim, { crash: true });
        },
      });
      expect(local.process(victim)!.pid).not.toBe(pid);
      expect(seen.every((s) => s.length === 5)).toBe(true);
      expect(model.iterations).toBe(reference.iterations);
      // Same rows every round, and sums in fixed point are exact: the same numbers, not merely close.
      expect(model.estimates).toEqual(reference.estimates);
      expect(model.covariance).toEqual(reference.covariance);
      expect(model.deviance).toBeCloseTo(reference.deviance, 9);
    } finally {
      fed.run = run;
    }
  });

  it("stops with a clear error, and no model, when the station is not back for the next round", async () => {
    const victim = names[3];
    const err = await fed
      .dataset("fall_risk")
      .glm(formula, {
        family: "binomial",
        onIteration: (info) => {
          if (info.iteration === 1) local.kill(victim, "SIGKILL");
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(victim);
    // No round of the fit runs over fewer stations: the job fails (after its retries) and names it.
    expect(err).toBeInstanceOf(IncompleteJob);
    expect((err as IncompleteJob).stations).toEqual([victim]);
    await local.restart(victim);
  });

  it("stops with DATA_CHANGED, and no model, when the station comes back with other rows", async () => {
    const victim = names[1];
    const dir = join(local.dir, victim);
    const file = datasetPath(dir, loadConfig(dir).datasets[0] as Parameters<typeof datasetPath>[1]);
    const original = readFileSync(file, "utf8");
    let restarting: Promise<void> | undefined;
    const run = fed.run.bind(fed);
    fed.run = async (...args: Parameters<Federation["run"]>) => {
      await restarting;
      return run(...args);
    };
    try {
      const err = await fed
        .dataset("fall_risk")
        .glm(formula, {
          family: "binomial",
          onIteration: (info) => {
            if (info.iteration !== 1) return;
            // The same station, address and keys, but 20 clients fewer: a new snapshot.
            writeFileSync(file, original.trimEnd().split("\n").slice(0, -20).join("\n") + "\n");
            restarting = local.restart(victim, { crash: true });
          },
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(DataChanged);
      expect((err as DataChanged).station).toBe(victim);
      expect((err as Error).message).toMatch(/changed between job \d+ and job \d+/);
    } finally {
      fed.run = run;
      writeFileSync(file, original);
      await local.restart(victim);
    }
  });
});

/** Every file under a station folder with its size and mtime. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        const s = statSync(path);
        out.set(relative(dir, path), `${s.size} ${s.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out;
}

/**
 * A coordinator in a process of its own, built from the compiled SDK: it runs one job up to
 * MaskedInput, says so, and then hangs (its event loop blocked) until it is killed.
 */
function spawnCoordinator(options: { federationFile: string; jobId: string; deadlineMs: number }): ChildProcess {
  const dist = join(packageRoot(), "dist");
  const script = `
    import { readFileSync } from "node:fs";
    const dist = ${JSON.stringify(dist)};
    const { StationClient } = await import(dist + "/sdk/station-client.js");
    const { loadResearcherKeys } = await import(dist + "/sdk/auth/researcher-keys.js");
    const { runSecureAggregation } = await import(dist + "/secagg/index.js");
    const { jobDigest } = await import(dist + "/common/job-digest.js");
    const { jobToWire } = await import(dist + "/common/wire.js");
    const fed = JSON.parse(readFileSync(process.env.FEDERATION, "utf8"));
    const researcher = { secretKey: loadResearcherKeys(fed.key).secretKey, study: fed.study };
    const clients = await Promise.all(fed.stations.map((s) => StationClient.create(s, researcher, 5000)));
    const job = ${JSON.stringify(job)};
    const wire = jobToWire(job);
    await runSecureAggregation({
      jobId: process.env.JOB_ID,
      context: jobDigest(job),
      vectorLength: 2,
      phaseTimeoutMs: 5000,
      deadlineMs: Number(process.env.DEADLINE_MS),
      roster: fed.stations.map((s) => ({ name: s.name, identityKey: Buffer.from(s.identityKey, "hex") })),
      stations: clients.map((c) => ({
        name: c.name,
        advertiseKeys: (req) => c.call("StartJob", { job: wire, secagg: req }, 5000).then((r) => r.secagg),
        shareKeys: (req) => c.call("ShareKeys", req, 5000),
        maskedInput: (req) => c.call("MaskedInput", req, 5000),
        release: (req) => c.call("Release", req, 5000),
      })),
      onPhase: (report) => {
        if (report.phase !== "maskedInput") return;
        process.stdout.write("after maskedInput\\n");
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      },
    });
  `;
  return spawn(process.execPath, ["--input-type=module", "-e", script], {
    env: { ...process.env, FEDERATION: options.federationFile, JOB_ID: options.jobId, DEADLINE_MS: String(options.deadlineMs) },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      if (pattern.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`coordinator exited with ${code} before ${pattern}: ${err}`));
    });
  });
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A count is released with its margins (common/release-layout.ts): the cells, then the total. */
function withTotal(cells: number[]): number[] {
  return [...cells, cells.reduce((a, b) => a + b, 0)];
}

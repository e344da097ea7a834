/**
 * Attack family 8 of the privacy issue, as an attacker would try it against real station
 * processes (station-daemon/governance/README.md, "Threat model"):
 *
 * - a signed request captured on the network (or in a proxy) is sent again after the station
 *   restarts, inside the signing window — cleanly restarted and crashed;
 * - a job id the station has started is used again after a restart, freshly signed;
 * - `station score` must leave an audit line, and its row-level output must be readable by the
 *   station's operator only;
 * - the dataset fingerprint must not confirm a guess: with the rest of a station's table known,
 *   trying every value of one cell against the fingerprint must not single out the true one.
 *
 * Each test also shows that the attack's procedure would have worked without the defence (a fresh
 * request is accepted, the steward's key does find the value), so none of them can pass vacuously.
 */
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromHex } from "../../common/hex.js";
import type { JobSpec } from "../../common/job.js";
import { jobDigest } from "../../common/job-digest.js";
import { ERROR_CODE_METADATA_KEY, stationServiceDefinition } from "../../common/protos.js";
import { jobToWire } from "../../common/wire.js";
import { pinnedChannelCredentials } from "../../sdk/auth/pinned-tls.js";
import { type RequestAuth, requestAuthToMetadata, signRequest } from "../../sdk/auth/sign-request.js";
import { Federation } from "../../sdk/federation.js";
import { LOCAL_STUDY, LocalFederation } from "../../sdk/local-federation.js";
import { loadIdentity } from "../../station-daemon/config.js";
import { loadCsvText } from "../../station-daemon/data/csv.js";
import { FINGERPRINT_KEY_FILE, fingerprintKey, localFingerprintKey, tableFingerprint } from "../../station-daemon/data/fingerprint.js";
import type { Column, Table } from "../../station-daemon/data/table.js";
import { SEEN_STATE_FILE, SeenStore } from "../../station-daemon/governance/request-auth.js";
import { writeScenario } from "../../synth/index.js";
import { spawn } from "node:child_process";
import { cliEntryPoint } from "../../common/package-root.js";
import { runCli as cli } from "../helpers/cli.js";

/** Like runCli, without its 45 s limit: a `--local` fit starts three station processes, twice. */
function runLong(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliEntryPoint(), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

let work: string;
let files: string[];
let names: string[];
let local: LocalFederation;
let researcherKey: Uint8Array;
const service = stationServiceDefinition();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-privacy-state-"));
  files = (await writeScenario({ scenario: "fall-risk", stations: 3, rows: 900, seed: 8, out: join(work, "data") })).files;
  names = files.map((f) => basename(f, ".csv"));
  local = await LocalFederation.start({ dir: join(work, "stations"), stations: files.map((f, i) => ({ name: names[i], datasets: { fall_risk: f } })) });
  researcherKey = fromHex(readFileSync(local.federation.key!, "utf8").trim(), "researcher key", 32);
});

afterAll(async () => {
  await local?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

type Answer = { code: grpc.status; details: string; werkplaatsCode?: string };

/** Sends `request` to one station's `rpc` with exactly the given signature metadata (a captured request). */
function send(station: number, rpc: "GetInfo" | "StartJob", request: unknown, auth: RequestAuth): Promise<Answer> {
  const entry = local.federation.stations[station] as (typeof local.federation.stations)[number] & { certificate: string };
  const client = new grpc.Client(entry.address, pinnedChannelCredentials({ certificate: entry.certificate, fingerprint: entry.tlsFingerprint }), {
    "grpc.ssl_target_name_override": "localhost",
  });
  const definition = service[rpc];
  const metadata = new grpc.Metadata();
  requestAuthToMetadata(auth, metadata);
  return new Promise((resolve) => {
    client.makeUnaryRequest(definition.path, (b: Buffer) => b, (b: Buffer) => b, definition.requestSerialize(request), metadata, { deadline: Date.now() + 20_000 }, (err) => {
      client.close();
      if (!err) return resolve({ code: grpc.status.OK, details: "" });
      const code = err.metadata?.get(ERROR_CODE_METADATA_KEY)?.[0];
      resolve({ code: err.code, details: err.details, werkplaatsCode: typeof code === "string" ? code : undefined });
    });
  });
}

/** A researcher's signature over `request` for one station, as the SDK makes it. */
function sign(station: number, rpc: "GetInfo" | "StartJob", request: unknown): RequestAuth {
  const definition = service[rpc];
  return signRequest({ secretKey: researcherKey, station: local.federation.stations[station].identityKey, method: definition.path, body: definition.requestSerialize(request), study: LOCAL_STUDY });
}

const countJob: JobSpec = { dataset: "fall_risk", computation: { kind: "count", by: [{ column: "sex", levels: ["F", "M"] }] } };
function startJobRequest(jobId: string): unknown {
  return { job: jobToWire(countJob), secagg: { jobId, context: jobDigest(countJob), stations: [...names].sort(), threshold: 2, deadlineMs: Date.now() + 120_000 } };
}

describe("replay of a signed request across a restart", () => {
  it("a captured request replayed after a clean restart, and after a crash, is refused; a fresh one is answered", async () => {
    const captured = sign(0, "GetInfo", {});
    expect((await send(0, "GetInfo", {}, captured)).code).toBe(grpc.status.OK);
    // the baseline: replayed while the station runs
    expect((await send(0, "GetInfo", {}, captured)).details).toMatch(/nonce was used before/);

    await local.restart(names[0]);
    const afterRestart = await send(0, "GetInfo", {}, captured);
    expect(afterRestart.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(afterRestart.details).toMatch(/nonce was used before: a replayed request is refused/);
    expect((await send(0, "GetInfo", {}, sign(0, "GetInfo", {}))).code).toBe(grpc.status.OK);

    const captured2 = sign(0, "GetInfo", {});
    expect((await send(0, "GetInfo", {}, captured2)).code).toBe(grpc.status.OK);
    await local.restart(names[0], { crash: true });
    const afterCrash = await send(0, "GetInfo", {}, captured2);
    expect(afterCrash.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(afterCrash.details).toMatch(/nonce was used before|signed before this station restarted after an unclean stop/);
    expect((await send(0, "GetInfo", {}, sign(0, "GetInfo", {}))).code).toBe(grpc.status.OK);

    // what the station keeps for this: its own file, readable by the station only
    const file = join(local.dir, names[0], SEEN_STATE_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const kept = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { k: string; id: string });
    expect(kept.some((e) => e.k === "nonce" && e.id === createHash("sha256").update(`nonce\u0000${captured2.researcherKey}/${captured2.nonce}`).digest("hex"))).toBe(true);
  }, 300_000);

  it("a job id the station started before a restart is refused after it, even freshly signed", async () => {
    const jobId = "privacy-replayed-job-1";
    const first = await send(1, "StartJob", startJobRequest(jobId), sign(1, "StartJob", startJobRequest(jobId)));
    expect(first.code, first.details).toBe(grpc.status.OK);
    await local.restart(names[1]);
    const again = startJobRequest(jobId);
    const replayed = await send(1, "StartJob", again, sign(1, "StartJob", again));
    expect(replayed.code).not.toBe(grpc.status.OK);
    expect(replayed.details).toMatch(/job id privacy-replayed-job-1 was used before at this station/);
    // the same request with a new id is accepted: the refusal is the id's
    const fresh = startJobRequest("privacy-fresh-job-2");
    const ok = await send(1, "StartJob", fresh, sign(1, "StartJob", fresh));
    expect(ok.code, ok.details).toBe(grpc.status.OK);
  }, 300_000);

  it("keeps only entries still inside their window (bounded), and rewrites its file mode 0600", () => {
    const dir = mkdtempSync(join(tmpdir(), "werkplaats-seen-"));
    try {
      const now = 1_800_000_000_000;
      const file = join(dir, SEEN_STATE_FILE);
      const first = SeenStore.open(dir, now - 10_000);
      first.add("nonce", "a/old", now - 1);
      first.add("nonce", "a/live", now + 1000);
      first.add("job", "old-job", now - 5);
      first.add("job", "live-job", now + 5);
      first.close();
      expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(4);
      const store = SeenStore.open(dir, now);
      store.close();
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(2);
      expect(readFileSync(file, "utf8")).not.toMatch(/live-job|a\/live/); // ids are kept as digests
      expect(store.has("job", "live-job", now)).toBe(true);
      expect(store.has("job", "old-job", now)).toBe(false);
      expect(store.has("nonce", "a/live", now)).toBe(true);
      expect(store.has("nonce", "a/old", now)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("station score", () => {
  it("writes an audit line (who, model, dataset, rows, output) and its output with mode 0600; refuses while the station runs", async () => {
    const fed = await Federation.connect(local.federation);
    let modelFile: string;
    try {
      const model = await fed.dataset("fall_risk").glm("fell_12m ~ age + sex", { family: "binomial" });
      modelFile = join(work, "model.json");
      model.save(modelFile);
    } finally {
      fed.close();
    }
    const dir = join(local.dir, names[2]);
    const out = join(work, "scores.csv");
    const busy = await cli(["station", "score", dir, "--model", modelFile, "--out", out]);
    expect(busy.code).toBe(3);
    expect(busy.stderr).toMatch(/is running and holds its audit log .*stop the station first/);

    local.kill(names[2], "SIGTERM");
    await new Promise<void>((done) => {
      const child = local.process(names[2])!;
      if (child.exitCode !== null || child.signalCode !== null) done();
      else child.once("exit", () => done());
    });
    let run: Awaited<ReturnType<typeof cli>>;
    try {
      run = await cli(["station", "score", dir, "--model", modelFile, "--out", out]);
    } finally {
      // the later tests need every station
      await local.restart(names[2]);
    }
    expect(run.code, run.stderr).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const lines = readFileSync(join(dir, "audit.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const scored = lines.find((l) => l.method === "LocalScore");
    const rows = readFileSync(files[2], "utf8").trim().split("\n").length - 1;
    expect(scored).toMatchObject({
      type: "request",
      method: "LocalScore",
      dataset: "fall_risk",
      outcome: "allowed",
      local: { user: expect.any(String), model: expect.stringContaining("fell_12m ~ age + sex"), rows, scored: expect.any(Number), output: out },
    });
    const verify = await cli(["station", "audit", dir, "--verify"]);
    expect(verify.code, verify.stdout).toBe(0);
  }, 300_000);
});

// ---- the fingerprint guess attack ----

/** The unkeyed fingerprint of before (SHA-256 of the same encoding): what an attacker would try first. */
function unkeyedFingerprint(table: Table, columns: readonly Column[]): string {
  const hash = createHash("sha256");
  const text = (s: string) => {
    const b = Buffer.from(s, "utf8");
    const n = Buffer.alloc(4);
    n.writeUInt32LE(b.length);
    hash.update(n);
    hash.update(b);
  };
  const u32 = (x: number) => {
    const n = Buffer.alloc(4);
    n.writeUInt32LE(x);
    return n;
  };
  text("werkplaats.dataset-fingerprint.v1");
  hash.update(u32(table.rowCount));
  hash.update(u32(columns.length));
  for (const c of columns) {
    text(c.name);
    text(c.kind);
    if (c.kind === "categorical") {
      hash.update(u32(c.levels.length));
      for (const l of c.levels) text(l);
      hash.update(Buffer.from(new Int32Array(c.codes.subarray(0, table.rowCount)).buffer));
    } else {
      hash.update(Buffer.from(Float64Array.from(c.values.subarray(0, table.rowCount), (v) => (Number.isNaN(v) ? NaN : v === 0 ? 0 : v)).buffer));
    }
  }
  return hash.digest("hex");
}

describe("dataset fingerprint", () => {
  it("does not confirm a guess about one value when the rest of the table is known", async () => {
    // A real station keys its fingerprints from its identity: no fingerprint.key (that is for local stations).
    const station = 0;
    const dir = join(local.dir, names[station]);
    unlinkSync(join(dir, FINGERPRINT_KEY_FILE));
    await local.restart(names[station]);
    const fingerprintOf = async () => {
      const fed = await Federation.connect(local.federation);
      try {
        const count = await fed.dataset("fall_risk").count({ by: ["sex"] });
        return count.provenance!.stations.find((s) => s.name === names[station])!.fingerprint!;
      } finally {
        fed.close();
      }
    };
    const published = await fingerprintOf();
    expect(published).toMatch(/^[0-9a-f]{64}$/);

    // The attacker knows every row but one cell: the number of medicines of the oldest client.
    const csv = readFileSync(files[station], "utf8");
    const [header, ...rows] = csv.trimEnd().split("\n");
    const columns = header.split(",");
    const ageAt = columns.indexOf("age");
    const medsAt = columns.indexOf("num_medications");
    const target = rows.reduce((best, r, i) => (Number(r.split(",")[ageAt]) > Number(rows[best].split(",")[ageAt]) ? i : best), 0);
    const truth = Number(rows[target].split(",")[medsAt]);
    const candidates = Array.from({ length: 31 }, (_, v) => v);
    expect(candidates).toContain(truth);
    const variant = (v: number) => {
      const cells = rows[target].split(",");
      cells[medsAt] = String(v);
      return [header, ...rows.slice(0, target), cells.join(","), ...rows.slice(target + 1)].join("\n") + "\n";
    };
    const publicKey = fromHex(local.federation.stations[station].identityKey, "identity key", 32);
    const guessable: Array<{ name: string; fingerprint: (t: Table, text: string) => string }> = [
      { name: "unkeyed SHA-256", fingerprint: (t) => unkeyedFingerprint(t, [...t.columns.values()]) },
      { name: "HMAC under the station's public key", fingerprint: (t) => tableFingerprint(t, [...t.columns.values()], publicKey) },
      { name: "HMAC under a zero key", fingerprint: (t) => tableFingerprint(t, [...t.columns.values()], new Uint8Array(32)) },
      { name: "HMAC under the local-station key of the guessed file", fingerprint: (t, text) => {
        const file = join(work, "guess.csv");
        writeFileSync(file, text);
        return tableFingerprint(t, [...t.columns.values()], localFingerprintKey(names[station], { fall_risk: file }));
      } },
      { name: "SHA-256 of the file", fingerprint: (_t, text) => createHash("sha256").update(text).digest("hex") },
      { name: "HMAC of the file under the public key", fingerprint: (_t, text) => createHmac("sha256", publicKey).update(text).digest("hex") },
    ];
    const steward = fingerprintKey(dir, loadIdentity(dir).secretKey);
    const confirmedBySteward: number[] = [];
    for (const v of candidates) {
      const text = variant(v);
      const table = await loadCsvText({ text, dataset: "fall_risk" });
      for (const g of guessable) expect(g.fingerprint(table, text), `${g.name}, guess ${v}`).not.toBe(published);
      // the control: with the station's secret, the same search finds the value — so the attack
      // above searched the right space, and only the key stops it
      if (tableFingerprint(table, [...table.columns.values()], steward) === published) confirmedBySteward.push(v);
    }
    expect(confirmedBySteward).toEqual([truth]);

    // and the fingerprint still does its job: the same station, restarted on the same data, says the same
    await local.restart(names[station]);
    expect(await fingerprintOf()).toBe(published);
  }, 300_000);

  it("a `glm --local` result replays identical on unchanged files (local stations key their fingerprints from the files)", async () => {
    const out = join(work, "local-model.json");
    const fit = await runLong(["glm", "fell_12m ~ age + sex", "--family", "binomial", "--local", ...files, "--dataset", "fall_risk", "--out", out]);
    expect(fit.code, fit.stderr).toBe(0);
    const fingerprints = (JSON.parse(readFileSync(out, "utf8")) as { provenance: { stations: Array<{ fingerprint?: string }> } }).provenance.stations.map((s) => s.fingerprint);
    expect(fingerprints.every((f) => typeof f === "string" && /^[0-9a-f]{64}$/.test(f))).toBe(true);
    const replay = await runLong(["replay", out]);
    expect(replay.code, replay.stdout + replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/identical/);
  }, 400_000);
});

/**
 * `npm run bench -- secagg` (and `-- scale`): one aggregation round over real gRPC on loopback,
 * secure (the full five-round protocol) against plain summation over the same transport, on
 * the same input vectors, measured in the same run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { fromHex, toHex } from "../common/hex.js";
import { MAX_MESSAGE_BYTES } from "../common/protos.js";
import { type SecAggStation, runSecureAggregation } from "../secagg/index.js";
import { benchService, benchVector } from "./bench-proto.js";

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: unknown) => void) => void;

interface BenchFederation {
  names: string[];
  clients: grpc.Client[];
  roster: Array<{ name: string; identityKey: string }>;
  stop(): Promise<void>;
}

async function startStations(n: number): Promise<BenchFederation> {
  const dir = mkdtempSync(join(tmpdir(), "werkplaats-bench-"));
  const names = Array.from({ length: n }, (_, i) => `s${String(i + 1).padStart(2, "0")}`);
  const keys = names.map(() => ed25519.utils.randomSecretKey());
  const roster = names.map((name, i) => ({ name, identityKey: toHex(ed25519.getPublicKey(keys[i])) }));
  writeFileSync(join(dir, "roster.json"), JSON.stringify(roster));
  names.forEach((name, i) => writeFileSync(join(dir, `${name}.key`), toHex(keys[i]), { mode: 0o600 }));
  const script = fileURLToPath(new URL("./bench-station.js", import.meta.url));
  const children: ChildProcess[] = [];
  const addresses = await Promise.all(
    names.map(
      (name) =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, [script, name, join(dir, `${name}.key`), join(dir, "roster.json"), String(process.pid)], { stdio: ["ignore", "pipe", "inherit"] });
          children.push(child);
          let out = "";
          child.stdout!.on("data", (c: Buffer) => {
            out += c.toString();
            const m = /listening on (\S+)/.exec(out);
            if (m) resolve(m[1]);
          });
          child.once("exit", (code) => reject(new Error(`bench station ${name} exited with ${code}`)));
        }),
    ),
  );
  const Client = benchService();
  const clients = addresses.map(
    (a) => new Client(a, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": MAX_MESSAGE_BYTES, "grpc.max_send_message_length": MAX_MESSAGE_BYTES }),
  );
  return {
    names,
    clients,
    roster,
    async stop() {
      clients.forEach((c) => c.close());
      await Promise.all(children.map((c) => new Promise<void>((r) => (c.exitCode !== null ? r() : (c.once("exit", () => r()), c.kill("SIGTERM"))))));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function call(client: grpc.Client, method: string, req: unknown): Promise<unknown> {
  return new Promise((resolve, reject) =>
    ((client as unknown as Record<string, Unary>)[method]).call(client, req, new grpc.Metadata(), { deadline: Date.now() + 120_000 }, (e, r) =>
      e ? reject(e) : resolve(r),
    ),
  );
}

async function plainRound(fed: BenchFederation, d: number): Promise<{ ms: number; sum: Float64Array; bytes: number }> {
  const started = performance.now();
  const answers = (await Promise.all(fed.clients.map((c, i) => call(c, "Plain", { length: d, seed: i + 1 })))) as Array<{ values: number[] }>;
  const sum = new Float64Array(d);
  for (const a of answers) for (let k = 0; k < d; k++) sum[k] += a.values[k];
  // What the wire carried: packed doubles from every station (the requests are a few bytes).
  return { ms: performance.now() - started, sum, bytes: fed.clients.length * d * 8 };
}

async function secureRound(fed: BenchFederation, d: number) {
  const stations: SecAggStation[] = fed.clients.map((c, i) => ({
    name: fed.names[i],
    advertiseKeys: (req) => call(c, "StartJob", { vector: { length: d, seed: i + 1 }, secagg: req }) as never,
    shareKeys: (req) => call(c, "ShareKeys", req) as never,
    maskedInput: (req) => call(c, "MaskedInput", req) as never,
    release: (req) => call(c, "Release", req) as never,
  }));
  const started = performance.now();
  const result = await runSecureAggregation({
    context: new Uint8Array(32),
    stations,
    vectorLength: d,
    phaseTimeoutMs: 120_000,
    roster: fed.roster.map((r) => ({ name: r.name, identityKey: fromHex(r.identityKey, "key", 32) })),
  });
  return { ms: performance.now() - started, result };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function benchSecagg(options: { stations: number[]; lengths: number[]; name: string }): Promise<void> {
  const rows: Array<Record<string, number>> = [];
  const line = (cells: Array<string | number>) => process.stdout.write(cells.map((c) => String(c).padStart(11)).join("") + "\n");
  process.stdout.write(`${options.name}: one aggregation round over gRPC on loopback, secure vs plain (median of repeats)\n`);
  line(["n", "d", "plain_ms", "secure_ms", "ratio", "adv_ms", "share_ms", "masked_ms", "release_ms", "plain_MB", "secure_MB"]);
  for (const n of options.stations) {
    const fed = await startStations(n);
    try {
      for (const d of options.lengths) {
        const repeats = d >= 100_000 ? 3 : 5;
        await plainRound(fed, d);
        await secureRound(fed, d); // warm-up: JIT and connections
        const plain: number[] = [];
        const secure: number[] = [];
        let last: Awaited<ReturnType<typeof secureRound>> | undefined;
        let plainSum = new Float64Array(0);
        let plainBytes = 0;
        for (let r = 0; r < repeats; r++) {
          const p = await plainRound(fed, d);
          plain.push(p.ms);
          plainSum = p.sum;
          plainBytes = p.bytes;
          last = await secureRound(fed, d);
          secure.push(last.ms);
        }
        let maxErr = 0;
        for (let k = 0; k < d; k++) maxErr = Math.max(maxErr, Math.abs(last!.result.release.values[k] - plainSum[k]));
        if (maxErr > 1e-6) throw new Error(`secure and plain sums differ by ${maxErr} (n=${n}, d=${d})`);
        const ph = last!.result.phaseMs;
        const row = {
          n,
          d,
          plain_ms: median(plain),
          secure_ms: median(secure),
          ratio: median(secure) / median(plain),
          bytes_plain: plainBytes,
          bytes_secure: last!.result.bytesSent + last!.result.bytesReceived,
          max_abs_diff: maxErr,
        };
        rows.push(row);
        line([n, d, row.plain_ms.toFixed(1), row.secure_ms.toFixed(1), row.ratio.toFixed(2), ph.advertiseKeys.toFixed(1), ph.shareKeys.toFixed(1), ph.maskedInput.toFixed(1), ph.release.toFixed(1), (plainBytes / 1e6).toFixed(2), (row.bytes_secure / 1e6).toFixed(2)]);
      }
    } finally {
      await fed.stop();
    }
  }
  process.stdout.write(JSON.stringify({ bench: options.name, rows }) + "\n");
}

/**
 * `npm run bench -- stations50`: one job over N real station processes (`werkplaats station start`,
 * TLS, signed requests, policy, audit log) on this machine, checked against the pooled rows. Too
 * heavy for the test suite (test/load.test.ts runs 12); the figures go in the issue notes.
 */
export async function benchLocalStations(options: { stations: number; rows: number }): Promise<void> {
  const { LocalFederation } = await import("../sdk/local-federation.js");
  const { StationClient } = await import("../sdk/station-client.js");
  const { loadResearcherKeys } = await import("../sdk/auth/researcher-keys.js");
  const { aggregate } = await import("../sdk/aggregation.js");
  const { writeScenario } = await import("../synth/index.js");
  const { readFileSync } = await import("node:fs");
  const { basename } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "werkplaats-bench-stations-"));
  try {
    const { files } = await writeScenario({ scenario: "fall-risk", stations: options.stations, rows: options.rows, seed: 50, out: join(dir, "data") });
    let started = performance.now();
    const local = await LocalFederation.start({ dir: join(dir, "stations"), stations: files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })) });
    const startMs = performance.now() - started;
    const researcher = { secretKey: loadResearcherKeys(local.federation.key!).secretKey, study: local.federation.study! };
    const clients = await Promise.all(local.federation.stations.map((s) => StationClient.create(s, researcher, 120_000)));
    try {
      const job = {
        dataset: "fall_risk",
        where: { kind: "compare" as const, column: "age", op: ">=" as const, value: { kind: "number" as const, value: 70 } },
        computation: { kind: "count" as const, by: [{ column: "sex", levels: ["F", "M"] }] },
      };
      const expected = [0, 0];
      for (const f of files) {
        const [header, ...lines] = readFileSync(f, "utf8").trim().split("\n");
        const cols = header.split(",");
        const age = cols.indexOf("age");
        const sex = cols.indexOf("sex");
        for (const l of lines) {
          const cells = l.split(",");
          if (Number(cells[age]) >= 70 && cells[sex] !== "") expected[cells[sex] === "F" ? 0 : 1]++;
        }
      }
      const rounds: number[] = [];
      let last: Awaited<ReturnType<typeof aggregate>> | undefined;
      for (let r = 0; r < 2; r++) {
        started = performance.now();
        last = await aggregate({ job, stations: clients, vectorLength: 2, minStations: 3, timeoutMs: 120_000 });
        rounds.push(performance.now() - started);
        if (last.stations.length !== options.stations || last.sum[0] !== expected[0] || last.sum[1] !== expected[1]) {
          throw new Error(`wrong result over ${last.stations.length} stations: ${Array.from(last.sum)} (expected ${expected})`);
        }
      }
      const ph = last!.phaseMs;
      process.stdout.write(
        `stations${options.stations}: ${options.stations} station processes started in ${(startMs / 1000).toFixed(1)} s; ` +
          `one count job, correct (${expected.join(", ")}): first ${rounds[0].toFixed(0)} ms (cold connections), then ${rounds[1].toFixed(0)} ms ` +
          `(advertise ${ph.advertiseKeys.toFixed(0)}, share ${ph.shareKeys.toFixed(0)}, masked ${ph.maskedInput.toFixed(0)}, release ${ph.release.toFixed(0)} ms)\n`,
      );
      process.stdout.write(JSON.stringify({ bench: `stations${options.stations}`, startMs, roundsMs: rounds, phaseMs: ph }) + "\n");
    } finally {
      clients.forEach((c) => c.close());
      await local.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

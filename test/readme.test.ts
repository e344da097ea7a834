/**
 * README.md's code runs as written. Every ```sh and ```ts block is extracted from the README
 * itself (so the README cannot drift from what works) and run, as a user would, in one bash
 * session in their own folder — where werkplaats is installed from the tarball `npm pack` makes,
 * not in the clone. The Quick start blocks are left to `.ci/run` (which runs them) and
 * notebooks.test.ts.
 *
 * Blocks run in the order a user needs them, not the README's: pack, install, the three-station
 * walk-through (its stations stay running), the SDK example (as analysis.mjs, it is plain
 * JavaScript), the notebook kernel and a notebook with it, the scheduled-run block, then the stop
 * block. A README block this file does not know fails the test, so a new example cannot go
 * untested.
 *
 * The only substitutions, all of paths, ports and network:
 *   - ports 7441, 7442, 7443 → free loopback ports;
 *   - /path/to/werkplaats/werkplaats-0.1.0.tgz → the tarball packed here;
 *   - `npm pack` → `npm pack --ignore-scripts --pack-destination TMP` (dist/ is already built by
 *     `npm test`, and the clone stays clean);
 *   - `npm install` gains `--prefer-offline --no-audit --no-fund`: dependencies come from the local
 *     npm cache, the registry is asked only for what the cache lacks.
 * Environment: HOME is a temporary folder (so ~/.werkplaats is this test's), npm's cache is the
 * real one, JUPYTER_DATA_DIR is temporary (so `kernel install --user` lands there); for the
 * scheduled-run block, which calls `werkplaats` as cron would, node_modules/.bin is on PATH.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SOFTWARE_VERSION } from "../common/version.js";
import { freePort } from "./helpers/cli.js";

const root = resolve(import.meta.dirname, "..");
const PYTHON = process.env.WERKPLAATS_JUPYTER_PYTHON ?? "/usr/bin/python3";

interface Block {
  lang: "sh" | "ts";
  section: string;
  /** Index among the section's runnable blocks. */
  index: number;
  text: string;
}

/** The README's ```sh and ```ts blocks, each with the `## ` section it sits in. */
function readmeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let section = "";
  const counts = new Map<string, number>();
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const heading = /^##\s+(.*)$/.exec(lines[i]);
    if (heading) section = heading[1].trim();
    const fence = /^```(sh|ts)\s*$/.exec(lines[i]);
    if (!fence) continue;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    const index = counts.get(section) ?? 0;
    counts.set(section, index + 1);
    blocks.push({ lang: fence[1] as "sh" | "ts", section, index, text: body.join("\n") });
  }
  return blocks;
}

const blocks = readmeBlocks(readFileSync(join(root, "README.md"), "utf8"));
const used = new Set<Block>();
function block(section: string, index: number, lang: "sh" | "ts"): Block {
  const b = blocks.find((x) => x.section.startsWith(section) && x.index === index && x.lang === lang);
  if (!b) throw new Error(`README.md has no ${lang} block ${index} in a section "${section}…"`);
  used.add(b);
  return b;
}

let work: string;
let project: string;
let home: string;
let tarball: string;
let ports: number[];
let session: BashSession;

/**
 * One bash, fed blocks on stdin as a user types them into one terminal (jobs started in one block
 * are still `%1` in the next). A failing command does not end the session — a user would carry on
 * too — but its block fails, naming the command (the ERR trap).
 */
class BashSession {
  private readonly child: ChildProcess;
  private out = "";
  private err = "";
  private exited: number | null = null;
  private blocksRun = 0;

  constructor(cwd: string, env: NodeJS.ProcessEnv) {
    this.child = spawn("bash", [], { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout!.on("data", (c: Buffer) => (this.out += c.toString()));
    this.child.stderr!.on("data", (c: Buffer) => (this.err += c.toString()));
    this.child.once("exit", (code) => (this.exited = code ?? -1));
    // A session that fails half-way still stops the stations it started in the background.
    this.child.stdin!.write(
      "set -o pipefail\ntrap 'echo \"@@failed: exit $? from: $BASH_COMMAND\" >&2' ERR\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n",
    );
  }

  /** Runs the text; resolves with what it printed (stdout, stderr) once it is done. */
  run(text: string): Promise<{ stdout: string; stderr: string }> {
    const marker = `@@block-${++this.blocksRun}-done`;
    const [outStart, errStart] = [this.out.length, this.err.length];
    this.child.stdin!.write(`${text}\necho ${marker}\necho ${marker} >&2\n`);
    return new Promise((resolve, reject) => {
      const poll = setInterval(() => {
        const stdout = this.out.slice(outStart);
        const stderr = this.err.slice(errStart);
        if (stdout.includes(marker) && stderr.includes(marker)) {
          clearInterval(poll);
          const failed = /@@failed: (.*)/.exec(stderr);
          if (failed) reject(new Error(`a command of the README block failed (${failed[1]}):\n${text}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
          else resolve({ stdout: stdout.replace(`${marker}\n`, ""), stderr: stderr.replace(`${marker}\n`, "") });
        } else if (this.exited !== null) {
          clearInterval(poll);
          reject(new Error(`the README block failed (bash exited ${this.exited}):\n${text}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
        }
      }, 100);
    });
  }

  async close(): Promise<void> {
    if (this.exited !== null) return;
    const gone = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.stdin!.end("exit 0\n");
    await gone;
  }
}

function substitute(text: string): string {
  return text
    .replace(/127\.0\.0\.1:744([123])/g, (_m, i: string) => `127.0.0.1:${ports[Number(i) - 1]}`)
    .replaceAll("/path/to/werkplaats/werkplaats-0.1.0.tgz", tarball)
    .replace(/^npm pack\b/gm, `npm pack --ignore-scripts --pack-destination ${work}`)
    .replace(/^npm install\b/gm, "npm install --prefer-offline --no-audit --no-fund");
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((r) => {
    const socket = connect({ host: "127.0.0.1", port }, () => (socket.destroy(), r(true)));
    socket.once("error", () => r(false));
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-readme-"));
  project = join(work, "my-analysis");
  home = join(work, "home");
  mkdirSync(project);
  mkdirSync(home);
  tarball = join(work, `werkplaats-${SOFTWARE_VERSION}.tgz`);
  ports = [await freePort(), await freePort(), await freePort()];
  session = new BashSession(project, {
    ...process.env,
    HOME: home,
    npm_config_cache: process.env.npm_config_cache ?? join(homedir(), ".npm"),
    npm_config_update_notifier: "false",
    JUPYTER_DATA_DIR: join(work, "jupyter-data"),
    JUPYTER_RUNTIME_DIR: join(work, "jupyter-runtime"),
    // npm test runs under npm: these would make the walk-through's stations think npm started them.
    npm_lifecycle_event: undefined,
    npm_command: undefined,
  });
});

afterAll(async () => {
  await session?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("README.md, run as written", () => {
  it("packs werkplaats in the clone (Use werkplaats in your own folder, block 1)", () => {
    const pack = substitute(block("Use werkplaats in your own folder", 0, "sh").text);
    const run = spawnSync("bash", ["-eo", "pipefail", "-c", pack], { cwd: root, encoding: "utf8", timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(existsSync(tarball)).toBe(true);
  }, 180_000);

  it("installs it into an empty folder, runs the demo and installs the kernel (block 2)", async () => {
    const { stdout, stderr } = await session.run(substitute(block("Use werkplaats in your own folder", 1, "sh").text));
    expect(existsSync(join(project, "node_modules", "werkplaats", "dist", "sdk", "index.js")), stderr).toBe(true);
    expect(stdout).toMatch(/demo/i);
    expect(existsSync(join(work, "jupyter-data", "kernels", "werkplaats", "kernel.json"))).toBe(true);
  }, 600_000);

  it("sets up three stations, starts them with npx in the background and queries them (A federation on one machine)", async () => {
    const { stdout, stderr } = await session.run(substitute(block("A federation on one machine", 0, "sh").text));
    const entry = JSON.parse(readFileSync(join(project, "gp.json"), "utf8")) as Record<string, unknown>;
    expect(Object.keys(entry).sort()).toEqual(["address", "identityKey", "name", "tlsFingerprint"]);
    expect(entry.address).toBe(`127.0.0.1:${ports[0]}`);
    const federation = JSON.parse(readFileSync(join(project, "federation.json"), "utf8")) as { stations: Array<{ name: string }> };
    expect(federation.stations.map((s) => s.name)).toEqual(["gp", "homecare", "hospital"]);
    expect(stderr).toMatch(/WARNING: .*DEMONSTRATION study "fall-prevention-2026"/);
    expect(stdout).toMatch(/3 stations answer \(gp, homecare, hospital\)/);
    expect(stdout).toMatch(/\bF\b[\s\S]*\bM\b/);
    for (const port of ports) expect(await portAnswers(port)).toBe(true);
  }, 300_000);

  it("runs the SDK in ten lines as a script in that folder", async () => {
    const source = block("The SDK in ten lines", 0, "ts").text;
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    writeFileSync(join(project, "analysis.mjs"), js);
    const { stdout } = await session.run("node analysis.mjs");
    expect(stdout).toMatch(/\bauc: 0\.\d+/i);
    expect(existsSync(join(project, "fall-risk-model.json"))).toBe(true);
  }, 300_000);

  it("installs the notebook kernel (Notebooks) and runs a notebook with it in that folder", async () => {
    await session.run(substitute(block("Notebooks", 0, "sh").text));
    const probe = spawnSync(PYTHON, ["-c", "import nbclient"], { encoding: "utf8" });
    expect(probe.status, `the notebook check needs Jupyter's nbclient in ${PYTHON}: ${probe.stderr}`).toBe(0);
    const notebook = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: "werkplaats", display_name: "TypeScript (werkplaats)", language: "typescript" } },
      cells: [
        {
          cell_type: "code",
          metadata: {},
          execution_count: null,
          outputs: [],
          source: 'import { Federation } from "werkplaats";\nconst fed = await Federation.connect("federation.json");\nconsole.log(`stations: ${fed.stations.join(",")}`);\nfed.close();',
        },
      ],
    };
    writeFileSync(join(project, "check.ipynb"), JSON.stringify(notebook));
    const { stdout } = await session.run(`${PYTHON} -c 'import nbformat, sys; from nbclient import NotebookClient; nb = nbformat.read("check.ipynb", as_version=4); NotebookClient(nb, timeout=120, kernel_name="werkplaats").execute(); print("".join(o.get("text", "") for o in nb.cells[0].outputs))'`);
    expect(stdout).toContain("stations: gp,homecare,hospital");
  }, 300_000);

  it("runs the scheduled-run block (Reproducible results) against a previous night's model", async () => {
    // The previous night: the model the block compares with, fitted the same way.
    await session.run(
      'mkdir -p models && npx werkplaats glm "fell_12m ~ age + sex + num_medications + prior_fall" --family binomial --federation federation.json --dataset fall_risk --out models/fall-risk.json > /dev/null',
    );
    // cron runs werkplaats by its path: the folder's node_modules/.bin on PATH.
    await session.run('export PATH="$PWD/node_modules/.bin:$PATH"');
    const { stdout } = await session.run(substitute(block("Reproducible results", 0, "sh").text));
    const run = JSON.parse(readFileSync(join(project, "run.json"), "utf8")) as { comparison?: unknown };
    expect(run.comparison).toBeDefined();
    expect(JSON.parse(readFileSync(join(project, "counts.json"), "utf8"))).toHaveProperty("cells");
    expect(stdout).not.toMatch(/changed: exit/);
  }, 300_000);

  it("stops the stations with SIGTERM to npx, and their audit logs verify", async () => {
    const { stdout } = await session.run(substitute(block("A federation on one machine", 1, "sh").text));
    expect(stdout).toMatch(/intact/i);
    // kill went to the npx processes; the stations themselves must be gone too, not left listening.
    for (const [i, name] of ["gp", "homecare", "hospital"].entries()) {
      for (let tries = 0; (await portAnswers(ports[i])) && tries < 100; tries++) await new Promise((r) => setTimeout(r, 100));
      expect(await portAnswers(ports[i]), `station ${name} still listens after its npx was stopped`).toBe(false);
      expect(readFileSync(join(project, `${name}.log`), "utf8")).toMatch(/stopping/);
    }
  }, 120_000);

  it("has run every ```sh and ```ts block of README.md outside Quick start", () => {
    const left = blocks.filter((b) => !b.section.startsWith("Quick start") && !used.has(b));
    expect(left.map((b) => `${b.section} #${b.index} (${b.lang})`)).toEqual([]);
  });
});

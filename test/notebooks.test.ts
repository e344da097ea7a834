/**
 * Every notebook in notebooks/ runs headless with the werkplaats kernel, as a reader would run
 * it: Debian's Python runs nbclient, the kernel is installed by this test into a temporary
 * prefix (JUPYTER_PATH), and each notebook starts and stops its own local stations.
 *
 * Missing Jupyter is a failure with the install command, never a skip: CI must not go green
 * without having run the notebooks.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JUPYTER_INSTALL_HINT, installKernel } from "../kernel-extensions/kernelspec.js";

const root = resolve(import.meta.dirname, "..");
const notebooksDir = join(root, "notebooks");
/** The Python that has Jupyter (Debian's; not a pyenv shim). */
const PYTHON = process.env.WERKPLAATS_JUPYTER_PYTHON ?? "/usr/bin/python3";
const CELL_TIMEOUT_S = 120;

const RUNNER = `
import json, sys, time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

path, cwd, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
nb = nbformat.read(path, as_version=4)
client = NotebookClient(nb, timeout=timeout, kernel_name="werkplaats", resources={"metadata": {"path": cwd}})
started = time.time()
error = None
try:
    client.execute()
except CellExecutionError as e:
    error = str(e)
except Exception as e:
    error = "%s: %s" % (type(e).__name__, e)

def text(v):
    return "".join(v) if isinstance(v, list) else (v or "")

cells = []
for i, c in enumerate(nb.cells):
    if c.cell_type != "code":
        continue
    outs = []
    for o in c.get("outputs", []):
        data = o.get("data", {})
        outs.append({
            "type": o.get("output_type"),
            "name": o.get("name"),
            "text": text(o.get("text")) or text(data.get("text/plain")) or text(data.get("text/markdown")),
            "html": text(data.get("text/html")),
            "svg": text(data.get("image/svg+xml")),
            "traceback": "\\n".join(o.get("traceback", [])),
        })
    cells.append({"index": i, "source": c.source, "executed": c.get("execution_count") is not None, "outputs": outs})
print(json.dumps({"error": error, "seconds": time.time() - started, "cells": cells}))
`;

interface Output {
  type: string;
  name?: string;
  text: string;
  html: string;
  svg: string;
  traceback: string;
}
interface Run {
  error: string | null;
  seconds: number;
  cells: Array<{ index: number; source: string; executed: boolean; outputs: Output[] }>;
}

let prefix: string;
let env: NodeJS.ProcessEnv;

function requireJupyter(): void {
  const probe = spawnSync(PYTHON, ["-c", "import nbclient, nbformat, jupyter_client"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `The notebook tests need Jupyter's nbclient in ${PYTHON} (set WERKPLAATS_JUPYTER_PYTHON for another Python).\n` +
        `${(probe.stderr || probe.error?.message || "").trim()}\n${JUPYTER_INSTALL_HINT}`,
    );
  }
}

beforeAll(() => {
  requireJupyter();
  prefix = mkdtempSync(join(tmpdir(), "werkplaats-nbtest-"));
  const { dir } = installKernel({ scope: { prefix }, python: PYTHON });
  expect(dir).toBe(join(prefix, "share", "jupyter", "kernels", "werkplaats"));
  env = { ...process.env, JUPYTER_PATH: join(prefix, "share", "jupyter"), JUPYTER_RUNTIME_DIR: join(prefix, "runtime") };
});

afterAll(() => {
  if (prefix) rmSync(prefix, { recursive: true, force: true });
});

function execute(notebook: string): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(PYTHON, ["-c", RUNNER, join(notebooksDir, notebook), notebooksDir, String(CELL_TIMEOUT_S)], { env, cwd: notebooksDir });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      try {
        resolvePromise(JSON.parse(out) as Run);
      } catch {
        reject(new Error(`nbclient runner exited ${code}:\n${err.slice(-4000)}`));
      }
    });
  });
}

/** What the reader would see of a failed cell: its source and everything it printed. */
function describeFailure(run: Run): string {
  const failed = run.cells.find((c) => c.outputs.some((o) => o.type === "error" || o.name === "stderr")) ?? run.cells.find((c) => !c.executed);
  if (!failed) return run.error ?? "";
  const printed = failed.outputs.map((o) => o.traceback || o.text).join("\n");
  return `cell ${failed.index} failed:\n--- source ---\n${failed.source}\n--- output ---\n${printed}\n--- nbclient ---\n${(run.error ?? "").slice(0, 2000)}`;
}

function stationProcesses(): string[] {
  const ps = spawnSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return ps.stdout.split("\n").filter((l) => l.includes("werkplaats-notebook-") && l.includes("station"));
}

/** Station processes still running after a grace period (a stopping station takes a moment). */
async function leftoverStations(): Promise<string[]> {
  for (let i = 0; i < 50 && stationProcesses().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  return stationProcesses();
}

const notebooks = readdirSync(notebooksDir).filter((f) => f.endsWith(".ipynb")).sort();

describe("notebooks", () => {
  it("include the three worked analyses", () => {
    expect(notebooks).toEqual(expect.arrayContaining(["fall-risk.ipynb", "ggz-waitlist.ipynb", "neighbourhood-profiles.ipynb"]));
  });

  for (const notebook of notebooks) {
    it(`${notebook} runs headless with the werkplaats kernel and shows tables and plots`, { timeout: 240_000 }, async () => {
      const run = await execute(notebook);
      expect(run.error === null && run.cells.every((c) => c.executed), describeFailure(run)).toBe(true);

      const outputs = run.cells.flatMap((c) => c.outputs);
      const warnings = outputs.filter((o) => o.name === "stderr").map((o) => o.text);
      expect(warnings, "nothing on stderr (tslab reports errors and warnings there)").toEqual([]);
      expect(outputs.some((o) => o.html.includes("<table")), "an HTML table").toBe(true);
      expect(outputs.some((o) => o.svg.startsWith("<svg")), "an SVG plot").toBe(true);

      const source = JSON.parse(readFileSync(join(notebooksDir, notebook), "utf8")) as { cells: Array<{ source: string | string[] }> };
      const code = source.cells.map((c) => (Array.isArray(c.source) ? c.source.join("") : c.source)).join("\n");
      if (code.includes(".glm(")) {
        const coefficientTables = outputs.filter((o) => o.html.includes("(Intercept)") && /odds ratio|rate ratio/.test(o.html));
        expect(coefficientTables.length, "a model's coefficient table with odds or rate ratios").toBeGreaterThan(0);
        expect(outputs.some((o) => /^iteration 1: deviance \d/m.test(o.text)), "model progress lines").toBe(true);
      }
      expect(code.trimEnd().endsWith("await study.stop();"), "the last cell stops the stations").toBe(true);
      expect(await leftoverStations(), "no station process left behind").toEqual([]);
    });
  }

  it("a failing cell is reported with its source and error, and its stations do not outlive the kernel", { timeout: 120_000 }, async () => {
    const broken = mkdtempSync(join(tmpdir(), "werkplaats-nbtest-broken-"));
    try {
      const nb = {
        nbformat: 4,
        nbformat_minor: 5,
        metadata: { kernelspec: { name: "werkplaats", display_name: "TypeScript (werkplaats)", language: "typescript" } },
        cells: [
          `import { startLocalStudy } from "werkplaats/notebook";\nconst study = await startLocalStudy({ scenario: "fall-risk", rows: 200 });`,
          `await study.fed.dataset("fall_risk").where("no_such_column > 1").count();`,
          `await study.stop();`,
        ].map((source, i) => ({ cell_type: "code", id: `c${i}`, metadata: {}, execution_count: null, outputs: [], source })),
      };
      const { writeFileSync } = await import("node:fs");
      writeFileSync(join(broken, "broken.ipynb"), JSON.stringify(nb));
      const run = await new Promise<Run>((res, rej) => {
        const child = spawn(PYTHON, ["-c", RUNNER, join(broken, "broken.ipynb"), notebooksDir, "60"], { env });
        let out = "";
        child.stdout.on("data", (b: Buffer) => (out += b.toString()));
        child.on("error", rej);
        child.on("close", () => res(JSON.parse(out) as Run));
      });
      expect(run.error).not.toBeNull();
      expect(describeFailure(run)).toMatch(/--- output ---\n[^]*no_such_column/);
      expect(run.cells[2].executed).toBe(false);
      expect(await leftoverStations()).toEqual([]);
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  });
});

/**
 * Every notebook in notebooks/ runs headless with the werkplaats kernel, as a reader would run
 * it: Debian's Python runs nbclient, the kernel is installed by this test into a temporary
 * prefix (JUPYTER_PATH), and each notebook starts and stops its own local stations.
 *
 * Then each executed notebook is shared the way researchers share one, `jupyter nbconvert --to
 * html`, and the HTML is opened in headless Chromium: every figure must be an image that loads,
 * and the screenshot must show coloured marks (our SVG palette's bars, lines and points) where
 * each figure is, not the blank space nbconvert 6.5 leaves of an inline SVG.
 *
 * Missing Jupyter or Chromium is a failure with the install command, never a skip: CI must not
 * go green without having run the notebooks.
 */
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JUPYTER_INSTALL_HINT, installKernel } from "../kernel-extensions/kernelspec.js";
import { readPng, regionPixels } from "./helpers/png.js";

const root = resolve(import.meta.dirname, "..");
const notebooksDir = join(root, "notebooks");
/** The Python that has Jupyter (Debian's; not a pyenv shim). */
const PYTHON = process.env.WERKPLAATS_JUPYTER_PYTHON ?? "/usr/bin/python3";
const CELL_TIMEOUT_S = 120;
/** Debian's package `chromium`; any Chromium or Chrome binary will do. */
const CHROMIUM = process.env.WERKPLAATS_CHROMIUM ?? "chromium";
const CHROMIUM_INSTALL_HINT = "Install it with `apt-get install chromium` (Debian), or set WERKPLAATS_CHROMIUM to a Chromium or Chrome binary.";
/** Generous: Chromium on a busy two-core machine, waiting for the export's CDN scripts to fail offline. */
const CHROMIUM_TIMEOUT_MS = 180_000;
/** Set to a folder to keep the screenshots (to look at them). */
const KEEP_SCREENSHOTS = process.env.WERKPLAATS_KEEP_SCREENSHOTS;

const RUNNER = `
import json, sys, time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

path, cwd, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
executed = sys.argv[4] if len(sys.argv) > 4 else None
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
if executed:
    nbformat.write(nb, executed)
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
  requireChromium();
  prefix = mkdtempSync(join(tmpdir(), "werkplaats-nbtest-"));
  const { dir } = installKernel({ scope: { prefix }, python: PYTHON });
  expect(dir).toBe(join(prefix, "share", "jupyter", "kernels", "werkplaats"));
  env = { ...process.env, JUPYTER_PATH: join(prefix, "share", "jupyter"), JUPYTER_RUNTIME_DIR: join(prefix, "runtime") };
});

afterAll(() => {
  if (prefix) rmSync(prefix, { recursive: true, force: true });
});

function requireChromium(): void {
  const probe = spawnSync(CHROMIUM, ["--version"], { encoding: "utf8", timeout: CHROMIUM_TIMEOUT_MS });
  if (probe.error || probe.status !== 0) {
    throw new Error(`The notebook export tests need headless Chromium ("${CHROMIUM}"): ${(probe.stderr || probe.error?.message || "").trim()}\n${CHROMIUM_INSTALL_HINT}`);
  }
}

/** Runs a notebook; with `executed`, writes the notebook with its outputs there. */
function execute(notebook: string, executed?: string): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(PYTHON, ["-c", RUNNER, join(notebooksDir, notebook), notebooksDir, String(CELL_TIMEOUT_S), ...(executed ? [executed] : [])], { env, cwd: notebooksDir });
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

/** `jupyter nbconvert --to html`, as a researcher shares a notebook; the HTML file's path. */
function exportHtml(executed: string, outDir: string): string {
  const r = spawnSync(PYTHON, ["-m", "nbconvert", "--to", "html", "--output-dir", outDir, executed], { encoding: "utf8", timeout: CHROMIUM_TIMEOUT_MS });
  if (r.error || r.status !== 0) throw new Error(`nbconvert --to html failed: ${(r.stderr || r.error?.message || "").slice(-2000)}`);
  return join(outDir, basename(executed).replace(/\.ipynb$/, ".html"));
}

function chromium(args: string[], profile: string): string {
  const r = spawnSync(
    CHROMIUM,
    ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1", `--user-data-dir=${profile}`, "--virtual-time-budget=15000", ...args],
    { encoding: "utf8", timeout: CHROMIUM_TIMEOUT_MS, maxBuffer: 256 * 1024 * 1024 },
  );
  if (r.error || r.status !== 0) throw new Error(`chromium ${args.at(-1)} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? "").slice(-2000)}\n${CHROMIUM_INSTALL_HINT}`);
  return r.stdout;
}

interface Layout {
  height: number;
  figures: Array<{ x: number; y: number; width: number; height: number; loaded: boolean; alt: string }>;
}

const PAGE_WIDTH = 1280;

/**
 * Where the figures are in the exported page, as Chromium lays it out: a copy of the page with a
 * script that writes each figure image's box (and whether it decoded) into the DOM Chromium dumps.
 */
function figureLayout(html: string, profile: string): Layout {
  const probe = html.replace(/\.html$/, ".probe.html");
  writeFileSync(probe, `${readFileSync(html, "utf8")}
<script>
window.addEventListener("load", () => {
  const figures = [...document.querySelectorAll("img.werkplaats-figure")].map((img) => {
    const r = img.getBoundingClientRect();
    return { x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height, loaded: img.complete && img.naturalWidth > 0, alt: img.alt };
  });
  const out = document.createElement("pre");
  out.id = "werkplaats-layout";
  out.textContent = JSON.stringify({ height: document.documentElement.scrollHeight, figures });
  document.body.appendChild(out);
});
</script>
`);
  const dom = chromium([`--window-size=${PAGE_WIDTH},1000`, "--dump-dom", pathToFileURL(probe).href], profile);
  const m = /id="werkplaats-layout">([^<]*)</.exec(dom);
  if (!m) throw new Error(`the layout probe did not run in Chromium; the page dumped was ${dom.length} characters`);
  return JSON.parse(m[1].replace(/&quot;/g, '"').replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">")) as Layout;
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
    it(`${notebook} runs headless with the werkplaats kernel, shows tables and plots, and its plots survive HTML export`, { timeout: 600_000 }, async () => {
      const work = join(prefix, notebook.replace(/\.ipynb$/, ""));
      mkdirSync(work, { recursive: true });
      const executed = join(work, notebook);
      const run = await execute(notebook, executed);
      expect(run.error === null && run.cells.every((c) => c.executed), describeFailure(run)).toBe(true);

      const outputs = run.cells.flatMap((c) => c.outputs);
      const warnings = outputs.filter((o) => o.name === "stderr").map((o) => o.text);
      expect(warnings, "nothing on stderr (tslab reports errors and warnings there)").toEqual([]);
      expect(outputs.some((o) => o.html.includes("<table")), "an HTML table").toBe(true);
      const figures = outputs.flatMap((o) => [...o.html.matchAll(/<img class="werkplaats-figure" src="data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1], "base64").toString("utf8")));
      expect(figures.length, "a plot, as an <img> of its SVG").toBeGreaterThan(0);
      for (const svg of figures) expect(svg).toMatch(/^<svg[^>]* xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      expect(outputs.filter((o) => o.svg !== ""), "no inline image/svg+xml output, which HTML export empties").toEqual([]);

      const source = JSON.parse(readFileSync(join(notebooksDir, notebook), "utf8")) as { cells: Array<{ source: string | string[] }> };
      const code = source.cells.map((c) => (Array.isArray(c.source) ? c.source.join("") : c.source)).join("\n");
      if (code.includes(".glm(")) {
        const coefficientTables = outputs.filter((o) => o.html.includes("(Intercept)") && /odds ratio|rate ratio/.test(o.html));
        expect(coefficientTables.length, "a model's coefficient table with odds or rate ratios").toBeGreaterThan(0);
        expect(outputs.some((o) => /^iteration 1: deviance \d/m.test(o.text)), "model progress lines").toBe(true);
      }
      expect(code.trimEnd().endsWith("await study.stop();"), "the last cell stops the stations").toBe(true);
      expect(await leftoverStations(), "no station process left behind").toEqual([]);

      // Shared as HTML and opened in a browser, every plot is drawn.
      const html = exportHtml(executed, work);
      const profile = join(work, "chromium-profile");
      const layout = figureLayout(html, profile);
      expect(layout.figures.length, "every figure is in the exported page").toBe(figures.length);
      for (const f of layout.figures) expect(f.loaded && f.width > 100 && f.height > 50, `figure "${f.alt}" loads with a size`).toBe(true);
      const shot = join(work, `${notebook}.png`);
      chromium([`--window-size=${PAGE_WIDTH},${Math.min(Math.ceil(layout.height) + 50, 60_000)}`, `--screenshot=${shot}`, pathToFileURL(html).href], profile);
      const image = readPng(readFileSync(shot));
      expect(image.width).toBe(PAGE_WIDTH);
      for (const f of layout.figures) {
        const pixels = regionPixels(image, f);
        // A blank or broken image has no coloured pixel; a bar chart, forest plot, ROC or
        // calibration curve in our palette has hundreds.
        expect(pixels.coloured, `coloured pixels where figure "${f.alt}" is (${JSON.stringify(pixels)})`).toBeGreaterThan(150);
        expect(pixels.inked, `drawn pixels where figure "${f.alt}" is`).toBeGreaterThan(pixels.coloured);
      }
      if (KEEP_SCREENSHOTS) {
        mkdirSync(KEEP_SCREENSHOTS, { recursive: true });
        copyFileSync(shot, join(KEEP_SCREENSHOTS, `${notebook}.png`));
      }
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

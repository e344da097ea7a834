/**
 * `show(x)`: a table or plot inline in a notebook, plain text in a script.
 *
 * tslab has no rich-repr protocol: the value of a cell's last expression is printed with
 * console.log. Rich output goes through tslab's public API, `display.html(s)` (one MIME type per
 * output, sent as Jupyter display_data), and `newDisplay()`, whose later calls replace the same
 * output (update_display_data) — used for model progress. Figures go as HTML too, an <img> of
 * the SVG (figure.ts svgAsImage): inline image/svg+xml does not survive HTML export.
 *
 * We reach tslab through the kernel's own `require` (`globalThis.__tslab__.require`, which tslab
 * sets for every cell and which hooks "tslab" to the running kernel's module): a notebook may
 * load werkplaats from a folder whose node_modules holds another tslab copy, and only the
 * kernel's instance can send to Jupyter. Outside a kernel nothing tslab-related is loaded.
 */
import { inspect } from "node:util";
import { isFigure, svgAsImage } from "./figure.js";
import { countTable, evaluationTable, htmlTable, meanTable, modelTable, refusalNotice } from "./html.js";
import { evaluationView, isCountLike, isMeanLike, modelView, refusalOf } from "./shapes.js";

export interface TslabDisplay {
  html(s: string): void;
  svg(s: string): void;
  text(s: string): void;
  markdown(s: string): void;
}

interface TslabModule {
  display: TslabDisplay;
  newDisplay(): TslabDisplay;
}

/** The running tslab kernel's API, or undefined outside a notebook. */
export function notebookDisplay(): TslabModule | undefined {
  const hook = (globalThis as { __tslab__?: { require?: (id: string) => unknown } }).__tslab__;
  if (typeof hook?.require !== "function") return undefined;
  try {
    const mod = hook.require("tslab") as Partial<TslabModule>;
    return mod.display && typeof mod.newDisplay === "function" ? (mod as TslabModule) : undefined;
  } catch {
    return undefined;
  }
}

export function inNotebook(): boolean {
  return notebookDisplay() !== undefined;
}

/** What a value looks like in each medium. */
export interface Rendering {
  html?: string;
  svg?: string;
  text: string;
}

function textOf(x: unknown): string {
  if (typeof x === "string") return x;
  if (typeof x === "object" && x !== null) {
    const own = (x as { summary?: unknown }).summary;
    if (typeof own === "function") {
      const s = (own as () => unknown).call(x);
      if (typeof s === "string") return s;
    }
    if (typeof (x as { toString?: unknown }).toString === "function" && (x as object).toString !== Object.prototype.toString) return String(x);
  }
  return inspect(x, { depth: 4, colors: false });
}

/** The HTML, SVG and text of a werkplaats value; pure, so tests and scripts can use it too. */
export function render(x: unknown): Rendering {
  if (isFigure(x)) return { svg: x.svg, html: x.html(), text: x.toString() };
  // Markup from the builders (`htmlTable(…)`, `barChart(…)`) is shown as what it is.
  if (typeof x === "string" && /^\s*<svg[\s>]/.test(x)) return { svg: x, html: svgAsImage(x, "figure"), text: "[figure]" };
  if (typeof x === "string" && /^\s*<[A-Za-z][^]*>\s*$/.test(x)) return { html: x, text: x.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim() };
  if (isCountLike(x)) return { html: countTable(x), text: textOf(x) };
  if (isMeanLike(x)) return { html: meanTable(x), text: textOf(x) };
  const refusal = refusalOf(x);
  if (refusal !== undefined) return { html: refusalNotice(refusal), text: `refused: ${refusal}` };
  const model = modelView(x);
  if (model !== undefined) return { html: modelTable(model), text: textOf(x) };
  const evaluation = evaluationView(x);
  if (evaluation !== undefined) return { html: evaluationTable(evaluation), text: textOf(x) };
  const table = tabularOf(x);
  if (table !== undefined) return { html: tabularTable(table), text: textOf(x) };
  return { text: textOf(x) };
}

interface TabularLike {
  title: string;
  header: string[];
  rows: string[][];
  numeric: boolean[];
  notes: string[];
}

/** Any result that can lay itself out as one table (crosstabs, summaries, rates, indicators, …). */
function tabularOf(x: unknown): TabularLike | undefined {
  const fn = typeof x === "object" && x !== null ? (x as { tabular?: unknown }).tabular : undefined;
  if (typeof fn !== "function") return undefined;
  const t = (fn as () => unknown).call(x) as Partial<TabularLike> | undefined;
  return t && Array.isArray(t.header) && Array.isArray(t.rows) ? (t as TabularLike) : undefined;
}

/** "x" marks a withheld cell in the text form; in HTML it is shown as suppressed, with the reasons as notes. */
function tabularTable(t: TabularLike): string {
  const reason = t.notes.filter((n) => n.startsWith("x: ")).map((n) => n.slice(3)).join("; ") || "below the minimum cell size";
  return htmlTable({
    caption: t.title,
    header: t.header,
    rows: t.rows.map((row) => row.map((cell) => (cell === "x" || cell === "suppressed" ? { suppressed: reason } : cell))),
    numeric: t.numeric,
    notes: t.notes.filter((n) => !n.startsWith("x: ")),
  });
}

/**
 * Show each value: inline HTML/SVG in a notebook, its text on stdout in a plain script.
 * Arrays (e.g. `plot(evaluation)`) are shown element by element.
 */
export function show(...values: unknown[]): void {
  const tslab = notebookDisplay();
  for (const value of values.flat()) {
    const r = render(value);
    if (tslab === undefined) process.stdout.write(`${r.text}\n`);
    else if (r.html !== undefined) tslab.display.html(r.html);
    else tslab.display.text(r.text);
  }
}

/** Markdown in a notebook (e.g. a computed sentence), plain text in a script. */
export function showMarkdown(markdown: string): void {
  const tslab = notebookDisplay();
  if (tslab === undefined) process.stdout.write(`${markdown}\n`);
  else tslab.display.markdown(markdown);
}

/**
 * HTML tables for notebooks. Styles are inline attributes, not a <style> element: Jupyter
 * sanitises <style> in untrusted notebooks, and tables must read the same in JupyterLab,
 * VS Code and nbconvert's HTML export. Output is also well-formed XML (tests parse it).
 */
import { element, formatValue, text } from "./markup.js";
import { type CountLike, type EvaluationView, type MeanLike, type ModelView, suppressionOf } from "./shapes.js";

/** A table cell: plain text, a number, or a withheld value with the reason. */
export type TableCell = string | number | null | { suppressed: string };

export interface HtmlTableOptions {
  caption?: string;
  header: readonly string[];
  rows: ReadonlyArray<readonly TableCell[]>;
  /** Columns to right-align (numbers); by default those whose cells are all numbers. */
  numeric?: readonly boolean[];
  /** Lines under the table (sources, notes). */
  notes?: readonly string[];
}

const TABLE_STYLE = "border-collapse:collapse;font-family:system-ui,sans-serif;font-size:13px;margin:4px 0";
const CELL_STYLE = "padding:3px 10px;border-bottom:1px solid #e0e0e0";
const SUPPRESSED_STYLE = `${CELL_STYLE};color:#9a3412;background:#fff7ed;font-style:italic`;

/** A table; withheld cells show "suppressed" with a footnote number that names the reason. */
export function htmlTable(options: HtmlTableOptions): string {
  const numeric =
    options.numeric ??
    options.header.map((_, i) => options.rows.length > 0 && options.rows.every((r) => typeof r[i] === "number" || r[i] === null || typeof r[i] === "object"));
  const reasons: string[] = [];
  const footnote = (reason: string) => {
    const i = reasons.indexOf(reason);
    if (i >= 0) return i + 1;
    reasons.push(reason);
    return reasons.length;
  };
  const align = (i: number) => (numeric[i] ? "text-align:right" : "text-align:left");
  const head = element(
    "tr",
    {},
    options.header.map((h, i) => element("th", { style: `${CELL_STYLE};${align(i)};border-bottom:2px solid #888` }, text(h))),
  );
  const body = options.rows.map((row) =>
    element(
      "tr",
      {},
      row.map((cell, i) => {
        if (cell !== null && typeof cell === "object") {
          const n = footnote(cell.suppressed);
          return element("td", { style: `${SUPPRESSED_STYLE};${align(i)}`, class: "suppressed", title: cell.suppressed }, `suppressed${element("sup", {}, String(n))}`);
        }
        const shown = typeof cell === "number" ? formatValue(cell) : (cell ?? "");
        return element("td", { style: `${CELL_STYLE};${align(i)}` }, text(shown));
      }),
    ),
  );
  const caption = options.caption ? element("caption", { style: "caption-side:top;text-align:left;font-weight:600;padding:2px 0 6px" }, text(options.caption)) : "";
  const table = element("table", { class: "werkplaats", style: TABLE_STYLE }, [caption, element("thead", {}, head), element("tbody", {}, body)]);
  const notes = [
    ...reasons.map((r, i) => element("div", { class: "suppression-reason", style: "color:#9a3412" }, `${element("sup", {}, String(i + 1))} suppressed: ${text(r)}`)),
    ...(options.notes ?? []).map((n) => element("div", {}, text(n))),
  ];
  return element("div", { class: "werkplaats-result" }, [
    table,
    notes.length > 0 ? element("div", { style: "font-family:system-ui,sans-serif;font-size:12px;color:#555" }, notes) : "",
  ]);
}

function provenance(r: { dataset: string; where?: string; stations: string[] }): string {
  return `dataset ${r.dataset}${r.where ? ` where ${r.where}` : ""}; combined over ${r.stations.length} stations (${r.stations.join(", ")})`;
}

export function countTable(result: CountLike): string {
  const rows: TableCell[][] = result.cells.map((c) => {
    const reason = suppressionOf(c);
    return [...result.by.map((b) => c.group[b] ?? ""), reason !== undefined ? { suppressed: reason } : c.count];
  });
  const shown = result.cells.filter((c) => suppressionOf(c) === undefined).reduce((s, c) => s + (c.count ?? 0), 0);
  const anySuppressed = result.cells.some((c) => suppressionOf(c) !== undefined);
  if (result.by.length > 0) rows.push([...result.by.map((_, i) => (i === 0 ? (anySuppressed ? "total shown" : "total") : "")), shown]);
  return htmlTable({
    caption: `Count${result.by.length ? ` by ${result.by.join(", ")}` : ""}`,
    header: [...result.by, "count"],
    rows,
    numeric: [...result.by.map(() => false), true],
    notes: [provenance(result)],
  });
}

export function meanTable(result: MeanLike): string {
  const rows: TableCell[][] = result.cells.map((c) => {
    const reason = suppressionOf(c);
    const withheld = reason !== undefined ? { suppressed: reason } : undefined;
    return [...result.by.map((b) => c.group[b] ?? ""), withheld ?? c.n, withheld ?? c.mean, withheld ?? c.sd];
  });
  return htmlTable({
    caption: `Mean of ${result.column}${result.by.length ? ` by ${result.by.join(", ")}` : ""}`,
    header: [...result.by, "n", "mean", "sd"],
    rows,
    numeric: [...result.by.map(() => false), true, true, true],
    notes: [provenance(result)],
  });
}

function pValue(p: number | undefined): string {
  if (p === undefined) return "";
  return p < 0.001 ? "<0.001" : p.toFixed(3);
}

/** Coefficients with standard errors, CIs and p-values; odds or rate ratios when the link is log-type. */
export function modelTable(model: ModelView): string {
  const ratio = model.ratioName;
  const header = ["term", "estimate", "std. error", "z", "p", "95% CI", ...(ratio ? [ratio, `${ratio} 95% CI`] : [])];
  const ci = (lo?: number, hi?: number, f: (x: number) => number = (x) => x) =>
    lo === undefined || hi === undefined ? "" : `${formatValue(f(lo))} – ${formatValue(f(hi))}`;
  const rows: TableCell[][] = model.coefficients.map((c) => [
    c.term,
    c.estimate,
    c.se ?? null,
    c.statistic ?? (c.se ? c.estimate / c.se : null),
    pValue(c.p),
    ci(c.lower, c.upper),
    ...(ratio ? [c.term === "(Intercept)" ? "" : Math.exp(c.estimate), c.term === "(Intercept)" ? "" : ci(c.lower, c.upper, Math.exp)] : []),
  ]);
  return htmlTable({
    caption: model.title,
    header,
    rows,
    numeric: header.map((_, i) => i > 0),
    notes: model.facts.length ? [model.facts.map(([k, v]) => `${k}: ${v}`).join(" · ")] : [],
  });
}

export function evaluationTable(evaluation: EvaluationView): string {
  const parts: string[] = [];
  const facts: Array<[string, string]> = [...(evaluation.auc !== undefined ? [["AUC", formatValue(evaluation.auc)] as [string, string]] : []), ...evaluation.facts];
  if (facts.length > 0) {
    parts.push(element("p", { style: "font-family:system-ui,sans-serif;margin:4px 0" }, facts.map(([k, v]) => `${element("b", {}, text(k))} ${text(v)}`).join(" · ")));
  }
  if (evaluation.calibration?.length) {
    parts.push(
      htmlTable({
        caption: "Calibration by risk group",
        header: ["risk group", "n", "predicted risk", "observed proportion"],
        rows: evaluation.calibration.map((g) => [g.label, g.n ?? null, g.predicted, g.observed]),
        numeric: [false, true, true, true],
      }),
    );
  }
  return element("div", { class: "werkplaats-evaluation" }, parts);
}

/** A station's refusal, shown as the answer it is rather than as a stack trace. */
export function refusalNotice(reason: string): string {
  return element(
    "div",
    { class: "werkplaats-refusal", style: "font-family:system-ui,sans-serif;font-size:13px;border-left:4px solid #c2410c;background:#fff7ed;padding:6px 10px;margin:4px 0" },
    `${element("b", {}, "Refused by the stations' disclosure policy")}${element("br")}${text(reason)}`,
  );
}

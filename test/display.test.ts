import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { Figure } from "../kernel-extensions/figure.js";
import { countTable, htmlTable, meanTable, modelTable } from "../kernel-extensions/html.js";
import { escapeAttribute, escapeText } from "../kernel-extensions/markup.js";
import { calibrationChart, coefficientPlot, countBins, countChart, meanChart, plot, rocChart, type CountableQuery } from "../kernel-extensions/plots.js";
import { formatIteration, modelProgress } from "../kernel-extensions/progress.js";
import { type CountLike, type MeanLike, evaluationView, modelView } from "../kernel-extensions/shapes.js";
import { render, show } from "../kernel-extensions/show.js";
import { barChart, calibrationPlot, forestPlot, histogram, niceTicks, rocCurve } from "../kernel-extensions/svg.js";
import { PolicyRefused, StationError } from "../common/errors.js";
import { CountResult } from "../sdk/results/count-result.js";
import { MeanResult } from "../sdk/results/mean-result.js";

/**
 * Well-formedness is checked by an independent parser, Python's xml.etree (expat), on all
 * documents in one call; it returns each document's root tag and its text content.
 */
function parseXml(docs: string[]): Array<{ root?: string; text?: string; error?: string }> {
  const script = `
import json, sys, xml.etree.ElementTree as ET
out = []
for doc in json.load(sys.stdin):
    try:
        root = ET.fromstring(doc)
        out.append({"root": root.tag.split("}")[-1], "text": "".join(root.itertext())})
    except ET.ParseError as e:
        out.append({"error": str(e)})
print(json.dumps(out))
`;
  const r = spawnSync("/usr/bin/python3", ["-c", script], { input: JSON.stringify(docs), encoding: "utf8" });
  if (r.status !== 0) throw new Error(`python3 xml check failed (needs Debian's /usr/bin/python3): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const HOSTILE = `<script>alert("x")</script> & 'quotes' \u0007`;

const count: CountLike = {
  kind: "count",
  dataset: "fall_risk",
  where: 'sex == "M" and lives_alone',
  by: ["neighbourhood"],
  stations: ["gp", "homecare", "hospital"],
  cells: [
    { group: { neighbourhood: "BU03630101" }, count: 41 },
    { group: { neighbourhood: HOSTILE }, count: 17 },
    { group: { neighbourhood: "BU03630302" }, count: null, suppressed: true, reason: "fewer than 10 <clients> at station gp" },
  ],
};

const mean: MeanLike = {
  kind: "mean",
  dataset: "fall_risk",
  column: "num_medications",
  by: ["fell_12m", "sex"],
  stations: ["gp", "homecare", "hospital"],
  cells: [
    { group: { fell_12m: "false", sex: "F" }, n: 800, mean: 4.2, sd: 2.1 },
    { group: { fell_12m: "false", sex: "M" }, n: 700, mean: 4.0, sd: 2.0 },
    { group: { fell_12m: "true", sex: "F" }, n: 300, mean: 5.5, sd: 2.4 },
    { group: { fell_12m: "true", sex: "M" }, n: 4, mean: 6.1, sd: 1.1, suppressed: "n below 10" },
  ],
};

/** The planned GLM's JSON, as far as the display needs it. */
const model = {
  kind: "glm",
  formula: "fell_12m ~ age + sex + num_medications + prior_fall",
  family: "binomial",
  link: "logit",
  n: 4500,
  iterations: 5,
  converged: true,
  deviance: 4012.25,
  aic: 4022.25,
  coefficients: [
    { term: "(Intercept)", estimate: -4.7, se: 0.4, z: -11.75, p: 1e-20, lower: -5.48, upper: -3.92 },
    { term: "age", estimate: 0.041, se: 0.005, z: 8.2, p: 1e-10, lower: 0.031, upper: 0.051 },
    { term: "sexM", estimate: -0.16, se: 0.07, z: -2.28, p: 0.022, lower: -0.297, upper: -0.023 },
    { term: "prior_fallTRUE", estimate: 0.88, se: 0.08, z: 11, p: 1e-25, lower: 0.72, upper: 1.04 },
  ],
};

const evaluation = {
  auc: 0.712,
  roc: [
    { fpr: 0.1, tpr: 0.3 },
    { fpr: 0.3, tpr: 0.62 },
    { fpr: 0.6, tpr: 0.85 },
  ],
  calibration: [
    { group: "low", predicted: 0.12, observed: 0.11, n: 1500 },
    { group: "medium", predicted: 0.25, observed: 0.27, n: 1500 },
    { group: "high", predicted: 0.45, observed: 0.43, n: 1500 },
  ],
};

describe("escaping user strings", () => {
  it("escapes markup characters in text and attributes", () => {
    expect(escapeText(`a<b>&c`)).toBe("a&lt;b&gt;&amp;c");
    expect(escapeAttribute(`"x' <y>`)).toBe("&quot;x&#39; &lt;y&gt;");
  });

  it("shows a hostile level name as text in tables and plots, never as markup", () => {
    const docs = [countTable(count), countChart(count).svg];
    const parsed = parseXml(docs);
    for (const [i, p] of parsed.entries()) {
      expect(p.error, docs[i]).toBeUndefined();
      expect(p.text).toContain(`<script>alert("x")</script> & 'quotes'`);
      expect(docs[i]).not.toContain("<script>");
    }
  });
});

describe("HTML tables", () => {
  it("marks a suppressed cell and names the reason under the table", () => {
    const html = countTable(count);
    const [p] = parseXml([html]);
    expect(p.error).toBeUndefined();
    expect(html).toContain('class="suppressed"');
    expect(p.text).toContain("suppressed: fewer than 10 <clients> at station gp");
    expect(p.text).toContain("total shown");
    expect(p.text).toContain("combined over 3 stations (gp, homecare, hospital)");
  });

  it("withholds every statistic of a suppressed mean cell", () => {
    const html = meanTable(mean);
    const [p] = parseXml([html]);
    expect(p.error).toBeUndefined();
    expect(html.match(/class="suppressed"/g)).toHaveLength(3);
    expect(p.text).not.toContain("6.1");
    expect(p.text).toContain("suppressed: n below 10");
  });

  it("renders the SDK's own results (from their shape, not their class)", () => {
    const by = [{ column: "sex", levels: ["F", "M"] }];
    const c = new CountResult({ dataset: "d", by, sum: new Float64Array([12, 30]), stations: ["a", "b", "c"] });
    const m = new MeanResult({ dataset: "d", column: "age", by, sum: new Float64Array([2, 150, 11250.5, 3, 210, 14700]), stations: ["a", "b", "c"] });
    const parsed = parseXml([render(c).html!, render(m).html!]);
    expect(parsed[0].text).toContain("30");
    expect(parsed[1].text).toContain("F2750.707"); // n 2, mean 75, sd 0.707
    expect(render(c).text).toBe(c.toString());
  });

  it("shows a model's coefficients with odds ratios and their CIs", () => {
    const view = modelView(model)!;
    expect(view.ratioName).toBe("odds ratio");
    const html = modelTable(view);
    const [p] = parseXml([html]);
    expect(p.error).toBeUndefined();
    expect(p.text).toContain("odds ratio");
    expect(p.text).toContain(Math.exp(0.88).toFixed(3));
    expect(p.text).toContain("<0.001");
    expect(p.text).toContain("converged: true");
  });

  it("reads coefficients given as a record and from toJSON()", () => {
    const fitted = { toJSON: () => ({ family: "poisson", coefficients: { "(Intercept)": { estimate: 1.2, se: 0.1 }, age: { coef: 0.01, ci: [0.005, 0.015] } } }) };
    const view = modelView(fitted)!;
    expect(view.ratioName).toBe("rate ratio");
    expect(view.coefficients[1]).toMatchObject({ term: "age", estimate: 0.01, lower: 0.005, upper: 0.015 });
  });

  it("right-aligns numeric columns and leaves an empty table well-formed", () => {
    const html = htmlTable({ header: ["name", "n"], rows: [] });
    expect(parseXml([html])[0].error).toBeUndefined();
  });
});

describe("SVG plots", () => {
  const figures = {
    "bar chart": barChart({ title: `Counts & ${HOSTILE}`, bars: [{ label: "a", value: 3 }, { label: "b", value: null }, { label: "c", value: -2 }] }),
    "grouped bar chart": countChart({ ...count, by: ["neighbourhood", "sex"], cells: count.cells.map((c) => ({ ...c, group: { ...c.group, sex: "M" } })) }).svg,
    "mean chart with intervals": meanChart(mean).svg,
    histogram: histogram({ title: "Age", bins: [{ from: 60, to: 65, count: 120 }, { from: 65, to: 70, count: null }, { from: 70, to: 75, count: 80 }], xLabel: "age" }),
    "forest plot (log)": coefficientPlot(model).svg,
    "forest plot (linear)": forestPlot({ title: "coefficients", rows: [{ label: "x", estimate: -0.2, lower: -0.5, upper: 0.1 }] }),
    "ROC curve": rocChart(evaluation).svg,
    "calibration plot": calibrationChart(evaluation).svg,
    "empty bar chart": barChart({ title: "nothing", bars: [] }),
    "degenerate ROC": rocCurve({ title: "roc", points: [] }),
    "calibration with NaN": calibrationPlot({ title: "cal", groups: [{ label: "x", predicted: NaN, observed: 0.2 }] }),
  };

  it("are well-formed SVG documents", () => {
    const parsed = parseXml(Object.values(figures));
    Object.keys(figures).forEach((name, i) => {
      expect(parsed[i].error, name).toBeUndefined();
      expect(parsed[i].root, name).toBe("svg");
    });
    for (const svg of Object.values(figures)) expect(svg).not.toMatch(/NaN|Infinity|undefined/);
  });

  it("mark withheld bars and bins as suppressed", () => {
    expect(figures["bar chart"]).toContain("suppressed");
    expect(figures.histogram).toContain("suppressed");
  });

  it("draw odds ratios on a log axis with the reference line at 1", () => {
    expect(figures["forest plot (log)"]).toContain("odds ratio (95% CI), log scale");
    expect(figures["forest plot (log)"]).not.toContain("(Intercept)");
    expect(figures["forest plot (log)"]).toContain(Math.exp(0.88).toFixed(2));
  });

  it("print the AUC on the ROC curve", () => {
    expect(figures["ROC curve"]).toContain("AUC 0.712");
  });

  it("plot() picks the chart for each kind of value", () => {
    expect((plot(count) as Figure).title).toBe("Count by neighbourhood");
    expect((plot(mean) as Figure).title).toBe("Mean num_medications by fell_12m and sex");
    expect((plot(model) as Figure).title).toBe("Odds ratios with 95% CI");
    expect((plot(evaluation) as Figure[]).map((f) => f.title)).toEqual(["ROC curve", "Calibration by risk group"]);
    expect(evaluationView(evaluation)!.calibration![2]).toEqual({ label: "high", predicted: 0.45, observed: 0.43, n: 1500 });
  });
});

describe("ticks", () => {
  it("cover the data with round steps", () => {
    expect(niceTicks(0, 97)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    const t = niceTicks(-3.2, 17.5);
    expect(t[0]).toBeLessThanOrEqual(-3.2);
    expect(t[t.length - 1]).toBeGreaterThanOrEqual(17.5);
  });
});

describe("outside a notebook", () => {
  it("show() prints the text of a result and a figure's summary", () => {
    const lines: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((s: string) => (lines.push(s), true)) as typeof process.stdout.write;
    try {
      show(countChart(count), "plain");
    } finally {
      process.stdout.write = write;
    }
    expect(lines[0]).toContain("[figure] Count by neighbourhood");
    expect(lines[0]).toContain("BU03630302: suppressed");
    expect(lines[1]).toBe("plain\n");
  });

  it("model progress prints one line per iteration with the deviance and the stations", () => {
    const lines: string[] = [];
    const onIteration = modelProgress({ write: (l) => lines.push(l), title: "fell_12m ~ age" });
    onIteration({ iteration: 1, deviance: 5000.5, stations: ["gp", "homecare", "hospital"] });
    onIteration({ iteration: 2, deviance: 4100.25, stations: ["gp", "homecare"], expected: ["gp", "homecare", "hospital"], converged: true });
    expect(lines).toEqual([
      "fell_12m ~ age",
      "iteration 1: deviance 5000.500000 · answered: gp, homecare, hospital (3 of 3)",
      "iteration 2: deviance 4100.250000 (change −900.250000) · answered: gp, homecare (2 of 3) · no answer: hospital · converged",
    ]);
    expect(formatIteration({ iteration: 3, deviance: 1 })).toBe("iteration 3: deviance 1");
  });
});

describe("countBins", () => {
  it("counts one half-open bin per job, the last closed, and keeps suppressed bins empty", async () => {
    const asked: string[] = [];
    const query = (where: string[]): CountableQuery => ({
      where: (e) => query([...where, e]),
      count: async () => {
        asked.push(where.join(" & "));
        const suppressed = where.some((w) => w.includes(">= 70"));
        return { kind: "count", dataset: "d", by: [], stations: ["a"], cells: [{ group: {}, count: suppressed ? null : 5, suppressed }] };
      },
    });
    const bins = await countBins(query([]), "age", [60, 65, 70, 75]);
    expect(asked).toEqual(["age >= 60 and age < 65", "age >= 65 and age < 70", "age >= 70 and age <= 75"]);
    expect(bins.map((b) => b.count)).toEqual([5, 5, null]);
    await expect(countBins(query([]), "age; drop", [0, 1])).rejects.toThrow(/not a column name/);
  });
});

describe("countCells", () => {
  const fake = (refuse: (where: string) => Error | undefined): CountableQuery => {
    const query = (where: string[]): CountableQuery => ({
      dataset: "neighbourhood",
      whereText: where[0],
      where: (e) => query([...where, e]),
      count: async () => {
        const err = refuse(where.join(" and "));
        if (err) throw err;
        return { kind: "count", dataset: "neighbourhood", by: [], stations: ["gp", "ggd", "municipality"], cells: [{ group: {}, count: where.join().length }] };
      },
    });
    return query(["diabetes"]);
  };

  it("show() renders a refusal as a notice with the station's reason, escaped", () => {
    const r = render(new PolicyRefused("cell <BU1> is below the minimum cell size of 10", "gp"));
    expect(r.html).toContain('class="werkplaats-refusal"');
    expect(r.html).toContain("cell &lt;BU1&gt; is below");
    expect(parseXml([r.html!])[0].error).toBeUndefined();
    expect(render(new Error("other")).html).toBeUndefined();
  });
});

describe("toDataFrame", () => {
  it("gives a danfo.js DataFrame of the cells, loading danfojs only when asked", async () => {
    const by = [{ column: "sex", levels: ["F", "M"] }];
    const c = new CountResult({ dataset: "d", by, sum: new Float64Array([12, 30]), stations: ["a", "b", "c"] });
    const df = await c.toDataFrame();
    expect(df.columns).toEqual(["sex", "count"]);
    expect(df.values).toEqual([
      ["F", 12],
      ["M", 30],
    ]);
    const m = new MeanResult({ dataset: "d", column: "age", by, sum: new Float64Array([2, 150, 11250.5, 3, 210, 14700]), stations: ["a"] });
    const mf = await m.toDataFrame();
    expect(mf.columns).toEqual(["sex", "n", "mean", "sd"]);
    expect(mf.values[0].slice(0, 3)).toEqual(["F", 2, 75]);
  });
});

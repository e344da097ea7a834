/**
 * Every descriptive result shows as an HTML table in a notebook — not only counts and means —
 * with withheld cells marked suppressed and the reason given.
 */
import { describe, expect, it } from "vitest";
import { render } from "../kernel-extensions/show.js";
import { CrosstabResult } from "../sdk/results/crosstab-result.js";

describe("rich display of descriptive results", () => {
  it("renders a crosstab with margins as an HTML table, withheld cells marked with the reason", () => {
    // Rows F, M × columns no, yes: the stations withheld F/no = 4 (primary) and three partners
    // (secondary); released layout: cells, column totals, row totals, grand total.
    const crosstab = new CrosstabResult({
      dataset: "fall_risk",
      rows: { column: "sex", levels: ["F", "M"] },
      columns: { column: "fell_12m", levels: ["false", "true"] },
      sum: new Float64Array([0, 0, 0, 0, 74, 140, 64, 150, 214]),
      withheld: Uint8Array.from([1, 2, 2, 2, 0, 0, 0, 0, 0]),
      notes: ["1 withheld (primary): fewer than 10 people (minimum cell size 10)"],
      stations: ["gp", "homecare", "hospital"],
    });
    const shown = render(crosstab);
    expect(shown.html).toBeDefined();
    expect(shown.html).toContain("<table");
    expect(shown.html).toContain("sex × fell_12m in fall_risk");
    expect(shown.html).toMatch(/suppressed/);
    expect(shown.html).not.toMatch(/>4</);
    expect(shown.text).toContain("sex × fell_12m");
  });
});

/**
 * Every descriptive result shows as an HTML table in a notebook — not only counts and means —
 * with withheld cells marked suppressed and the reason given.
 */
import { describe, expect, it } from "vitest";
import { render } from "../kernel-extensions/show.js";
import { CrosstabResult } from "../sdk/results/crosstab-result.js";

describe("rich display of descriptive results", () => {
  it("renders a crosstab with margins as an HTML table, withheld cells marked with the reason", () => {
    // Rows F, M × columns no, yes: F/no = 4 is below the minimum of 10 and must be withheld.
    const crosstab = new CrosstabResult({
      dataset: "fall_risk",
      rows: { column: "sex", levels: ["F", "M"] },
      columns: { column: "fell_12m", levels: ["false", "true"] },
      sum: new Float64Array([4, 60, 70, 80]),
      stations: ["gp", "homecare", "hospital"],
      minCellSize: 10,
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
